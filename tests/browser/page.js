// In-page half of the player harness (play.mjs serves it next to hls.js / dash.js).
//
// play.mjs calls window.__vs.start(config) once, then window.__vs.sample() every ~250 ms.
// Everything here must stay plain browser JavaScript: no imports, no build step.
(() => {
  'use strict';

  // Framecode geometry, as in fixtures/framecode.py: 16 squares across the top, square i white
  // when bit i of the frame index is set; centre row at 12/240 of the height, each square 80 % of
  // its cell; the decoder averages the middle half of each square.
  const BITS = 16;
  const SQUARE_CENTRE_Y = 12 / 240;
  const SQUARE_FILL = 0.8;
  const AMBIGUOUS_LO = 90; // video-range luma 90..166 is "no square": not a framecode frame
  const AMBIGUOUS_HI = 166;
  const MAX_ERRORS = 200;

  const video = document.getElementById('video');
  const canvas = document.getElementById('canvas');
  const vs = {
    loaded: true,
    started: false,
    fatal: false,
    errors: [],
    droppedErrors: 0,
    t0: performance.now(),
    firstPlayingMs: null,
    config: null,
    hls: null,
    dash: null,
  };
  window.__vs = vs;

  const elapsed = () => Math.round(performance.now() - vs.t0) / 1000;

  function error(source, fatal, info) {
    if (fatal) vs.fatal = true;
    if (vs.errors.length >= MAX_ERRORS) {
      vs.droppedErrors += 1;
      return;
    }
    vs.errors.push({ t: elapsed(), source, fatal, ...info });
  }
  vs.error = error;

  video.addEventListener('error', () => {
    const e = video.error;
    error('video', true, {
      type: 'MediaError',
      details: e ? `code ${e.code}` : 'unknown',
      message: e ? e.message : '',
    });
  });
  video.addEventListener('playing', () => {
    if (vs.firstPlayingMs === null) vs.firstPlayingMs = Math.round(performance.now() - vs.t0);
  });

  function tryPlay() {
    const p = video.play();
    if (p && p.catch) {
      p.catch((e) => error('video', false, { type: 'play()', details: e.name, message: e.message }));
    }
  }

  function startHls(cfg) {
    if (typeof Hls === 'undefined') return error('page', true, { type: 'load', message: 'hls.js did not load' });
    if (!Hls.isSupported()) return error('page', true, { type: 'unsupported', message: 'hls.js: MediaSource not supported' });
    const hls = new Hls({ lowLatencyMode: !!cfg.lowLatency, debug: false });
    vs.hls = hls;
    hls.on(Hls.Events.ERROR, (_event, data) => {
      const url = data.url || (data.context && data.context.url) || (data.frag && data.frag.url) || undefined;
      error('hls', !!data.fatal, {
        type: data.type,
        details: data.details,
        status: data.response ? data.response.code : undefined,
        url,
        message: data.reason || (data.error && data.error.message) || data.err?.message || undefined,
      });
    });
    hls.on(Hls.Events.MANIFEST_PARSED, tryPlay);
    hls.loadSource(cfg.url);
    hls.attachMedia(video);
  }

  function startDash(cfg) {
    if (typeof dashjs === 'undefined') return error('page', true, { type: 'load', message: 'dash.js did not load' });
    const player = dashjs.MediaPlayer().create();
    vs.dash = player;
    const streaming = cfg.lowLatency
      ? {
          delay: { liveDelay: 1.5 },
          liveCatchup: { enabled: true, maxDrift: 3, playbackRate: { min: -0.3, max: 0.3 } },
        }
      : {};
    player.updateSettings({ debug: { logLevel: 3 /* LOG_LEVEL_WARNING */ }, streaming });
    const events = dashjs.MediaPlayer.events;
    // dash.js raises ERROR only for errors it does not recover from (manifest or segment
    // download failures after its retries, MSE errors, ...).
    player.on(events.ERROR, (e) => {
      const err = e.error || {};
      error('dash', true, {
        type: 'error',
        details: err.code !== undefined ? `code ${err.code}` : undefined,
        message: err.message || String(err),
      });
    });
    player.on(events.PLAYBACK_ERROR, (e) => {
      error('dash', false, { type: 'playbackError', message: e.error ? String(e.error.message || e.error) : undefined });
    });
    player.initialize(video, cfg.url, true);
  }

  vs.start = (cfg) => {
    vs.config = cfg;
    vs.started = true;
    vs.t0 = performance.now();
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    try {
      if (cfg.kind === 'hls') startHls(cfg);
      else if (cfg.kind === 'dash') startDash(cfg);
      else error('page', true, { type: 'config', message: `unknown kind ${cfg.kind}` });
    } catch (e) {
      error('page', true, { type: 'exception', message: String(e && e.stack ? e.stack : e) });
    }
  };

  // The framecode index of the frame on screen now, or null (no frame yet, or not a framecode
  // frame: some square centre is neither dark nor light).
  function frameIndex() {
    const w = video.videoWidth;
    const h = video.videoHeight;
    if (!w || !h || video.readyState < 2) return null;
    if (canvas.width !== w) canvas.width = w;
    if (canvas.height !== h) canvas.height = h;
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    ctx.drawImage(video, 0, 0, w, h);
    const cell = w / BITS;
    const cy = Math.round(SQUARE_CENTRE_Y * h);
    const r = Math.max(1, Math.round((cell * SQUARE_FILL) / 4));
    const y0 = Math.max(0, cy - r);
    const y1 = Math.min(h, cy + r);
    const rows = ctx.getImageData(0, y0, w, y1 - y0).data;
    let index = 0;
    for (let bit = 0; bit < BITS; bit++) {
      const cx = Math.floor((bit + 0.5) * cell);
      const x0 = Math.max(0, cx - r);
      const x1 = Math.min(w, cx + r);
      let sum = 0;
      let n = 0;
      for (let y = 0; y < y1 - y0; y++) {
        for (let x = x0; x < x1; x++) {
          const i = (y * w + x) * 4;
          sum += 0.299 * rows[i] + 0.587 * rows[i + 1] + 0.114 * rows[i + 2];
          n += 1;
        }
      }
      // The canvas holds full-range RGB; framecode's levels are video-range luma.
      const level = Math.floor(16 + ((sum / n) * 219) / 255);
      if (level >= AMBIGUOUS_LO && level <= AMBIGUOUS_HI) return null;
      if (level > 128) index |= 1 << bit;
    }
    return index;
  }

  vs.sample = () => {
    const q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
    const s = {
      t: elapsed(),
      currentTime: video.currentTime,
      totalFrames: q ? q.totalVideoFrames : null,
      dropped: q ? q.droppedVideoFrames : null,
      readyState: video.readyState,
      paused: video.paused,
      ended: video.ended,
      bufferedEnd: video.buffered.length ? video.buffered.end(video.buffered.length - 1) : null,
      latencyMs: null,
      hlsLatencyMs: null,
      playingDate: null,
      frameIndex: null,
    };
    try {
      if (vs.hls) {
        const pd = vs.hls.playingDate;
        if (pd) {
          s.playingDate = pd.toISOString();
          s.latencyMs = Date.now() - pd.getTime();
        }
        // hls.latency (distance behind the live edge) only means something on a live playlist.
        const details = vs.hls.latestLevelDetails;
        const l = vs.hls.latency;
        if (details && details.live && Number.isFinite(l) && l > 0) s.hlsLatencyMs = Math.round(l * 1000);
      } else if (vs.dash && vs.dash.isReady() && vs.dash.isDynamic()) {
        const l = vs.dash.getCurrentLiveLatency();
        if (Number.isFinite(l) && l > 0) s.latencyMs = Math.round(l * 1000);
      }
    } catch (_e) {
      // not ready yet: leave the latencies null
    }
    if (vs.config && vs.config.frames) {
      try {
        s.frameIndex = frameIndex();
      } catch (e) {
        error('page', false, { type: 'frames', message: String(e) });
      }
    }
    return { sample: s, fatal: vs.fatal };
  };
})();
