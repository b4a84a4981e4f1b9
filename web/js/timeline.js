// The archive timeline: a canvas showing recorded coverage and gaps over a zoomable window
// (seconds to weeks), a playhead, a selected range, and a thumbnail of the frame under the
// pointer.
//
// Mouse/touch: click seeks, drag selects a range, wheel zooms around the pointer, shift+wheel
// (or a horizontal wheel) pans. Keyboard (the canvas is focusable): ←/→ move the playhead by a
// tenth of the view (shift: one second), Enter seeks there, +/- zoom, PageUp/PageDown pan,
// Home/End go to the first/last recording, Escape clears the selection.
//
// The component only draws and reports: `onseek(ms)`, `onselect([a, b] | null)`,
// `onview(start, end)` (the owner fetches coverage for the new window and calls `setSpans`),
// `thumbnail(ms) → Promise<dataURL|null>` for the hover preview.

import { h, dateTime } from './dom.js';

const MIN_VIEW_MS = 10_000;
const MAX_VIEW_MS = 31 * 86_400_000;
const STEPS = [
  1e3, 2e3, 5e3, 10e3, 15e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3, 1800e3, 3600e3, 7200e3,
  10800e3, 21600e3, 43200e3, 86400e3, 172800e3, 604800e3,
];
const DRAG_PX = 4;

export class Timeline {
  constructor({ onseek, onselect, onview, thumbnail }) {
    this.onseek = onseek;
    this.onselect = onselect;
    this.onview = onview;
    this.thumbnail = thumbnail;
    this.spans = [];
    this.start = Date.now() - 600_000;
    this.end = Date.now();
    this.playhead = null;
    this.cursor = null;
    this.selection = null;
    this.canvas = h('canvas', {
      class: 'timeline-canvas',
      tabindex: 0,
      role: 'slider',
      'aria-label': 'Archive timeline: arrows move, Enter seeks, plus and minus zoom',
    });
    this.tip = h('div', { class: 'timeline-tip', hidden: true }, h('img', { alt: '' }), h('span'));
    this.el = h('div', { class: 'timeline' }, this.canvas, this.tip);
    this.thumbs = new Map();
    this.bind();
    new ResizeObserver(() => this.draw()).observe(this.canvas);
  }

  // The window shown, epoch ms.
  setView(start, end, notify = true) {
    let span = Math.min(MAX_VIEW_MS, Math.max(MIN_VIEW_MS, end - start));
    const mid = (start + end) / 2;
    this.start = Math.round(mid - span / 2);
    this.end = Math.round(mid + span / 2);
    this.canvas.dataset.startMs = String(this.start);
    this.canvas.dataset.endMs = String(this.end);
    this.draw();
    if (notify && this.onview) {
      clearTimeout(this.viewTimer);
      this.viewTimer = setTimeout(() => this.onview(this.start, this.end), 120);
    }
  }

  setSpans(spans) {
    this.spans = spans;
    this.draw();
  }

  setPlayhead(ms) {
    this.playhead = ms;
    if (ms != null) this.canvas.setAttribute('aria-valuetext', dateTime(ms, true));
    this.draw();
  }

  setSelection(sel) {
    this.selection = sel;
    if (sel) this.canvas.dataset.selection = `${Math.round(sel[0])},${Math.round(sel[1])}`;
    else delete this.canvas.dataset.selection;
    this.draw();
    if (this.onselect) this.onselect(sel);
  }

  msPerPx() {
    return (this.end - this.start) / Math.max(1, this.canvas.clientWidth);
  }

  xOf(ms) {
    return ((ms - this.start) / (this.end - this.start)) * this.canvas.clientWidth;
  }

  msAt(clientX) {
    const r = this.canvas.getBoundingClientRect();
    return this.start + ((clientX - r.left) / r.width) * (this.end - this.start);
  }

  zoom(factor, aroundMs = (this.start + this.end) / 2) {
    const span = Math.min(MAX_VIEW_MS, Math.max(MIN_VIEW_MS, (this.end - this.start) * factor));
    const k = (aroundMs - this.start) / (this.end - this.start);
    this.setView(aroundMs - k * span, aroundMs + (1 - k) * span);
  }

  pan(fraction) {
    const d = (this.end - this.start) * fraction;
    this.setView(this.start + d, this.end + d);
  }

  bind() {
    const c = this.canvas;
    let down = null;
    c.addEventListener('pointerdown', (e) => {
      c.setPointerCapture(e.pointerId);
      down = { x: e.clientX, ms: this.msAt(e.clientX), dragging: false };
    });
    c.addEventListener('pointermove', (e) => {
      this.hover(e);
      if (!down) return;
      if (!down.dragging && Math.abs(e.clientX - down.x) > DRAG_PX) down.dragging = true;
      if (down.dragging) {
        const ms = this.msAt(e.clientX);
        this.selection = [Math.min(down.ms, ms), Math.max(down.ms, ms)];
        this.draw();
      }
    });
    c.addEventListener('pointerup', (e) => {
      if (!down) return;
      if (down.dragging) this.setSelection(this.selection);
      else this.seek(this.msAt(e.clientX));
      down = null;
    });
    c.addEventListener('pointerleave', () => {
      this.cursor = null;
      this.tip.hidden = true;
      this.draw();
    });
    c.addEventListener(
      'wheel',
      (e) => {
        e.preventDefault();
        if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
          this.pan(((e.deltaX || e.deltaY) > 0 ? 1 : -1) * 0.1);
        } else {
          this.zoom(e.deltaY > 0 ? 1.25 : 0.8, this.msAt(e.clientX));
        }
      },
      { passive: false },
    );
    c.addEventListener('keydown', (e) => this.key(e));
  }

  key(e) {
    const view = this.end - this.start;
    const at = this.cursor ?? this.playhead ?? (this.start + this.end) / 2;
    const move = (ms) => {
      this.cursor = Math.min(this.end, Math.max(this.start, ms));
      this.draw();
    };
    switch (e.key) {
      case 'ArrowLeft':
        move(at - (e.shiftKey ? 1000 : view / 10));
        break;
      case 'ArrowRight':
        move(at + (e.shiftKey ? 1000 : view / 10));
        break;
      case 'Enter':
      case ' ':
        this.seek(at);
        break;
      case '+':
      case '=':
        this.zoom(0.5, at);
        break;
      case '-':
        this.zoom(2, at);
        break;
      case 'PageUp':
        this.pan(-0.5);
        break;
      case 'PageDown':
        this.pan(0.5);
        break;
      case 'Home':
        if (this.spans.length) move(this.spans[0].start);
        break;
      case 'End':
        if (this.spans.length) move(this.spans[this.spans.length - 1].end - 1);
        break;
      case 'Escape':
        this.setSelection(null);
        break;
      default:
        return;
    }
    e.preventDefault();
  }

  seek(ms) {
    this.setPlayhead(ms);
    if (this.onseek) this.onseek(ms);
  }

  covered(ms) {
    return this.spans.some((s) => s.start <= ms && ms < s.end);
  }

  hover(e) {
    const ms = this.msAt(e.clientX);
    this.cursor = ms;
    this.draw();
    const r = this.canvas.getBoundingClientRect();
    const x = e.clientX - r.left;
    const label = this.tip.querySelector('span');
    const img = this.tip.querySelector('img');
    label.textContent = dateTime(ms, this.msPerPx() < 1000);
    this.tip.hidden = false;
    this.tip.style.left = `${Math.max(0, Math.min(r.width - 170, x - 85))}px`;
    if (!this.thumbnail || !this.covered(ms)) {
      img.hidden = true;
      return;
    }
    // One request per ~8 px of timeline (and at most one in flight).
    const key = Math.round(ms / Math.max(200, this.msPerPx() * 8));
    const cached = this.thumbs.get(key);
    if (cached !== undefined) {
      img.hidden = !cached;
      if (cached) img.src = cached;
      return;
    }
    clearTimeout(this.thumbTimer);
    this.thumbTimer = setTimeout(async () => {
      if (this.thumbInFlight) return;
      this.thumbInFlight = true;
      try {
        const url = await this.thumbnail(ms);
        this.thumbs.set(key, url);
        if (this.thumbs.size > 500) this.thumbs.delete(this.thumbs.keys().next().value);
        if (this.cursor != null && Math.abs(this.cursor - ms) < this.msPerPx() * 16) {
          img.hidden = !url;
          if (url) img.src = url;
        }
      } catch {
        this.thumbs.set(key, null);
      } finally {
        this.thumbInFlight = false;
      }
    }, 150);
  }

  draw() {
    const c = this.canvas;
    const w = c.clientWidth;
    const hgt = c.clientHeight;
    if (!w || !hgt) return;
    const dpr = window.devicePixelRatio || 1;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(hgt * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(hgt * dpr);
    }
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    const css = getComputedStyle(c);
    const col = (name, dflt) => css.getPropertyValue(name).trim() || dflt;
    g.clearRect(0, 0, w, hgt);
    const barTop = 26;
    const barH = hgt - barTop - 6;
    // gaps: the whole bar; recorded spans on top
    g.fillStyle = col('--tl-gap', '#2a2f3a');
    g.fillRect(0, barTop, w, barH);
    g.fillStyle = col('--tl-cover', '#3fa66b');
    for (const s of this.spans) {
      if (s.end < this.start || s.start > this.end) continue;
      const x0 = Math.max(0, this.xOf(s.start));
      const x1 = Math.min(w, this.xOf(s.end));
      g.fillRect(x0, barTop, Math.max(1, x1 - x0), barH);
    }
    // ticks
    const step = STEPS.find((s) => s / this.msPerPx() >= 90) || STEPS[STEPS.length - 1];
    const tz = new Date().getTimezoneOffset() * 60_000;
    g.fillStyle = col('--tl-text', '#c9d1d9');
    g.strokeStyle = col('--tl-tick', '#596274');
    g.font = '11px system-ui, sans-serif';
    g.textBaseline = 'top';
    const first = Math.ceil((this.start - tz) / step) * step + tz;
    for (let t = first; t <= this.end; t += step) {
      const x = Math.round(this.xOf(t)) + 0.5;
      g.beginPath();
      g.moveTo(x, 16);
      g.lineTo(x, barTop + barH);
      g.stroke();
      g.fillText(tickLabel(t, step), x + 3, 2);
    }
    // selection
    if (this.selection) {
      const [a, b] = this.selection;
      g.fillStyle = col('--tl-select', 'rgba(88,166,255,0.35)');
      g.fillRect(this.xOf(a), barTop - 4, Math.max(2, this.xOf(b) - this.xOf(a)), barH + 8);
    }
    // cursor and playhead
    if (this.cursor != null) {
      g.fillStyle = col('--tl-cursor', '#8b949e');
      g.fillRect(Math.round(this.xOf(this.cursor)), barTop - 4, 1, barH + 8);
    }
    if (this.playhead != null) {
      g.fillStyle = col('--tl-playhead', '#f0883e');
      g.fillRect(Math.round(this.xOf(this.playhead)) - 1, 14, 3, barH + 16);
    }
  }
}

function tickLabel(t, step) {
  const d = new Date(t);
  const p = (n) => String(n).padStart(2, '0');
  if (step >= 86_400_000) return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
  const hm = `${p(d.getHours())}:${p(d.getMinutes())}`;
  if (step >= 60_000) {
    return d.getHours() === 0 && d.getMinutes() === 0 ? `${p(d.getMonth() + 1)}-${p(d.getDate())}` : hm;
  }
  return `${hm}:${p(d.getSeconds())}`;
}
