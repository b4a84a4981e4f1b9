// Calls to the server's public API: the KVS operations (POST /Operation, JSON) and vidstream's
// REST extensions under /v1. Errors come back in the KVS shape ({__type, message}); they are
// thrown as ApiError with that name and message, so views can show them as they are.
//
// Every request goes through `send`: the session cookie rides along (same origin), and every
// state-changing request (anything but GET/HEAD/OPTIONS) carries the session's CSRF token in
// x-csrf-token. A 401/403 that comes from a missing or ended session (whoami says so) fires
// `vidstream:login-required` on window, and the app shows its login page.

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

let csrfToken = null;
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

// The token the login (or whoami) handed out; null when logged out.
export function setCsrfToken(token) {
  csrfToken = token || null;
}

async function send(path, init = {}) {
  const method = (init.method || 'GET').toUpperCase();
  const headers = { ...(init.headers || {}) };
  if (!SAFE.has(method) && csrfToken) headers['x-csrf-token'] = csrfToken;
  const resp = await fetch(path, { ...init, method, headers, credentials: 'same-origin' });
  if ((resp.status === 401 || resp.status === 403) && !path.startsWith('/v1/login')) {
    // Refused: because the session is gone (log in again), or because this user may not?
    if (!(await whoami())) window.dispatchEvent(new CustomEvent('vidstream:login-required'));
  }
  return resp;
}

async function json(resp) {
  if (!resp.ok) throw await failure(resp);
  const text = await resp.text();
  return text ? JSON.parse(text) : {};
}

// The logged-in user and what the UI may show them ({user, csrfToken, expiresMs, policy,
// allowed, streams, cameras, truncated}); null when not logged in.
export async function whoami() {
  const resp = await fetch('/v1/whoami', { credentials: 'same-origin' });
  if (resp.status === 401) {
    setCsrfToken(null);
    return null;
  }
  const me = await json(resp);
  setCsrfToken(me.csrfToken);
  return me;
}

// Logs in: the server sets the session cookie; the answer carries the CSRF token.
export async function login(user, password) {
  const r = await json(await send('/v1/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user, password }),
  }));
  setCsrfToken(r.csrfToken);
  return r;
}

// Ends the session (the cookie is cleared by the server).
export async function logout() {
  try {
    await json(await fetch('/v1/logout', {
      method: 'POST',
      headers: csrfToken ? { 'x-csrf-token': csrfToken } : {},
      credentials: 'same-origin',
    }));
  } finally {
    setCsrfToken(null);
  }
}

// A KVS operation: POST /<operation> with a JSON body; the JSON answer.
export async function kvs(operation, body = {}) {
  return json(await send(`/${operation}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  }));
}

// A KVS operation whose answer is media (GetClip): the Blob.
export async function kvsBlob(operation, body) {
  const resp = await send(`/${operation}`, {
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
  return json(await send(path, init));
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
