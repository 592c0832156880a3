// Browser tests of the app shell: login, navigation, access control, mobile
// layout. Run with `node --test tests/browser/` (scripts/test does it) with
// TERRAIN_BIN pointing at the built binary (default: target/debug/terrain).
//
// The test starts `terrain demo` itself on a free loopback port with a fresh
// SQLite database, and drives Debian's Chromium (/usr/bin/chromium) headless.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { start, stop, SCREENS, VIEWPORT } from './harness.mjs';

const COORDINATOR = 'coordination.69@demo.terrain.test';
const ACTIVIST = 'militant.69@demo.terrain.test';
const PASSWORD = 'browser-test-password-1';

let env;
before(async () => {
  env = await start('shell');
});
after(async () => {
  await stop(env);
});

// A fresh, isolated context (no cookies) per test, mobile-sized.
async function withPage(t, fn) {
  const context = await env.browser.newContext({ baseURL: env.baseURL, viewport: VIEWPORT, locale: 'fr-FR' });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  try {
    await fn(page);
  } catch (err) {
    // Leave a picture of the failure for humans.
    await mkdir(SCREENS, { recursive: true }).catch(() => {});
    const name = t.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
    await page.screenshot({ path: path.join(SCREENS, `FAILED-shell-${name}.png`), fullPage: true }).catch(() => {});
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
