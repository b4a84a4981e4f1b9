#!/usr/bin/env node
// Real-browser player harness for vidstream's playback tests.
//
//   node tests/browser/play.mjs --url URL --kind hls|dash [--seconds N] [--low-latency] [--frames]
//
// Launches Debian's Chromium headless through playwright-core, opens a page served by a tiny
// in-process HTTP server on 127.0.0.1 (another origin than the video URL, so CORS is exercised as
// in a real deployment), plays URL with hls.js or dash.js in a muted <video>, and samples playback
// every ~250 ms for N seconds. Prints ONE JSON object on stdout:
//
//   {ok, kind, url, samples: [{t, currentTime, totalFrames, dropped, readyState, paused, ended,
//    bufferedEnd, latencyMs, hlsLatencyMs, playingDate, frameIndex}], errors: [...],
//    firstFrameIndex, lastFrameIndex, timings: {launchMs, pageMs, firstPlayingMs, totalMs},
//    browserVersion, failure}
//
// Exit status: 0 ok; 1 the player failed (a fatal hls.js/dash.js/<video> error, ok=false);
// 2 the harness itself failed (bad arguments, Chromium did not start, the page never loaded,
// watchdog). Progress and diagnostics go to stderr.
//
// Options: --seconds N (default 5), --low-latency (hls.js lowLatencyMode; dash.js live catch-up),
// --frames (decode the framecode index of the frame on screen, fixtures/framecode.py),
// --chromium PATH (default $CHROMIUM or /usr/bin/chromium), --load-timeout S (default 20).
// --trust-spki B64 trusts the https server whose public key hashes to B64 (a test CA's server).

import { createServer } from 'node:http';
import { readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { LAUNCH_TIMEOUT_MS, launchChromium } from './chromium.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const SAMPLE_EVERY_MS = 250;
const EVALUATE_TIMEOUT_MS = 5_000;
const CLOSE_TIMEOUT_MS = 10_000;
const LIBS = {
  hls: join(HERE, 'node_modules/hls.js/dist/hls.min.js'),
  dash: join(HERE, 'node_modules/dashjs/dist/modern/umd/dash.all.min.js'),
};

const started = Date.now();
const log = (msg) => process.stderr.write(`play.mjs +${Date.now() - started}ms: ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const report = {
  ok: false,
  kind: null,
  url: null,
  samples: [],
  errors: [],
  firstFrameIndex: null,
  lastFrameIndex: null,
  timings: { launchMs: null, pageMs: null, firstPlayingMs: null, totalMs: null },
  browserVersion: null,
  failure: null,
};
let printed = false;

function finish(code) {
  if (!printed) {
    printed = true;
    const frames = report.samples.map((s) => s.frameIndex).filter((i) => i !== null);
    report.firstFrameIndex = frames.length ? frames[0] : null;
    report.lastFrameIndex = frames.length ? frames[frames.length - 1] : null;
    report.timings.totalMs = Date.now() - started;
    process.stdout.write(JSON.stringify(report) + '\n');
  }
  process.exitCode = code;
  return code;
}

function usage(msg) {
  process.stderr.write(
    `play.mjs: ${msg}\nusage: node play.mjs --url URL --kind hls|dash [--seconds N] [--low-latency] [--frames]\n` +
      '                     [--chromium PATH] [--load-timeout SECONDS] [--trust-spki SHA256_BASE64]\n',
  );
  report.failure = msg;
  return finish(2);
}

function parse() {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      kind: { type: 'string' },
      seconds: { type: 'string', default: '5' },
      'low-latency': { type: 'boolean', default: false },
      frames: { type: 'boolean', default: false },
      chromium: { type: 'string', default: process.env.CHROMIUM || '/usr/bin/chromium' },
      'load-timeout': { type: 'string', default: '20' },
      // The base64 SHA-256 of a test server's public key (SPKI): its certificate is trusted
      // (https media from a server with a private CA's certificate).
      'trust-spki': { type: 'string' },
    },
    strict: true,
  });
  return values;
}

// The page's origin: the HTML page, page.js, and the player library from node_modules.
async function startPageServer(kind) {
  const lib = await readFile(LIBS[kind]);
  const pageJs = await readFile(join(HERE, 'page.js'));
  const framecodeJs = await readFile(join(HERE, 'framecode.js'));
  const html =
    '<!doctype html><html><head><meta charset="utf-8"><title>vidstream player harness</title></head>' +
    '<body style="margin:0;background:#000">' +
    '<video id="video" muted playsinline width="640" height="480"></video>' +
    '<canvas id="canvas" style="display:none"></canvas>' +
    `<script src="/lib/${kind}.js"></script><script src="/framecode.js"></script>` +
    '<script src="/page.js"></script></body></html>';
  const routes = {
    '/': ['text/html; charset=utf-8', html],
    [`/lib/${kind}.js`]: ['text/javascript; charset=utf-8', lib],
    '/page.js': ['text/javascript; charset=utf-8', pageJs],
    '/framecode.js': ['text/javascript; charset=utf-8', framecodeJs],
  };
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    const route = routes[path];
    if (!route) {
      res.writeHead(path === '/favicon.ico' ? 204 : 404).end();
      return;
    }
    res.writeHead(200, { 'content-type': route[0], 'cache-control': 'no-store' }).end(route[1]);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return server;
}

function launch(chromiumPath, trustSpki) {
  const extra = trustSpki ? [`--ignore-certificate-errors-spki-list=${trustSpki}`] : [];
  return launchChromium(chromiumPath, { width: 800, height: 600 }, log, extra);
}

async function main() {
  let opts;
  try {
    opts = parse();
  } catch (e) {
    return usage(e.message);
  }
  if (!opts.url) return usage('--url is required');
  if (opts.kind !== 'hls' && opts.kind !== 'dash') return usage('--kind must be hls or dash');
  const seconds = Number(opts.seconds);
  const loadTimeoutMs = Number(opts['load-timeout']) * 1000;
  if (!(seconds >= 0) || !(loadTimeoutMs > 0)) return usage('--seconds and --load-timeout must be numbers');
  report.kind = opts.kind;
  report.url = opts.url;

  // The last line of defence: whatever hangs, print what there is and exit (playwright kills
  // the browser it launched when the process exits).
  const watchdogMs = LAUNCH_TIMEOUT_MS * 2 + loadTimeoutMs + seconds * 1000 + 30_000;
  const watchdog = setTimeout(() => {
    report.failure = `watchdog: no result after ${watchdogMs} ms`;
    log(report.failure);
    process.exit(finish(2));
  }, watchdogMs);

  let server;
  let browser;
  let code = 2;
  try {
    server = await startPageServer(opts.kind);
    const pageUrl = `http://127.0.0.1:${server.address().port}/`;

    const t = Date.now();
    browser = await launch(opts.chromium, opts["trust-spki"]);
    report.timings.launchMs = Date.now() - t;
    const context = browser.context;
    report.browserVersion = context.browser() ? context.browser().version() : null;
    log(`chromium ${report.browserVersion ?? ''} started in ${report.timings.launchMs} ms`);

    const page = context.pages()[0] ?? (await withTimeout(context.newPage(), loadTimeoutMs, 'new page'));
    const pageErrors = [];
    // Seen by Chromium rather than the page (CORS refusals, HTTP errors, crashes); t is counted
    // from the same start as the page's, up to the latency of the DevTools protocol.
    let playStartedAt = null;
    const nodeError = (source, fatal, info) => {
      const t = playStartedAt === null ? null : (Date.now() - playStartedAt) / 1000;
      if (pageErrors.length < 200) pageErrors.push({ t, source, fatal, ...info });
    };
    page.on('console', (m) => {
      if (m.type() === 'error') nodeError('console', false, { type: 'console', message: m.text() });
    });
    page.on('pageerror', (e) => nodeError('page', false, { type: 'pageerror', message: e.message }));
    page.on('requestfailed', (r) => {
      nodeError('network', false, { type: 'requestfailed', url: r.url(), message: r.failure()?.errorText });
    });
    page.on('response', (r) => {
      if (r.status() >= 400) nodeError('http', false, { type: 'response', status: r.status(), url: r.url() });
    });
    let crashed = false;
    page.on('crash', () => {
      crashed = true;
      nodeError('page', true, { type: 'crash', message: 'the page crashed' });
    });

    const tp = Date.now();
    try {
      await page.goto(pageUrl, { waitUntil: 'load', timeout: loadTimeoutMs });
      await page.waitForFunction(() => window.__vs && window.__vs.loaded, null, { timeout: loadTimeoutMs });
    } catch (e) {
      report.errors = pageErrors;
      throw new Error(`the harness page never loaded: ${e.message.split('\n')[0]}`);
    }
    report.timings.pageMs = Date.now() - tp;

    playStartedAt = Date.now();
    const cfg = { url: opts.url, kind: opts.kind, lowLatency: opts['low-latency'], frames: opts.frames };
    await withTimeout(
      page.evaluate((c) => window.__vs.start(c), cfg),
      EVALUATE_TIMEOUT_MS,
      'start',
    );
    log(`playing ${opts.kind} ${opts.url} for ${seconds} s`);

    const end = Date.now() + seconds * 1000;
    let fatal = false;
    for (let next = Date.now(); ; ) {
      const { sample, fatal: f } = await withTimeout(
        page.evaluate(() => window.__vs.sample()),
        EVALUATE_TIMEOUT_MS,
        'sample',
      );
      report.samples.push(sample);
      fatal = f || crashed;
      if (fatal || Date.now() >= end) break;
      next += SAMPLE_EVERY_MS;
      await sleep(Math.max(0, Math.min(next, end) - Date.now()));
    }

    const state = await withTimeout(
      page.evaluate(() => ({
        errors: window.__vs.errors,
        dropped: window.__vs.droppedErrors,
        firstPlayingMs: window.__vs.firstPlayingMs,
      })),
      EVALUATE_TIMEOUT_MS,
      'errors',
    );
    report.errors = [...state.errors, ...pageErrors].sort((a, b) => (a.t ?? -1) - (b.t ?? -1));
    if (state.dropped) report.errors.push({ t: null, source: 'page', fatal: false, message: `${state.dropped} more errors` });
    report.timings.firstPlayingMs = state.firstPlayingMs;
    report.ok = !fatal;
    if (fatal) {
      const first = report.errors.find((e) => e.fatal);
      report.failure = `fatal player error: ${JSON.stringify(first)}`;
      log(report.failure);
    }
    code = fatal ? 1 : 0;
  } catch (e) {
    report.ok = false;
    report.failure = report.failure ?? e.message.split('\n')[0];
    log(`failed: ${e.stack || e}`);
    code = 2;
  } finally {
    if (browser) {
      await withTimeout(browser.context.close(), CLOSE_TIMEOUT_MS, 'closing chromium').catch((e) => log(e.message));
      await rm(browser.userDataDir, { recursive: true, force: true }).catch(() => {});
    }
    if (server) {
      server.closeAllConnections?.();
      server.close();
    }
    clearTimeout(watchdog);
  }
  log(`done in ${Date.now() - started} ms, ok=${report.ok}`);
  return finish(code);
}

main().catch((e) => {
  log(`internal error: ${e.stack || e}`);
  report.failure = `internal error: ${e.message}`;
  finish(2);
});
