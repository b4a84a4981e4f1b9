// The framecode index of the picture a <video> shows, read in the page through a canvas.
// Shared by the player harness (page.js) and the web UI tests (ui.mjs); plain browser
// JavaScript, no imports. fixtures/framecode.py writes and documents the pattern.
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

  // The framecode index of the frame on screen now, or null (no frame yet, or not a framecode
  // frame: some square centre is neither dark nor light).
  window.__framecode = (video, canvas) => {
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
  };
})();
