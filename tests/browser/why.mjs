// "Why am I in this group?" in the preference center, in headless Chromium: a buyer with two
// orders signs in from a Portuguese browser, opens "Groups you are in" and reads, under the group,
// why they are in it — their own order count and the days since their last order, in Portuguese.
//
//   BASE_URL=http://127.0.0.1:8787 ADMIN_KEY=… MAILBOX_URL=http://127.0.0.1:…/mailbox node tests/browser/why.mjs
//
// Prints one line per check; exits 0 when all pass. Screenshot: target/browser/why.png.

import {
  adminApi, assert, assertEq, launchBrowser, newPage, poll, pollMail, requireEnv, run, screenshot, publicApi,
} from './lib.mjs';

run('why', async (t) => {
  const env = requireEnv('BASE_URL', 'ADMIN_KEY', 'MAILBOX_URL');
  const base = env.BASE_URL.replace(/\/+$/, '');
  const admin = adminApi(base, env.ADMIN_KEY);
  const tag = `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const email = `why-${tag}@example.com`;
  const ip = `10.${1 + Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
  const publicCall = publicApi(base, { ip }).call;
  const daysAgo = (n) => new Date(Date.now() - n * 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z');
  const groupName = `Compradores frequentes ${tag}`;

  await t.check('a buyer signs up, orders twice and joins a ready group', async () => {
    const form = await admin.expect(201, 'POST', '/admin/v1/forms', {
      name: `Why test ${tag}`, allowed_origins: [], locale: 'pt-BR', double_opt_in: false,
      fields: [{ key: 'email', type: 'email', required: true, label: { en: 'Email' } }],
      consents: [{ purpose: 'marketing_email', required: true, policy_version: '2026-01', text: { en: 'I agree to receive offers by email' } }],
    });
    const r = await publicCall('POST', `/v1/forms/${form.id}/submissions`, { fields: { email }, consents: { marketing_email: true } });
    assertEq(r.status, 202, `submission (${r.text.slice(0, 200)})`);
    await poll(async () => {
      const list = (await admin.expect(200, 'GET', `/admin/v1/contacts?email=${encodeURIComponent(email)}`)).contacts;
      return list.length === 1 && list[0].status === 'active';
    }, { what: 'an active contact' });
    const item = (total) => [{ sku: 'BAG-1', name: 'Tote', category: 'Bags', quantity: 1, price: total }];
    await admin.expect(200, 'POST', '/admin/v1/orders', { orders: [
      { external_id: `why-1-${tag}`, email, total: '40.00', currency: 'BRL', placed_at: daysAgo(40), items: item('40.00') },
      { external_id: `why-2-${tag}`, email, total: '25.50', currency: 'BRL', placed_at: daysAgo(12), items: item('25.50') },
    ] });
    const segment = await admin.expect(201, 'POST', '/admin/v1/segments', { name: groupName, rule: { all: [
      { field: 'order_count', op: 'gte', value: 2 },
      { field: 'last_order_at', op: 'within_days', value: 30 },
      { field: 'email', op: 'eq', value: email },
    ] } });
    await poll(async () => (await admin.expect(200, 'GET', `/admin/v1/segments/${segment.id}`)).size === 1,
      { timeoutMs: 30_000, what: 'the group built with the buyer in it' });
  });

  let magicUrl = '';
  await t.check('a sign-in link reaches the mailbox', async () => {
    const r = await publicCall('POST', '/v1/me/link', { email }, { 'Accept-Language': 'pt-BR' });
    assertEq(r.status, 202, 'link request');
    magicUrl = (await pollMail(email, 'magic_link', { where: (m) => !!m.url })).url;
  });

  const browser = await launchBrowser();
  t.defer(() => browser.close());
  const { page, problems } = await newPage(browser, { locale: 'pt-BR' });
  t.onFailure(async () => {
    if (problems.length) console.error(`# browser problems:\n#   ${problems.join('\n#   ')}`);
    console.error(`# screenshot: ${await screenshot(page, 'why-failure')}`);
  });

  await t.check('under the group, the page says why the buyer is in it, in Portuguese', async () => {
    await page.goto(magicUrl);
    await page.locator('#state-app').waitFor({ state: 'visible' });
    await page.locator('#hold-segments summary').click();
    const item = page.locator('#segments-list > li', { hasText: groupName });
    await item.waitFor({ state: 'visible' });
    assertEq((await item.locator('p.hint').innerText()).trim(), 'Por que você está neste grupo', 'the heading of the reasons');
    const reasons = (await item.locator('ul li').allInnerTexts()).map((s) => s.trim());
    assert(reasons.includes('Pedidos: 2'), `the buyer's 2 orders: ${JSON.stringify(reasons)}`);
    assert(reasons.includes('Último pedido: há 12 dias'), `the days since the last order: ${JSON.stringify(reasons)}`);
    // The list is labelled by its heading, for screen readers.
    const labelledBy = await item.locator('ul').getAttribute('aria-labelledby');
    assertEq(await item.locator('p.hint').getAttribute('id'), labelledBy, 'aria-labelledby');
    t.log(`screenshot: ${await screenshot(page, 'why')}`);
  });
});
