// In-page half of the player harness (play.mjs serves it next to hls.js / dash.js).
//
// play.mjs calls window.__vs.start(config) once, then window.__vs.sample() every ~250 ms.
// Everything here must stay plain browser JavaScript: no imports, no build step.
(() => {
  'use strict';

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

  // The framecode index of the frame on screen now, or null (framecode.js).
  const frameIndex = () => window.__framecode(video, canvas);

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
