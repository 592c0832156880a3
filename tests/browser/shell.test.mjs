// Browser tests of the app shell: login, navigation, access control, mobile
// layout. Run with `node --test tests/browser/` (scripts/test does it) with
// TERRAIN_BIN pointing at the built binary (default: target/debug/terrain).
//
// The test starts `terrain demo` itself on a free loopback port with a fresh
// SQLite database, and drives Debian's Chromium (/usr/bin/chromium) headless.
import { test, before, after } from 'node:test';
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
const REPO = path.resolve(HERE, '..', '..');
const TERRAIN_BIN = process.env.TERRAIN_BIN || path.join(REPO, 'target', 'debug', 'terrain');
const CHROMIUM = process.env.TERRAIN_CHROMIUM || '/usr/bin/chromium';
const PASSWORD = 'browser-test-password-1';
const COORDINATOR = 'coordination.69@demo.terrain.test';
const ACTIVIST = 'militant.69@demo.terrain.test';
const VIEWPORT = { width: 360, height: 740 };
const SCREENS = path.join(REPO, 'target', 'browser-screens');
const STARTUP_TIMEOUT_MS = 120_000;

let baseURL;
let app;
let appOutput = '';
let dataDir;
let browser;

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

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitHealthy(url, proc) {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`terrain demo exited early (${proc.exitCode ?? proc.signalCode}):\n${appOutput}`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(250);
  }
  throw new Error(`${url} not healthy after ${STARTUP_TIMEOUT_MS / 1000}s:\n${appOutput}`);
}

before(async () => {
  assert.ok(existsSync(TERRAIN_BIN), `app binary not found: ${TERRAIN_BIN} (set TERRAIN_BIN)`);
  assert.ok(existsSync(CHROMIUM), `Chromium not found: ${CHROMIUM} (run scripts/install-deps)`);
  // Pictures of failures from an earlier run would mislead.
  await mkdir(SCREENS, { recursive: true });
  for (const f of await readdir(SCREENS)) {
    if (f.startsWith('FAILED-')) await rm(path.join(SCREENS, f), { force: true });
  }
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'terrain-browser-'));
  const port = await freePort();
  baseURL = `http://127.0.0.1:${port}`;
  app = spawn(
    TERRAIN_BIN,
    ['demo', '--listen', `127.0.0.1:${port}`, '--database-url', `sqlite://${dataDir}/demo.db`],
    {
      env: { ...process.env, TERRAIN_DEMO_PASSWORD: PASSWORD },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const keep = (chunk) => {
    appOutput += chunk;
    if (appOutput.length > 20_000) appOutput = appOutput.slice(-20_000);
  };
  app.stdout.setEncoding('utf8').on('data', keep);
  app.stderr.setEncoding('utf8').on('data', keep);

  const launching = chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  // Launch Chromium while the app seeds its demo data.
  const [b] = await Promise.all([launching, waitHealthy(`${baseURL}/healthz`, app)]);
  browser = b;
});

after(async () => {
  await browser?.close().catch(() => {});
  if (app && app.exitCode === null && app.signalCode === null) {
    const exited = new Promise((r) => app.once('exit', r));
    app.kill('SIGTERM');
    await Promise.race([exited, sleep(5_000)]);
    if (app.exitCode === null && app.signalCode === null) app.kill('SIGKILL');
  }
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

// A fresh, isolated context (no cookies) per test, mobile-sized.
async function withPage(t, fn) {
  const context = await browser.newContext({ baseURL, viewport: VIEWPORT, locale: 'fr-FR' });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  try {
    await fn(page);
  } catch (err) {
    // Leave a picture of the failure for humans.
    await mkdir(SCREENS, { recursive: true }).catch(() => {});
    const name = t.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
    await page.screenshot({ path: path.join(SCREENS, `FAILED-${name}.png`), fullPage: true }).catch(() => {});
    err.message += `\n  at URL ${page.url()}`;
    throw err;
  } finally {
    await context.close();
  }
}

const pathOf = (page) => new URL(page.url()).pathname;

async function assertNoHorizontalScroll(page) {
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= VIEWPORT.width, `horizontal scroll at ${VIEWPORT.width}px on ${pathOf(page)}: scrollWidth=${width}`);
}

async function login(page, email, { keyboard = false } = {}) {
  const res = await page.goto('/connexion');
  assert.equal(res.status(), 200, 'GET /connexion');
  await assertNoHorizontalScroll(page);
  const emailField = page.getByLabel('Adresse e-mail');
  const passwordField = page.getByLabel('Mot de passe');
  if (keyboard) {
    await emailField.focus();
    await page.keyboard.type(email);
    await page.keyboard.press('Tab');
    assert.ok(
      await passwordField.evaluate((el) => el === document.activeElement),
      'Tab from "Adresse e-mail" should reach "Mot de passe"',
    );
    await page.keyboard.type(PASSWORD);
    await Promise.all([page.waitForURL((u) => u.pathname !== '/connexion'), page.keyboard.press('Enter')]);
  } else {
    await emailField.fill(email);
    await passwordField.fill(PASSWORD);
    await Promise.all([
      page.waitForURL((u) => u.pathname !== '/connexion'),
      page.getByRole('button', { name: 'Se connecter' }).click(),
    ]);
  }
}

test('a federation coordinator logs in and browses to a federation', async (t) => {
  await withPage(t, async (page) => {
    await login(page, COORDINATOR);
    assert.equal(pathOf(page), '/');
    await page.getByRole('heading', { level: 1 }).first().waitFor();
    await assertNoHorizontalScroll(page);

    await mkdir(SCREENS, { recursive: true });
    await page.screenshot({ path: path.join(SCREENS, 'coordinator-dashboard.png'), fullPage: true });

    const nav = page.getByRole('navigation').first();
    await nav.waitFor();
    for (const name of ['Tableau de bord', 'Fédérations', 'Utilisateurs']) {
      assert.equal(await nav.getByRole('link', { name }).count() > 0, true, `nav link "${name}"`);
    }

    await Promise.all([
      page.waitForURL((u) => u.pathname === '/federations'),
      nav.getByRole('link', { name: 'Fédérations' }).first().click(),
    ]);
    await assertNoHorizontalScroll(page);
    const rhone = page.getByRole('link', { name: /Rhône/ }).first();
    await rhone.waitFor();

    await Promise.all([page.waitForURL((u) => /^\/federations\/[^/]+$/.test(u.pathname)), rhone.click()]);
    const h1 = page.getByRole('heading', { level: 1 }).first();
    assert.match(await h1.innerText(), /Rhône/);
    await page.getByRole('heading', { name: 'Sections' }).first().waitFor();
    await assertNoHorizontalScroll(page);
  });
});

test('logging in with the keyboard only (Tab, Enter)', async (t) => {
  await withPage(t, async (page) => {
    await login(page, COORDINATOR, { keyboard: true });
    assert.equal(pathOf(page), '/');
    await page.getByRole('heading', { level: 1 }).first().waitFor();
  });
});

test('an activist is refused the users page and has no link to it', async (t) => {
  await withPage(t, async (page) => {
    await login(page, ACTIVIST);
    assert.equal(pathOf(page), '/');
    const nav = page.getByRole('navigation').first();
    await nav.waitFor();
    assert.equal(await nav.getByRole('link', { name: 'Utilisateurs' }).count(), 0, 'no "Utilisateurs" link for an activist');
    await assertNoHorizontalScroll(page);

    const res = await page.goto('/utilisateurs');
    assert.equal(res.status(), 403, 'GET /utilisateurs as an activist');
    await page.getByText('Accès refusé').first().waitFor();
  });
});

test('an anonymous visitor is sent to the login page', async (t) => {
  await withPage(t, async (page) => {
    await page.goto('/utilisateurs');
    assert.equal(pathOf(page), '/connexion');
    await page.getByLabel('Adresse e-mail').waitFor();
  });
});
