// The form builder in headless Chromium: the marketer opens the Forms view, names a form, lets it
// be embedded on the shop, and changes the email field's label: the live preview (the published
// widget itself) follows the label as it is typed, in the language chosen for the preview. A bad
// field key comes back from the server next to the input that holds it. The form is created, its
// snippet copied, and the created form takes a signup from the allowed origin through the API.
// The preview never submits: filling it in and pressing its button sends nothing anywhere.
//
//   BASE_URL=http://127.0.0.1:8787 ADMIN_KEY=… node tests/browser/form_builder.mjs
//
// Screenshot: target/browser/forms.png (1280×800).

import fs from 'node:fs';
import path from 'node:path';
import {
  ARTIFACTS, adminApi, assert, assertEq, poll, requireEnv, run, screenshot, workspacePage,
} from './lib.mjs';

run('form_builder', async (t) => {
  const env = requireEnv('BASE_URL', 'ADMIN_KEY');
  const base = env.BASE_URL.replace(/\/+$/, '');
  const admin = adminApi(base, env.ADMIN_KEY);
  const runId = `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const shop = 'https://shop.example';
  const formName = `Builder ${runId}`;

  const { context, page, problems } = await workspacePage(t, base, 'forms');
  // What the page sends besides its admin API calls: the preview must send nothing, anywhere.
  const publicCalls = [];
  context.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname.startsWith('/v1/') || (r.method() !== 'GET' && !u.pathname.startsWith('/admin/v1/'))) publicCalls.push(r.method() + ' ' + r.url());
  });

  const builder = page.locator('#form-builder');
  const preview = page.locator('#fb-preview');
  const previewLabel = (key) => preview.locator(`label.clientela-label[for$="-${key}"]`);

  await t.check('the marketer signs in and opens the Forms view with an empty builder', async () => {
    await page.goto(`${base}/admin#/forms`);
    await page.locator('#admin-key').fill(env.ADMIN_KEY);
    await page.locator('#signin-submit').click();
    await builder.waitFor({ state: 'visible' });
    assertEq(await builder.getByLabel('Form name', { exact: true }).inputValue(), '', 'name');
    // A new form starts with the email field; the preview already draws it.
    await previewLabel('email').waitFor({ state: 'visible' });
  });

  await t.check('the preview follows the email label as the marketer types it', async () => {
    await builder.getByLabel('Form name', { exact: true }).fill(formName);
    await builder.getByLabel('Allowed origins').fill(shop);
    const label = builder.locator('[data-path="fields[0].label.en"]');
    await label.fill('Your best email');
    await poll(async () => (await previewLabel('email').innerText()).includes('Your best email'),
      { what: 'the preview label to read "Your best email"' });
    await label.fill('Work email');
    await poll(async () => {
      const text = await previewLabel('email').innerText();
      return text.includes('Work email') && !text.includes('best');
    }, { what: 'the preview label to follow a second change' });
    // The preview speaks the language picked for it: the pt-BR label in Portuguese.
    await builder.locator('[data-path="fields[0].label.pt-BR"]').fill('Seu e-mail de trabalho');
    await builder.getByLabel('Preview language').selectOption('pt-BR');
    await poll(async () => (await previewLabel('email').innerText()).includes('Seu e-mail de trabalho'),
      { what: 'the preview in Portuguese' });
    assertEq(await preview.locator('button.clientela-btn').innerText(), 'Inscrever-me', 'the widget\'s own button, in pt-BR');
    await builder.getByLabel('Preview language').selectOption('en');
  });

  await t.check('a consent block with its policy version shows in the preview as a required box', async () => {
    await builder.getByRole('button', { name: 'Add consent' }).click();
    await builder.locator('[data-path="consents[0].policy_version"]').fill('2026-01');
    await builder.locator('[data-path="consents[0].text.en"]').fill('Send me offers by email');
    const box = preview.locator('.clientela-consent');
    await poll(async () => (await box.innerText().catch(() => '')).includes('Send me offers by email'),
      { what: 'the consent text in the preview' });
    assertEq(await box.locator('input[type=checkbox]').getAttribute('aria-required'), 'true', 'consent required');
  });

  await t.check('a bad field key is refused by the server, the error next to that key', async () => {
    await builder.getByRole('button', { name: 'Add field' }).click();
    const key = builder.locator('[data-path="fields[1].key"]');
    await key.fill('Full Name!');
    await builder.locator('[data-path="fields[1].label.en"]').fill('Full name');
    await builder.getByRole('button', { name: 'Create form' }).click();
    await poll(async () => (await key.getAttribute('aria-invalid')) === 'true', { what: 'aria-invalid on the key' });
    const described = (await key.getAttribute('aria-describedby')) || '';
    const errorId = `${await key.getAttribute('id')}-error`;
    assert(described.split(' ').includes(errorId), `the key is described by its error: ${described}`);
    const error = page.locator(`#${errorId}`);
    assert(/letters|digits|underscore/i.test(await error.innerText()), `error text: ${await error.innerText()}`);
    // The error sits right after its input, not in a list far away.
    assert(await key.evaluate((k, id) => k.nextElementSibling && k.nextElementSibling.id === id, errorId), 'error placed after the key input');
    assertEq(await builder.locator('[aria-invalid=true]').count(), 1, 'only the bad input is marked');
  });

  let formId = '', snippet = '';
  await t.check('fixed, the form is created and its snippet can be copied', async () => {
    const key = builder.locator('[data-path="fields[1].key"]');
    await key.fill('name');
    await builder.getByRole('button', { name: 'Create form' }).click();
    const area = builder.locator('#fb-snippet');
    await area.waitFor({ state: 'visible' });
    snippet = await area.inputValue();
    const m = /data-form="(frm_[^"]+)"/.exec(snippet);
    assert(m && snippet.includes(`src="${base}/embed.js"`), `snippet: ${snippet}`);
    formId = m[1];
    assertEq(await key.getAttribute('aria-invalid'), null, 'the fixed key is no longer marked');
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    await builder.getByRole('button', { name: 'Copy', exact: true }).click();
    await page.waitForFunction(() => /copied|selected/i.test(document.getElementById('admin-status').textContent));
    const clip = await page.evaluate(() => navigator.clipboard.readText().catch(() => null));
    if (clip !== null) assertEq(clip, snippet, 'clipboard after Copy');
    await page.locator(`#forms-list li[data-form-id="${formId}"]`).waitFor({ state: 'visible' });
  });

  await t.check('the saved form is what the builder showed, and it takes a signup from the shop', async () => {
    const form = await admin.expect(200, 'GET', `/admin/v1/forms/${formId}`);
    assertEq(form.name, formName, 'name');
    assertEq(form.allowed_origins, [shop], 'origins');
    assertEq(form.fields.map((f) => [f.key, f.label.en]), [['email', 'Work email'], ['name', 'Full name']], 'fields');
    assertEq(form.fields[0].label['pt-BR'], 'Seu e-mail de trabalho', 'pt-BR label');
    assertEq([form.consents[0].purpose, form.consents[0].policy_version, form.consents[0].required], ['marketing_email', '2026-01', true], 'consent');
    const res = await fetch(`${base}/v1/forms/${formId}/submissions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Origin: shop, 'CF-Connecting-IP': `10.9.${Math.floor(Math.random() * 250)}.7` },
      body: JSON.stringify({ fields: { email: `builder-${runId}@example.com`, name: 'Bia' }, consents: { marketing_email: true } }),
    });
    assertEq(res.status, 202, `signup from the allowed origin (${await res.text()})`);
  });

  await t.check('editing: the form loads into the builder, a label change is saved with PATCH', async () => {
    await page.locator(`#forms-list li[data-form-id="${formId}"] button[data-action=edit]`).click();
    await poll(async () => (await builder.getByLabel('Form name', { exact: true }).inputValue()) === formName, { what: 'the form in the builder' });
    await builder.locator('[data-path="fields[1].label.en"]').fill('Your name');
    await poll(async () => (await previewLabel('name').innerText()).includes('Your name'), { what: 'the preview after an edit' });
    await builder.getByRole('button', { name: 'Save changes' }).click();
    await page.waitForFunction(() => /saved/i.test(document.getElementById('admin-status').textContent));
    await poll(async () => {
      const form = await admin.expect(200, 'GET', `/admin/v1/forms/${formId}`);
      return form.fields[1].label.en === 'Your name';
    }, { what: 'the saved label' });
  });

  await t.check('the preview validates like the widget but never submits', async () => {
    const before = publicCalls.length;
    await preview.locator('button.clientela-btn').click();
    await preview.locator('[aria-invalid=true]').first().waitFor({ state: 'visible' });
    await preview.locator('input[type=email]').fill(`nobody-${runId}@example.com`);
    await preview.locator('.clientela-consent input[type=checkbox]').check();
    await preview.locator('button.clientela-btn').click();
    await poll(async () => /nothing was sent/i.test(await preview.locator('.clientela-status').innerText()), { what: 'the preview note' });
    assertEq(publicCalls.slice(before), [], 'requests to the public API from the preview');
    // The console notes the one refused save (the bad key) and nothing else.
    assertEq(problems.filter((p) => !/status of 400/.test(p)), [], 'browser problems');
  });

  await t.check('screenshot of the builder with its preview', async () => {
    await builder.scrollIntoViewIfNeeded();
    await page.locator('#toast-close').click().catch(() => {}); // the toast would hide the page's foot
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const file = path.join(ARTIFACTS, 'forms.png');
    await page.screenshot({ path: file, timeout: 30_000 }); // the 1280×800 viewport, as a marketer sees it
    t.log(`screenshot: ${file}`);
  });
});
