// The marketer's workspace in headless Chromium: the admin API creates a signup form, three people
// sign up through it from the shop, and a segment picks two of them (one named like a spreadsheet
// formula). The marketer opens /admin, is refused with a wrong key, signs in with the real one,
// moves between the views through the navigation (each view in the address), sees the segment
// ready with 2 contacts and downloads it as CSV (and NDJSON) through an export job with a progress
// bar and a signed download link: the file has the default columns (no links), only the two
// contacts and the formula neutralised; asked for by name, the API adds absolute signed links.
// The forms, webhooks and surveys views show the new form's embed code, the subscription and a
// survey's results; a reload keeps the view; Refresh reloads every open view; on a phone nothing
// scrolls sideways; signing out forgets the key; a key without some scopes sees those views
// locked with a note (and they call nothing), and a revoked key sends the marketer back to sign in.
//
//   BASE_URL=http://127.0.0.1:8787 ADMIN_KEY=… node tests/browser/admin.mjs
//
// Prints one line per check; exits 0 when all pass. Screenshots: target/browser/admin-desktop.png,
// admin-phone.png (390×844) and admin-scoped.png.

import fs from 'node:fs';
import {
  adminApi, assert, assertEq, launchBrowser, newPage, poll, requireEnv, run, screenshot, parseCsv, publicApi,
} from './lib.mjs';
import { patchAdminPage } from './plant.mjs';

const STORE_KEY = 'clientela.admin.key';
// The default columns carry no signed links: whoever holds a CSV should not hold a link per person
// unless the links were asked for by name (checked through the API below).
const CSV_HEADER = 'contact_id,email,name,locale,country,city,temperature,order_count,total_spent,last_order_at';
const LINK_COLUMNS = 'contact_id,email,preferences_url,unsubscribe_url';


run('admin', async (t) => {
  const env = requireEnv('BASE_URL', 'ADMIN_KEY');
  const base = env.BASE_URL.replace(/\/+$/, '');
  const adminKey = env.ADMIN_KEY;
  const admin = adminApi(base, adminKey);
  const runId = `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const shop = 'https://shop.example';
  const inPrefix = `admin-${runId}-in`;
  const people = [
    { email: `${inPrefix}-1@example.com`, name: 'Ana In', country: 'BR' },
    { email: `${inPrefix}-2@example.com`, name: '=HYPERLINK("http://evil","x")', country: 'PT' },
    { email: `admin-${runId}-out@example.com`, name: 'Otto Out', country: 'BR' },
  ];
  const inEmails = [people[0].email, people[1].email];
  const formName = `Admin signup ${runId}`;
  const segmentName = `Admin test ${runId}`;
  const surveyName = `Admin survey ${runId}`;
  const csvFile = `segment-admin-test-${runId}.csv`;
  t.log(`worker ${base}, run ${runId}`);

  // A client IP per call from Node, so per-IP limits never bite (and reruns share no bucket).
  const publicPost = publicApi(base).post;

  // ---- Data, through the API -----------------------------------------------------------------------
  let formId = '';
  // A subscription to the loopback receiver (the harness's fake relay answers 200 on /events/…),
  // made before anyone signs up, so the people below give it deliveries to show.
  let webhookId = '';
  const webhookName = `CRM ${runId}`;
  await t.check('admin API subscribes a receiver to confirmations', async () => {
    const receiver = (process.env.MAILBOX_URL || '').replace(/\/mailbox$/, `/events/admin-${runId}`);
    const hook = await admin.expect(201, 'POST', '/admin/v1/webhooks', {
      url: receiver, events: ['contact.confirmed'], description: webhookName,
    });
    webhookId = hook?.id || '';
    assert(/^whk_/.test(webhookId) && /^whsec_/.test(hook?.secret || ''), `created ${JSON.stringify(hook)}`);
    t.defer(async () => { await admin.call('DELETE', `/admin/v1/webhooks/${webhookId}`); });
  });

  await t.check('admin API creates a signup form without double opt-in for the shop', async () => {
    const form = await admin.expect(201, 'POST', '/admin/v1/forms', {
      name: formName,
      allowed_origins: [shop],
      locale: 'en',
      double_opt_in: false,
      redirect_url: `${shop}/thanks`,
      fields: [
        { key: 'email', type: 'email', required: true, label: { en: 'Email' } },
        { key: 'name', type: 'text', max_len: 100, label: { en: 'Name' } },
        { key: 'country', type: 'text' },
      ],
      consents: [{
        purpose: 'marketing_email', required: true, policy_version: '2026-01',
        text: { en: 'I agree to receive offers by email' },
      }],
    });
    assert(/^frm_/.test(form?.id || ''), `expected an id like frm_…, got ${JSON.stringify(form)}`);
    formId = form.id;
  });

  await t.check('three people sign up through the form from the shop and become active contacts', async () => {
    for (const p of people) {
      const r = await publicPost(`/v1/forms/${formId}/submissions`, {
        fields: { email: p.email, name: p.name, country: p.country }, consents: { marketing_email: true },
      }, { Origin: shop });
      assertEq(r.status, 202, `submission status for ${p.email} (${r.text.slice(0, 200)})`);
    }
    for (const p of people) {
      await poll(async () => {
        const r = await admin.expect(200, 'GET', `/admin/v1/contacts?email=${encodeURIComponent(p.email)}`);
        return r?.contacts?.[0]?.status === 'active';
      }, { timeoutMs: 10_000, what: `contact ${p.email} with status "active"` });
    }
  });

  let segmentId = '';
  await t.check('admin API creates a segment of the two "in" people and the queue builds it', async () => {
    const created = await admin.expect(201, 'POST', '/admin/v1/segments', {
      name: segmentName,
      rule: { all: [{ field: 'email', op: 'starts_with', value: inPrefix }] },
    });
    assert(/^seg_/.test(created?.id || ''), `expected an id like seg_…, got ${JSON.stringify(created)}`);
    assert(['building', 'ready'].includes(created.state), `state of a new segment: ${JSON.stringify(created)}`);
    segmentId = created.id;
    let last = null;
    try {
      await poll(async () => {
        last = await admin.expect(200, 'GET', `/admin/v1/segments/${segmentId}`);
        return last?.state === 'ready' && last?.size === 2;
      }, { timeoutMs: 30_000, intervalMs: 500, what: 'the segment to be ready with size 2' });
    } catch (e) {
      throw new Error(`${e.message}; last: ${JSON.stringify(last)}`);
    }
    const list = await admin.expect(200, 'GET', '/admin/v1/segments');
    assert((list?.segments || []).some((s) => s.id === segmentId), 'the new segment should be in GET /admin/v1/segments');
  });

  let surveyId = '';
  await t.check('a survey with one invitation and one answer (NPS 10, CSAT 4)', async () => {
    const survey = await admin.expect(201, 'POST', '/admin/v1/surveys', {
      name: surveyName, locale: 'en', expires_after_days: 30,
      questions: [
        { key: 'nps', type: 'nps', required: true, text: { en: 'How likely are you to recommend us?' } },
        { key: 'csat', type: 'csat', text: { en: 'How satisfied are you?' } },
      ],
    });
    surveyId = survey?.id || '';
    assert(/^srv_/.test(surveyId), `expected an id like srv_…, got ${JSON.stringify(survey)}`);
    const inv = await admin.expect(201, 'POST', `/admin/v1/surveys/${surveyId}/invitations`, {
      invitations: [{ email: people[2].email }], send_email: false,
    });
    const url = inv?.invitations?.[0]?.url || '';
    assert(url.startsWith(`${base}/s/`), `invitation url: ${JSON.stringify(inv)}`);
    const token = decodeURIComponent(new URL(url).pathname.split('/').pop());
    const r = await publicPost('/v1/surveys/responses', { token, answers: { nps: 10, csat: 4 } });
    assertEq(r.status, 201, `answer status (${r.text.slice(0, 200)})`);
  });

  let scoped = null;
  await t.check('admin API makes a key with only the segments and exports scopes', async () => {
    scoped = await admin.expect(201, 'POST', '/admin/v1/keys', { name: `admin page ${runId}`, scopes: ['segments', 'exports'] });
    assert(scoped?.key && scoped?.id, `expected {id, key}, got ${JSON.stringify(scoped)}`);
    t.defer(async () => { if (scoped && !scoped.revoked) await admin.call('DELETE', `/admin/v1/keys/${scoped.id}`); });
  });

  // ---- The page ------------------------------------------------------------------------------------
  const browser = await launchBrowser();
  t.defer(() => browser.close());
  const allProblems = [];
  const seen = []; // every admin API call the page made: the key it sent
  async function open(options, label) {
    const { context, page, problems } = await newPage(browser, options);
    await patchAdminPage(context, base);
    allProblems.push(problems);
    t.onFailure(async () => {
      if (problems.length) console.error(`# browser problems (${label}):\n#   ${problems.join('\n#   ')}`);
      console.error(`# screenshot: ${await screenshot(page, `admin-failure-${label}`)}`);
    });
    context.on('request', async (r) => {
      const u = new URL(r.url());
      if (u.origin === base && u.pathname.startsWith('/admin/v1/')) {
        seen.push({ path: u.pathname + u.search, auth: (await r.allHeaders()).authorization || '' });
      }
    });
    return { context, page };
  }
  const stored = (page) => page.evaluate((k) => ({
    key: sessionStorage.getItem(k), session: sessionStorage.length, local: localStorage.length, cookie: document.cookie,
  }), STORE_KEY);
  const noSideScroll = async (page) => {
    const [scroll, client] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
    assert(scroll <= client, `page is ${scroll} px wide in a ${client} px viewport`);
  };
  const signIn = async (page, key) => {
    await page.locator('#admin-key').fill(key);
    await page.locator('#signin-submit').click();
  };
  // Opens one view of the workspace through its navigation link, as a marketer would.
  const view = async (page, id) => {
    await page.locator(`#nav-${id}`).click();
    await page.locator(`#view-${id}`).waitFor({ state: 'visible' });
    assertEq(await page.locator(`#nav-${id}`).getAttribute('aria-current'), 'page', `the ${id} link is marked current`);
  };
  const { context, page } = await open({ viewport: { width: 1280, height: 900 } }, 'desktop');
  const row = page.locator(`#segments-body tr[data-segment-id="${segmentId}"]`);

  await t.check('GET /admin serves the page with the strict CSP, and it asks for an API key', async () => {
    const response = await page.goto(`${base}/admin`);
    assertEq(response.status(), 200, 'GET /admin status');
    const headers = response.headers();
    assert((headers['content-type'] || '').startsWith('text/html'), `content-type: ${headers['content-type']}`);
    const csp = headers['content-security-policy'] || '';
    for (const directive of ["default-src 'none'", "script-src 'unsafe-inline'", "connect-src 'self'", "frame-ancestors 'none'", "form-action 'self'"]) {
      assert(csp.includes(directive), `CSP should include ${directive}: ${csp}`);
    }
    await page.locator('#state-signin').waitFor({ state: 'visible' });
    assertEq(await page.getAttribute('html', 'lang'), 'en', 'html lang');
    assertEq(await page.locator('#admin-key').getAttribute('type'), 'password', 'key input type');
    assertEq(await page.getByLabel('API key', { exact: true }).count(), 1, 'inputs labelled "API key"');
    assertEq(await page.locator('#admin-key').getAttribute('name'), null, 'the key input has no name (never submitted)');
    assert(await page.locator('#state-app').isHidden(), 'nothing but the sign-in form before signing in');
    assert(await page.locator('#admin-signout').isHidden(), 'no Sign out button before signing in');
    assertEq(await stored(page), { key: null, session: 0, local: 0, cookie: '' }, 'browser storage');
  });

  await t.check('a wrong key is refused with a message, and nothing is kept', async () => {
    await signIn(page, `ck_wrong_${runId}`);
    const error = page.locator('#admin-key-error');
    await error.waitFor({ state: 'visible' });
    assert(/not accepted/i.test(await error.innerText()), `error text: ${await error.innerText()}`);
    assertEq(await page.locator('#admin-key').getAttribute('aria-invalid'), 'true', 'aria-invalid on the key');
    assert(await page.locator('#state-app').isHidden(), 'the app must stay hidden');
    assertEq(await stored(page), { key: null, session: 0, local: 0, cookie: '' }, 'browser storage');
    assert(seen.length > 0 && seen.every((s) => s.auth === `Bearer ck_wrong_${runId}`), `calls with the wrong key: ${JSON.stringify(seen)}`);
  });

  await t.check('signing in with the admin key shows the app; the key lives in sessionStorage only', async () => {
    seen.length = 0;
    await signIn(page, adminKey);
    await page.locator('#state-app').waitFor({ state: 'visible' });
    assert(await page.locator('#state-signin').isHidden(), 'the sign-in form should be gone');
    assertEq(await stored(page), { key: adminKey, session: 1, local: 0, cookie: '' }, 'browser storage');
    assert(!page.url().includes(adminKey) && !page.url().includes('?'), `the key must not be in the URL: ${page.url()}`);
    assertEq(await page.locator('#admin-key').inputValue(), '', 'the key input is emptied');
    assertEq(await page.evaluate(() => document.activeElement.id), 'app-title', 'focus after signing in');
    const nav = page.getByRole('navigation', { name: 'Workspace' });
    for (const h of ['Segments', 'Forms', 'Surveys', 'Webhooks']) {
      assertEq(await nav.getByRole('link', { name: h, exact: true }).count(), 1, `navigation link ${h}`);
    }
    await view(page, 'segments');
    assertEq(await page.getByRole('heading', { level: 2, name: 'Segments', exact: true }).count(), 1, 'the view\'s heading');
    assert(page.url().endsWith('#/segments'), `the view is in the address: ${page.url()}`);
    assert(await page.locator('#admin-signout').isVisible() && await page.locator('#admin-refresh').isVisible(), 'Sign out and Refresh buttons');
  });

  await t.check('the segment row shows its name, ready, 2 contacts and when it was computed', async () => {
    await row.waitFor({ state: 'visible' });
    assert((await row.locator('[data-col=name]').innerText()).includes(segmentName), 'name cell');
    assertEq((await row.locator('[data-col=state]').innerText()).trim(), 'ready', 'state cell');
    assertEq((await row.locator('[data-col=size]').innerText()).trim(), '2', 'size cell');
    const computed = await row.locator('[data-col=computed_at] time').getAttribute('datetime');
    assert(!Number.isNaN(Date.parse(computed || '')), `computed_at: ${computed}`);
    assertEq(await row.getByRole('button', { name: 'Download CSV' }).count(), 1, 'Download CSV buttons in the row');
    assertEq(await row.getByRole('button', { name: /NDJSON/ }).count(), 1, 'NDJSON buttons in the row');
    assert(seen.length >= 2 && seen.every((s) => s.auth === `Bearer ${adminKey}`), `every admin call sends the bearer key: ${JSON.stringify(seen.map((s) => s.path))}`);
    await screenshot(page, 'admin-desktop');
  });

  let csvText = '';
  await t.check(`Download CSV starts an export job, shows its progress, then saves ${csvFile}`, async () => {
    const startPath = `/admin/v1/segments/${segmentId}/exports`;
    let release, auth = null, body = null;
    const held = new Promise((r) => { release = r; });
    const isStart = (u) => u.href === `${base}${startPath}`;
    const isDownload = (u) => u.origin === base && /^\/v1\/exports\/[^/]+\/download$/.test(u.pathname);
    await context.route(isStart, async (route) => {
      auth = route.request().headers().authorization;
      body = route.request().postDataJSON();
      await held;
      await route.continue();
    });
    const button = row.locator('button[data-action=csv]');
    const downloadEvent = page.waitForEvent('download', { timeout: 30_000 });
    const responseEvent = page.waitForResponse((r) => isDownload(new URL(r.url())), { timeout: 30_000 });
    const readyEvent = page.waitForResponse(async (r) => {
      if (!new URL(r.url()).pathname.startsWith('/admin/v1/exports/')) return false;
      try { return (await r.json()).state === 'ready'; } catch { return false; }
    }, { timeout: 30_000 });
    await button.click();
    await poll(() => auth !== null, { timeoutMs: 5_000, what: 'the request starting the export' });
    assertEq(auth, `Bearer ${adminKey}`, 'Authorization of the request starting the export');
    assertEq(body, { format: 'csv' }, 'the export asked for');
    assertEq(await button.getAttribute('aria-disabled'), 'true', 'aria-disabled while exporting');
    assert((await button.innerText()).includes('Preparing'), `button text while exporting: ${await button.innerText()}`);
    const bar = row.getByRole('progressbar', { name: /Exporting segment-admin-test-/ });
    assertEq(await bar.count(), 1, 'a labelled progress bar while the export runs');
    release();
    const [download, response, readyAnswer] = await Promise.all([downloadEvent, responseEvent, readyEvent]);
    await context.unroute(isStart);
    const status = await readyAnswer.json();
    assertEq([status.rows, status.total], [2, 2], 'rows written of the segment size when ready');
    assertEq(response.status(), 200, 'download status');
    assert((response.headers()['content-type'] || '').startsWith('text/csv'), `download content-type: ${response.headers()['content-type']}`);
    assertEq((await response.request().allHeaders()).authorization, undefined, 'the signed link needs no key');
    assertEq(download.suggestedFilename(), csvFile, 'file name');
    csvText = fs.readFileSync(await download.path(), 'utf8');
    await poll(async () => (await button.getAttribute('aria-disabled')) === null, { timeoutMs: 5_000, what: 'the button to be usable again' });
    assert((await button.innerText()).includes('Download CSV'), 'the button label comes back');
    assertEq(await bar.count(), 0, 'the progress bar goes once the file is saved');
    await page.waitForFunction((f) => document.getElementById('admin-status').textContent.includes(f), csvFile);
    assertEq((await page.locator('#segments-alert').innerText()).trim(), '', 'no error shown');
  });

  await t.check('the CSV: default columns without links, exactly the two "in" contacts, formula neutralised', async () => {
    if (csvText.charCodeAt(0) === 0xfeff) { t.log('the CSV starts with a byte order mark'); csvText = csvText.slice(1); }
    assertEq(csvText.split(/\r?\n/)[0], CSV_HEADER, 'header line');
    const [header, ...rows] = parseCsv(csvText).filter((r) => r.length > 1 || r[0] !== '');
    const col = Object.fromEntries(header.map((h, i) => [h, i]));
    assert(rows.every((r) => r.length === header.length), `every row has ${header.length} fields: ${JSON.stringify(rows)}`);
    assertEq(rows.map((r) => r[col.email]).sort(), [...inEmails].sort(), 'emails in the export');
    const evil = rows.find((r) => r[col.email] === people[1].email);
    assert(evil[col.name].startsWith("'="), `the formula name should start with '=, got ${JSON.stringify(evil[col.name])}`);
    assert(evil[col.name].includes('HYPERLINK'), `the name keeps its text: ${evil[col.name]}`);
    assertEq(rows.find((r) => r[col.email] === people[0].email)[col.name], 'Ana In', 'the plain name');
    for (const r of rows) assert(r[col.contact_id], `contact_id: ${JSON.stringify(r)}`);
    assert(!/\/me\?p=|\/unsubscribe\?t=/.test(csvText), 'the default export must carry no signed link');
  });

  await t.check('links asked for by name: absolute, signed per contact, preferences and unsubscribe differ', async () => {
    const r = await admin.call('GET', `/admin/v1/segments/${segmentId}/export.csv?columns=${encodeURIComponent(LINK_COLUMNS)}`);
    assertEq(r.status, 200, `export with link columns (${r.text.slice(0, 200)})`);
    const text = r.text.replace(/^\uFEFF/, '');
    assertEq(text.split(/\r?\n/)[0], LINK_COLUMNS, 'header line');
    const [header, ...rows] = parseCsv(text).filter((row) => row.length > 1 || row[0] !== '');
    const col = Object.fromEntries(header.map((h, i) => [h, i]));
    assertEq(rows.map((row) => row[col.email]).sort(), [...inEmails].sort(), 'emails in the export');
    for (const row of rows) {
      for (const c of ['preferences_url', 'unsubscribe_url']) {
        const v = row[col[c]];
        assert(v.startsWith(`${base}/`) && new URL(v).origin === base, `${c} should be an absolute URL on ${base}: ${v}`);
      }
      assert(row[col.preferences_url].startsWith(`${base}/me?p=`), `preferences_url: ${row[col.preferences_url]}`);
      assert(row[col.unsubscribe_url].startsWith(`${base}/unsubscribe?t=`), `unsubscribe_url: ${row[col.unsubscribe_url]}`);
      assert(row[col.preferences_url] !== row[col.unsubscribe_url], 'preferences and unsubscribe links differ');
    }
    assert(rows[0][col.unsubscribe_url] !== rows[1][col.unsubscribe_url], 'each contact has their own unsubscribe link');
  });

  await t.check('the NDJSON button saves the same two contacts as NDJSON', async () => {
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 20_000 }),
      row.locator('button[data-action=ndjson]').click(),
    ]);
    assertEq(download.suggestedFilename(), `segment-admin-test-${runId}.ndjson`, 'file name');
    const lines = fs.readFileSync(await download.path(), 'utf8').split('\n').filter((l) => l.trim());
    const emails = lines.map((l) => JSON.parse(l).email).sort();
    assertEq(emails, [...inEmails].sort(), 'emails in the NDJSON export');
    assert(seen.filter((s) => s.path.includes('/exports')).every((s) => s.auth === `Bearer ${adminKey}`), 'the export calls send the key');
  });

  await t.check('the forms section lists the new form with its id and a copy-able embed code', async () => {
    await view(page, 'forms');
    const item = page.locator(`#forms-list li[data-form-id="${formId}"]`);
    await item.waitFor({ state: 'visible' });
    assertEq((await item.locator('h3').innerText()).trim(), formName, 'form name');
    assert((await item.innerText()).includes(formId), 'the form id is shown');
    assert((await item.innerText()).includes('Single opt-in'), 'opt-in mode is shown');
    const snippet = item.getByLabel('Embed code');
    const code = await snippet.inputValue();
    assert(code.includes(`src="${base}/embed.js"`) && code.includes(`data-form="${formId}"`), `embed code: ${code}`);
    assertEq(await snippet.getAttribute('readonly'), '', 'the embed code is read-only');
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    await item.getByRole('button', { name: 'Copy' }).click();
    await page.waitForFunction(() => /copied|selected/i.test(document.getElementById('admin-status').textContent));
    const clip = await page.evaluate(() => navigator.clipboard.readText().catch(() => null));
    if (clip !== null) assertEq(clip, code, 'clipboard after Copy');
  });

  await t.check('the webhooks section lists the subscription, active, with its last delivery', async () => {
    await view(page, 'webhooks');
    const item = page.locator(`#webhooks-list li[data-webhook-id="${webhookId}"]`);
    await item.waitFor({ state: 'visible' });
    assertEq((await item.locator('h3').innerText()).trim(), webhookName, 'description');
    const text = await item.innerText();
    assert(text.includes('contact.confirmed') && /active/i.test(text), `item: ${text}`);
    // The signups above confirmed people, so deliveries went out and the receiver took them.
    await poll(async () => {
      const last = await item.locator('.last-delivery').innerText().catch(() => '');
      if (/delivered \(HTTP 200\)/.test(last)) return last;
      await page.reload();
      await page.locator(`#webhooks-list li[data-webhook-id="${webhookId}"]`).waitFor({ state: 'visible' });
      return null;
    }, { timeoutMs: 30_000, intervalMs: 1000, what: 'a delivered last delivery' });
  });

  await t.check('the surveys section shows invited, responses, rate, NPS with counts, CSAT and CES', async () => {
    await view(page, 'surveys');
    const item = page.locator(`#surveys-list li[data-survey-id="${surveyId}"]`);
    await item.waitFor({ state: 'visible' });
    assertEq((await item.locator('h3').innerText()).trim(), surveyName, 'survey name');
    const value = (k) => item.locator(`[data-stat=${k}] .value`);
    await value('invited').waitFor({ state: 'visible' });
    const values = {};
    for (const k of ['invited', 'responses', 'response_rate', 'nps', 'csat', 'ces']) values[k] = (await value(k).innerText()).trim();
    assertEq(values, { invited: '1', responses: '1', response_rate: '100 %', nps: '+100', csat: '4 / 5', ces: '—' }, 'results');
    const npsDetail = await item.locator('[data-stat=nps] small').innerText();
    assert(/1 promoter\b/.test(npsDetail) && /0 passives/.test(npsDetail) && /0 detractors/.test(npsDetail), `NPS counts: ${npsDetail}`);
    assert((await item.locator('[data-stat=csat] small').innerText()).includes('100 % satisfied'), 'CSAT satisfied share');
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 20_000 }),
      item.getByRole('button', { name: /Responses CSV/ }).click(),
    ]);
    assertEq(download.suggestedFilename(), `survey-admin-survey-${runId}-responses.csv`, 'file name');
    const rows = parseCsv(fs.readFileSync(await download.path(), 'utf8').replace(/^\uFEFF/, '')).filter((r) => r.length > 1);
    assertEq(rows[0].slice(-2), ['nps', 'csat'], 'question columns');
    assertEq(rows.length, 2, 'header and one response');
    assertEq(rows[1].slice(-2), ['10', '4'], 'the answer');
  });

  await t.check('reloading the tab keeps you signed in on the same view; Refresh reloads every open view', async () => {
    await page.reload();
    await page.locator(`#surveys-list li[data-survey-id="${surveyId}"]`).waitFor({ state: 'visible' });
    assert(await page.locator('#state-signin').isHidden(), 'no sign-in after a reload');
    assert(await page.locator('#view-segments').isHidden(), 'only the surveys view is shown');
    await view(page, 'forms');
    await view(page, 'segments');
    await row.waitFor({ state: 'visible' });
    seen.length = 0;
    await page.locator('#admin-refresh').click();
    await poll(async () => (await page.locator('#admin-refresh').getAttribute('aria-disabled')) === null && seen.length >= 4,
      { timeoutMs: 10_000, what: 'the refresh to finish' });
    const paths = new Set(seen.map((s) => s.path));
    for (const p of ['/admin/v1/segments', '/admin/v1/forms', '/admin/v1/surveys', `/admin/v1/surveys/${surveyId}/results`]) {
      assert(paths.has(p), `Refresh should call ${p}: ${[...paths].join(', ')}`);
    }
    await row.waitFor({ state: 'visible' });
  });

  await t.check('the language switch reloads the workspace in Portuguese, still signed in on the same view', async () => {
    await page.getByLabel('Language', { exact: true }).selectOption('pt-BR');
    await page.waitForURL(/\/admin\?lang=pt-BR#\/segments$/);
    await row.waitFor({ state: 'visible' });
    assertEq(await page.getAttribute('html', 'lang'), 'pt-BR', 'html lang');
    const nav = page.getByRole('navigation', { name: 'Área de trabalho' });
    assertEq(await nav.getByRole('link', { name: 'Segmentos', exact: true }).getAttribute('aria-current'), 'page', 'the current view, in Portuguese');
    assertEq((await row.locator('[data-col=state]').innerText()).trim(), 'pronto', 'the state, in Portuguese');
    assertEq(await row.getByRole('button', { name: 'Baixar CSV' }).count(), 1, 'the download button, in Portuguese');
    assertEq(await stored(page), { key: adminKey, session: 1, local: 0, cookie: '' }, 'the key stays in this tab only');
    await page.getByLabel('Idioma', { exact: true }).selectOption('en');
    await page.waitForURL(/\/admin\?lang=en#\/segments$/);
    await row.waitFor({ state: 'visible' });
    assertEq((await row.locator('[data-col=state]').innerText()).trim(), 'ready', 'back in English');
  });

  await t.check('signing out forgets the key and the data', async () => {
    await page.locator('#admin-signout').click();
    await page.locator('#state-signin').waitFor({ state: 'visible' });
    assert(await page.locator('#state-app').isHidden(), 'the app is hidden');
    assertEq(await stored(page), { key: null, session: 0, local: 0, cookie: '' }, 'browser storage after signing out');
    assert((await page.locator('#signin-notice').innerText()).includes('signed out'), 'a signed-out notice');
    const html = await page.content();
    assert(!html.includes(segmentName) && !html.includes(formName), 'no segment or form data left in the page');
    await page.reload();
    await page.locator('#state-signin').waitFor({ state: 'visible' });
    assert(await page.locator('#state-app').isHidden(), 'still signed out after a reload');
  });

  await t.check('on a 390 px phone nothing scrolls sideways and the download buttons are reachable', async () => {
    const phone = await open({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true }, 'phone');
    try {
      await phone.page.goto(`${base}/admin`);
      await phone.page.locator('#state-signin').waitFor({ state: 'visible' });
      await noSideScroll(phone.page);
      await signIn(phone.page, adminKey);
      await view(phone.page, 'surveys');
      await phone.page.locator(`#surveys-list li[data-survey-id="${surveyId}"] [data-stat=invited]`).waitFor({ state: 'visible' });
      await noSideScroll(phone.page);
      await view(phone.page, 'segments');
      const phoneRow = phone.page.locator(`#segments-body tr[data-segment-id="${segmentId}"]`);
      await phoneRow.waitFor({ state: 'visible' });
      await noSideScroll(phone.page);
      const box = await phoneRow.locator('button[data-action=csv]').boundingBox();
      assert(box && box.x >= 0 && box.x + box.width <= 390 && box.height >= 40, `Download CSV button box: ${JSON.stringify(box)}`);
      await screenshot(phone.page, 'admin-phone');
    } finally {
      await phone.context.close();
    }
  });

  await t.check('a key without the forms and surveys scopes: those sections say so, segments still work', async () => {
    await signIn(page, scoped.key);
    await page.locator('#state-app').waitFor({ state: 'visible' });
    for (const [id, scope] of [['forms', 'forms'], ['surveys', 'surveys'], ['webhooks', 'webhooks']]) {
      assertEq(await page.locator(`#nav-${id}`).getAttribute('class'), 'locked', `the ${id} link is marked locked`);
      await view(page, id);
      const note = page.locator(`#${id}-status`);
      assert(await note.isVisible() && (await note.getAttribute('class')).includes('forbidden'), `the ${id} view shows a note`);
      assert((await note.innerText()).includes(`“${scope}” scope`), `${id} view: ${await note.innerText()}`);
    }
    assertEq(await page.locator('#forms-list li').count(), 0, 'forms shown');
    assert(!seen.some((s) => s.auth === `Bearer ${scoped.key}` && /^\/admin\/v1\/(forms|surveys|webhooks)/.test(s.path)),
      'a locked view calls nothing it may not');
    await view(page, 'segments');
    await row.waitFor({ state: 'visible' });
    assertEq(await stored(page), { key: scoped.key, session: 1, local: 0, cookie: '' }, 'browser storage');
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 20_000 }),
      row.locator('button[data-action=csv]').click(),
    ]);
    assertEq(download.suggestedFilename(), csvFile, 'the scoped key downloads the segment too');
    // Each sign-in mounts the views again; their CSS is on the page once, not once a sign-in.
    await view(page, 'overview');
    await page.locator('#admin-signout').click();
    await signIn(page, scoped.key);
    await page.locator('#state-app').waitFor({ state: 'visible' });
    await view(page, 'overview');
    const overviewRules = await page.evaluate(() => document.getElementById('admin-style').textContent.split('#view-overview .ov-charts figure').length - 1);
    assertEq(overviewRules, 1, 'copies of the overview\'s CSS after a second sign-in');
    await screenshot(page, 'admin-scoped');
  });

  await t.check('a revoked key sends you back to sign in with a message', async () => {
    const r = await admin.call('DELETE', `/admin/v1/keys/${scoped.id}`);
    assert(r.status === 200 || r.status === 204, `revoke status ${r.status}: ${r.text.slice(0, 200)}`);
    scoped.revoked = true;
    await page.locator('#admin-refresh').click();
    await page.locator('#state-signin').waitFor({ state: 'visible' });
    assert(/not accepted/i.test(await page.locator('#signin-notice').innerText()), `notice: ${await page.locator('#signin-notice').innerText()}`);
    assertEq(await stored(page), { key: null, session: 0, local: 0, cookie: '' }, 'browser storage');
    assertEq(await page.evaluate(() => document.activeElement.id), 'signin-title', 'focus moves to the sign-in heading');
  });

  await t.check('a view whose script fails to load takes only itself down: the segments view still works', async () => {
    // Each view is its own script element: a throw while the overview loads (a browser that
    // lacks something it uses, say) must not stop the views after it from registering.
    const broken = await newPage(browser, { viewport: { width: 1280, height: 800 } });
    try {
      // (patchAdminPage refuses a page without the marker: the page heads each view script with its name.)
      const marker = '// ---- admin/overview.js ----';
      await patchAdminPage(broken.context, base, [[marker, `${marker}\nthrow new Error('planted: overview fails to load');`]]);
      await broken.page.goto(`${base}/admin#/segments`);
      await signIn(broken.page, adminKey);
      await broken.page.locator('#state-app').waitFor({ state: 'visible' });
      await view(broken.page, 'segments');
      await broken.page.locator(`#segments-body tr[data-segment-id="${segmentId}"]`).waitFor({ state: 'visible' });
      await view(broken.page, 'contacts');
      assertEq(broken.problems.filter((p) => p.startsWith('page error')), ['page error: planted: overview fails to load'],
        'the planted throw is the only script error');
    } finally {
      await broken.context.close();
    }
  });

  await t.check('the pages had no script errors', async () => {
    // Chrome logs the expected 401 (wrong or revoked key) and 403 (missing scope) answers, and a
    // request the page had in flight (the builder's live count) when this test reloaded the tab
    // or signed out is aborted by the browser, as it should be.
    const expected = /Failed to load resource: the server responded with a status of 40[13]|^request failed: [A-Z]+ \S+ net::ERR_ABORTED$/;
    assertEq(allProblems.flat().filter((p) => !expected.test(p)), [], 'browser problems');
  });
});
