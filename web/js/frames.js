// Frames: what an ML consumer of this stream receives — images sampled at a chosen interval,
// size and format (GetImages over the newest media) — and the stream's named consumers with
// their checkpoints and lag behind live.

import * as api from './api.js';
import { h, errorText, dateTime, duration } from './dom.js';

export async function framesView(box, name, { signal }) {
  const interval = h('input', { type: 'number', min: 200, step: 100, value: 1000, 'aria-label': 'Sampling interval (ms)' });
  const width = h('input', { type: 'number', min: 16, max: 3840, value: 320, 'aria-label': 'Width (pixels)' });
  const format = h('select', { 'aria-label': 'Format' }, h('option', {}, 'JPEG'), h('option', {}, 'PNG'));
  const span = h('select', { 'aria-label': 'Window' },
    ...[5, 10, 30, 60, 300].map((s) => h('option', { value: s * 1000, selected: s === 10 }, `newest ${s} s`)));
  const grid = h('div', { class: 'frames-grid', 'aria-live': 'polite' });
  const consumers = h('tbody');
  const note = h('p', { class: 'muted small' });
  box.replaceChildren(
    h('form', { class: 'card form', onsubmit: (e) => { e.preventDefault(); preview(); } },
      h('div', { class: 'fields' },
        h('label', {}, 'Sampling interval (ms)', interval),
        h('label', {}, 'Width (px)', width),
        h('label', {}, 'Format', format),
        h('label', {}, 'Window', span),
        h('button', { type: 'submit' }, 'Preview'))),
    grid,
    h('h2', {}, 'Consumers'),
    h('table', { class: 'list', 'aria-label': 'Consumers' },
      h('thead', {}, h('tr', {}, ...['Consumer', 'Checkpoint', 'Lag behind live', 'Updated'].map((t) => h('th', { scope: 'col' }, t)))),
      consumers),
    note,
  );

  async function preview() {
    grid.replaceChildren(h('p', { class: 'muted' }, 'Decoding…'));
    try {
      const s = await api.stream(name);
      if (!s.lastFragment) {
        grid.replaceChildren(h('p', { class: 'muted' }, 'No media yet.'));
        return;
      }
      const end = s.lastFragment.producerMs + s.lastFragment.durationMs - 1;
      const start = end - Number(span.value);
      const images = await api.imagesBetween(name, start, end, Number(interval.value), Number(width.value), format.value, 100);
      const mime = format.value === 'PNG' ? 'image/png' : 'image/jpeg';
      grid.replaceChildren(...images.map((img) => {
        const t = img.TimeStamp * 1000;
        return h('figure', { class: 'frame' },
          img.ImageContent
            ? h('img', { src: `data:${mime};base64,${img.ImageContent}`, alt: `Frame at ${dateTime(t, true)}` })
            : h('div', { class: 'noimg' }, img.Error || 'no image'),
          h('figcaption', { class: 'mono small' }, dateTime(t, true)));
      }));
    } catch (e) {
      grid.replaceChildren(h('p', { class: 'error' }, errorText(e)));
    }
  }

  async function refreshConsumers() {
    try {
      const r = await api.rest('GET', `/v1/frames/consumers?StreamName=${encodeURIComponent(name)}`);
      const list = r.Consumers || [];
      note.textContent = 'Consumers read frames through the WebSocket feed (/v1/frames/feed) and commit checkpoints; see the README.';
      consumers.replaceChildren(...(list.length ? list.map((c) => h('tr', { 'data-consumer': c.Consumer },
        h('td', { 'data-label': 'Consumer' }, c.Consumer),
        h('td', { 'data-label': 'Checkpoint', class: 'mono' }, dateTime(c.ProducerTimestamp, true)),
        h('td', { 'data-label': 'Lag' },
          `${duration(c.LagMillis)} · ${c.LagFrames}${c.LagFramesExact ? '' : '+'} frames`),
        h('td', { 'data-label': 'Updated' }, dateTime(c.UpdatedAt))))
        : [h('tr', {}, h('td', { colspan: 4, class: 'muted' }, 'No consumer has checkpointed on this stream.'))]));
    } catch (e) {
      consumers.replaceChildren(h('tr', {}, h('td', { colspan: 4, class: 'muted' }, errorText(e))));
    }
  }

  preview();
  refreshConsumers();
  const timer = setInterval(refreshConsumers, 5000);
  signal.addEventListener('abort', () => clearInterval(timer));
}
