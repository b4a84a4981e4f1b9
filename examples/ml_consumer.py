#!/usr/bin/env python3
"""An example ML consumer: decoded frames of a vidstream stream as numpy arrays, two ways.

1. The WebSocket frame feed (GET /v1/frames/feed, a vidstream extension; see README "Frame
   feed"): raw RGB24 pictures pushed as they arrive, so no image decode is needed; the consumer
   commits a checkpoint after the frames it processed and, when it reconnects with
   Start=CHECKPOINT, resumes right after it (nothing skipped, nothing repeated).
2. boto3 `get_images` (the KVS GetImages API): JPEG/PNG pictures of a past time range, decoded
   with Pillow.

Each picture becomes a `numpy.ndarray` of shape (height, width, 3), dtype uint8, RGB.

    ml_consumer.py --endpoint http://127.0.0.1:8080 --stream cam1 --consumer job1 \\
        --start CHECKPOINT --interval 500 --max-frames 100 --out frames.npy
    ml_consumer.py --source get-images --endpoint ... --stream cam1 --start 1700000000000 \\
        --end 1700000005000 --interval 500 --out frames.npy

Requests are signed (SigV4, service kinesisvideo) with the usual AWS credentials: AWS_ACCESS_KEY_ID
/ AWS_SECRET_ACCESS_KEY, or a profile of AWS_SHARED_CREDENTIALS_FILE (such as the server's
root-credentials file, or a key made with `vidstream keys create --policy ml-consumer`).

Prints one JSON line per frame (fragment number, producer timestamp, shape, mean pixel value:
a stand-in for a model) and, with --out, saves the frames as one (n, h, w, 3) array.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import sys
import urllib.parse
from typing import Iterator

import numpy as np


def signed_headers(method: str, url: str, body: bytes = b"", headers: dict | None = None) -> dict:
    """The headers that sign a request with the default AWS credentials (botocore's SigV4)."""
    import boto3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    session = boto3.Session()
    credentials = session.get_credentials()
    if credentials is None:
        raise SystemExit("no AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_SHARED_CREDENTIALS_FILE")
    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    SigV4Auth(credentials, "kinesisvideo", session.region_name or "us-east-1").add_auth(req)
    return dict(req.headers.items())


class FrameFeed:
    """A subscription to the WebSocket frame feed, yielding (metadata, RGB array) pairs."""

    def __init__(self, endpoint: str, stream: str, *, start: str = "NOW", interval_ms: int = 1000,
                 consumer: str | None = None, end_ms: int | None = None,
                 width: int | None = None, height: int | None = None, timeout_s: float = 60.0):
        import websocket  # websocket-client

        params = {"StreamName": stream, "Format": "RGB24", "SamplingInterval": str(interval_ms),
                  "Start": str(start)}
        if consumer:
            params["Consumer"] = consumer
        if end_ms is not None:
            params["End"] = str(end_ms)
        if width:
            params["WidthPixels"] = str(width)
        if height:
            params["HeightPixels"] = str(height)
        self.endpoint, self.stream, self.consumer = endpoint, stream, consumer
        url = endpoint.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        query = urllib.parse.urlencode(params)
        # The handshake is a GET, signed like any other request.
        auth = signed_headers("GET", f"{endpoint}/v1/frames/feed?{query}")
        self.ws = websocket.create_connection(
            f"{url}/v1/frames/feed?{query}", timeout=timeout_s,
            header=[f"{k}: {v}" for k, v in auth.items()])
        self.acked: list[dict] = []
        self.open = True  # false once the server ended the feed (End reached) or closed

    def __iter__(self) -> Iterator[tuple[dict, np.ndarray]]:
        import websocket

        while True:
            try:
                opcode, data = self.ws.recv_data()
            except (websocket.WebSocketConnectionClosedException, ConnectionError):
                self.open = False
                return
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                self.open = False
                return
            if opcode != websocket.ABNF.OPCODE_TEXT:
                raise RuntimeError(f"unexpected websocket opcode {opcode}")
            meta = json.loads(data)
            kind = meta.get("type")
            if kind == "frame":
                opcode, picture = self.ws.recv_data()
                if opcode != websocket.ABNF.OPCODE_BINARY:
                    raise RuntimeError("a frame message must be followed by its picture")
                h, w = meta["height"], meta["width"]
                yield meta, np.frombuffer(picture, dtype=np.uint8).reshape(h, w, 3)
            elif kind == "checkpointed":
                self.acked.append(meta)
            elif kind == "end":
                self.open = False
                return
            elif kind == "frame_error":
                print(json.dumps({"skipped": meta}), file=sys.stderr)
            else:
                raise RuntimeError(f"feed error: {meta}")

    def checkpoint(self, meta: dict) -> bool:
        """Commits the position of a processed frame (the server acknowledges it later).
        False when the feed is already over (nothing left to resume anyway)."""
        if not self.open:
            return False
        try:
            self.ws.send(json.dumps({"checkpoint": {
                "fragment_number": meta["fragment_number"],
                "producer_timestamp_ms": meta["producer_timestamp_ms"],
            }}))
        except (ConnectionError, OSError):
            self.open = False
        return self.open

    def wait_acked(self, meta: dict) -> dict:
        """Blocks until the checkpoint at `meta`'s position is acknowledged (it is then durable)."""
        import websocket

        def matches(ack: dict) -> bool:
            return (ack["fragment_number"], ack["producer_timestamp_ms"]) == (
                meta["fragment_number"], meta["producer_timestamp_ms"])

        while not any(matches(a) for a in self.acked):
            opcode, data = self.ws.recv_data()
            if opcode == websocket.ABNF.OPCODE_TEXT:
                msg = json.loads(data)
                if msg.get("type") == "checkpointed":
                    self.acked.append(msg)
                elif msg.get("type") == "frame":
                    self.ws.recv_data()  # a frame past the checkpoint: the resume will resend it
            elif opcode == websocket.ABNF.OPCODE_CLOSE:
                # The feed ended (End reached) before acknowledging: a Close forbids more
                # messages. Commit over REST instead, which answers once the commit is durable.
                self.commit_rest(meta)
                return meta
        return meta

    def commit_rest(self, meta: dict) -> None:
        """Commits a checkpoint with POST /v1/frames/consumers/checkpoint."""
        import urllib.request

        body = json.dumps({"StreamName": self.stream, "Consumer": self.consumer,
                           "FragmentNumber": meta["fragment_number"],
                           "ProducerTimestamp": meta["producer_timestamp_ms"]}).encode()
        url = f"{self.endpoint}/v1/frames/consumers/checkpoint"
        headers = signed_headers("POST", url, body, {"Content-Type": "application/json"})
        req = urllib.request.Request(url, data=body, method="POST", headers=headers)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=30) as resp:
            if resp.status != 200:
                raise RuntimeError(f"checkpoint commit failed: HTTP {resp.status}")

    def abort(self) -> None:
        """Drops the connection without a close handshake (as a killed process would)."""
        self.ws.sock.close()


def get_images_frames(archived_media, stream: str, start_ms: int, end_ms: int,
                      interval_ms: int) -> Iterator[tuple[dict, np.ndarray]]:
    """Frames of a past range through boto3 get_images (JPEG), decoded with Pillow."""
    import base64

    from PIL import Image

    def utc(ms: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc)

    pages = archived_media.get_paginator("get_images").paginate(
        StreamName=stream, ImageSelectorType="PRODUCER_TIMESTAMP", StartTimestamp=utc(start_ms),
        EndTimestamp=utc(end_ms), SamplingInterval=interval_ms, Format="JPEG",
        FormatConfig={"JPEGQuality": "95"})
    for page in pages:
        for img in page["Images"]:
            ms = round(img["TimeStamp"].timestamp() * 1000)
            if "ImageContent" not in img:
                continue  # NO_MEDIA / MEDIA_ERROR
            picture = Image.open(io.BytesIO(base64.b64decode(img["ImageContent"]))).convert("RGB")
            yield {"producer_timestamp_ms": ms}, np.asarray(picture)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--stream", required=True)
    ap.add_argument("--source", choices=["feed", "get-images"], default="feed")
    ap.add_argument("--start", default="NOW", help="NOW, EARLIEST, CHECKPOINT or epoch ms")
    ap.add_argument("--end", type=int, help="epoch ms (required for get-images)")
    ap.add_argument("--interval", type=int, default=1000, help="sampling interval, ms")
    ap.add_argument("--consumer", help="checkpoint name (feed)")
    ap.add_argument("--checkpoint-every", type=int, default=1, help="frames between checkpoints")
    ap.add_argument("--max-frames", type=int, help="stop after this many frames (feed)")
    ap.add_argument("--out", help="save the frames as one .npy array")
    args = ap.parse_args()

    frames: list[np.ndarray] = []

    def process(meta: dict, picture: np.ndarray) -> None:
        frames.append(picture)
        print(json.dumps({**{k: meta[k] for k in ("fragment_number", "producer_timestamp_ms") if k in meta},
                          "shape": list(picture.shape), "mean": round(float(picture.mean()), 2)}), flush=True)

    if args.source == "feed":
        feed = FrameFeed(args.endpoint, args.stream, start=args.start, interval_ms=args.interval,
                         consumer=args.consumer, end_ms=args.end)
        last = None
        for meta, picture in feed:
            process(meta, picture)
            last = meta
            if args.consumer and len(frames) % args.checkpoint_every == 0:
                feed.checkpoint(meta)
            if args.max_frames and len(frames) >= args.max_frames:
                break
        if args.consumer and last is not None:
            if feed.checkpoint(last):
                feed.wait_acked(last)
            else:
                feed.commit_rest(last)
        feed.abort()
    else:
        import boto3

        if args.end is None:
            ap.error("--source get-images needs --end")
        kvs = boto3.client("kinesisvideo", endpoint_url=args.endpoint)
        endpoint = kvs.get_data_endpoint(StreamName=args.stream, APIName="GET_IMAGES")["DataEndpoint"]
        am = boto3.client("kinesis-video-archived-media", endpoint_url=endpoint)
        for meta, picture in get_images_frames(am, args.stream, int(args.start), args.end, args.interval):
            process(meta, picture)

    if args.out:
        np.save(args.out, np.stack(frames) if frames else np.zeros((0, 0, 0, 3), np.uint8))
    return 0


if __name__ == "__main__":
    sys.exit(main())
