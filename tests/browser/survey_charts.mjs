// Survey results as charts in headless Chromium: the marketer creates an NPS + CSAT survey in the
// Surveys view (a bad question key first, refused next to its input), the API invites eight
// people and seven answer; the marketer opens the survey's charts and reads, bar by bar, the
// very numbers the results API gives: the NPS split into detractors, passives and promoters
// (red, amber, green), each score's count over the whole 0–10 and 1–5 scales, today's answers
// as the last column of the last 90 days, and answered against invited. The CSV still downloads.
//
//   BASE_URL=http://127.0.0.1:8787 ADMIN_KEY=… node tests/browser/survey_charts.mjs
//
// Screenshot: target/browser/surveys.png (1280×800).

import fs from 'node:fs';
import path from 'node:path';
import {
  ARTIFACTS, adminApi, assert, assertEq, poll, requireEnv, run, screenshot, workspacePage,
} from './lib.mjs';

// Every group a different size, so no two can be swapped unseen.
const NPS = [10, 9, 9, 9, 8, 3, 0];
const CSAT = [5, 4, 4, 3, 2, 1, 5];

run('survey_charts', async (t) => {
  const env = requireEnv('BASE_URL', 'ADMIN_KEY');
  const base = env.BASE_URL.replace(/\/+$/, '');
  const admin = adminApi(base, env.ADMIN_KEY);
  const runId = `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const surveyName = `Charts ${runId}`;

  const { context, page, problems } = await workspacePage(t, base, 'surveys');
  const builder = page.locator('#survey-builder');

  await t.check('the marketer signs in and opens the Surveys view', async () => {
    await page.goto(`${base}/admin#/surveys`);
    await page.locator('#admin-key').fill(env.ADMIN_KEY);
    await page.locator('#signin-submit').click();
    await builder.waitFor({ state: 'visible' });
  });

  await t.check('a bad question key comes back next to its input', async () => {
    await builder.getByLabel('Survey name').fill(surveyName);
    await builder.locator('[data-path="questions[0].text.en"]').fill('How likely are you to recommend us?');
    await builder.getByRole('button', { name: 'Add question' }).click();
    await builder.locator('[data-path="questions[1].type"]').selectOption('csat');
    await builder.locator('[data-path="questions[1].key"]').fill('9 lives');
    await builder.locator('[data-path="questions[1].text.en"]').fill('How satisfied are you?');
    await builder.locator('[data-path="questions[1].text.pt-BR"]').fill('Quão satisfeito você está?');
    await builder.getByRole('button', { name: 'Create survey' }).click();
    const key = builder.locator('[data-path="questions[1].key"]');
    await poll(async () => (await key.getAttribute('aria-invalid')) === 'true', { what: 'aria-invalid on the bad key' });
    const errorId = `${await key.getAttribute('id')}-error`;
    assert(((await key.getAttribute('aria-describedby')) || '').split(' ').includes(errorId), 'the key is described by its error');
    assert(await key.evaluate((k, id) => k.nextElementSibling && k.nextElementSibling.id === id, errorId), 'error placed after the key');
  });

  let surveyId = '';
  await t.check('fixed, the survey is created and listed', async () => {
    await builder.locator('[data-path="questions[1].key"]').fill('csat');
    await builder.getByRole('button', { name: 'Create survey' }).click();
    const item = page.locator('#surveys-list li[data-survey-id]').filter({ has: page.locator('h3', { hasText: surveyName }) });
    await item.waitFor({ state: 'visible' });
    surveyId = await item.getAttribute('data-survey-id');
    const survey = await admin.expect(200, 'GET', `/admin/v1/surveys/${surveyId}`);
    assertEq(survey.questions.map((q) => [q.key, q.type, q.required]), [['nps', 'nps', true], ['csat', 'csat', false]], 'questions');
    assertEq(survey.questions[1].text, { en: 'How satisfied are you?', 'pt-BR': 'Quão satisfeito você está?' }, 'texts per locale');
  });

  await t.check('the API invites eight people and seven answer', async () => {
    const inv = await admin.expect(201, 'POST', `/admin/v1/surveys/${surveyId}/invitations`, {
      invitations: Array.from({ length: 8 }, (_, i) => ({ email: `charts-${runId}-${i}@example.com` })), send_email: false,
    });
    assertEq(inv.invitations.length, 8, 'invitations');
    for (const [i, nps] of NPS.entries()) {
      const token = decodeURIComponent(new URL(inv.invitations[i].url).pathname.split('/').pop());
      const res = await fetch(`${base}/v1/surveys/responses`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'CF-Connecting-IP': `10.8.${i}.${1 + Math.floor(Math.random() * 250)}` },
        body: JSON.stringify({ token, answers: { nps, csat: CSAT[i] } }),
      });
      assertEq(res.status, 201, `answer ${i} (${await res.text()})`);
    }
  });

  let api = null;
  const item = () => page.locator(`#surveys-list li[data-survey-id="${surveyId}"]`);
  const bars = async (kind) => item().locator(`[data-survey-chart="${kind}"] [data-label][data-value]`).evaluateAll((nodes) =>
    nodes.map((n) => [n.getAttribute('data-label'), Number(n.getAttribute('data-value')), n.getAttribute('class') || '']));
  await t.check('after Refresh, the survey\'s charts open from a keyboard-reachable button', async () => {
    api = await admin.expect(200, 'GET', `/admin/v1/surveys/${surveyId}/results`);
    await page.locator('#admin-refresh').click();
    await poll(async () => (await item().locator('[data-stat=responses] .value').innerText().catch(() => '')) === '7', { what: '7 responses in the stats' });
    const toggle = item().locator('button[data-action=charts]');
    assertEq(await toggle.getAttribute('aria-expanded'), 'false', 'charts closed at first');
    await toggle.focus();
    await page.keyboard.press('Enter');
    await item().locator('[data-survey-chart=nps] figure').waitFor({ state: 'visible' });
    assertEq(await toggle.getAttribute('aria-expanded'), 'true', 'charts open');
  });

  await t.check('the NPS chart splits the answers exactly as the API: detractors, passives, promoters', async () => {
    const got = await bars('nps');
    assertEq(got.map(([l, v]) => [l, v]), [
      ['Detractors (0–6)', api.nps.detractors], ['Passives (7–8)', api.nps.passives], ['Promoters (9–10)', api.nps.promoters],
    ], 'NPS bars');
    assertEq([api.nps.detractors, api.nps.passives, api.nps.promoters], [2, 1, 4], 'the API split of the answers given');
    assertEq(got.map(([, , tone]) => tone), ['tone-bad', 'tone-mid', 'tone-good'], 'red, amber, green');
  });

  await t.check('each score question\'s distribution covers its whole scale with the API\'s counts', async () => {
    const nps = await bars('scores-nps');
    assertEq(nps.map(([l, v]) => [l, v]), api.scores.nps.counts.map((c) => [String(c.score), c.count]), 'NPS distribution');
    assertEq(nps.map(([, v]) => v), [1, 0, 0, 1, 0, 0, 0, 0, 1, 3, 1], 'NPS counts of the answers given');
    const csat = await bars('scores-csat');
    assertEq(csat.map(([l, v]) => [l, v]), [['1', 1], ['2', 1], ['3', 1], ['4', 2], ['5', 2]], 'CSAT distribution');
  });

  await t.check('answers per day end with today\'s seven, and the rate chart shows answered against invited', async () => {
    const days = await bars('days');
    assertEq(days.length, 90, 'days on the time axis');
    assertEq(days[days.length - 1].slice(0, 2), [api.responses_by_day[89].date, 7], 'today');
    assertEq(days.reduce((a, [, v]) => a + v, 0), 7, 'answers over the 90 days');
    const rate = await bars('rate');
    assertEq(rate.map(([, v]) => v), [7, 1], 'answered, not answered');
    assert((await item().locator('[data-survey-chart=rate]').innerText()).includes('87.5'), 'the rate in the chart title');
  });

  await t.check('every chart has a data table for screen readers, and the CSV still downloads', async () => {
    const tables = await item().locator('[data-survey-chart] figure table').count();
    const figures = await item().locator('[data-survey-chart] figure').count();
    assert(figures >= 5 && tables === figures, `figures ${figures}, tables ${tables}`);
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      item().locator('button[data-action=responses]').click(),
    ]);
    const text = fs.readFileSync(await download.path(), 'utf8');
    assertEq(text.trim().split(/\r?\n/).length, 8, 'CSV lines (header and seven answers)');
    // The console notes the one refused creation (the bad key) and nothing else.
    assertEq(problems.filter((p) => !/status of 400/.test(p)), [], 'browser problems');
  });

  await t.check('screenshot of the charts', async () => {
    await item().locator('[data-survey-chart=nps]').scrollIntoViewIfNeeded();
    await page.locator('#toast-close').click().catch(() => {}); // the toast would hide the page's foot
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const file = path.join(ARTIFACTS, 'surveys.png');
    await page.screenshot({ path: file, timeout: 30_000 });
    t.log(`screenshot: ${file}`);
  });
});
