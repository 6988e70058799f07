// The marketer sees the base at a glance: the workspace opens on the overview, whose summary,
// bars (status, temperature), RFM heat map and series (90 days of signups and confirmations, 26
// weeks of withdrawals) say what GET /admin/v1/overview says, today's signup included. A key
// without the `segments` scope gets a note instead of the counts.
//
//   BASE_URL=http://127.0.0.1:8787 ADMIN_KEY=… MAILBOX_URL=… node tests/browser/overview.mjs
//
// Screenshots: target/browser/overview.png (1280×800) and overview-full.png (the whole page).

import fs from 'node:fs';
import path from 'node:path';
import {
  ARTIFACTS, adminApi, assert, assertEq, newPage, pollMail, requireEnv, run, screenshot, workspacePage,
} from './lib.mjs';

run('overview', async (t) => {
  const env = requireEnv('BASE_URL', 'ADMIN_KEY');
  const base = env.BASE_URL.replace(/\/+$/, '');
  const admin = adminApi(base, env.ADMIN_KEY);
  const runId = `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const shop = 'https://shop.example';
  const email = `glance-${runId}@example.com`;
  const ip = `10.${1 + Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.7`;
  const post = async (p, body, headers = {}) => {
    const res = await fetch(base + p, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'CF-Connecting-IP': ip, ...headers },
      body: JSON.stringify(body), signal: AbortSignal.timeout(15_000),
    });
    return { status: res.status, text: await res.text() };
  };

  await t.check('someone signs up through a form today and confirms', async () => {
    const form = await admin.expect(201, 'POST', '/admin/v1/forms', {
      name: `Glance ${runId}`, allowed_origins: [shop], locale: 'en', double_opt_in: true,
      fields: [{ key: 'email', type: 'email', required: true, label: { en: 'Email' } }],
      consents: [{ purpose: 'marketing_email', required: true, policy_version: '2026-07', text: { en: 'Offers by email' } }],
    });
    const r = await post(`/v1/forms/${form.id}/submissions`, { fields: { email }, consents: { marketing_email: true } }, { Origin: shop });
    assertEq(r.status, 202, `submission (${r.text.slice(0, 200)})`);
    const confirm = await pollMail(email, 'confirm', { where: (m) => !!m.url });
    const c = await post('/v1/confirm', { token: new URL(confirm.url).searchParams.get('t') });
    assertEq(c.status, 200, `confirmation (${c.text.slice(0, 200)})`);
  });

  const { browser, page, problems } = await workspacePage(t, base, 'overview');

  const view = page.locator('#view-overview');
  await t.check('after signing in, the workspace opens on the overview', async () => {
    await page.goto(`${base}/admin`);
    await page.locator('#admin-key').fill(env.ADMIN_KEY);
    await page.locator('#admin-key').press('Enter');
    await view.waitFor({ state: 'visible' });
    await view.locator('[data-chart]').first().waitFor({ state: 'visible' });
  });

  const api = await admin.expect(200, 'GET', '/admin/v1/overview');
  const values = (chart) => chart.locator('[data-value]').evaluateAll((els) => els.map((e) => ({ label: e.dataset.label, value: Number(e.dataset.value) })));

  await t.check('summary numbers on top say what the API says', async () => {
    const total = await view.locator('[data-stat=total] dd').innerText();
    assertEq(Number(total.replace(/[^0-9]/g, '')), api.contacts.total, 'total contacts');
    const signups = await view.locator('[data-stat=signups] dd').innerText();
    assert(Number(signups.replace(/[^0-9]/g, '')) >= 1, `signups in 90 days: ${signups}`);
  });

  await t.check('contacts by status and by temperature as bars, every status and temperature listed', async () => {
    const bars = view.locator('figure[data-chart=bars]');
    assertEq(await bars.count(), 2, 'two bar charts');
    const status = await values(bars.nth(0));
    assertEq(status.map((s) => s.label), ['Pending', 'Active', 'Unsubscribed'], 'status labels');
    assertEq(status.map((s) => s.value), api.contacts.by_status.map((s) => s.count), 'status counts');
    const temperature = await values(bars.nth(1));
    assertEq(temperature.map((s) => s.label), ['Cold', 'Warm', 'Hot'], 'temperature labels');
  });

  await t.check('the RFM grid is a 5 × 5 heat map of the API\'s cells', async () => {
    const cells = await values(view.locator('figure[data-chart=heatmap]'));
    assertEq(cells.length, 25, 'cells');
    assertEq(cells.reduce((n, c) => n + c.value, 0), api.rfm.scored, 'scored contacts');
  });

  await t.check('90 days of signups and confirmations, today last and counted; 26 weeks of withdrawals', async () => {
    const columns = view.locator('figure[data-chart=columns]');
    assertEq(await columns.count(), 3, 'three series');
    const signups = await values(columns.nth(0));
    assertEq(signups.length, 90, 'days of signups');
    assertEq(signups[89].label, api.today, 'today last');
    assert(signups[89].value >= 1, `today's signups: ${signups[89].value}`);
    assertEq(signups.map((d) => d.label), api.days.map((d) => d.day), 'every day, none missing');
    const confirmations = await values(columns.nth(1));
    assert(confirmations[89].value >= 1, `today's confirmations: ${confirmations[89].value}`);
    const weeks = await values(columns.nth(2));
    assertEq(weeks.length, 26, 'weeks of withdrawals');
    assert(problems.length === 0, `browser problems: ${problems.join('; ')}`);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(ARTIFACTS, 'overview.png'), timeout: 30_000 });
    await screenshot(page, 'overview-full');
  });

  await t.check('on a phone (390 px) nothing scrolls sideways', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    const [scroll, client] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
    assert(scroll <= client, `page is ${scroll} px wide in a ${client} px viewport`);
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  await t.check('in pt-BR the overview speaks Portuguese', async () => {
    const { page: pt } = await newPage(browser, { viewport: { width: 1280, height: 800 }, locale: 'pt-BR' });
    await pt.goto(`${base}/admin?lang=pt-BR#/overview`);
    const key = pt.locator('#admin-key');
    if (await key.isVisible()) { await key.fill(env.ADMIN_KEY); await key.press('Enter'); }
    const bars = pt.locator('#view-overview figure[data-chart=bars]');
    await bars.first().waitFor({ state: 'visible' });
    const labels = await bars.nth(0).locator('[data-label]').evaluateAll((els) => els.map((e) => e.dataset.label));
    assertEq(labels, ['Pendentes', 'Ativos', 'Descadastrados'], 'status labels in Portuguese');
    assert((await pt.locator('#view-overview').innerText()).includes('Cadastros por dia'), 'the series in Portuguese');
    await pt.close();
  });

  await t.check('a key that cannot count the base gets a note, not the counts', async () => {
    const scoped = await admin.expect(201, 'POST', '/admin/v1/keys', { name: `overview ${runId}`, scopes: ['contacts:read'] });
    t.defer(async () => { await admin.call('DELETE', `/admin/v1/keys/${scoped.id}`); });
    const { page: other } = await newPage(browser, { viewport: { width: 1280, height: 800 } });
    await other.goto(`${base}/admin#/overview`);
    await other.locator('#admin-key').fill(scoped.key);
    await other.locator('#admin-key').press('Enter');
    const box = other.locator('#view-overview');
    await box.waitFor({ state: 'visible' });
    assertEq(await box.locator('[data-chart]').count(), 0, 'no charts');
    await other.close();
  });
});
