// The Surveys view: every survey with its results (invited, responses, rate, NPS, CSAT, CES,
// choice answers) and its responses as CSV.
(function (A) {
  'use strict';
  var t = A.t, el = A.el, $ = A.$;
  var surveys = [];

  function status(text, kind) {
    var s = $('surveys-status');
    s.textContent = text;
    s.className = 'sec-status' + (kind ? ' ' + kind : '');
    A.show(s, !!text);
  }

  function mount(root) {
    root.appendChild(el('div', { class: 'card', id: 'sec-surveys' },
      el('div', { class: 'sec-head' }, el('h3', { id: 'h-surveys-list', text: t('surveys.list_title') }),
        el('span', { class: 'count', id: 'surveys-count', hidden: true })),
      el('p', { class: 'intro', text: t('surveys.intro') }),
      el('p', { class: 'sec-status', id: 'surveys-status' }),
      el('div', { class: 'alert', id: 'surveys-alert', role: 'alert' }),
      el('ul', { class: 'items', id: 'surveys-list', 'aria-labelledby': 'h-surveys-list', hidden: true })));
    $('surveys-list').addEventListener('click', function (e) {
      var button = e.target.closest('button[data-action="responses"]');
      if (!button) return;
      var s = surveys.filter(function (x) { return x.id === button.dataset.id; })[0];
      if (!s) return;
      A.download(button, '/admin/v1/surveys/' + encodeURIComponent(s.id) + '/responses.csv',
        'survey-' + (A.slug(s.name) || A.slug(s.id)) + '-responses.csv', $('surveys-alert'));
    });
  }

  function load() {
    var s = $('surveys-status');
    if (s.dataset.loaded !== 'yes') status(t('surveys.loading'));
    return A.api('GET', '/admin/v1/surveys').then(function (r) {
      if (r.status === -1 || r.status === 401) return;
      if (r.status !== 200) {
        s.dataset.loaded = '';
        status(A.failure('surveys.what', r), r.status === 403 ? 'forbidden' : 'failed');
        A.clear($('surveys-list'));
        A.show($('surveys-list'), false);
        return;
      }
      surveys = (r.json && Array.isArray(r.json.surveys)) ? r.json.surveys : [];
      render();
      // Results, a few at a time.
      var queue = surveys.slice();
      function next() {
        var one = queue.shift();
        if (!one) return Promise.resolve();
        return A.api('GET', '/admin/v1/surveys/' + encodeURIComponent(one.id) + '/results').then(function (res) {
          if (res.status === -1 || res.status === 401) return;
          renderResults(one, res);
          return next();
        });
      }
      var workers = [];
      for (var i = 0; i < 4; i++) workers.push(next());
      return Promise.all(workers);
    });
  }

  function render() {
    var list = $('surveys-list');
    A.clear(list);
    $('surveys-alert').textContent = '';
    $('surveys-status').dataset.loaded = 'yes';
    var count = $('surveys-count');
    count.textContent = String(surveys.length);
    A.show(count, true);
    status(surveys.length ? '' : t('surveys.none'));
    surveys.forEach(function (s) {
      var name = String(s.name || s.id);
      var n = Array.isArray(s.questions) ? s.questions.length : null;
      var csv = el('button', { type: 'button', class: 'btn small secondary', 'data-action': 'responses', 'data-id': s.id },
        t('surveys.responses_csv'), el('span', { class: 'visually-hidden', text: ' ' + t('surveys.of', { name: name }) }));
      list.appendChild(el('li', { class: 'item', 'data-survey-id': s.id },
        el('div', { class: 'item-head' }, el('h3', { text: name }), csv),
        el('ul', { class: 'meta' },
          el('li', null, 'ID ', el('code', { text: s.id })),
          n === null ? null : el('li', { text: t('surveys.questions', { count: n }) }),
          s.created_at ? el('li', null, t('surveys.created') + ' ', A.timeNode(s.created_at)) : null),
        el('div', { class: 'results' },
          el('p', { class: 'sec-status' }, el('span', { class: 'spinner', 'aria-hidden': 'true' }), t('surveys.loading_results')))));
    });
    A.show(list, surveys.length > 0);
  }

  function stat(label, key, value, detail) {
    return el('div', { 'data-stat': key }, el('dt', { text: label }),
      el('dd', null, el('span', { class: 'value', text: value }), detail ? el('small', { text: detail }) : null));
  }

  function renderResults(s, r) {
    var item = $('surveys-list').querySelector('[data-survey-id="' + CSS.escape(s.id) + '"]');
    if (!item) return;
    var box = item.querySelector('.results');
    A.clear(box);
    if (r.status !== 200 || !r.json) {
      box.appendChild(el('p', { class: 'sec-status ' + (r.status === 403 ? 'forbidden' : 'failed'), text: A.failure('surveys.what_results', r) }));
      return;
    }
    var d = r.json, nps = d.nps || {}, csat = d.csat || {}, ces = d.ces || {};
    var rate = typeof d.response_rate === 'number' ? A.fmtNum(d.response_rate * 100, 1) + ' %' : '—';
    var score = typeof nps.score === 'number' ? (nps.score > 0 ? '+' : '') + A.fmtNum(nps.score, 1) : '—';
    var npsDetail = [t('surveys.promoters', { count: nps.promoters || 0 }), t('surveys.passives', { count: nps.passives || 0 }),
      t('surveys.detractors', { count: nps.detractors || 0 })].join(' · ');
    box.appendChild(el('dl', { class: 'stats' },
      stat(t('surveys.invited'), 'invited', A.fmtInt(d.invited)),
      stat(t('surveys.responses'), 'responses', A.fmtInt(d.responses)),
      stat(t('surveys.response_rate'), 'response_rate', rate, d.response_rate === null ? t('surveys.nobody_invited') : ''),
      stat('NPS', 'nps', score, npsDetail),
      stat('CSAT', 'csat', typeof csat.average === 'number' ? A.fmtNum(csat.average, 2) + ' / 5' : '—',
        typeof csat.satisfied_pct === 'number' ? t('surveys.satisfied', { pct: A.fmtNum(csat.satisfied_pct, 1) }) : t('surveys.no_answers')),
      stat('CES', 'ces', typeof ces.average === 'number' ? A.fmtNum(ces.average, 2) + ' / 7' : '—',
        typeof ces.average === 'number' ? t('surveys.average_ease') : t('surveys.no_answers'))));
    var keys = d.choices && typeof d.choices === 'object' ? Object.keys(d.choices) : [];
    if (keys.length) {
      var ul = el('ul');
      keys.forEach(function (k) {
        var c = d.choices[k] || {};
        var opts = Array.isArray(c.options) ? c.options.map(function (o) { return o.value + ': ' + A.fmtInt(o.count); }).join(', ') : '';
        ul.appendChild(el('li', null, el('code', { text: k }), ' (' + t('surveys.answers', { count: c.answered || 0 }) + ') ' + opts));
      });
      box.appendChild(el('details', { class: 'choices' }, el('summary', { text: t('surveys.choice_answers') }), ul));
    }
  }

  A.view({ id: 'surveys', title: 'surveys.title', scopes: ['surveys'], mount: mount, load: load });
  A.surveys = { reload: load };
})(Admin);
