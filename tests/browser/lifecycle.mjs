// The consent lifecycle in headless Chromium: a customer whose marketing consent dates from two
// years ago opens the "keep me subscribed" link of the re-permission email (Portuguese browser),
// sees the words of the consent and one button, presses it and is renewed; then opens their
// preferences link (English browser), finds "Personalised offers" on by default, switches it off
// (an objection to profiling), and chooses to hear from us at most once a week. The admin API
// confirms each step. The Rust side imports the contact and runs the daily job; it passes the
// two links as KEEP_URL and PREFS_URL and the address as EMAIL.
//
//   BASE_URL=… ADMIN_KEY=… MAILBOX_URL=… KEEP_URL=… PREFS_URL=… EMAIL=… node tests/browser/lifecycle.mjs

import { adminApi, assert, assertEq, launchBrowser, newPage, poll, requireEnv, run, screenshot } from './lib.mjs';

run('lifecycle', async (t) => {
  const env = requireEnv('BASE_URL', 'ADMIN_KEY', 'KEEP_URL', 'PREFS_URL', 'EMAIL');
  const base = env.BASE_URL.replace(/\/+$/, '');
  const admin = adminApi(base, env.ADMIN_KEY);
  const contact = async () => {
    const r = await admin.expect(200, 'GET', `/admin/v1/contacts?email=${encodeURIComponent(env.EMAIL)}`);
    assertEq(r?.contacts?.length, 1, 'one contact');
    return r.contacts[0];
  };
  const last = (c, purpose) => (c.consent_history || []).filter((e) => e.purpose === purpose).pop();

  const browser = await launchBrowser();
  t.defer(() => browser.close());

  await t.check('the renewal page shows the consent and one button, and pressing it renews', async () => {
    const { page } = await newPage(browser, { locale: 'pt-BR' });
    await page.goto(env.KEEP_URL);
    const notice = (await page.locator('#notice').innerText()).trim();
    assert(notice.includes('manter este consentimento') && notice.includes('e-mail'), `the words of the consent: ${notice}`);
    const before = await contact();
    assertEq(last(before, 'marketing_email')?.method, 'import', 'opening the page changes nothing');
    const button = page.getByRole('button', { name: 'Quero continuar inscrito' });
    assert(await button.isVisible(), 'one labelled button');
    await Promise.all([page.waitForNavigation(), button.click()]);
    assertEq((await page.locator('#result').innerText()).trim(), 'Obrigado! Você continua inscrito.', 'the answer page');
    const after = await contact();
    const renewal = last(after, 'marketing_email');
    assert(renewal?.action === 'granted' && renewal?.method === 're_permission', `renewed: ${JSON.stringify(renewal)}`);
    await screenshot(page, 'keep');
  });

  await t.check('the preference page offers profiling on by default and the switch records an objection', async () => {
    const { page } = await newPage(browser, { locale: 'en-US' });
    await page.goto(env.PREFS_URL);
    const profiling = page.getByRole('switch', { name: 'Personalised offers' });
    await profiling.waitFor({ state: 'visible', timeout: 10_000 });
    assert(await profiling.isChecked(), 'profiling is on until the person objects');
    const hint = (await page.locator('#me-consent-profiling-when').innerText()).trim();
    assertEq(hint, 'On unless you turn it off.', 'the default is explained');
    await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'PUT' && r.url().endsWith('/v1/me/consents/profiling')),
      profiling.click(),
    ]);
    const objected = await poll(async () => {
      const c = await contact();
      const e = last(c, 'profiling');
      return e?.action === 'withdrawn' && e;
    }, { what: 'a withdrawn profiling decision' });
    assertEq(objected.method, 'self_service', 'recorded as the person\'s own choice');
    assert(!(await profiling.isChecked()), 'the switch shows the objection');

    const frequency = page.getByLabel('Marketing emails — How often');
    assert(await frequency.isVisible(), 'marketing email offers a frequency');
    await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'PUT' && r.url().endsWith('/v1/me/consents/marketing_email')),
      frequency.selectOption('weekly'),
    ]);
    const weekly = await poll(async () => {
      const c = await contact();
      return (c.consents || []).find((x) => x.purpose === 'marketing_email' && x.frequency === 'weekly');
    }, { what: 'marketing email at most weekly' });
    assertEq(weekly.granted, true, 'still granted');
    await screenshot(page, 'preferences-lifecycle');
  });
});
