// Launching Debian's Chromium headless through playwright-core, for the player harness
// (play.mjs) and the web UI tests (ui.mjs).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const LAUNCH_TIMEOUT_MS = 30_000;
// Flags that make Chromium work on a closed network (no Google lookups, no background
// connections), plus autoplay without a click. Playwright adds --no-sandbox itself.
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-extensions',
  '--autoplay-policy=no-user-gesture-required',
];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A persistent context (its own profile directory) and that directory, which the caller removes.
// `extraArgs` go after CHROMIUM_ARGS (e.g. --ignore-certificate-errors-spki-list to trust a test
// server's key).
export async function launchChromium(chromiumPath, viewport, log = () => {}, extraArgs = []) {
  const { chromium } = await import('playwright-core');
  let lastError;
  for (let attempt = 1; attempt <= 2; attempt++) {
    const userDataDir = await mkdtemp(join(tmpdir(), 'vidstream-chromium-'));
    try {
      const context = await chromium.launchPersistentContext(userDataDir, {
        executablePath: chromiumPath,
        headless: true,
        args: [...CHROMIUM_ARGS, ...extraArgs],
        timeout: LAUNCH_TIMEOUT_MS,
        viewport,
      });
      return { context, userDataDir };
    } catch (e) {
      lastError = e;
      log(`chromium launch attempt ${attempt} failed: ${e.message.split('\n')[0]}`);
      await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
      if (attempt === 1) await sleep(500);
    }
  }
  throw lastError;
}

