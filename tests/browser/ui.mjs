#!/usr/bin/env node
// End-to-end driver for the web UI tests (tests/it/web_ui.rs): real headless Chromium (Debian's,
// through playwright-core) against a running vidstream whose stream NAME has real video with a
// burnt-in frame index (fixtures/framecode.py).
//
//   node tests/browser/ui.mjs --base URL --stream NAME --out DIR --goto-ms T --clip A,B \
//     --user ADMIN --password P --viewer VIEWER --viewer-password Q
//
// Logs in through the login page (after a wrong password, whose error it reads), then walks every
// view at 1280×800 and then at 390×844 (phone), saving a screenshot of each in DIR, and does what a
// person would: reads the stream list, watches the live view, reads the archive timeline, hovers
// for a thumbnail, seeks by clicking, by "Go to" (time T) and by keyboard, drags a selection A..B
// and exports it as a clip (saved as DIR/clip.mp4), previews frames. Then logs out (the login
// page at phone width), logs in as the viewer and records what the viewer sees: the streams, live
// video, and which admin controls are on the page, next to what /v1/whoami says they may do.
// Prints ONE JSON object with what it saw; the Rust test judges it. Exit 0 when the walk
// completed, 2 when the harness failed (the JSON's `failure` says where).

import { writeFile, mkdir, rm, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { launchChromium } from './chromium.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const STEP_TIMEOUT_MS = 20_000;
const started = Date.now();
const log = (msg) => process.stderr.write(`ui.mjs +${Date.now() - started}ms: ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const report = { ok: false, step: null, failure: null, pageErrors: [], login: {}, desktop: {}, phone: {}, viewer: {} };

// The value a datetime-local input reports back for `ms` (local time): Chromium normalizes it to
// the shortest form (".110" -> ".11", ".000" and then ":00" seconds dropped), and Playwright's fill
// refuses a value the input does not echo back verbatim.
function localInput(ms) {
  const d = new Date(ms);
  const p = (n, w = 2) => String(n).padStart(w, '0');
  let time = `${p(d.getHours())}:${p(d.getMinutes())}`;
  const frac = p(d.getMilliseconds(), 3).replace(/0+$/, '');
  if (frac) time += `:${p(d.getSeconds())}.${frac}`;
  else if (d.getSeconds()) time += `:${p(d.getSeconds())}`;
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${time}`;
}

async function shot(page, out, name) {
  const path = join(out, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

// Horizontal overflow (a phone layout must not scroll sideways).
const overflow = (page) =>
  page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);

async function open(page, base, hash, ready) {
  await page.goto(`${base}/ui/${hash}`);
  await page.waitForFunction((h) => document.body.dataset.view !== undefined && location.hash === h, hash, { timeout: STEP_TIMEOUT_MS });
  if (ready) await page.waitForSelector(ready, { timeout: STEP_TIMEOUT_MS });
}

// The producer time the archive says is on screen, and the frame index actually on screen.
async function onScreen(page) {
  return page.evaluate(() => {
    const v = document.querySelector('video');
    const c = document.getElementById('__fc') || Object.assign(document.createElement('canvas'), { id: '__fc', hidden: true });
    if (!c.isConnected) document.body.append(c);
    return {
      positionMs: v.dataset.positionMs ? Number(v.dataset.positionMs) : null,
      frameIndex: window.__framecode(v, c),
      currentTime: v.currentTime,
      paused: v.paused,
    };
  });
}

async function waitSeeked(page, before) {
  await page.waitForFunction(
    (b) => {
      const v = document.querySelector('video');
      return v && v.dataset.positionMs && v.dataset.positionMs !== b && !v.seeking && v.readyState >= 2;
    },
    before,
    { timeout: STEP_TIMEOUT_MS },
  );
  await sleep(300); // the compositor shows the new picture
}

async function canvasX(page, ms) {
  return page.evaluate((t) => {
    const c = document.querySelector('.timeline-canvas');
    const r = c.getBoundingClientRect();
    const a = Number(c.dataset.startMs);
    const b = Number(c.dataset.endMs);
    return { x: r.left + ((t - a) / (b - a)) * r.width, y: r.top + r.height * 0.7 };
  }, ms);
}

// The login page: a wrong password shows an error (and keeps focus in the form), the right one
// opens the app.
async function logIn(page, o, out, user, password, { wrong = null, shotName = null } = {}) {
  const r = {};
  await page.waitForSelector('form[aria-label="Log in"]', { timeout: STEP_TIMEOUT_MS });
  r.focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
  if (shotName) r.shot = await shot(page, out, shotName);
  if (wrong) {
    await page.fill('#login-user', user);
    await page.fill('#login-password', wrong);
    await page.click('form[aria-label="Log in"] button[type=submit]');
    await page.waitForFunction(() => {
      const e = document.querySelector('[data-role=login-error]');
      return e && e.textContent.trim().length > 0;
    }, null, { timeout: STEP_TIMEOUT_MS });
    r.error = await page.$eval('[data-role=login-error]', (e) => ({ text: e.textContent, role: e.getAttribute('role') }));
    r.focusedAfterError = await page.evaluate(() => document.activeElement && document.activeElement.id);
    if (shotName) r.errorShot = await shot(page, out, `${shotName}-error`);
  }
  await page.fill('#login-user', user);
  await page.fill('#login-password', password);
  await page.click('form[aria-label="Log in"] button[type=submit]');
  // The app opens where the address says (the streams, or the page before a logout).
  await page.waitForFunction(() => {
    const v = document.body.dataset.view;
    return v && v !== 'login' && !document.querySelector('form[aria-label="Log in"]');
  }, null, { timeout: STEP_TIMEOUT_MS });
  r.headerUser = await page.$eval('#session [data-role=user]', (e) => e.textContent);
  return r;
}

// Logs out with the header's control: the login page comes back.
async function logOut(page) {
  await page.click('#logout');
  await page.waitForSelector('form[aria-label="Log in"]', { timeout: STEP_TIMEOUT_MS });
}

// A viewer: sees the streams and live video, none of the admin controls; and what whoami says.
async function viewer(page, o, out) {
  const r = report.viewer;
  const name = encodeURIComponent(o.stream);
  report.step = 'viewer login';
  await page.setViewportSize({ width: 1280, height: 800 });
  r.login = await logIn(page, o, out, o.viewer, o.viewerPassword);
  report.step = 'viewer streams';
  await open(page, o.base, '#/', `tr[data-stream="${o.stream}"]`);
  r.streams = await page.$$eval('tr[data-stream]', (rows) => rows.map((e) => e.dataset.stream));
  r.createStreamForms = await page.$$eval('form[aria-label="Create a stream"]', (f) => f.length);
  r.deleteButtons = await page.$$eval('button[aria-label^="Delete stream"]', (b) => b.length);
  r.camerasNav = await page.$eval('[data-nav=cameras]', (a) => !a.hidden);
  r.streamsShot = await shot(page, out, 'viewer-streams');
  report.step = 'viewer live';
  await open(page, o.base, `#/stream/${name}/live`, 'video');
  await page.waitForFunction(() => document.querySelector('video').currentTime > 0, null, { timeout: 30_000 });
  const t0 = await page.evaluate(() => document.querySelector('video').currentTime);
  await sleep(2000);
  r.liveAdvancedSecs = (await page.evaluate(() => document.querySelector('video').currentTime)) - t0;
  r.tabs = await page.$$eval('nav.tabs a', (as) => as.map((a) => a.textContent));
  r.liveShot = await shot(page, out, 'viewer-live');
  report.step = 'viewer archive';
  await open(page, o.base, `#/stream/${name}/archive`, '.timeline-canvas[data-spans]');
  r.exportClipButtons = await page.$$eval('button', (bs) => bs.filter((b) => b.textContent === 'Export clip').length);
  report.step = 'viewer cameras';
  await open(page, o.base, '#/cameras', 'table[aria-label=Cameras] tbody tr');
  r.cameraRows = await page.$$eval('tr[data-camera]', (rows) => rows.map((e) => e.dataset.camera));
  r.addCameraForms = await page.$$eval('form[aria-label="Add a camera"]', (f) => f.length);
  r.removeCameraButtons = await page.$$eval('button[aria-label^="Remove camera"]', (b) => b.length);
  r.camerasShot = await shot(page, out, 'viewer-cameras');
  r.whoami = await page.evaluate(async () => (await fetch('/v1/whoami')).json());
  report.step = 'viewer logout';
  await logOut(page);
  r.loggedOut = await page.evaluate(async () => (await fetch('/v1/whoami')).status);
}

async function desktop(page, o, out) {
  const r = report.desktop;
  const name = encodeURIComponent(o.stream);

  report.step = 'streams';
  await open(page, o.base, '#/', `tr[data-stream="${o.stream}"]`);
  r.streams = await page.$$eval('tr[data-stream]', (rows) =>
    rows.map((e) => ({ name: e.dataset.stream, state: e.dataset.state, text: e.innerText })));
  r.streamsShot = await shot(page, out, 'desktop-streams');

  report.step = 'create and delete a stream';
  page.on('dialog', (d) => d.accept());
  await page.fill('form[aria-label="Create a stream"] input[name=name]', 'made-in-ui');
  await page.fill('form[aria-label="Create a stream"] input[name=hours]', '2');
  await page.click('form[aria-label="Create a stream"] button[type=submit]');
  await page.waitForSelector('tr[data-stream="made-in-ui"]', { timeout: STEP_TIMEOUT_MS });
  r.created = await page.$eval('tr[data-stream="made-in-ui"]', (e) => e.innerText);
  await page.click('button[aria-label="Delete stream made-in-ui"]');
  await page.waitForSelector('tr[data-stream="made-in-ui"]', { state: 'detached', timeout: STEP_TIMEOUT_MS });
  r.deleted = true;

  report.step = 'live';
  await open(page, o.base, `#/stream/${name}/live`, 'video');
  await page.waitForFunction(() => document.querySelector('video').currentTime > 0, null, { timeout: 30_000 });
  const t0 = await page.evaluate(() => document.querySelector('video').currentTime);
  await sleep(5000);
  r.live = await page.evaluate(() => {
    const v = document.querySelector('video');
    return {
      currentTime: v.currentTime,
      latencyMs: v.dataset.latencyMs ? Number(v.dataset.latencyMs) : null,
      mode: document.querySelector('[data-role=mode]').textContent,
      latencyText: document.querySelector('[data-role=latency]').textContent,
    };
  });
  r.live.advancedSecs = r.live.currentTime - t0;
  r.liveShot = await shot(page, out, 'desktop-live');

  report.step = 'archive';
  await open(page, o.base, `#/stream/${name}/archive`, '.timeline-canvas[data-spans]');
  // Evaluated through the DevTools protocol: the UI's CSP (no inline script) stays in force.
  await page.evaluate(await readFile(join(HERE, 'framecode.js'), 'utf8'));
  r.coverage = await page.evaluate(async (n) => {
    const c = document.querySelector('.timeline-canvas');
    const resp = await fetch(`/v1/streams/${n}/coverage?start=${c.dataset.startMs}&end=${c.dataset.endMs}&minGapMs=1000`);
    return { view: [Number(c.dataset.startMs), Number(c.dataset.endMs)], drawnSpans: Number(c.dataset.spans), ...(await resp.json()) };
  }, name);
  r.archiveShot = await shot(page, out, 'desktop-archive');

  report.step = 'thumbnail';
  const hp = await canvasX(page, o.gotoMs);
  await page.mouse.move(hp.x, hp.y);
  await page.waitForFunction(() => {
    const img = document.querySelector('.timeline-tip img');
    return img && !img.hidden && img.complete && img.naturalWidth > 0 && img.src.startsWith('data:image/jpeg');
  }, null, { timeout: STEP_TIMEOUT_MS });
  r.thumbnail = await page.evaluate(() => {
    const img = document.querySelector('.timeline-tip img');
    return { width: img.naturalWidth, height: img.naturalHeight };
  });
  r.thumbnailShot = await shot(page, out, 'desktop-archive-thumbnail');

  report.step = 'seek by click';
  // The archive opens paused on a picture near the end of the recording.
  await page.waitForFunction(() => document.querySelector('video').dataset.positionMs, null, { timeout: STEP_TIMEOUT_MS });
  r.opening = await onScreen(page);
  await page.mouse.click(hp.x, hp.y);
  await waitSeeked(page, String(r.opening.positionMs));
  r.clickSeek = { askedMs: o.gotoMs, ...(await onScreen(page)) };

  report.step = 'seek by go-to';
  const goto = o.gotoMs + 1500;
  const before = String(r.clickSeek.positionMs);
  await page.fill('input[type=datetime-local]', localInput(goto));
  await page.click('form.inline button[type=submit]');
  await waitSeeked(page, before);
  r.gotoSeek = { askedMs: goto, ...(await onScreen(page)) };
  r.seekShot = await shot(page, out, 'desktop-archive-seek');

  report.step = 'seek by keyboard';
  await page.focus('.timeline-canvas');
  const kbBefore = String(r.gotoSeek.positionMs);
  await page.keyboard.press('Shift+ArrowLeft');
  await page.keyboard.press('Enter');
  await waitSeeked(page, kbBefore);
  r.keyboardSeek = await onScreen(page);

  report.step = 'clip';
  const a = await canvasX(page, o.clip[0]);
  const b = await canvasX(page, o.clip[1]);
  await page.mouse.move(a.x, a.y);
  await page.mouse.down();
  await page.mouse.move((a.x + b.x) / 2, a.y, { steps: 4 });
  await page.mouse.move(b.x, b.y, { steps: 4 });
  await page.mouse.up();
  const sel = await page.evaluate(() => document.querySelector('.timeline-canvas').dataset.selection);
  r.selection = sel ? sel.split(',').map(Number) : null;
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: 30_000 }),
    page.click('text=Export clip'),
  ]);
  r.clipPath = join(out, 'clip.mp4');
  await download.saveAs(r.clipPath);
  r.clipName = download.suggestedFilename();
  r.clipShot = await shot(page, out, 'desktop-archive-selection');

  report.step = 'frames';
  await open(page, o.base, `#/stream/${name}/frames`, '.frames-grid img');
  await page.waitForFunction(() => document.querySelectorAll('.frames-grid img').length >= 3, null, { timeout: STEP_TIMEOUT_MS });
  r.frames = await page.$$eval('.frames-grid img', (imgs) => imgs.length);
  await page.waitForSelector('tr[data-consumer]', { timeout: STEP_TIMEOUT_MS });
  r.consumers = await page.$$eval('tr[data-consumer]', (rows) => rows.map((e) => e.innerText));
  r.framesShot = await shot(page, out, 'desktop-frames');

  report.step = 'cameras';
  await open(page, o.base, '#/cameras', 'table[aria-label=Cameras] tbody tr');
  const form = 'form[aria-label="Add a camera"]';
  await page.fill(`${form} input[name=name]`, 'ui-cam');
  await page.fill(`${form} input[name=url]`, 'rtsp://127.0.0.1:9/ui');
  await page.fill(`${form} input[name=stream]`, o.stream);
  await page.fill(`${form} input[name=username]`, 'admin');
  await page.fill(`${form} input[name=password]`, 'hunter2-secret');
  await page.click(`${form} button[type=submit]`);
  await page.waitForSelector('tr[data-camera="ui-cam"]', { timeout: STEP_TIMEOUT_MS });
  r.cameraRow = await page.$eval('tr[data-camera="ui-cam"]', (e) => e.innerText);
  r.camerasPage = await page.content();
  r.camerasShot = await shot(page, out, 'desktop-cameras');
  await page.click('button[aria-label="Remove camera ui-cam"]');
  await page.waitForSelector('tr[data-camera="ui-cam"]', { state: 'detached', timeout: STEP_TIMEOUT_MS });
  r.cameraRemoved = true;
}

async function phone(page, o, out) {
  const r = report.phone;
  const name = encodeURIComponent(o.stream);
  await page.setViewportSize({ width: 390, height: 844 });
  const views = [
    ['streams', '#/', `tr[data-stream="${o.stream}"]`],
    ['live', `#/stream/${name}/live`, 'video'],
    ['archive', `#/stream/${name}/archive`, '.timeline-canvas[data-spans]'],
    ['frames', `#/stream/${name}/frames`, '.frames-grid img'],
    ['cameras', '#/cameras', 'table[aria-label=Cameras] tbody tr'],
  ];
  r.overflowPx = {};
  for (const [view, hash, ready] of views) {
    report.step = `phone ${view}`;
    await open(page, o.base, hash, ready);
    if (view === 'live') {
      await page.waitForFunction(() => document.querySelector('video').currentTime > 0.5, null, { timeout: 30_000 });
    }
    if (view === 'archive') {
      await page.waitForFunction(() => document.querySelector('video').dataset.positionMs, null, { timeout: STEP_TIMEOUT_MS });
      await sleep(300);
    }
    r.overflowPx[view] = await overflow(page);
    r[`${view}Shot`] = await shot(page, out, `phone-${view}`);
  }
}

async function main() {
  const { values } = parseArgs({
    options: {
      base: { type: 'string' },
      stream: { type: 'string' },
      out: { type: 'string' },
      'goto-ms': { type: 'string' },
      clip: { type: 'string' },
      user: { type: 'string' },
      password: { type: 'string' },
      viewer: { type: 'string' },
      'viewer-password': { type: 'string' },
      chromium: { type: 'string', default: process.env.CHROMIUM || '/usr/bin/chromium' },
    },
    strict: true,
  });
  const o = {
    base: values.base,
    stream: values.stream,
    gotoMs: Number(values['goto-ms']),
    clip: (values.clip || '').split(',').map(Number),
    user: values.user,
    password: values.password,
    viewer: values.viewer,
    viewerPassword: values['viewer-password'],
  };
  await mkdir(values.out, { recursive: true });
  const watchdog = setTimeout(() => {
    report.failure = `watchdog at step ${report.step}`;
    process.stdout.write(JSON.stringify(report) + '\n');
    process.exit(2);
  }, 210_000);
  let browser;
  try {
    browser = await launchChromium(values.chromium, { width: 1280, height: 800 }, log);
    const page = browser.context.pages()[0] || (await browser.context.newPage());
    page.on('pageerror', (e) => report.pageErrors.push(String(e.message || e)));
    page.on('console', (m) => m.type() === 'error' && report.pageErrors.push(`console: ${m.text()}`));
    report.step = 'login';
    await page.goto(`${o.base}/ui/`);
    report.login = await logIn(page, o, values.out, o.user, o.password, { wrong: 'not the password, sorry', shotName: 'desktop-login' });
    await desktop(page, o, values.out);
    await phone(page, o, values.out);
    report.step = 'phone logout';
    await logOut(page);
    report.phone.loginOverflowPx = await overflow(page);
    report.phone.loginShot = await shot(page, values.out, 'phone-login');
    await viewer(page, o, values.out);
    report.ok = true;
  } catch (e) {
    report.failure = `step ${report.step}: ${String(e && e.message ? e.message : e).split('\n')[0]}`;
    log(report.failure);
  } finally {
    clearTimeout(watchdog);
    if (browser) {
      await browser.context.close().catch(() => {});
      await rm(browser.userDataDir, { recursive: true, force: true }).catch(() => {});
    }
  }
  await writeFile(join(values.out, 'report.json'), JSON.stringify(report, null, 2));
  process.stdout.write(JSON.stringify(report) + '\n');
  process.exitCode = report.ok ? 0 : 2;
}

main();
