// The Surveys view: a survey builder (NPS, CSAT, CES, choice and text questions, texts per
// language), and every survey with its results (invited, responses, rate, NPS, CSAT, CES, choice
// answers), the results as charts, and its responses as CSV.
(function (A) {
  'use strict';
  var t = A.t, el = A.el, $ = A.$;
  var surveys = [];
  var results = {}; // survey id → its last results document, for the charts

  function status(text, kind) {
    var s = $('surveys-status');
    s.textContent = text;
    s.className = 'sec-status' + (kind ? ' ' + kind : '');
    A.show(s, !!text);
  }

  A.style('.survey-charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(22rem,1fr));gap:1rem;margin:1rem 0 0}' +
    '.survey-chart figure{margin:0}');

  function mount(root) {
    mountSurveyBuilder(root, load);
    root.appendChild(el('div', { class: 'card', id: 'sec-surveys' },
      el('div', { class: 'sec-head' }, el('h3', { id: 'h-surveys-list', text: t('surveys.list_title') }),
        el('span', { class: 'count', id: 'surveys-count', hidden: true })),
      el('p', { class: 'intro', text: t('surveys.intro') }),
      el('p', { class: 'sec-status', id: 'surveys-status' }),
      el('div', { class: 'alert', id: 'surveys-alert', role: 'alert' }),
      el('ul', { class: 'items', id: 'surveys-list', 'aria-labelledby': 'h-surveys-list', hidden: true })));
    $('surveys-list').addEventListener('click', function (e) {
      var toggle = e.target.closest('button[data-action="charts"]');
      if (toggle) {
        var open = toggle.getAttribute('aria-expanded') !== 'true';
        var box = $(toggle.getAttribute('aria-controls'));
        toggle.setAttribute('aria-expanded', open ? 'true' : 'false');
        if (open && results[toggle.dataset.id]) renderCharts(box, results[toggle.dataset.id]);
        A.show(box, open);
        return;
      }
      var button = e.target.closest('button[data-action="responses"]');
      if (!button) return;
      var s = surveys.filter(function (x) { return x.id === button.dataset.id; })[0];
      if (!s) return;
      A.download(button, '/admin/v1/surveys/' + encodeURIComponent(s.id) + '/responses.csv',
        'survey-' + (A.slug(s.name) || A.slug(s.id)) + '-responses.csv', $('surveys-alert'));
    });
  }

  // ---- Survey builder -------------------------------------------------------------------------
  // As the form builder: the inputs hold the survey, each with the `data-path` a server error
  // names (`questions[2].text`), so the error shows next to it.
  var S_LOCALES = ['en', 'pt-BR', 'ro', 'ru'];
  var Q_TYPES = ['nps', 'csat', 'ces', 'single_choice', 'multi_choice', 'text'];
  var sb = null; // {root}
  var S_LOCALE_NAMES = { en: 'surveys.builder_locale_en', 'pt-BR': 'surveys.builder_locale_pt_BR', ro: 'surveys.builder_locale_ro', ru: 'surveys.builder_locale_ru' };
  var Q_TYPE_NAMES = { nps: 'surveys.type_nps', csat: 'surveys.type_csat', ces: 'surveys.type_ces', single_choice: 'surveys.type_single_choice',
    multi_choice: 'surveys.type_multi_choice', text: 'surveys.type_text' };

  var sLabelled = A.labelled;
  function questionRow(q) {
    var E = A.el;
    var row = E('fieldset', { class: 'fb-row', 'data-kind': 'question' });
    var type = E('select', { 'data-role': 'type' });
    Q_TYPES.forEach(function (v) { type.appendChild(E('option', { value: v, text: t(Q_TYPE_NAMES[v]) })); });
    type.value = q.type || 'nps';
    var required = E('input', { type: 'checkbox', 'data-role': 'required' });
    required.checked = !!q.required;
    required.id = A.uid('sb-req');
    var texts = A.localeInputs(t('surveys.builder_texts'), S_LOCALES, S_LOCALE_NAMES, q.text, false);
    var options = E('input', { 'data-role': 'options', spellcheck: 'false' });
    options.value = Array.isArray(q.options) ? q.options.map(function (o) { return o.value; }).join(', ') : '';
    var optionsField = sLabelled(t('surveys.builder_options'), options, t('surveys.builder_options_hint'));
    var sync = function () { A.show(optionsField, /choice$/.test(type.value)); };
    type.addEventListener('change', sync);
    var key = E('input', { 'data-role': 'key', spellcheck: 'false', autocomplete: 'off' });
    key.value = q.key || '';
    row.append(
      E('legend', { class: 'fb-legend' }),
      E('div', { class: 'row' },
        sLabelled(t('surveys.builder_key'), key, t('surveys.builder_key_hint')),
        sLabelled(t('surveys.builder_type'), type),
        A.checkField(t('surveys.builder_required'), required)),
      texts,
      optionsField,
      A.rowButtons(t('surveys.builder_move_up'), t('surveys.builder_move_down'), t('surveys.builder_remove')));
    sync();
    return row;
  }
  function sRenumber() {
    Array.prototype.forEach.call(sb.root.querySelectorAll('.fb-row'), function (row, i) {
      var prefix = 'questions[' + i + ']';
      row.setAttribute('data-path', prefix);
      var legend = t('surveys.builder_question_n', { n: i + 1 });
      row.querySelector('.fb-legend').textContent = legend;
      Array.prototype.forEach.call(row.querySelectorAll('[data-role]'), function (input) {
        input.setAttribute('data-path', prefix + '.' + input.getAttribute('data-role'));
      });
      Array.prototype.forEach.call(row.querySelectorAll('[data-locale]'), function (input) {
        input.setAttribute('data-path', prefix + '.text.' + input.getAttribute('data-locale'));
      });
      Array.prototype.forEach.call(row.querySelectorAll('.fb-row-actions button'), function (b) {
        b.setAttribute('aria-label', b.textContent + ' — ' + legend);
      });
    });
  }
  function sCollect() {
    var $ = function (id) { return sb.root.querySelector('#' + id); };
    var days = $('sb-days').value.trim();
    var def = { name: $('sb-name').value.trim(), locale: $('sb-locale').value, questions: [] };
    if (days !== '') def.expires_after_days = /^\d+$/.test(days) ? Number(days) : days;
    Array.prototype.forEach.call(sb.root.querySelectorAll('.fb-row'), function (row) {
      var q = { key: row.querySelector('[data-role="key"]').value.trim(), type: row.querySelector('[data-role="type"]').value,
        required: row.querySelector('[data-role="required"]').checked, text: {} };
      Array.prototype.forEach.call(row.querySelectorAll('[data-locale]'), function (input) {
        if (input.value.trim()) q.text[input.getAttribute('data-locale')] = input.value.trim();
      });
      if (/choice$/.test(q.type)) {
        q.options = row.querySelector('[data-role="options"]').value.split(',').map(function (o) { return o.trim(); })
          .filter(Boolean).map(function (v) { return { value: v }; });
      }
      def.questions.push(q);
    });
    return def;
  }
  function sClearErrors() { A.clearPathErrors(sb.root, sb.root.querySelector('#sb-errors')); }
  function sShowErrors(fields) { A.pathErrors(sb.root, sb.root.querySelector('#sb-errors'), fields, t('surveys.builder_fix')); }
  function sReset() {
    var $ = function (id) { return sb.root.querySelector('#' + id); };
    sClearErrors();
    $('sb-name').value = '';
    $('sb-locale').value = S_LOCALES.indexOf(A.lang) >= 0 ? A.lang : 'en';
    $('sb-days').value = '30';
    var list = $('sb-questions');
    A.clear(list);
    list.appendChild(questionRow({ key: 'nps', type: 'nps', required: true, text: {} }));
    sRenumber();
  }
  function mountSurveyBuilder(root, reload) {
    sb = { root: null };
    var E = A.el;
    var locale = E('select', { id: 'sb-locale', 'data-path': 'locale' });
    S_LOCALES.forEach(function (l) { locale.appendChild(E('option', { value: l, text: t(S_LOCALE_NAMES[l]) })); });
    var card = E('section', { class: 'card', id: 'survey-builder', 'aria-labelledby': 'sb-title' },
      E('h3', { id: 'sb-title', text: t('surveys.builder_title') }),
      E('form', { id: 'sb-form', novalidate: true },
        E('div', { class: 'notice error', id: 'sb-errors', role: 'alert', tabIndex: -1, hidden: true }),
        E('div', { class: 'row' },
          sLabelled(t('surveys.builder_name'), E('input', { id: 'sb-name', 'data-path': 'name', required: true, autocomplete: 'off' })),
          sLabelled(t('surveys.builder_locale'), locale, t('surveys.builder_locale_hint')),
          sLabelled(t('surveys.builder_expires'), E('input', { id: 'sb-days', 'data-path': 'expires_after_days', inputMode: 'numeric' }),
            t('surveys.builder_expires_hint'))),
        E('h4', { text: t('surveys.builder_questions') }),
        E('div', { id: 'sb-questions', 'data-path': 'questions' }),
        E('div', { class: 'row fb-submit' },
          E('button', { type: 'button', class: 'btn small secondary', id: 'sb-add', text: t('surveys.builder_add_question') }),
          E('button', { type: 'submit', class: 'btn', id: 'sb-save', text: t('surveys.builder_create') }))));
    root.appendChild(card);
    sb.root = card;
    card.querySelector('#sb-add').addEventListener('click', function () {
      var row = questionRow({ type: 'csat', text: {} });
      card.querySelector('#sb-questions').appendChild(row);
      sRenumber();
      row.querySelector('[data-role="key"]').focus();
    });
    card.addEventListener('click', function (e) {
      var b = e.target.closest('.fb-row-actions button');
      if (!b) return;
      var row = b.closest('.fb-row'), action = b.getAttribute('data-action');
      if (action === 'remove') {
        var next = row.nextElementSibling || row.previousElementSibling;
        row.remove();
        (next ? next.querySelector('input, select') : card.querySelector('#sb-add')).focus();
      } else if (action === 'up' && row.previousElementSibling) {
        row.parentNode.insertBefore(row, row.previousElementSibling);
        b.focus();
      } else if (action === 'down' && row.nextElementSibling) {
        row.parentNode.insertBefore(row.nextElementSibling, row);
        b.focus();
      }
      sRenumber();
    });
    card.querySelector('#sb-form').addEventListener('submit', function (e) {
      e.preventDefault();
      var button = card.querySelector('#sb-save');
      if (A.isBusy(button)) return;
      sClearErrors();
      A.busy(button, true, t('surveys.builder_saving'));
      A.api('POST', '/admin/v1/surveys', sCollect()).then(function (r) {
        A.busy(button, false);
        if (r.status === 201 && r.json && r.json.id) {
          A.say(t('surveys.builder_created', { name: r.json.name }));
          sReset();
          reload();
          return;
        }
        var fields = r.json && r.json.error && r.json.error.fields;
        if (r.status === 400 && fields && Object.keys(fields).length) sShowErrors(fields);
        else A.say(A.failure('surveys.builder_what', r), 'error');
      });
    });
    sReset();
  }

  // ---- Results as charts ------------------------------------------------------------------------
  // One figure per question the marketer asks of a survey: how the NPS splits, how each score
  // question's answers spread over its scale, answers per day, and how many invited answered.
  function chartBlock(kind, figure) {
    return el('div', { class: 'survey-chart', 'data-survey-chart': kind }, figure);
  }
  function renderCharts(box, d) {
    var C = A.charts, nps = d.nps || {};
    A.clear(box);
    var scores = d.scores && typeof d.scores === 'object' ? d.scores : {};
    var keys = Object.keys(scores);
    var hasNps = keys.some(function (k) { return scores[k] && scores[k].type === 'nps'; });
    if (hasNps) {
      box.appendChild(chartBlock('nps', C.bars([
        { label: t('surveys.chart_detractors'), value: nps.detractors || 0, tone: 'bad' },
        { label: t('surveys.chart_passives'), value: nps.passives || 0, tone: 'mid' },
        { label: t('surveys.chart_promoters'), value: nps.promoters || 0, tone: 'good' },
      ], { title: t('surveys.chart_nps'), format: A.fmtInt, labelTitle: t('surveys.chart_group'), valueTitle: t('surveys.responses') })));
    }
    keys.forEach(function (k) {
      var s = scores[k] || {};
      var counts = Array.isArray(s.counts) ? s.counts : [];
      var tone = function (score) {
        if (s.type === 'nps') return score >= 9 ? 'good' : score >= 7 ? 'mid' : 'bad';
        if (s.type === 'csat') return score >= 4 ? 'good' : score === 3 ? 'mid' : 'bad';
        return undefined;
      };
      box.appendChild(chartBlock('scores-' + k, C.bars(counts.map(function (c) {
        return { label: String(c.score), value: c.count, tone: tone(c.score) };
      }), { title: t('surveys.chart_scores', { question: k, type: t(Q_TYPE_NAMES[s.type] || 'surveys.type_nps') }), format: A.fmtInt,
        labelTitle: t('surveys.chart_score'), valueTitle: t('surveys.responses') })));
    });
    var days = Array.isArray(d.responses_by_day) ? d.responses_by_day : [];
    box.appendChild(chartBlock('days', C.columns(days.map(function (x) { return { label: x.date, value: x.count }; }),
      { title: t('surveys.chart_days'), format: A.fmtInt, labelTitle: t('surveys.chart_day'), valueTitle: t('surveys.responses') })));
    var invited = d.invited || 0, responses = Math.min(d.responses || 0, invited);
    var rate = typeof d.response_rate === 'number' ? A.fmtNum(d.response_rate * 100, 1) + ' %' : '—';
    box.appendChild(chartBlock('rate', C.bars([
      { label: t('surveys.answered'), value: responses, tone: 'good' },
      { label: t('surveys.not_answered'), value: Math.max(invited - responses, 0) },
    ], { title: t('surveys.chart_rate', { rate: rate }), format: A.fmtInt, labelTitle: t('surveys.chart_group'), valueTitle: t('surveys.invited') })));
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
    results[s.id] = d;
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
    // The charts, behind a button: drawn when opened, redrawn on a refresh while open.
    var chartsId = 'charts-' + s.id;
    var open = item.querySelector('button[data-action="charts"]');
    var wasOpen = open && open.getAttribute('aria-expanded') === 'true';
    var charts = el('div', { class: 'survey-charts', id: chartsId, hidden: !wasOpen });
    var toggle = el('button', { type: 'button', class: 'btn small secondary', 'data-action': 'charts', 'data-id': s.id,
      'aria-expanded': wasOpen ? 'true' : 'false', 'aria-controls': chartsId },
      t('surveys.charts'), el('span', { class: 'visually-hidden', text: ' ' + t('surveys.of', { name: String(s.name || s.id) }) }));
    if (open) open.remove();
    item.querySelector('.item-head').appendChild(toggle);
    box.appendChild(charts);
    if (wasOpen) renderCharts(charts, d);
  }

  A.view({ id: 'surveys', title: 'surveys.title', scopes: ['surveys'], mount: mount, load: load });
  A.surveys = { reload: load };
})(Admin);
