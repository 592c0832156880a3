// Shared set-up of the browser tests: starts `terrain demo` on a free loopback port with a fresh SQLite database,
// drives Debian's Chromium headless in a phone-sized context, and leaves a screenshot of every failed step.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, readdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..', '..');
export const TERRAIN_BIN = process.env.TERRAIN_BIN || path.join(REPO, 'target', 'debug', 'terrain');
export const CHROMIUM = process.env.TERRAIN_CHROMIUM || '/usr/bin/chromium';
export const PASSWORD = 'browser-test-password-1';
export const VIEWPORT = { width: 360, height: 740 };
export const SCREENS = path.join(REPO, 'target', 'browser-screens');
const STARTUP_TIMEOUT_MS = 120_000;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/// Starts the demo app and a browser; `prefix` names this file's failure screenshots.
export async function start(prefix) {
  assert.ok(existsSync(TERRAIN_BIN), `app binary not found: ${TERRAIN_BIN} (set TERRAIN_BIN)`);
  assert.ok(existsSync(CHROMIUM), `Chromium not found: ${CHROMIUM} (run scripts/install-deps)`);
  await mkdir(SCREENS, { recursive: true });
  for (const f of await readdir(SCREENS)) {
    if (f.startsWith(`FAILED-${prefix}-`)) await rm(path.join(SCREENS, f), { force: true });
  }
  const env = { prefix, output: '' };
  env.dataDir = await mkdtemp(path.join(os.tmpdir(), `terrain-browser-${prefix}-`));
  const port = await freePort();
  env.baseURL = `http://127.0.0.1:${port}`;
  env.app = spawn(
    TERRAIN_BIN,
    ['demo', '--listen', `127.0.0.1:${port}`, '--database-url', `sqlite://${env.dataDir}/demo.db`],
    { env: { ...process.env, TERRAIN_DEMO_PASSWORD: PASSWORD }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const keep = (chunk) => {
    env.output += chunk;
    if (env.output.length > 20_000) env.output = env.output.slice(-20_000);
  };
  env.app.stdout.setEncoding('utf8').on('data', keep);
  env.app.stderr.setEncoding('utf8').on('data', keep);
  const launching = chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const [browser] = await Promise.all([launching, waitHealthy(env)]);
  env.browser = browser;
  env.context = await browser.newContext({ baseURL: env.baseURL, viewport: VIEWPORT, locale: 'fr-FR' });
  env.context.setDefaultTimeout(15_000);
  env.page = await env.context.newPage();
  return env;
}

async function waitHealthy(env) {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (env.app.exitCode !== null || env.app.signalCode !== null) {
      throw new Error(`terrain demo exited early (${env.app.exitCode ?? env.app.signalCode}):\n${env.output}`);
    }
    try {
      const res = await fetch(`${env.baseURL}/healthz`, { signal: AbortSignal.timeout(2_000) });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(250);
  }
  throw new Error(`${env.baseURL}/healthz not healthy after ${STARTUP_TIMEOUT_MS / 1000}s:\n${env.output}`);
}

export async function stop(env) {
  if (!env) return;
  await env.context?.close().catch(() => {});
  await env.browser?.close().catch(() => {});
  const app = env.app;
  if (app && app.exitCode === null && app.signalCode === null) {
    const exited = new Promise((r) => app.once('exit', r));
    app.kill('SIGTERM');
    await Promise.race([exited, sleep(5_000)]);
    if (app.exitCode === null && app.signalCode === null) app.kill('SIGKILL');
  }
  if (env.dataDir) await rm(env.dataDir, { recursive: true, force: true });
}

/// Runs a step on the shared page; on failure, leaves a picture and says where it happened.
export async function step(env, t, fn) {
  try {
    await fn(env.page);
  } catch (err) {
    await mkdir(SCREENS, { recursive: true }).catch(() => {});
    const name = t.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
    await env.page.screenshot({ path: path.join(SCREENS, `FAILED-${env.prefix}-${name}.png`), fullPage: true })
      .catch(() => {});
    err.message += `\n  at URL ${env.page.url()}`;
    throw err;
  }
}

export const pathOf = (p) => new URL(p.url()).pathname;

export async function assertNoHorizontalScroll(p) {
  const width = await p.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= VIEWPORT.width, `horizontal scroll at ${VIEWPORT.width}px on ${pathOf(p)}: scrollWidth=${width}`);
}

export async function screenshot(p, name) {
  await mkdir(SCREENS, { recursive: true });
  await p.screenshot({ path: path.join(SCREENS, name), fullPage: true });
}

export async function login(p, email) {
  const res = await p.goto('/connexion');
  assert.equal(res.status(), 200, 'GET /connexion');
  await p.getByLabel('Adresse e-mail').fill(email);
  await p.getByLabel('Mot de passe').fill(PASSWORD);
  await Promise.all([
    p.waitForURL((u) => u.pathname !== '/connexion'),
    p.getByRole('button', { name: 'Se connecter' }).click(),
  ]);
}

/// Clicks a link (or button) and waits for the page it leads to.
export async function follow(p, locator, urlMatches) {
  await Promise.all([p.waitForURL(urlMatches), locator.click()]);
  await p.waitForLoadState('domcontentloaded');
}
