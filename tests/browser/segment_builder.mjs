// The segment builder in headless Chromium. Through the admin API: a signup form, six shoppers,
// their orders (a category unique to this run stands for "shoes") and NPS answers; two of them
// bought shoes in the last 30 days and scored 9 or 10. The marketer signs in, opens Segments and,
// from an empty rule, builds "bought shoes AND last ordered in the last 30 days (a nested group),
// AND last NPS ≥ 9" with the field picker fed by GET /admin/v1/segments/fields. A value the
// server refuses (NPS 11) shows the server's own error next to that input; the live count equals
// the API's preview of the same rule, and the sample names the two. Saving shows the build, then
// ready with 2; the CSV download holds exactly those two. Editing saves a new version (NPS ≥ 10:
// one person); deleting asks first. A key without contacts:read sees counts but no sample, and
// cannot pick the identifying fields. On a phone nothing scrolls sideways; the builder speaks
// pt-BR.
//
//   BASE_URL=http://127.0.0.1:8787 ADMIN_KEY=… node tests/browser/segment_builder.mjs
//
// Prints one line per check; exits 0 when all pass. Screenshot: target/browser/segments.png
// (1280×800, the builder with its rule).
//
// While working on the view, SEGMENTS_JS_FILE=src/pages/admin/segments.js puts that file in the
// page GET /admin serves, in place of the copy compiled into the Worker (no rebuild).

import fs from 'node:fs';
import path from 'node:path';
import {
  ARTIFACTS, adminApi, assert, assertEq, poll, requireEnv, run, workspacePage, parseCsv, publicApi,
} from './lib.mjs';


const daysAgo = (n) => new Date(Date.now() - n * 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');

run('segment_builder', async (t) => {
  const env = requireEnv('BASE_URL', 'ADMIN_KEY');
  const base = env.BASE_URL.replace(/\/+$/, '');
  const admin = adminApi(base, env.ADMIN_KEY);
  const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const shop = 'https://shoes.example';
  // "Shoes" of this run only: the database is shared with other tests.
  const shoes = `shoes-${runId}`;
  const email = (who) => `builder-${runId}-${who}@example.com`;
  const people = [
    { who: 'ana', category: shoes, days: 5, nps: 10, in: true },
    { who: 'bia', category: shoes, days: 20, nps: 9, in: true },
    { who: 'caio', category: shoes, days: 10, nps: 7, in: false }, // a passive
    { who: 'davi', category: shoes, days: 60, nps: 10, in: false }, // too long ago
    { who: 'eva', category: `bags-${runId}`, days: 5, nps: 10, in: false }, // bags, not shoes
    { who: 'fabio', category: shoes, days: 3, nps: null, in: false }, // never answered
  ];
  const inside = people.filter((p) => p.in).map((p) => email(p.who)).sort();
  const segmentName = `Happy shoe buyers ${runId}`;
  const expectedRule = { all: [
    { all: [
      { field: 'bought_category', op: 'eq', value: shoes },
      { field: 'last_order_at', op: 'within_days', value: 30 },
    ] },
    { field: 'last_nps', op: 'gte', value: 9 },
  ] };
  t.log(`worker ${base}, run ${runId}`);

  const publicPost = publicApi(base).post;

  // ---- Data, through the API -----------------------------------------------------------------------
  await t.check('six shoppers sign up, order and answer the NPS survey through the API', async () => {
    const form = await admin.expect(201, 'POST', '/admin/v1/forms', {
      name: `Builder signup ${runId}`, allowed_origins: [shop], locale: 'en', double_opt_in: false,
      fields: [{ key: 'email', type: 'email', required: true, label: { en: 'Email' } }, { key: 'name', type: 'text', label: { en: 'Name' } }],
      consents: [{ purpose: 'marketing_email', required: true, policy_version: '2026-01', text: { en: 'Offers by email' } }],
    });
    for (const p of people) {
      const r = await publicPost(`/v1/forms/${form.id}/submissions`,
        { fields: { email: email(p.who), name: p.who }, consents: { marketing_email: true } }, { Origin: shop });
      assertEq(r.status, 202, `signup of ${p.who} (${r.text.slice(0, 200)})`);
    }
    for (const p of people) {
      await poll(async () => {
        const r = await admin.expect(200, 'GET', `/admin/v1/contacts?email=${encodeURIComponent(email(p.who))}`);
        return r?.contacts?.[0]?.status === 'active';
      }, { timeoutMs: 15_000, what: `${p.who} active` });
    }
    await admin.expect(200, 'POST', '/admin/v1/orders', {
      orders: people.map((p, i) => ({
        external_id: `builder-${runId}-${i}`, email: email(p.who), total: '199.90', currency: 'BRL', placed_at: daysAgo(p.days),
        items: [{ sku: `SKU-${i}`, name: 'Item', category: p.category, quantity: 1, price: '199.90' }],
      })),
    });
    const survey = await admin.expect(201, 'POST', '/admin/v1/surveys', {
      name: `Builder NPS ${runId}`, locale: 'en', expires_after_days: 30,
      questions: [{ key: 'nps', type: 'nps', required: true, text: { en: 'Would you recommend us?' } }],
    });
    for (const p of people.filter((x) => x.nps !== null)) {
      const inv = await admin.expect(201, 'POST', `/admin/v1/surveys/${survey.id}/invitations`, {
        invitations: [{ email: email(p.who) }], send_email: false,
      });
      const url = inv?.invitations?.[0]?.url || '';
      const token = decodeURIComponent(new URL(url).pathname.split('/').pop());
      const r = await publicPost('/v1/surveys/responses', { token, answers: { nps: p.nps } });
      assertEq(r.status, 201, `answer of ${p.who} (${r.text.slice(0, 200)})`);
    }
  });

  let apiCount = null;
  await t.check('the API previews the rule: the two happy shoe buyers', async () => {
    let last = null;
    await poll(async () => {
      last = await admin.expect(200, 'POST', '/admin/v1/segments/preview', { rule: expectedRule });
      return last.count === inside.length;
    }, { timeoutMs: 20_000, intervalMs: 500, what: `a preview count of ${inside.length}` }).catch((e) => {
      throw new Error(`${e.message}; last ${JSON.stringify(last)}`);
    });
    assertEq(last.sample.map((s) => s.email).sort(), inside, 'the sample');
    apiCount = last.count;
  });

  let scoped = null;
  await t.check('a key with only the segments and exports scopes', async () => {
    scoped = await admin.expect(201, 'POST', '/admin/v1/keys', { name: `builder ${runId}`, scopes: ['segments', 'exports'] });
    t.defer(async () => { await admin.call('DELETE', `/admin/v1/keys/${scoped.id}`); });
  });

  // ---- The page ------------------------------------------------------------------------------------
  const { context, page, problems } = await workspacePage(t, base, 'segments');
  if (process.env.SEGMENTS_JS_FILE) {
    const file = path.resolve(process.env.SEGMENTS_JS_FILE);
    t.log(`serving the segments view from ${file}`);
    await context.route((u) => u.pathname === '/admin', async (route) => {
      const original = await route.fetch();
      const html = await original.text();
      const head = '// ---- admin/segments.js ----\n';
      const start = html.indexOf(head), end = html.indexOf('\n// ---- admin/', start + head.length);
      assert(start >= 0 && end > start, 'the served page inlines admin/segments.js');
      const body = html.slice(0, start + head.length) + fs.readFileSync(file, 'utf8') + html.slice(end);
      await route.fulfill({ response: original, body });
    });
  }
  const previews = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === '/admin/v1/segments/preview') previews.push(r.postDataJSON());
  });
  const signIn = async (key) => {
    await page.goto(`${base}/admin#/segments`);
    await page.locator('#state-signin').waitFor({ state: 'visible' });
    await page.locator('#admin-key').fill(key);
    await page.locator('#signin-submit').click();
    await page.locator('#state-app').waitFor({ state: 'visible' });
    await page.goto(`${base}/admin#/segments`);
    await page.locator('#segment-builder').waitFor({ state: 'visible' });
    // The rule tree is drawn once the field list has loaded: a busy machine takes a moment.
    await page.locator('#segment-rule-tree [data-node=group]').first().waitFor({ state: 'visible' });
  };
  const live = page.locator('#segment-live-count');
  const liveReady = async () => {
    await page.waitForFunction(() => document.getElementById('segment-live-count').dataset.state === 'ready', null, { timeout: 15_000 });
    return Number(await live.getAttribute('data-count'));
  };
  // The controls of one condition, by the label of its field picker.
  const condition = async (n) => {
    const field = page.getByLabel(`Field of condition ${n}`, { exact: true });
    const id = await field.getAttribute('data-for');
    const at = (role) => page.locator(`[data-for="${id}"][data-role="${role}"]`);
    return { id, field, op: at('op'), value: at('value') };
  };

  await t.check('the marketer signs in and opens the builder: an empty rule, everyone counted', async () => {
    await signIn(env.ADMIN_KEY);
    assertEq(await page.locator('#segment-rule-tree [data-node=condition]').count(), 0, 'conditions at first');
    assertEq(await page.locator('#segment-rule-tree [data-node=group]').count(), 1, 'groups at first');
    const everyone = await liveReady();
    assert(everyone >= people.length, `an empty rule counts everyone subscribed: ${everyone}`);
    assertEq(await page.getByLabel('Contacts who match', { exact: true }).inputValue(), 'all', 'the root group matches all');
  });

  await t.check('from the keyboard: Add group gives a group with a condition, its field picker focused', async () => {
    await page.locator('#segment-rule-tree [data-action=add-group]').first().focus();
    await page.keyboard.press('Enter');
    const first = await condition('1.1');
    assertEq(await page.evaluate(() => document.activeElement.dataset.role), 'field', 'focus after adding');
    assertEq(await page.evaluate(() => document.activeElement.dataset.for), first.id, 'focus on the new condition');
  });

  await t.check('the field picker lists every field of GET /admin/v1/segments/fields, labelled', async () => {
    const fields = await admin.expect(200, 'GET', '/admin/v1/segments/fields');
    const first = await condition('1.1');
    const options = await first.field.locator('option').evaluateAll((os) => os.map((o) => [o.value, o.textContent]).filter((o) => o[0]));
    assertEq(options.map((o) => o[0]).sort(), fields.fields.map((f) => f.name).sort(), 'picker options');
    const label = Object.fromEntries(options);
    assertEq(label.bought_category, fields.fields.find((f) => f.name === 'bought_category').labels.en, 'a label');
  });

  await t.check('bought shoes in the last 30 days: a nested group of two conditions, typed inputs', async () => {
    const a = await condition('1.1');
    await a.field.selectOption('bought_category');
    await a.op.selectOption('eq');
    await a.value.fill(shoes);
    await page.locator('#segment-rule-tree [data-node=group] [data-node=group] [data-action=add-condition]').click();
    const b = await condition('1.2');
    await b.field.selectOption('last_order_at');
    const ops = await b.op.locator('option').evaluateAll((os) => os.map((o) => o.value));
    assert(ops.includes('within_days') && ops.includes('between'), `date operators: ${ops}`);
    assertEq(await b.value.getAttribute('type'), 'date', 'a date picker for a date');
    await b.op.selectOption('within_days');
    assertEq([await b.value.getAttribute('type'), await b.value.getAttribute('min')], ['number', '1'], 'a day count');
    await b.value.fill('30');
  });

  await t.check('NPS 11: the server\'s error shows next to the value, tied to it', async () => {
    await page.locator('#segment-rule-tree > [data-node=group] > .seg-group-foot [data-action=add-condition]').click();
    const c = await condition('2');
    await c.field.selectOption('last_nps');
    await c.op.selectOption('gte');
    assertEq([await c.value.getAttribute('type'), await c.value.getAttribute('max')], ['number', '10'], 'a number input 0–10');
    await c.value.fill('11');
    const error = page.locator(`#${await c.value.getAttribute('id')}-error`);
    await error.waitFor({ state: 'visible', timeout: 15_000 });
    assert(/0 to 10/.test(await error.innerText()), `error text: ${await error.innerText()}`);
    assertEq(await c.value.getAttribute('aria-invalid'), 'true', 'aria-invalid');
    assert((await c.value.getAttribute('aria-describedby') || '').includes(await error.getAttribute('id')), 'aria-describedby names the error');
    assertEq(await live.getAttribute('data-state'), 'invalid', 'the count waits for a valid rule');
    await c.value.fill('9');
    await error.waitFor({ state: 'hidden', timeout: 15_000 });
  });

  await t.check('the live count equals the API preview of the same rule, and the sample names the two', async () => {
    const count = await liveReady();
    assertEq(count, apiCount, 'live count = API preview');
    assertEq(previews[previews.length - 1], { rule: expectedRule, purpose: 'marketing_email' }, 'the rule the page previews');
    const sample = (await page.locator('#segment-sample li .mono').allInnerTexts()).sort();
    assertEq(sample, inside, 'the sample');
    assert((await live.innerText()).includes('2 contacts match'), `count text: ${await live.innerText()}`);
    await page.locator('#segment-name').fill(segmentName);
    await page.evaluate(() => { document.activeElement.blur(); document.getElementById('segment-builder-card').scrollIntoView({ block: 'start' }); });
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'segments.png'), timeout: 30_000 });
  });

  await t.check('on a 390 px phone the builder with its nested group does not scroll sideways', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      const [scroll, client] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
      assert(scroll <= client, `page is ${scroll} px wide in a ${client} px viewport`);
      const box = await (await condition('1.1')).field.boundingBox();
      assert(box && box.x >= 0 && box.x + box.width <= 390, `field picker box: ${JSON.stringify(box)}`);
    } finally {
      await page.setViewportSize({ width: 1280, height: 800 });
    }
  });

  let segmentId = '';
  await t.check('Save: the build shows its progress, then ready with 2 contacts', async () => {
    const created = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/admin/v1/segments');
    await page.locator('#segment-save').click();
    const body = await (await created).json();
    segmentId = body.id;
    assert(/^seg_/.test(segmentId), `created ${JSON.stringify(body)}`);
    assertEq(body.rule, expectedRule, 'the saved rule');
    const build = page.locator('#segment-build');
    await build.waitFor({ state: 'visible' });
    assertEq(await build.getAttribute('data-segment-id'), segmentId, 'the build shown');
    assertEq(await page.getByRole('progressbar').count() >= 1, true, 'a progress bar');
    await page.locator('#segment-build[data-version="1"][data-state=ready]').waitFor({ timeout: 30_000 });
    assert((await page.locator('#segment-build-label').innerText()).includes('2 contacts'), `build label: ${await page.locator('#segment-build-label').innerText()}`);
    const seg = await admin.expect(200, 'GET', `/admin/v1/segments/${segmentId}`);
    assertEq([seg.state, seg.size, seg.version], ['ready', 2, 1], 'the segment through the API');
  });

  await t.check('the CSV download holds exactly the two happy shoe buyers', async () => {
    const row = page.locator(`#segments-body tr[data-segment-id="${segmentId}"]`);
    await poll(async () => (await row.locator('td[data-col=state]').innerText()).includes('ready'),
      { timeoutMs: 20_000, what: 'the list to show the segment ready' });
    assertEq((await row.locator('td[data-col=size]').innerText()).trim(), '2', 'size in the list');
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 30_000 }),
      row.locator('button[data-action=csv]').click(),
    ]);
    const text = fs.readFileSync(await download.path(), 'utf8').replace(/^\uFEFF/, '');
    const [header, ...rows] = parseCsv(text).filter((r) => r.length > 1 || r[0] !== '');
    const col = header.indexOf('email');
    assertEq(rows.map((r) => r[col]).sort(), inside, 'emails in the CSV');
  });

  await t.check('Edit loads the rule back; NPS ≥ 10 saved as version 2 holds one person', async () => {
    const row = page.locator(`#segments-body tr[data-segment-id="${segmentId}"]`);
    await row.locator('button[data-action=edit]').click();
    await page.waitForFunction(() => document.getElementById('segment-builder-title').textContent.includes('Edit'));
    assertEq(await page.locator('#segment-rule-tree [data-node=condition]').count(), 3, 'conditions loaded');
    assertEq(await page.locator('#segment-name').inputValue(), segmentName, 'name loaded');
    const c = await condition('2');
    assertEq(await c.value.inputValue(), '9', 'the NPS value loaded');
    assertEq(await (await condition('1.1')).value.inputValue(), shoes, 'the category');
    assertEq(await (await condition('1.2')).op.inputValue(), 'within_days', 'the window');
    await c.value.fill('10');
    await poll(async () => (await live.getAttribute('data-state')) === 'ready' && (await live.getAttribute('data-count')) === '1',
      { timeoutMs: 15_000, what: 'a live count of 1' });
    const replaced = page.waitForResponse((r) => r.request().method() === 'PUT' && new URL(r.url()).pathname === `/admin/v1/segments/${segmentId}`);
    await page.locator('#segment-save').click();
    const body = await (await replaced).json();
    assertEq(body.version, 2, 'a new version');
    await page.locator('#segment-build[data-version="2"][data-state=ready]').waitFor({ timeout: 30_000 });
    assert((await page.locator('#segment-build-label').innerText()).includes('1 contact'), 'the build of version 2');
    const seg = await admin.expect(200, 'GET', `/admin/v1/segments/${segmentId}`);
    assertEq([seg.state, seg.size, seg.version], ['ready', 1, 2], 'version 2 through the API');
  });

  await t.check('Delete asks first: Cancel keeps it, confirming deletes it', async () => {
    const row = page.locator(`#segments-body tr[data-segment-id="${segmentId}"]`);
    await row.locator('button[data-action=delete]').click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor({ state: 'visible' });
    assert((await dialog.innerText()).includes(segmentName), 'the dialog names the segment');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await admin.expect(200, 'GET', `/admin/v1/segments/${segmentId}`);
    await row.locator('button[data-action=delete]').click();
    await dialog.getByRole('button', { name: 'Delete segment' }).click();
    await row.waitFor({ state: 'detached', timeout: 15_000 });
    await admin.expect(404, 'GET', `/admin/v1/segments/${segmentId}`);
  });

  await t.check('a key without contacts:read: counts, no sample, no identifying fields to pick', async () => {
    await page.locator('#admin-signout').click();
    await page.locator('#state-signin').waitFor({ state: 'visible' });
    await signIn(scoped.key);
    await page.locator('#segment-rule-tree [data-action=add-condition]').first().click();
    const c = await condition('1');
    for (const name of ['email', 'name', 'attr.<key>']) {
      assertEq(await c.field.locator(`option[value="${name}"]`).getAttribute('disabled'), '', `${name} is disabled`);
    }
    await c.field.selectOption('bought_category');
    // The count on screen is the last rule's until the page has asked about this one.
    const asked = page.waitForResponse((r) => r.request().method() === 'POST'
      && new URL(r.url()).pathname === '/admin/v1/segments/preview' && (r.request().postData() || '').includes(shoes));
    await c.value.fill(shoes);
    await asked;
    const count = await liveReady();
    assertEq(count, 5, 'five bought shoes');
    assert(await page.locator('#segment-sample-wrap').isHidden(), 'no sample');
    assertEq(await page.locator('#segment-sample li').count(), 0, 'no one named');
    assert(!(await page.content()).includes(`builder-${runId}-`), 'no address of the run in the page');
  });

  await t.check('the builder speaks pt-BR: labels from the fields endpoint and the page', async () => {
    await page.goto(`${base}/admin?lang=pt-BR#/segments`);
    await page.locator('#segment-builder').waitFor({ state: 'visible' });
    await page.getByRole('button', { name: 'Adicionar condição', exact: true }).first().click();
    const field = page.getByLabel('Campo da condição 1', { exact: true });
    assertEq(await field.locator('option[value=bought_category]').innerText(), 'Comprou da categoria', 'a field label');
    await field.selectOption('last_order_at');
    const op = page.locator(`[data-for="${await field.getAttribute('data-for')}"][data-role=op]`);
    assert((await op.locator('option').allInnerTexts()).includes('nos últimos … dias'), 'an operator label');
  });

  await t.check('the page had no script errors', async () => {
    const expected = /Failed to load resource: the server responded with a status of (400|404)/;
    assertEq(problems.filter((p) => !expected.test(p)), [], 'browser problems');
  });
}, { timeoutMs: 150_000 });
