// Browser tests of the address book and newsletters on a phone: CSV import with preview and background job, segment
// builder and saved segment, person page (timeline, consent recorded with the keyboard), then a newsletter composed,
// previewed at phone width, tested, sent to that segment and its analytics read. Run with
// `node --test tests/browser/` (scripts/test does it) with TERRAIN_BIN pointing at the built binary (default:
// target/debug/terrain).
//
// Same setup as shell.test.mjs: the file starts `terrain demo` itself on a free loopback port with a fresh
// SQLite database (the demo seeds no people, so the counts below are exact), and drives Debian's Chromium
// (/usr/bin/chromium) headless. The tests run in order and share one logged-in browser context: each step
// builds on the data the previous one created.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, stop, step as runStep, login, follow, pathOf, assertNoHorizontalScroll, screenshot, sleep }
  from './harness.mjs';

const COORDINATOR = 'coordination.69@demo.terrain.test';
const IMPORT_TIMEOUT_MS = 60_000;


// An Excel-style French export: `;` separator, accented headers and names, tags in one cell separated by commas.
// Three valid rows in Rhône communes, one rejected for its e-mail address.
const CSV_NAME = 'contacts.csv';
const CSV = [
  'Prénom;Nom;E-mail;Téléphone;Code postal;Ville;Étiquettes',
  'Zoé;Lefèvre;zoe.lefevre@example.org;06 12 34 56 78;69100;Villeurbanne;porte-à-porte, tractage',
  'Hélène;Dupré-Garçon;helene.dupre@example.org;04 72 00 00 01;69200;Vénissieux;porte-à-porte',
  'Jérôme;Müller;jerome.muller@example.org;;69001;Lyon;tractage',
  'Aurélien;Crémieux;aurelien.cremieux@@example;;69001;Lyon;porte-à-porte',
  '',
].join('\r\n');
const TAG = 'porte-à-porte';
// The people of the file carrying TAG and imported (the rejected row is not).
const TAGGED = ['Zoé Lefèvre', 'Hélène Dupré-Garçon'];
const UNTAGGED = ['Jérôme Müller'];
const REJECTED = 'Aurélien Crémieux';
const SEGMENT_NAME = 'Porte-à-porte Est lyonnais';
const CONSENT_PURPOSE = "Lettre d'information de la fédération (e-mail)";

let env;
let page;
before(async () => {
  env = await start('people');
  page = env.page;
});
after(async () => {
  await stop(env);
});

// Runs a step on the shared page; on failure, leaves a picture for humans and says where it happened.
const step = (t, fn) => runStep(env, t, fn);

// The visible names of the people list's table.
async function listedNames(p) {
  // The name is the link of each row (the first cell may hold a selection checkbox).
  return (await p.locator('main table tbody tr td a').allInnerTexts()).map((s) => s.trim());
}

describe('address book on a phone, as a federation coordinator', () => {
  let importPath;
  let segmentPath;

  test('imports a CSV file with a preview, in the background', async (t) => {
    await step(t, async (p) => {
      await login(p, COORDINATOR);
      assert.equal(pathOf(p), '/');

      const nav = p.getByRole('navigation', { name: 'Navigation principale' });
      await follow(p, nav.getByRole('link', { name: 'Personnes', exact: true }), (u) => u.pathname === '/personnes');
      await p.getByRole('heading', { level: 1, name: 'Personnes' }).waitFor();
      await assertNoHorizontalScroll(p);

      await follow(p, p.getByRole('link', { name: 'Importer un fichier' }), (u) => u.pathname === '/personnes/import');
      await assertNoHorizontalScroll(p);
      const federation = p.getByLabel('Fédération', { exact: true });
      const choices = await federation.locator('option').allInnerTexts();
      assert.equal(choices.length, 1, `one federation to choose for this coordinator, got ${JSON.stringify(choices)}`);
      assert.match(choices[0], /Rhône/);
      await federation.selectOption({ label: choices[0] });
      await p.getByLabel('Fichier CSV').setInputFiles({
        name: CSV_NAME,
        mimeType: 'text/csv',
        buffer: Buffer.from(CSV, 'utf8'),
      });
      await follow(p, p.getByRole('button', { name: "Voir l'aperçu" }), (u) => /^\/personnes\/import\/\d+$/.test(u.pathname));
      importPath = pathOf(p);

      // The preview: what was read, and the guessed column of each header.
      assert.equal(await p.getByRole('heading', { level: 1 }).innerText(), `Import « ${CSV_NAME} »`);
      await p.getByText('4 ligne(s)').first().waitFor();
      assert.equal(await p.getByRole('alert').count(), 0, 'no error on the preview');
      const guessed = {
        Prénom: 'first_name',
        Nom: 'last_name',
        'E-mail': 'email',
        Téléphone: 'phone',
        'Code postal': 'postcode',
        Ville: 'city',
        Étiquettes: 'tags',
      };
      for (const [header, field] of Object.entries(guessed)) {
        const select = p.getByLabel(`Champ pour « ${header} »`, { exact: true });
        assert.equal(await select.inputValue(), field, `guessed field of the column « ${header} »`);
      }
      // Accented samples come through intact (UTF-8 read as such, not as Windows-1252).
      await p.locator('.mapping').getByText(/Vénissieux/).first().waitFor();
      await assertNoHorizontalScroll(p);
      await screenshot(p, 'people-import-preview.png');

      await follow(p, p.getByRole('button', { name: "Lancer l'import" }), (u) => u.pathname === importPath);
      // The job runs in the background; the page reloads itself (meta refresh) until it is done.
      await p.getByText('Import terminé').waitFor({ timeout: IMPORT_TIMEOUT_MS });
      const cards = (await p.getByRole('list', { name: 'Résultat' }).getByRole('listitem').allInnerTexts()).map((s) =>
        s.replace(/\s+/g, ' ').trim(),
      );
      for (const expected of ['3 ajoutée(s)', '0 complétée(s)', '0 déjà à jour', '1 rejetée(s)']) {
        assert.ok(cards.includes(expected), `result card "${expected}" in ${JSON.stringify(cards)}`);
      }
      const rejects = p.getByRole('link', { name: 'Télécharger les lignes rejetées (avec leurs erreurs)' });
      assert.equal(await rejects.getAttribute('href'), `${importPath}/rejets.csv`);
      await assertNoHorizontalScroll(p);

      // The people list now holds the three valid rows, not the rejected one.
      await follow(p, p.getByRole('link', { name: 'Voir les personnes' }), (u) => u.pathname === '/personnes');
      const names = await listedNames(p);
      for (const n of [...TAGGED, ...UNTAGGED]) assert.ok(names.includes(n), `"${n}" in the list ${JSON.stringify(names)}`);
      assert.ok(!names.includes(REJECTED), `rejected "${REJECTED}" is not in the list`);
      await p.getByText('3 personne(s)').first().waitFor();
      await assertNoHorizontalScroll(p);
    });
  });

  test('builds, counts and saves a segment', async (t) => {
    await step(t, async (p) => {
      assert.ok(importPath, 'the import step ran');
      await p.goto('/personnes');
      await follow(
        p,
        p.getByRole('link', { name: 'Segments : construire et compter une audience' }),
        (u) => u.pathname === '/segments',
      );
      await p.getByRole('heading', { name: 'Construire un segment' }).waitFor();
      await assertNoHorizontalScroll(p);

      // Imported people without a category column are sympathisers (the preview's default).
      await p.getByRole('group', { name: 'Catégorie' }).getByLabel('Sympathisant·es').check();
      await p.getByLabel('Étiquettes').fill(TAG);
      await follow(p, p.getByRole('button', { name: 'Compter' }), (u) => u.pathname === '/segments' && u.search.includes('compter'));
      assert.equal((await p.locator('#segment-count').innerText()).trim(), String(TAGGED.length), 'exact count');
      await p.getByText('personne(s) correspondent').waitFor();
      // The criteria stay filled in after counting.
      assert.equal(await p.getByLabel('Étiquettes').inputValue(), TAG);
      assert.ok(await p.getByRole('group', { name: 'Catégorie' }).getByLabel('Sympathisant·es').isChecked());
      await assertNoHorizontalScroll(p);
      await screenshot(p, 'segment-builder.png');

      await p.getByLabel('Nom du segment').fill(SEGMENT_NAME);
      await follow(p, p.getByRole('button', { name: 'Enregistrer le segment' }), (u) => /^\/segments\/\d+$/.test(u.pathname));
      segmentPath = pathOf(p);
      assert.equal(await p.getByRole('heading', { level: 1 }).innerText(), `Segment « ${SEGMENT_NAME} »`);
      assert.equal((await p.locator('#segment-count').innerText()).trim(), String(TAGGED.length), 'saved count');
      await assertNoHorizontalScroll(p);

      const segmentId = segmentPath.split('/').pop();
      await follow(
        p,
        p.getByRole('link', { name: 'Voir les personnes' }),
        (u) => u.pathname === '/personnes' && u.searchParams.get('segment') === segmentId,
      );
      const names = await listedNames(p);
      assert.deepEqual([...names].sort(), [...TAGGED].sort(), 'the segment lists exactly the tagged people');
      await p.getByText(`${TAGGED.length} personne(s)`).first().waitFor();
      await assertNoHorizontalScroll(p);
    });
  });

  test("a person's page shows the import and records a consent with the keyboard", async (t) => {
    await step(t, async (p) => {
      assert.ok(importPath, 'the import step ran');
      await p.goto('/personnes');
      const person = TAGGED[0];
      await follow(p, p.getByRole('link', { name: person, exact: true }), (u) => /^\/personnes\/\d+$/.test(u.pathname));
      const personPath = pathOf(p);
      // The heading is the name followed by the card number ("n° 3").
      assert.match(await p.getByRole('heading', { level: 1 }).innerText(), new RegExp(`^${person} n° \\d+$`));
      await assertNoHorizontalScroll(p);

      const timeline = p.locator('ol.timeline > li');
      await p.getByRole('heading', { name: 'Historique' }).waitFor();
      const events = await timeline.allInnerTexts();
      assert.ok(
        events.some((e) => /— Ajout par import du fichier « contacts\.csv » le \d{2}\/\d{2}\/\d{4}$/.test(e.trim())),
        `import event in the timeline ${JSON.stringify(events)}`,
      );

      const consentRow = p.getByRole('row').filter({ has: p.getByRole('cell', { name: CONSENT_PURPOSE, exact: true }) });
      assert.equal((await consentRow.getByRole('cell').nth(1).innerText()).trim(), 'jamais demandé');

      // Keyboard only: choose the purpose with the arrows, Tab to the first radio, Space, Tab to the button, Enter.
      const purpose = p.getByLabel('Enregistrer une décision de la personne');
      await purpose.focus();
      const options = await purpose.locator('option').allInnerTexts();
      const target = options.indexOf(CONSENT_PURPOSE);
      assert.ok(target >= 0, `purpose "${CONSENT_PURPOSE}" offered in ${JSON.stringify(options)}`);
      const current = await purpose.evaluate((el) => el.selectedIndex);
      for (let i = current; i < target; i++) await p.keyboard.press('ArrowDown');
      assert.equal(await purpose.evaluate((el) => el.selectedOptions[0].textContent.trim()), CONSENT_PURPOSE);

      const accepted = p.getByRole('radio', { name: 'accepté', exact: true });
      await p.keyboard.press('Tab');
      assert.ok(await accepted.evaluate((el) => el === document.activeElement), 'Tab from the purpose reaches "accepté"');
      await p.keyboard.press('Space');
      assert.ok(await accepted.isChecked(), 'Space checks "accepté"');
      const submit = p.getByRole('button', { name: 'Enregistrer', exact: true });
      await p.keyboard.press('Tab');
      assert.ok(await submit.evaluate((el) => el === document.activeElement), 'Tab from "accepté" reaches "Enregistrer"');
      await Promise.all([
        p.waitForURL((u) => u.pathname === personPath && u.searchParams.get('msg') === 'consentement'),
        p.keyboard.press('Enter'),
      ]);

      await p.getByText('Décision enregistrée dans le registre des consentements.').waitFor();
      assert.equal((await consentRow.getByRole('cell').nth(1).innerText()).trim(), 'accepté');
      assert.match(await consentRow.getByRole('cell').nth(2).innerText(), /\S/, 'the consent says since when');
      const after = await timeline.allInnerTexts();
      assert.ok(
        after.some((e) => e.includes(`Consentement donné : ${CONSENT_PURPOSE}`)),
        `consent event in the timeline ${JSON.stringify(after)}`,
      );
      await assertNoHorizontalScroll(p);
    });
  });

  test('composes a newsletter from a template, previews it on a phone, tests it, sends it to the segment and reads its analytics', async (t) => {
    await step(t, async (p) => {
      assert.ok(segmentPath, 'the segment step ran');
      const nav = p.getByRole('navigation', { name: 'Navigation principale' });
      await follow(p, nav.getByRole('link', { name: 'Lettres', exact: true }), (u) => u.pathname === '/lettres');
      await assertNoHorizontalScroll(p);
      await p.getByLabel(/^Nom de la lettre/).fill('Lettre de rentrée');
      await follow(p, p.getByRole('button', { name: 'Commencer la lettre' }), (u) => /^\/lettres\/\d+$/.test(u.pathname));
      const letterPath = pathOf(p);

      // A template of HQ, the saved segment, a subject with a personalisation placeholder.
      await p.getByLabel('Modèle graphique', { exact: true }).selectOption({ index: 1 });
      await p.getByLabel('Destinataires', { exact: true }).selectOption({ label: SEGMENT_NAME });
      await p.getByLabel('Objet', { exact: true }).fill('Rentrée : {{ prénom | "ami·e" }}, on compte sur vous');
      await follow(p, p.getByRole('button', { name: 'Enregistrer la lettre' }).last(), (u) => u.pathname === letterPath);
      assert.equal(await p.getByRole('alert').count(), 0, 'saved without error');
      assert.equal(await p.getByLabel('Objet', { exact: true }).inputValue(), 'Rentrée : {{ prénom | "ami·e" }}, on compte sur vous');
      await assertNoHorizontalScroll(p);

      // The phone preview: a 360 px frame showing the rendered e-mail, with the locked footer.
      const phone = p.getByTitle('Aperçu téléphone');
      await phone.scrollIntoViewIfNeeded();
      const box = await phone.boundingBox();
      assert.ok(box && box.width <= 360 && box.width >= 300, `phone preview width ${box?.width}`);
      const frame = p.frameLocator('iframe[title="Aperçu téléphone"]');
      await frame.getByText('Se désinscrire').waitFor();
      await screenshot(p, 'newsletter-composer.png');

      // A test to oneself, then the real send to the segment (one person: Zoé, who consented).
      await follow(p, p.getByRole('button', { name: "M'envoyer un test" }), (u) => u.pathname === letterPath);
      await p.getByText('Test envoyé à votre adresse.').waitFor();
      const send = p.getByRole('button', { name: /^Envoyer maintenant à 1 personne$/ });
      await follow(p, send, (u) => u.pathname === `${letterPath}/statistiques`);
      await p.locator('#etat').getByText('Envoyée').waitFor({ timeout: 60_000 });
      assert.equal((await p.locator('#chiffre-opens').innerText()).trim(), '0');
      await assertNoHorizontalScroll(p);

      // The demo outbox keeps the message with its HTML: open its pixel and click its button, as a reader would.
      await p.goto('/boite-d-envoi');
      const message = p.locator('pre').filter({ hasText: 'on compte sur vous' }).first();
      const body = await message.innerText();
      assert.ok(body.includes('Zoé'), 'personalised for Zoé');
      const pixel = body.match(/https?:\/\/[^"\s]+\/o\/[A-Za-z0-9_-]+/);
      const link = body.match(/https?:\/\/[^"\s]+\/l\/[A-Za-z0-9_-]+/);
      assert.ok(pixel && link, 'tracked pixel and link in the message');
      assert.equal((await p.request.get(pixel[0])).status(), 200);
      const click = await p.request.get(link[0], { maxRedirects: 0 });
      assert.equal(click.status(), 303);

      // The analytics page shows them (events are written within a second).
      let opens = '0';
      let clicks = '0';
      for (let i = 0; i < 20 && (opens === '0' || clicks === '0'); i++) {
        await sleep(500);
        await p.goto(`${letterPath}/statistiques`);
        opens = (await p.locator('#chiffre-opens').innerText()).trim();
        clicks = (await p.locator('#chiffre-clicks').innerText()).trim();
      }
      assert.equal(opens, '1', 'one open counted');
      assert.equal(clicks, '1', 'one click counted');
      await assertNoHorizontalScroll(p);
      await screenshot(p, 'newsletter-statistics.png');
    });
  });
});
