// Calls to the server's public API: the KVS operations (POST /Operation, JSON) and vidstream's
// REST extensions under /v1. Errors come back in the KVS shape ({__type, message}); they are
// thrown as ApiError with that name and message, so views can show them as they are.

export class ApiError extends Error {
  constructor(status, type, message) {
    super(message || type || `HTTP ${status}`);
    this.status = status;
    this.type = type || `HTTP${status}`;
  }
}

async function failure(resp) {
  let type = resp.headers.get('x-amzn-errortype') || '';
  let message = '';
  try {
    const body = await resp.json();
    type = body.__type || type;
    message = body.message || body.Message || '';
  } catch {
    message = resp.statusText;
  }
  return new ApiError(resp.status, type.split(':')[0], message);
}

// A KVS operation: POST /<operation> with a JSON body; the JSON answer.
export async function kvs(operation, body = {}) {
  const resp = await fetch(`/${operation}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!resp.ok) throw await failure(resp);
  const text = await resp.text();
  return text ? JSON.parse(text) : {};
}

// A KVS operation whose answer is media (GetClip): the Blob.
export async function kvsBlob(operation, body) {
  const resp = await fetch(`/${operation}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!resp.ok) throw await failure(resp);
  return resp.blob();
}

// A REST call under /v1.
export async function rest(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  if (!resp.ok) throw await failure(resp);
  const text = await resp.text();
  return text ? JSON.parse(text) : {};
}

// KVS timestamps are epoch seconds (fractional) in JSON.
export const seconds = (ms) => ms / 1000;

export const streams = () => rest('GET', '/v1/streams').then((r) => r.streams);
export const stream = (name) => rest('GET', `/v1/streams/${encodeURIComponent(name)}`);
export const coverage = (name, start, end, minGapMs) =>
  rest(
    'GET',
    `/v1/streams/${encodeURIComponent(name)}/coverage?start=${Math.floor(start)}` +
      `&end=${Math.ceil(end)}&minGapMs=${Math.max(0, Math.round(minGapMs))}`,
  );

// One JPEG (base64) of the frame shown at `ms`, or null (NO_MEDIA).
export async function imageAt(name, ms, width) {
  const r = await kvs('getImages', {
    StreamName: name,
    ImageSelectorType: 'PRODUCER_TIMESTAMP',
    StartTimestamp: seconds(ms),
    EndTimestamp: seconds(ms),
    SamplingInterval: 200,
    Format: 'JPEG',
    FormatConfig: { JPEGQuality: '70' },
    WidthPixels: width,
    MaxResults: 1,
  });
  const img = (r.Images || [])[0];
  return img && img.ImageContent ? `data:image/jpeg;base64,${img.ImageContent}` : null;
}

// Images sampled every `intervalMs` over [start, end] (at most `max`).
export async function imagesBetween(name, start, end, intervalMs, width, format = 'JPEG', max = 25) {
  const r = await kvs('getImages', {
    StreamName: name,
    ImageSelectorType: 'PRODUCER_TIMESTAMP',
    StartTimestamp: seconds(start),
    EndTimestamp: seconds(end),
    SamplingInterval: intervalMs,
    Format: format,
    WidthPixels: width,
    MaxResults: max,
  });
  return r.Images || [];
}

// An HLS session URL. `range` = [startMs, endMs] for ON_DEMAND, null for LIVE.
export async function hlsUrl(name, { range = null, lowLatency = false } = {}) {
  const body = {
    StreamName: name,
    PlaybackMode: range ? 'ON_DEMAND' : 'LIVE',
    ContainerFormat: 'FRAGMENTED_MP4',
    DiscontinuityMode: 'ON_DISCONTINUITY',
    DisplayFragmentTimestamp: 'ALWAYS',
    Expires: 3600,
  };
  if (range) {
    body.HLSFragmentSelector = {
      FragmentSelectorType: 'PRODUCER_TIMESTAMP',
      TimestampRange: { StartTimestamp: seconds(range[0]), EndTimestamp: seconds(range[1]) },
    };
    body.MaxMediaPlaylistFragmentResults = 5000;
  }
  if (lowLatency) body.LowLatency = true;
  const r = await kvs('getHLSStreamingSessionURL', body);
  return r.HLSStreamingSessionURL;
}

export function clip(name, start, end) {
  return kvsBlob('getClip', {
    StreamName: name,
    ClipFragmentSelector: {
      FragmentSelectorType: 'PRODUCER_TIMESTAMP',
      TimestampRange: { StartTimestamp: seconds(start), EndTimestamp: seconds(end) },
    },
  });
}
