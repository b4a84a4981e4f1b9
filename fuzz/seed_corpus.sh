#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ (git-ignored), from fixtures/ and by hand. Each mkv seed is one
# options byte followed by a fixture, whole and cut to its first 4 KiB and 16 KiB (small inputs
# run faster and still cover the EBML header, Tracks and the first Clusters). sigv4_parse and
# playback_query get a few hand-written requests that reach the signature check; kvs_json_body
# a body of every operation; codec_config and sps_parse the fixtures' CodecPrivate.
#
#   fuzz/seed_corpus.sh [DIR]   # into DIR/<target>/ (default fuzz/corpus; a relative DIR is
#                               # taken from fuzz/)
set -euo pipefail
cd "$(dirname "$0")"
export out=${1:-corpus}
for target in mkv_reader mkv_roundtrip; do
  mkdir -p "$out/$target"
  for f in ../fixtures/*.mkv ../fixtures/*.bin; do
    name=$(basename "$f")
    for opts in 0 1; do
      { printf "\\x0$opts"; cat "$f"; } >"$out/$target/$name.$opts"
      for cut in 4096 16384; do
        { printf "\\x0$opts"; head -c "$cut" "$f"; } >"$out/$target/$name.$opts.$cut"
      done
    done
  done
done
echo "seeded $(ls "$out"/mkv_reader | wc -l) inputs per mkv target"

# policy_parse: documents, then \0 ACTION \0 RESOURCE.
mkdir -p "$out"/policy_parse
arn='arn:aws:kinesisvideo:us-east-1:123456789012:stream/cam-1/1700000000000'
printf '%s\0kinesisvideo:PutMedia\0%s' \
  '{"Version":"2012-10-17","Statement":[{"Sid":"P","Effect":"Allow","Action":["kinesisvideo:PutMedia","kinesisvideo:Describe*"],"Resource":"arn:aws:kinesisvideo:*:*:stream/cam-*/*"}]}' \
  "$arn" >"$out"/policy_parse/producer
printf '%s\0kinesisvideo:GetMedia\0%s' \
  '{"Statement":{"Effect":"Deny","NotAction":"kinesisvideo:Get*","NotResource":["arn:aws:kinesisvideo:*:*:stream/lobby/*","*"]}}' \
  "$arn" >"$out"/policy_parse/not_elements
printf '%s\0vidstream:ListCameras\0*' \
  '{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"vidstream:?ist*","Resource":"arn:vidstream:*:*:camera/*a*a*b"}]}' \
  >"$out"/policy_parse/admin_with_deny
echo "seeded $(ls "$out"/policy_parse | wc -l) policy inputs"

# sigv4_parse: an options byte, then the Authorization value, query, path, date and session
# token, one per line (see fuzz_targets/sigv4_parse.rs).
mkdir -p "$out"/sigv4_parse
sig=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31
scope=AKIDEXAMPLE/20260126/us-east-1/kinesisvideo/aws4_request
auth="AWS4-HMAC-SHA256 Credential=$scope, SignedHeaders=host;x-amz-date, Signature=$sig"
auth_date="AWS4-HMAC-SHA256 Credential=$scope, SignedHeaders=date;host, Signature=$sig"
query="X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${scope//\//%2F}&X-Amz-Date=20260126T101112Z"
query="$query&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Security-Token=TOKEN&X-Amz-Signature=$sig"
seed() { printf "\\x0$1%s\\n%s\\n%s\\n%s\\n%s" "$3" "$4" "$5" "$6" "$7" >"$out/sigv4_parse/$2"; }
seed 0 header "$auth" "" describeStream 20260126T101112Z ""
seed 2 header_date "$auth_date" "a=1&b=x%20y" putMedia "Mon, 26 Jan 2026 10:11:12 GMT" TOKEN
seed 1 presigned "" "$query" "hls/a%2Fb/master.m3u8" 20260126T101112Z ""
echo "seeded $(ls "$out"/sigv4_parse | wc -l) sigv4 inputs"

# sps_parse: each fixture's CodecPrivate (MKV element 0x63A2, an avcC or hvcC), after a pick
# byte saying its codec (even: H.264, odd: H.265).
mkdir -p "$out"/sps_parse
python3 - <<'PY'
import os, pathlib
for f in sorted(pathlib.Path("../fixtures").glob("*.mkv")):
    data = f.read_bytes()
    i = data.find(b"\x63\xa2")
    if i < 0:
        continue
    # EBML size vint after the id.
    first = data[i + 2]
    n = 8 - first.bit_length() + 1
    size = first & ((1 << (8 - n)) - 1)
    for b in data[i + 3 : i + 2 + n]:
        size = (size << 8) | b
    private = data[i + 2 + n : i + 2 + n + size]
    pick = b"\x01" if b"HEVC" in data[:4096] else b"\x00"
    pathlib.Path(os.environ["out"], "sps_parse", f.name).write_bytes(pick + private)
PY
echo "seeded $(ls "$out"/sps_parse | wc -l) sps inputs"

# kvs_json_body: an operation byte, then a body. Every body below goes to every operation (the
# byte is an index into vidstream::api::fuzz::json_bodies(), 30 of them today; 32 covers a few
# more), so the seeds need not follow that list's order.
mkdir -p "$out"/kvs_json_body
stream_arn='arn:aws:kinesisvideo:us-east-1:123456789012:stream/cam-1/1700000000000'
fragment=91343852333181432392682062012345678901234567890
range='{"StartTimestamp":1700000000,"EndTimestamp":1700000100.5}'
bodies=(
  ''
  '{}'
  '{"StreamName":"cam-1","DeviceName":"dev","MediaType":"video/h264","KmsKeyId":"alias/x","DataRetentionInHours":24,"Tags":{"k":"v"},"StreamStorageConfiguration":{"DefaultStorageTier":"HOT"}}'
  "{\"StreamARN\":\"$stream_arn\",\"CurrentVersion\":\"abcdefgh\",\"Operation\":\"INCREASE_DATA_RETENTION\",\"DataRetentionChangeInHours\":1,\"APIName\":\"GET_MEDIA\"}"
  '{"MaxResults":10,"NextToken":"djE6Y2FtLTE=","StreamNameCondition":{"ComparisonOperator":"BEGINS_WITH","ComparisonValue":"cam"}}'
  "{\"ResourceARN\":\"$stream_arn\",\"Tags\":[{\"Key\":\"k\",\"Value\":\"v\"}],\"TagKeyList\":[\"k\"],\"NextToken\":\"\"}"
  "{\"StreamName\":\"cam-1\",\"MaxResults\":100,\"FragmentSelector\":{\"FragmentSelectorType\":\"SERVER_TIMESTAMP\",\"TimestampRange\":$range}}"
  '{"StreamName":"cam-1","NextToken":"djE6cDoxOjI6Mw=="}'
  "{\"StreamName\":\"cam-1\",\"Fragments\":[\"$fragment\"]}"
  "{\"StreamName\":\"cam-1\",\"ClipFragmentSelector\":{\"FragmentSelectorType\":\"PRODUCER_TIMESTAMP\",\"TimestampRange\":$range}}"
  '{"StreamName":"cam-1","ImageSelectorType":"PRODUCER_TIMESTAMP","StartTimestamp":1700000000,"EndTimestamp":1700000010,"SamplingInterval":3000,"Format":"JPEG","FormatConfig":{"JPEGQuality":"80"},"WidthPixels":320,"HeightPixels":240,"MaxResults":10,"NextToken":"aW1nMTpwOjE6Mjoz"}'
  "{\"StreamName\":\"cam-1\",\"StartSelector\":{\"StartSelectorType\":\"FRAGMENT_NUMBER\",\"AfterFragmentNumber\":\"$fragment\",\"StartTimestamp\":1700000000,\"ContinuationToken\":\"$fragment\"}}"
  "{\"StreamName\":\"cam-1\",\"PlaybackMode\":\"ON_DEMAND\",\"HLSFragmentSelector\":{\"FragmentSelectorType\":\"SERVER_TIMESTAMP\",\"TimestampRange\":$range},\"ContainerFormat\":\"MPEG_TS\",\"DiscontinuityMode\":\"ON_DISCONTINUITY\",\"DisplayFragmentTimestamp\":\"ALWAYS\",\"Expires\":300,\"MaxMediaPlaylistFragmentResults\":5,\"LowLatency\":true}"
  "{\"StreamARN\":\"$stream_arn\",\"PlaybackMode\":\"LIVE_REPLAY\",\"DASHFragmentSelector\":{\"FragmentSelectorType\":\"PRODUCER_TIMESTAMP\",\"TimestampRange\":{\"StartTimestamp\":1700000000}},\"DisplayFragmentNumber\":\"NEVER\",\"MaxManifestFragmentResults\":1000}"
  '{"StreamName":"cam-1","ImageGenerationConfiguration":{"Status":"ENABLED","ImageSelectorType":"SERVER_TIMESTAMP","DestinationConfig":{"Uri":"s3://b/p","DestinationRegion":"us-east-1"},"SamplingInterval":3000,"Format":"JPEG"}}'
  "{\"StreamName\":\"cam-1\",\"Consumer\":\"ml-1\",\"FragmentNumber\":\"$fragment\",\"ProducerTimestamp\":1700000000000}"
  '{"name":"door","url":"rtsp://10.0.0.2/stream1","username":"u","password":"p","stream":"cam-1","transport":"tcp","enabled":true}'
  '{"name":"k1","policy":"producer","streams":"cam-*","expiresInSeconds":900,"status":"Active"}'
  '{"name":"ann","password":"correct horse","policy":{"Statement":[{"Effect":"Allow","Action":"kinesisvideo:Get*","Resource":"*"}]},"user":"ann"}'
)
for i in "${!bodies[@]}"; do
  for op in $(seq 0 31); do
    { printf "\\x$(printf %02x "$op")"; printf '%s' "${bodies[$i]}"; } >"$out/kvs_json_body/op$op.body$i"
  done
done
echo "seeded $(ls "$out"/kvs_json_body | wc -l) kvs_json_body inputs"

# playback_query: 94 bytes of session fields for `arbitrary` (taken as they come), then a
# query string; @T stands for the sealed session's token (see fuzz_targets/playback_query.rs).
mkdir -p "$out"/playback_query
session_bytes() { head -c 94 /dev/zero | tr '\0' "$1"; }
pq() { { session_bytes "$2"; printf '%s' "$3"; } >"$out/playback_query/$1"; }
pq segment '\001' "SessionToken=@T&FragmentNumber=$fragment&TrackNumber=1&Part=2"
pq segment_zero '\000' "SessionToken=@T&FragmentNumber=91000000000000000000000000000000000000000000000"
pq escaped '\377' "SessionToken=%40T&FragmentNumber=$fragment+&Name=a%20b&Bad=%FF%"
pq hls_blocking '\002' "SessionToken=@T&_HLS_msn=12&_HLS_part=3&LowLatency=true"
pq feed '\003' 'StreamName=cam-1&SamplingInterval=1000&Format=JPEG&JPEGQuality=80&WidthPixels=320&HeightPixels=240&Start=1700000000000&End=1700000060000&Consumer=ml-1'
pq feed_checkpoint '\004' 'StreamARN=a&Format=RGB24&Start=CHECKPOINT&Consumer=c'
pq coverage '\005' 'start=1700000000000&end=1700000600000&minGapMs=500&timestamp=server'
pq tokens '\006' 'NextToken=djE6Y2FtLTE=&T=djE6cDoxOjI6Mw==&A=djE6YWxsOjA6MDo0Mg=='
pq put_media '\007' 'x-amzn-fragment-timecode-type=RELATIVE&x-amzn-producer-start-timestamp=1700000000.123'
echo "seeded $(ls "$out"/playback_query | wc -l) playback_query inputs"

# codec_config: a pick byte, the video configuration (2-byte length), the AudioSpecificConfig
# (1-byte length), then frames (flags, 2-byte length, bytes): see fuzz_targets/codec_config.rs.
mkdir -p "$out"/codec_config
python3 - <<'PY'
import os, pathlib
asc_lc = bytes([0x12, 0x10])        # AAC-LC, 44.1 kHz, stereo
asc_he = bytes([0x2B, 0x92, 0x08, 0x00])  # HE-AAC (SBR) explicit, core LC
asc_esc = bytes([0xF8, 0x0F, 0x12, 0x34, 0x56, 0x10])  # escaped object type, explicit rate
def frames(video, audio=b""):
    out = b""
    for i in range(3):
        out += bytes([1 if i == 0 else 0]) + len(video).to_bytes(2, "big") + video
        if audio:
            out += b"\x02" + len(audio).to_bytes(2, "big") + audio
    return out
def seed(name, pick, config, asc, body):
    data = bytes([pick]) + len(config).to_bytes(2, "big") + config + bytes([len(asc)]) + asc + body
    pathlib.Path(os.environ["out"], "codec_config", name).write_bytes(data)
h264_frame = b"\x00\x00\x00\x05\x65\x88\x84\x00\x33" + b"\x00\x00\x00\x02\x09\xf0"
h265_frame = b"\x00\x00\x00\x04\x26\x01\xaf\x00"
aac_frame = bytes(range(32))
for f in sorted(pathlib.Path("../fixtures").glob("*.mkv")):
    data = f.read_bytes()
    i = data.find(b"\x63\xa2")
    if i < 0:
        continue
    first = data[i + 2]
    n = 8 - first.bit_length() + 1
    size = first & ((1 << (8 - n)) - 1)
    for b in data[i + 3 : i + 2 + n]:
        size = (size << 8) | b
    private = data[i + 2 + n : i + 2 + n + size]
    hevc = b"HEVC" in data[:4096]
    pick = (2 if hevc else 1) | 0x30
    frame = h265_frame if hevc else h264_frame
    seed(f.name, pick, private, b"", frames(frame))
    seed(f.name + ".aac", pick | 4, private, asc_lc, frames(frame, aac_frame))
seed("aac_only", 0x04, b"", asc_lc, b"\x03\x00\x20" + aac_frame)
seed("aac_he", 0x1c, b"", asc_he, b"\x03\x00\x20" + aac_frame)
seed("aac_escaped", 0x04, b"", asc_esc, b"\x03\x00\x20" + aac_frame)
PY
echo "seeded $(ls "$out"/codec_config | wc -l) codec_config inputs"
