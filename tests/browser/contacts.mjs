// The marketer looks a person up in the admin workspace and reads their consent timeline. A
// visitor signs up through a form (consent with its notice), confirms by email, buys twice and
// answers a survey, then withdraws marketing from the preference center's API. The marketer opens
// /admin, goes to Contacts, asks for an address nobody has ("no contact with that address"), then
// for the person, by keyboard: the profile, consents, the timeline oldest first (the grant through
// the form, then the withdrawal from the preference center), the notice's words on demand, the
// orders, the answer and the segment with why. The same page in pt-BR speaks Portuguese.
//
//   BASE_URL=http://127.0.0.1:8787 ADMIN_KEY=… MAILBOX_URL=… node tests/browser/contacts.mjs
//
// Screenshots: target/browser/contacts.png (1280×800, the timeline) and contacts-full.png.

import fs from 'node:fs';
import path from 'node:path';
import {
  ARTIFACTS, adminApi, assert, assertEq, newPage, poll, pollMail, requireEnv, run, screenshot, workspacePage, publicApi,
} from './lib.mjs';

run('contacts', async (t) => {
  const env = requireEnv('BASE_URL', 'ADMIN_KEY');
  const base = env.BASE_URL.replace(/\/+$/, '');
  const admin = adminApi(base, env.ADMIN_KEY);
  const runId = `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const shop = 'https://shop.example';
  const email = `timeline-${runId}@example.com`;
  const notice = `I agree to receive offers by email (${runId})`;
  const formName = `Timeline signup ${runId}`;
  const publicCall = publicApi(base).call;

  // ---- The person's story, through the public and admin APIs ----------------------------------
  let formId = '';
  await t.check('a form with a marketing consent and its notice; the visitor signs up and confirms', async () => {
    const form = await admin.expect(201, 'POST', '/admin/v1/forms', {
      name: formName, allowed_origins: [shop], locale: 'en', double_opt_in: true,
      fields: [
        { key: 'email', type: 'email', required: true, label: { en: 'Email' } },
        { key: 'name', type: 'text', max_len: 100, label: { en: 'Name' } },
      ],
      consents: [{ purpose: 'marketing_email', required: true, policy_version: '2026-07', text: { en: notice } }],
    });
    formId = form.id;
    const r = await publicCall('POST', `/v1/forms/${formId}/submissions`,
      { fields: { email, name: 'Tina Timeline' }, consents: { marketing_email: true } }, { Origin: shop });
    assertEq(r.status, 202, `submission (${r.text.slice(0, 200)})`);
    const confirm = await pollMail(email, 'confirm', { where: (m) => !!m.url });
    const token = new URL(confirm.url).searchParams.get('t');
    const c = await publicCall('POST', '/v1/confirm', { token });
    assertEq(c.status, 200, `confirmation (${c.text.slice(0, 200)})`);
  });

  await t.check('they buy twice and answer a survey; a segment picks them', async () => {
    await admin.expect(200, 'POST', '/admin/v1/orders', { orders: [1, 2].map((n) => ({
      external_id: `tl-${runId}-${n}`, email, total: `${n}9.90`, currency: 'BRL', placed_at: `2026-0${n}-10T10:00:00Z`,
      items: [{ sku: `SKU-${n}`, name: n === 1 ? 'Tote bag' : 'Scarf', category: 'Bags', quantity: n, price: `${n}9.90` }],
    })) });
    const survey = await admin.expect(201, 'POST', '/admin/v1/surveys', {
      name: `Delivery ${runId}`, locale: 'en', expires_after_days: 30,
      questions: [
        { key: 'nps', type: 'nps', required: true, text: { en: 'Recommend us?' } },
        { key: 'why', type: 'text', text: { en: 'Why?' } },
      ],
    });
    const inv = await admin.expect(201, 'POST', `/admin/v1/surveys/${survey.id}/invitations`, { invitations: [{ email }], send_email: false });
    const token = decodeURIComponent(new URL(inv.invitations[0].url).pathname.split('/').pop());
    const a = await publicCall('POST', '/v1/surveys/responses', { token, answers: { nps: 9, why: 'Fast delivery' } });
    assertEq(a.status, 201, `answer (${a.text.slice(0, 200)})`);
    const seg = await admin.expect(201, 'POST', '/admin/v1/segments', {
      name: `Timeline buyers ${runId}`, purpose: 'satisfaction_surveys',
      rule: { all: [{ field: 'email', op: 'eq', value: email }, { field: 'order_count', op: 'gte', value: 2 }] },
    });
    await poll(async () => (await admin.expect(200, 'GET', `/admin/v1/segments/${seg.id}`))?.size === 1,
      { timeoutMs: 30_000, intervalMs: 500, what: 'the segment to hold the person' });
  });

  // ---- The marketer's page --------------------------------------------------------------------
  const { browser, page, problems } = await workspacePage(t, base, 'contacts');

  await t.check('the marketer signs in and opens Contacts', async () => {
    await page.goto(`${base}/admin#/contacts`);
    await page.locator('#admin-key').fill(env.ADMIN_KEY);
    await page.locator('#admin-key').press('Enter');
    await page.locator('#view-contacts').waitFor({ state: 'visible' });
    assertEq(await page.getByLabel('Email address', { exact: true }).count(), 1, 'the look-up input is labelled');
    // An address is no word: no red squiggles under it (a boolean `false` attribute once vanished).
    assertEq(await page.locator('#contacts-email').getAttribute('spellcheck'), 'false', 'spellcheck off');
  });

  const input = page.locator('#contacts-email');
  const status = page.locator('#contacts-status');
  await t.check('an address nobody has: "no contact with that address"', async () => {
    await input.fill(`nobody-${runId}@example.com`);
    await input.press('Enter');
    await poll(async () => /no contact with that address/i.test(await status.innerText()), { what: 'the "no contact" message' });
    assertEq(await page.locator('#contacts-result > *').count(), 0, 'nothing shown');
  });

  await t.check('an address that is not one is named next to the input', async () => {
    await input.fill('not-an-address');
    await input.press('Enter');
    await page.locator('#contacts-email-error').waitFor({ state: 'visible' });
    assertEq(await input.getAttribute('aria-invalid'), 'true', 'aria-invalid');
    assert((await input.getAttribute('aria-describedby')).includes('contacts-email-error'), 'described by its error');
  });

  const timeline = page.locator('#contact-consents ol.timeline > li');
  await t.check('the person, looked up by keyboard: profile, orders newest first, the answer, the segment with why', async () => {
    await input.fill(email);
    await input.press('Enter');
    await page.locator('#contact-profile').waitFor({ state: 'visible' });
    assert(await input.getAttribute('aria-invalid') !== 'true', 'the error is cleared');
    const profile = await page.locator('#contact-profile').innerText();
    assert(profile.includes(email) && profile.includes('Tina Timeline') && profile.includes(formName), `profile: ${profile}`);
    assertEq(await page.locator('#contact-profile [data-status]').getAttribute('data-status'), 'active', 'status');
    const orders = await page.locator('#contact-orders tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.order));
    assertEq(orders, [`tl-${runId}-2`, `tl-${runId}-1`], 'orders');
    const orderText = await page.locator('#contact-orders').innerText();
    assert(orderText.includes('Scarf') && /29[.,]90/.test(orderText) && orderText.includes('Latest 2 of 2'), `orders: ${orderText}`);
    const answer = await page.locator('#contact-answers').innerText();
    assert(answer.includes(`Delivery ${runId}`) && answer.includes('Fast delivery') && answer.includes('NPS 9'), `answer: ${answer}`);
    const segment = page.locator('#contact-segments li.item').filter({ hasText: `Timeline buyers ${runId}` });
    assertEq(await segment.count(), 1, 'the segment is listed');
    const why = await segment.locator('ul.why li').allInnerTexts();
    assert(why.length >= 1 && why.some((line) => /2/.test(line)), `its explanation names their two orders: ${JSON.stringify(why)}`);
  });

  await t.check('later they withdraw marketing from the preference center; Refresh shows it', async () => {
    const r = await publicCall('POST', '/v1/me/link', { email });
    assert(r.status < 300, `sign-in link (${r.text.slice(0, 200)})`);
    const magic = await pollMail(email, 'magic_link', { where: (m) => !!m.url });
    const token = new URL(magic.url).searchParams.get('t');
    const s = await publicCall('POST', '/v1/me/session', { token });
    assertEq(s.status, 200, `session (${s.text.slice(0, 200)})`);
    const w = await publicCall('PUT', '/v1/me/consents/marketing_email', { granted: false },
      { Authorization: `Bearer ${s.json.session}` });
    assertEq(w.status, 200, `withdrawal (${w.text.slice(0, 200)})`);
    await page.locator('#admin-refresh').click();
    await poll(async () => (await page.locator('#contact-profile [data-status]').getAttribute('data-status').catch(() => null)) === 'unsubscribed',
      { what: 'the refreshed profile to say unsubscribed' });
    assertEq(await page.locator('#contact-consents li.item[data-purpose=marketing_email]').getAttribute('data-granted'), 'false', 'marketing is off');
    // The person's segments follow in the background: Refresh until they left the segment.
    await poll(async () => {
      if (/in no segment/i.test(await page.locator('#contact-segments').innerText().catch(() => ''))) return true;
      await page.locator('#admin-refresh').click();
      await page.locator('#contact-segments').waitFor({ state: 'visible' });
      return false;
    }, { timeoutMs: 20_000, intervalMs: 1000, what: 'the unsubscribed person to be in no segment' });
  });


  await t.check('the timeline: the grant through the form, then the withdrawal in the preference center, in order', async () => {
    const events = await timeline.evaluateAll((items) => items.map((li) => ({
      action: li.dataset.action, purpose: li.dataset.purpose,
      at: li.querySelector('time')?.getAttribute('datetime'), text: li.innerText,
    })));
    const marketing = events.filter((e) => e.purpose === 'marketing_email');
    assert(marketing.length >= 2, `marketing events: ${JSON.stringify(events)}`);
    assertEq(marketing[0].action, 'granted', 'first the grant');
    assertEq(marketing[marketing.length - 1].action, 'withdrawn', 'last the withdrawal');
    const times = events.map((e) => Date.parse(e.at));
    assert(times.every((x, i) => i === 0 || times[i - 1] <= x), `oldest first: ${JSON.stringify(events.map((e) => e.at))}`);
    assert(marketing[0].text.includes(formName), `the grant names the form: ${marketing[0].text}`);
    assert(/preference center/i.test(marketing[marketing.length - 1].text), `the withdrawal says where: ${marketing[marketing.length - 1].text}`);
  });

  await t.check('the notice words on demand, by keyboard, and hidden again', async () => {
    const grant = timeline.filter({ has: page.locator('button[aria-controls]') }).first();
    const button = grant.locator('button[aria-controls]');
    assertEq(await button.getAttribute('aria-expanded'), 'false', 'collapsed at first');
    await button.focus();
    await page.keyboard.press('Enter');
    const words = grant.locator('blockquote');
    await words.waitFor({ state: 'visible' });
    assert((await words.innerText()).includes(notice), `the words: ${await words.innerText()}`);
    assertEq(await button.getAttribute('aria-expanded'), 'true', 'expanded');
    await page.keyboard.press('Space');
    await words.waitFor({ state: 'hidden' });
    await page.keyboard.press('Space');
    await words.waitFor({ state: 'visible' });
  });

  await t.check('the view at 1280 × 800, with nothing wrong in the browser', async () => {
    assert(problems.length === 0, `browser problems: ${problems.join('; ')}`);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    // Refresh's "up to date" toast would cover the timeline: dismiss it first. A screen reader
    // hears the toast through the live region only, and never finds a dismissed one.
    const toast = page.locator('#toast');
    if (!((await toast.getAttribute('class')) || '').includes('off')) {
      assertEq(await toast.getAttribute('aria-hidden'), null, 'a shown toast is not hidden from assistive technology');
      await page.locator('#toast-close').click();
    }
    assertEq(await toast.getAttribute('aria-hidden'), 'true', 'a dismissed toast is hidden from assistive technology');
    await page.locator('#contact-h-timeline').scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(ARTIFACTS, 'contacts.png'), timeout: 30_000 });
    await screenshot(page, 'contacts-full');
  });

  await t.check('on a phone (390 px) nothing scrolls sideways', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.locator('#contact-consents').waitFor({ state: 'visible' });
    const [scroll, client] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
    assert(scroll <= client, `page is ${scroll} px wide in a ${client} px viewport`);
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  await t.check('in pt-BR the view speaks Portuguese', async () => {
    const { page: pt } = await newPage(browser, { viewport: { width: 1280, height: 800 }, locale: 'pt-BR' });
    await pt.goto(`${base}/admin?lang=pt-BR#/contacts`);
    const key = pt.locator('#admin-key');
    if (await key.isVisible()) { await key.fill(env.ADMIN_KEY); await key.press('Enter'); }
    await pt.locator('#contacts-email').waitFor({ state: 'visible' });
    assertEq(await pt.getByLabel('Endereço de e-mail', { exact: true }).count(), 1, 'the label in Portuguese');
    await pt.locator('#contacts-email').fill(`ninguem-${runId}@example.com`);
    await pt.locator('#contacts-email').press('Enter');
    await poll(async () => /nenhum contato/i.test(await pt.locator('#contacts-status').innerText()), { what: 'the Portuguese "no contact"' });
    await pt.close();
  });
});
