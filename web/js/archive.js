// Archive: the coverage timeline, a player for any time, and clip export of a selection (for
// users whose policy allows GetClip on the stream).
//
// Seeking to a time plays an ON_DEMAND HLS session around it (a minute before, so the fragment
// covering the time is in it, to half an hour after) and moves the player to the frame shown at
// that producer time; a seek inside the loaded session only moves the player. The picture's
// producer time is on the video element as `data-position-ms` and in the position readout.

import * as api from './api.js';
import { can } from './session.js';
import { Player } from './player.js';
import { Timeline } from './timeline.js';
import { h, toast, errorText, dateTime, duration, toLocalInput, fromLocalInput } from './dom.js';

const BEFORE_MS = 60_000;
const AFTER_MS = 30 * 60_000;
const PRESETS = [
  ['1 min', 60_000], ['10 min', 600_000], ['1 h', 3_600_000], ['6 h', 21_600_000],
  ['1 day', 86_400_000], ['7 days', 604_800_000],
];

export async function archiveView(box, name, { signal }) {
  const video = h('video', { muted: true, playsinline: true, class: 'video', 'aria-label': `Recorded video of ${name}` });
  video.muted = true;
  const player = new Player(video);
  let session = null; // [start, end] of the loaded ON_DEMAND session
  const position = h('output', { 'data-role': 'position', class: 'mono' }, '–');
  const playBtn = h('button', { type: 'button', onclick: () => (video.paused ? video.play() : video.pause()) }, 'Play');
  const goto = h('input', { type: 'datetime-local', step: '0.001', 'aria-label': 'Go to time' });
  const selInfo = h('span', { 'data-role': 'selection', class: 'mono' }, 'Drag on the timeline to select a range.');
  const clipBtn = h('button', { type: 'button', disabled: true, onclick: () => exportClip() }, 'Export clip');
  const playSelBtn = h('button', { type: 'button', class: 'ghost', disabled: true, onclick: () => playSelection() }, 'Play selection');
  const status = h('p', { class: 'muted', role: 'status' });
  let selection = null;

  const timeline = new Timeline({
    onseek: (ms) => seek(ms),
    onselect: (sel) => {
      selection = sel && sel[1] - sel[0] >= 100 ? sel : null;
      clipBtn.disabled = playSelBtn.disabled = !selection;
      selInfo.textContent = selection
        ? `${dateTime(selection[0], true)} → ${dateTime(selection[1], true)} (${duration(selection[1] - selection[0])})`
        : 'Drag on the timeline to select a range.';
    },
    onview: (start, end) => loadCoverage(start, end),
    thumbnail: (ms) => api.imageAt(name, ms, 160),
  });

  box.replaceChildren(
    h('div', { class: 'player' }, video),
    h('div', { class: 'player-bar' },
      playBtn,
      h('span', {}, 'Position ', position),
      h('form', { class: 'inline', onsubmit: (e) => {
        e.preventDefault();
        const ms = fromLocalInput(goto.value);
        if (ms != null) {
          timeline.setView(ms - (timeline.end - timeline.start) / 2, ms + (timeline.end - timeline.start) / 2);
          timeline.seek(ms);
        }
      } }, h('label', {}, 'Go to ', goto), h('button', { type: 'submit', class: 'ghost' }, 'Go')),
    ),
    h('div', { class: 'timeline-bar' },
      h('div', { class: 'zoom', role: 'group', 'aria-label': 'Zoom' },
        ...PRESETS.map(([label, span]) => h('button', { type: 'button', class: 'ghost', onclick: () => {
          const mid = timeline.playhead ?? (timeline.start + timeline.end) / 2;
          timeline.setView(mid - span / 2, mid + span / 2);
        } }, label)),
        h('button', { type: 'button', class: 'ghost', 'aria-label': 'Zoom in', onclick: () => timeline.zoom(0.5) }, '+'),
        h('button', { type: 'button', class: 'ghost', 'aria-label': 'Zoom out', onclick: () => timeline.zoom(2) }, '−'),
        h('button', { type: 'button', class: 'ghost', onclick: () => fitAll() }, 'Fit'),
      ),
      timeline.el,
    ),
    h('div', { class: 'selection-bar' }, selInfo, playSelBtn,
      can('kinesisvideo:GetClip', { stream: name }) && clipBtn),
    status,
  );

  video.addEventListener('play', () => (playBtn.textContent = 'Pause'));
  video.addEventListener('pause', () => (playBtn.textContent = 'Play'));
  const showPosition = () => {
    const ms = player.timeAt();
    if (ms == null) return;
    position.textContent = dateTime(ms, true);
    video.dataset.positionMs = String(Math.round(ms));
    timeline.setPlayhead(ms);
  };
  video.addEventListener('timeupdate', showPosition);
  video.addEventListener('seeked', showPosition);
  signal.addEventListener('abort', () => player.destroy());

  async function loadCoverage(start, end) {
    try {
      const r = await api.coverage(name, start, end, Math.max(500, 2 * timeline.msPerPx()));
      if (signal.aborted) return;
      timeline.setSpans(r.spans);
      timeline.canvas.dataset.spans = String(r.spans.length);
    } catch (e) {
      status.textContent = errorText(e);
    }
  }

  async function fitAll() {
    const s = await api.stream(name);
    if (!s.lastFragment) return;
    const first = await api.coverage(name, s.creationTimeMs - 86_400_000, s.lastFragment.producerMs + s.lastFragment.durationMs, 3_600_000);
    const a = first.spans.length ? first.spans[0].start : s.lastFragment.producerMs;
    const b = s.lastFragment.producerMs + s.lastFragment.durationMs;
    const pad = Math.max(5_000, (b - a) * 0.05);
    timeline.setView(a - pad, b + pad);
  }

  async function seek(ms) {
    status.textContent = '';
    try {
      if (!session || ms < session[0] + BEFORE_MS / 2 || ms > session[1] - 5_000 || !player.mediaTimeOf(ms)) {
        const wasPlaying = !video.paused;
        const url = await api.hlsUrl(name, { range: [ms - BEFORE_MS, ms + AFTER_MS] });
        await player.load(url);
        session = [ms - BEFORE_MS, ms + AFTER_MS];
        if (wasPlaying) video.play().catch(() => {});
      }
      const ok = await player.seekToTime(ms);
      if (!ok) status.textContent = `Nothing was recorded at ${dateTime(ms, true)}.`;
    } catch (e) {
      status.textContent = errorText(e);
    }
  }

  async function playSelection() {
    if (!selection) return;
    await seek(selection[0]);
    video.play().catch(() => {});
  }

  async function exportClip() {
    if (!selection) return;
    const [a, b] = selection;
    clipBtn.disabled = true;
    status.textContent = 'Preparing the clip…';
    try {
      const blob = await api.clip(name, a, b);
      const link = h('a', {
        href: URL.createObjectURL(blob),
        download: `${name}_${new Date(a).toISOString().replace(/[:.]/g, '-')}.mp4`,
      });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
      status.textContent = `Clip exported (${(blob.size / 1e6).toFixed(1)} MB).`;
    } catch (e) {
      toast(errorText(e), 'error');
      status.textContent = '';
    } finally {
      clipBtn.disabled = !selection;
    }
  }

  // Start at the newest recording, paused on the picture of ten seconds before its end.
  const s = await api.stream(name).catch(() => null);
  const end = s && s.lastFragment ? s.lastFragment.producerMs + s.lastFragment.durationMs : Date.now();
  timeline.setView(end - 9 * 60_000, end + 60_000);
  goto.value = toLocalInput(end - 10_000);
  if (s && s.lastFragment) timeline.seek(Math.max(s.lastFragment.producerMs, end - 10_000));
}
