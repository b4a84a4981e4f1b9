// hls.js in a <video>, for the live view and the archive.
//
// Wall-clock mapping: vidstream's playlists carry EXT-X-PROGRAM-DATE-TIME (the producer
// timestamp of each fragment), so the producer time on screen is the playing fragment's date
// plus the offset into it; `timeAt()` and `seekToTime()` use the fragments' dates, so a seek
// lands on the frame shown at that producer time.

/* global Hls */

export class Player {
  constructor(video) {
    this.video = video;
    this.hls = null;
    this.details = null; // the newest level details (fragments with their dates)
    this.mode = null;
  }

  static supported() {
    return typeof Hls !== 'undefined' && Hls.isSupported();
  }

  // Loads `url`; resolves once the playlist is parsed, rejects on a fatal error before that.
  load(url, { lowLatency = false, live = false } = {}) {
    this.destroy();
    this.mode = lowLatency ? 'LL-HLS' : 'HLS';
    const hls = new Hls({
      lowLatencyMode: lowLatency,
      liveSyncDurationCount: live ? 2 : 3,
      backBufferLength: 30,
      maxLiveSyncPlaybackRate: live ? 1.5 : 1,
      enableWorker: true,
    });
    this.hls = hls;
    this.errors = [];
    return new Promise((resolve, reject) => {
      let ready = false;
      hls.on(Hls.Events.LEVEL_LOADED, (_e, data) => {
        this.details = data.details;
        if (!ready) {
          ready = true;
          resolve();
        }
      });
      hls.on(Hls.Events.LEVEL_UPDATED, (_e, data) => {
        this.details = data.details;
      });
      hls.on(Hls.Events.ERROR, (_e, data) => {
        this.errors.push(`${data.type}/${data.details}`);
        if (!data.fatal) return;
        if (!ready) {
          ready = true;
          reject(new Error(`player: ${data.details}`));
        } else if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
          hls.recoverMediaError();
        } else if (this.onfatal) {
          this.onfatal(data);
        }
      });
      hls.attachMedia(this.video);
      hls.loadSource(url);
    });
  }

  destroy() {
    if (this.hls) this.hls.destroy();
    this.hls = null;
    this.details = null;
  }

  fragments() {
    return (this.details && this.details.fragments) || [];
  }

  // Producer time (epoch ms) of the picture on screen, or null.
  timeAt(currentTime = this.video.currentTime) {
    const frags = this.fragments();
    let best = null;
    for (const f of frags) {
      if (f.programDateTime == null) continue;
      if (f.start <= currentTime + 1e-3) best = f;
      else break;
    }
    return best ? best.programDateTime + (currentTime - best.start) * 1000 : null;
  }

  // The media time that shows producer time `ms` (null when no fragment covers it).
  mediaTimeOf(ms) {
    const frags = this.fragments();
    for (let i = frags.length - 1; i >= 0; i--) {
      const f = frags[i];
      if (f.programDateTime == null) continue;
      if (f.programDateTime <= ms) {
        const off = (ms - f.programDateTime) / 1000;
        if (off <= f.duration + 0.5) return f.start + Math.min(off, f.duration);
        return null;
      }
    }
    return null;
  }

  // Seeks to producer time `ms`; resolves when the picture is there.
  seekToTime(ms) {
    const t = this.mediaTimeOf(ms);
    if (t == null) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = () => {
        this.video.removeEventListener('seeked', done);
        resolve(true);
      };
      this.video.addEventListener('seeked', done);
      // A frame is shown for [pts, pts + duration): aim a hair inside the asked frame.
      this.video.currentTime = t + 0.001;
    });
  }

  // Milliseconds from the newest picture's capture to now (producer clock vs this clock).
  latencyMs() {
    if (!this.hls) return null;
    const d = this.hls.playingDate;
    return d ? Date.now() - d.getTime() : null;
  }
}
