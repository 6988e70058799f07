// `make screenshots`: fills a fresh Clientela with a small shop's data through the API (a signup
// form, twenty people, orders with items, a survey with answers, segments, a withdrawal), then
// photographs every view of the workspace at 1280×800 into SCREENSHOTS_DIR (docs/screenshots/ by
// default). Not a test: it checks only what it needs to take honest pictures.
//
//   BASE_URL=http://127.0.0.1:8787 ADMIN_KEY=… SCREENSHOTS_DIR=docs/screenshots node tests/browser/screenshots.mjs

import path from 'node:path';
import { adminApi, assertEq, launchBrowser, newPage, poll, requireEnv, run } from './lib.mjs';

const FIRST = ['Ana', 'Bruno', 'Carla', 'Diego', 'Elisa', 'Fábio', 'Gabi', 'Heitor', 'Íris', 'João',
  'Karina', 'Lucas', 'Marta', 'Nuno', 'Olga', 'Paulo', 'Quésia', 'Rafael', 'Sofia', 'Tiago'];
const CITIES = [['BR', 'Recife'], ['BR', 'São Paulo'], ['PT', 'Lisboa'], ['BR', 'Curitiba'], ['PT', 'Porto']];
const ITEMS = [
  { sku: 'SHOE-RUN', name: 'Running shoes', category: 'Shoes', price: 349.9 },
  { sku: 'SHOE-WALK', name: 'Walking shoes', category: 'Shoes', price: 289.0 },
  { sku: 'BAG-1', name: 'Tote', category: 'Bags', price: 89.9 },
  { sku: 'SOCK-3', name: 'Socks (3 pairs)', category: 'Accessories', price: 39.9 },
];

run('screenshots', async (t) => {
  const env = requireEnv('BASE_URL', 'ADMIN_KEY', 'SCREENSHOTS_DIR');
  const base = env.BASE_URL.replace(/\/+$/, '');
  const admin = adminApi(base, env.ADMIN_KEY);
  const daysAgo = (d) => new Date(Date.now() - d * 86_400_000).toISOString();
  const people = FIRST.map((name, i) => ({
    email: `${name.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase()}@example.com`,
    name: `${name} ${['Silva', 'Costa', 'Souza', 'Lima'][i % 4]}`,
    country: CITIES[i % CITIES.length][0], city: CITIES[i % CITIES.length][1],
  }));

  await t.check('a shop: a signup form, twenty people, orders, a survey with answers, segments', async () => {
    const form = await admin.expect(201, 'POST', '/admin/v1/forms', {
      name: 'Newsletter (footer)', allowed_origins: ['https://loja.example'], locale: 'pt-BR', double_opt_in: false,
      fields: [
        { key: 'email', type: 'email', required: true, label: { en: 'Email', 'pt-BR': 'E-mail' } },
        { key: 'name', type: 'text', max_len: 100, label: { en: 'Name', 'pt-BR': 'Nome' } },
        { key: 'country', type: 'text' }, { key: 'city', type: 'text' },
      ],
      consents: [{ purpose: 'marketing_email', required: true, policy_version: '2026-01',
        text: { en: 'I agree to receive offers by email', 'pt-BR': 'Aceito receber ofertas por e-mail' } }],
    });
    for (const p of people) {
      const res = await fetch(`${base}/v1/forms/${form.id}/submissions`, {
        method: 'POST', headers: { 'Content-Type': 'application/json', Origin: 'https://loja.example',
          'CF-Connecting-IP': `10.9.${people.indexOf(p)}.1` },
        body: JSON.stringify({ fields: { email: p.email, name: p.name, country: p.country, city: p.city }, consents: { marketing_email: true } }),
      });
      assertEq(res.status, 202, `signup of ${p.email}`);
    }
    await poll(async () => {
      const r = await admin.expect(200, 'GET', `/admin/v1/contacts?email=${encodeURIComponent(people[people.length - 1].email)}`);
      return r.contacts?.[0]?.status === 'active';
    }, { timeoutMs: 20_000, what: 'the signups to be active' });
    const orders = [];
    people.forEach((p, i) => {
      for (let k = 0; k < i % 4; k++) {
        const item = ITEMS[(i + k) % ITEMS.length];
        orders.push({ external_id: `ord-${i}-${k}`, email: p.email, total: item.price.toFixed(2), currency: 'BRL',
          placed_at: daysAgo(3 + ((i * 7 + k * 23) % 200)),
          items: [{ sku: item.sku, name: item.name, category: item.category, quantity: 1, price: item.price.toFixed(2) }] });
      }
    });
    await admin.expect(200, 'POST', '/admin/v1/orders', { orders });
    const survey = await admin.expect(201, 'POST', '/admin/v1/surveys', {
      name: 'After purchase', locale: 'pt-BR', expires_after_days: 30,
      questions: [
        { key: 'nps', type: 'nps', required: true, text: { en: 'How likely are you to recommend us?', 'pt-BR': 'Qual a chance de nos recomendar?' } },
        { key: 'csat', type: 'csat', text: { en: 'How satisfied are you?', 'pt-BR': 'Quão satisfeito você está?' } },
      ],
    });
    const inv = await admin.expect(201, 'POST', `/admin/v1/surveys/${survey.id}/invitations`, {
      invitations: people.slice(0, 16).map((p) => ({ email: p.email })), send_email: false,
    });
    const scores = [10, 9, 10, 8, 7, 9, 10, 6, 3, 9, 10, 8];
    for (const [i, invitation] of (inv.invitations || []).slice(0, scores.length).entries()) {
      const token = decodeURIComponent(new URL(invitation.url).pathname.split('/').pop());
      await fetch(`${base}/v1/surveys/responses`, {
        method: 'POST', headers: { 'Content-Type': 'application/json', 'CF-Connecting-IP': `10.8.${i}.1` },
        body: JSON.stringify({ token, answers: { nps: scores[i], csat: Math.max(1, Math.min(5, Math.round(scores[i] / 2))) } }),
      });
    }
    await admin.expect(201, 'POST', '/admin/v1/segments', { name: 'Shoe buyers, last 90 days', rule: { all: [
      { field: 'bought_category', op: 'eq', value: 'shoes' }, { field: 'last_order_at', op: 'within_days', value: 90 },
    ] } });
    await admin.expect(201, 'POST', '/admin/v1/segments', { name: 'Promoters', rule: { all: [
      { field: 'last_nps', op: 'gte', value: 9 },
    ] } });
    await admin.expect(201, 'POST', '/admin/v1/segments', { name: 'Portugal', rule: { all: [{ field: 'country', op: 'eq', value: 'PT' }] } });
  });

  const browser = await launchBrowser();
  t.defer(() => browser.close());
  const shoot = async (lang, views) => {
    const { page } = await newPage(browser, { viewport: { width: 1280, height: 800 } });
    await page.goto(`${base}/admin?lang=${lang}`);
    await page.locator('#admin-key').fill(env.ADMIN_KEY);
    await page.locator('#signin-submit').click();
    await page.locator('#state-app').waitFor({ state: 'visible' });
    for (const [id, prepare] of views) {
      if (!(await page.locator(`#nav-${id}`).count())) { t.log(`no ${id} view`); continue; }
      await page.locator(`#nav-${id}`).click();
      await page.locator(`#view-${id}`).waitFor({ state: 'visible' });
      await page.waitForLoadState('networkidle');
      if (prepare) await prepare(page);
      await page.waitForTimeout(600);
      const file = path.join(env.SCREENSHOTS_DIR, lang === 'en' ? `${id}.png` : `${id}.${lang}.png`);
      await page.screenshot({ path: file });
      t.log(file);
    }
    await page.close();
  };
  await t.check('each view at 1280×800', async () => {
    await shoot('en', [
      ['overview'], ['segments'], ['forms'], ['surveys'],
      ['contacts', async (page) => {
        const input = page.locator('#view-contacts input[type=email], #view-contacts input[type=search]').first();
        if (await input.count()) {
          await input.fill(people[5].email);
          await input.press('Enter');
          await page.waitForLoadState('networkidle');
        }
      }],
      ['webhooks'],
    ]);
    await shoot('pt-BR', [['overview']]);
  });
}, { timeoutMs: 240_000 });
