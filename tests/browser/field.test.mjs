// Browser test of field work on a phone (360 px), as the demo activist (Villeurbanne, health skills): the "for you"
// ranking proposes the hospital mission, the activist signs up (asking for a carpool seat), opens the mission's
// fiche militante and its PDF, files the fiche d'observation after the action, and finds it in the next version of
// the sheet. `terrain demo` seeds the Rhône's results, the classification and three missions (src/demo.rs).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, stop, step, login, follow, pathOf, assertNoHorizontalScroll, screenshot } from './harness.mjs';

const ACTIVIST = 'militant.69@demo.terrain.test';
const MISSION = "Défendre l'hôpital public";

let env;
before(async () => {
  env = await start('field');
});
after(async () => {
  await stop(env);
});

describe('field work on a phone, as an activist', () => {
  let missionPath;

  test('the hospital mission is recommended first', async (t) => {
    await step(env, t, async (p) => {
      await login(p, ACTIVIST);
      await follow(p, p.getByRole('link', { name: 'Missions' }), (u) => u.pathname === '/missions');
      const forYou = p.locator('ol.cards[aria-labelledby="pour-vous"] > li');
      assert.ok((await forYou.count()) >= 2, 'several recommendations');
      const first = forYou.first();
      assert.equal((await first.locator('h3').innerText()).trim(), MISSION);
      assert.match(await first.innerText(), /Compétence recherchée : Santé/);
      await assertNoHorizontalScroll(p);
      await screenshot(p, 'field-missions-360.png');
      await follow(p, first.getByRole('link', { name: MISSION }), (u) => /^\/missions\/\d+$/.test(u.pathname));
      missionPath = pathOf(p);
    });
  });

  test('signs up, asking for a carpool seat, with the keyboard', async (t) => {
    await step(env, t, async (p) => {
      await assertNoHorizontalScroll(p);
      const seat = p.getByLabel('Je cherche une place');
      await seat.focus();
      await p.keyboard.press('Space');
      assert.ok(await seat.isChecked());
      const button = p.getByRole('button', { name: "M'inscrire" });
      await button.focus();
      await Promise.all([p.waitForURL((u) => u.search.includes('msg=inscrit')), p.keyboard.press('Enter')]);
      await p.waitForLoadState('domcontentloaded');
      assert.match(await p.locator('[role=status]').innerText(), /Vous êtes inscrit·e/);
      assert.match(await p.locator('#inscription-etat').innerText(), /cherchez une place en covoiturage/);
    });
  });

  test('opens the fiche militante and its PDF', async (t) => {
    await step(env, t, async (p) => {
      await follow(p, p.getByRole('link', { name: 'Fiche militante', exact: true }), (u) => u.pathname.endsWith('/fiche'));
      const h1 = await p.locator('h1').innerText();
      assert.match(h1, /Fiche militante — Villeurbanne/);
      const body = await p.locator('main').innerText();
      for (const section of ['Chiffres clés', 'Profil du secteur', 'Enjeux locaux', 'Ce qui marche', 'Script', 'Conseils pratiques']) {
        assert.ok(body.includes(section), `the sheet shows ${section}`);
      }
      assert.match(body, /Version 1/);
      await assertNoHorizontalScroll(p);
      await screenshot(p, 'field-fiche-360.png');
      const pdf = await p.request.get(`${missionPath}/fiche.pdf`);
      assert.equal(pdf.status(), 200);
      assert.equal(pdf.headers()['content-type'], 'application/pdf');
      assert.equal((await pdf.body()).subarray(0, 5).toString(), '%PDF-');
    });
  });

  test('files the fiche d\'observation after the action', async (t) => {
    await step(env, t, async (p) => {
      await follow(p, p.getByRole('link', { name: "Remplir une fiche d'observation" }), (u) => u.pathname === '/observations/nouvelle');
      await assertNoHorizontalScroll(p);
      assert.equal(await p.getByLabel('Type d\'action').inputValue(), 'tractage', 'the mission\'s method is preselected');
      await p.getByLabel('Militant·es présent·es').fill('5');
      await p.getByLabel('Personnes touchées').fill('140');
      await p.getByLabel('Vraies conversations').fill('31');
      await p.getByLabel('Accueil de la population').selectOption('4');
      await p.getByLabel('Santé', { exact: true }).check();
      await p.getByLabel('Autres préoccupations').fill('Attente aux urgences de l\'hôpital');
      await p.getByLabel('Oui').check();
      await p.getByLabel('Ce qui a marché').fill('Le tract sur les urgences, à la sortie du marché');
      await screenshot(p, 'field-observation-360.png');
      await follow(p, p.getByRole('button', { name: 'Envoyer la fiche' }), (u) => /^\/observations\/\d+$/.test(u.pathname));
      assert.match(await p.locator('[role=status]').innerText(), /Votre fiche d'observation est enregistrée/);
      await follow(p, p.getByRole('link', { name: 'Voir la fiche militante du secteur' }), (u) => u.pathname.endsWith('/fiche'));
      const body = await p.locator('main').innerText();
      assert.match(body, /Version 2/);
      assert.match(body, /Santé — citée dans 1 fiche d'observation/);
      assert.match(body, /Attente aux urgences/);
      assert.match(body, /Tractage — Ici : 1 action, a marché 1 fois sur 1/);
    });
  });
});
