// Live view: low-latency HLS (parts, blocking reloads), falling back to plain HLS when the
// low-latency session cannot start; the measured latency is shown (capture time of the picture
// on screen, from the playlist's program date, against this computer's clock).

import * as api from './api.js';
import { Player } from './player.js';
import { h, errorText } from './dom.js';

export function liveView(box, name, { signal }) {
  const video = h('video', { muted: true, autoplay: true, playsinline: true, controls: true, class: 'video', 'aria-label': `Live video of ${name}` });
  video.muted = true;
  const mode = h('span', { class: 'badge', 'data-role': 'mode' }, '…');
  const latency = h('span', { 'data-role': 'latency' }, '');
  const status = h('p', { class: 'muted', role: 'status' }, 'Connecting…');
  box.replaceChildren(
    h('div', { class: 'player' }, video),
    h('div', { class: 'player-bar' }, mode, latency, status),
  );
  if (!Player.supported()) {
    status.textContent = 'This browser cannot play HLS through Media Source Extensions.';
    return;
  }
  const player = new Player(video);
  let retry;
  signal.addEventListener('abort', () => {
    clearTimeout(retry);
    clearInterval(tick);
    player.destroy();
  });

  async function start() {
    try {
      try {
        await player.load(await api.hlsUrl(name, { lowLatency: true }), { lowLatency: true, live: true });
      } catch (e) {
        if (e && e.type) throw e; // the API refused: plain HLS would be refused too
        await player.load(await api.hlsUrl(name), { live: true });
      }
      mode.textContent = player.mode;
      mode.className = `badge ${player.mode === 'LL-HLS' ? 'live' : 'streaming'}`;
      status.textContent = '';
      video.play().catch(() => {});
      player.onfatal = () => {
        status.textContent = 'The stream stopped; reconnecting…';
        retry = setTimeout(start, 2000);
      };
    } catch (e) {
      if (signal.aborted) return;
      mode.textContent = 'offline';
      mode.className = 'badge offline';
      status.textContent = `${errorText(e)} — retrying in 5 s. Older media is in the archive.`;
      retry = setTimeout(start, 5000);
    }
  }
  const tick = setInterval(() => {
    const ms = player.latencyMs();
    latency.textContent = ms == null ? '' : `latency ${(ms / 1000).toFixed(1)} s`;
    if (ms != null) video.dataset.latencyMs = String(Math.round(ms));
  }, 500);
  start();
}
