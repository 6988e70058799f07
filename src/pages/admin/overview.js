// The overview: the base at a glance from GET /admin/v1/overview (counts only, scope `segments`):
// summary numbers, contacts by status and temperature, the RFM grid as a heat map, signups and
// confirmations per day for 90 days, consent withdrawals per week.
(function () {
Admin.view({
  id: 'overview',
  title: 'overview.title',
  scopes: ['segments'],
  mount: function (root) {
    Admin.style(
      '#view-overview .ov-charts figure{margin:0 0 1.25rem;min-width:0}' +
      '#view-overview .ov-charts h3{margin:0 0 .5rem}' +
      '#view-overview .ov-note{color:var(--muted);font-size:.9rem;margin:.25rem 0 1rem}'
    );
    root.appendChild(Admin.el('p', { class: 'intro', text: Admin.t('overview.intro') }));
    root.appendChild(Admin.el('div', { id: 'overview-alert', class: 'alert', role: 'alert' }));
    root.appendChild(Admin.el('dl', { id: 'overview-summary', class: 'stats' }));
    root.appendChild(Admin.el('div', { id: 'overview-charts', class: 'ov-charts' }));
  },
  load: function () {
    var alertBox = Admin.$('overview-alert');
    Admin.clear(alertBox);
    return Admin.api('GET', '/admin/v1/overview').then(function (r) {
      if (r.status !== 200 || !r.json) {
        alertBox.textContent = Admin.failure('overview.what', r);
        return;
      }
      render(r.json);
    });
  },
});

function render(o) {
  var t = Admin.t, el = Admin.el;
  var sum = function (list, key) {
    return list.reduce(function (n, x) { return n + (x[key] || 0); }, 0);
  };
  var of = function (list, key) {
    var hit = list.filter(function (x) { return x.key === key; })[0];
    return hit ? hit.count : 0;
  };
  var days = o.days || [], weeks = o.weeks || [];
  var contacts = o.contacts || { total: 0, by_status: [], by_temperature: [] };
  var summary = Admin.$('overview-summary');
  Admin.clear(summary);
  [
    ['overview.summary.total', contacts.total],
    ['overview.summary.active', of(contacts.by_status, 'active')],
    ['overview.summary.signups', sum(days, 'signups')],
    ['overview.summary.confirmations', sum(days, 'confirmations')],
    ['overview.summary.withdrawals', sum(weeks, 'withdrawals')],
  ].forEach(function (pair) {
    summary.appendChild(el('div', { 'data-stat': pair[0].split('.').pop() },
      el('dt', { text: t(pair[0]) }),
      el('dd', { text: Admin.fmtInt(pair[1]) })));
  });

  var charts = Admin.$('overview-charts');
  Admin.clear(charts);
  var tones = { active: 'good', pending: 'mid', unsubscribed: 'bad', hot: 'good', warm: 'mid', cold: 'bad' };
  var bars = function (list, prefix, title) {
    return Admin.charts.bars(list.map(function (x) {
      return { label: t(prefix + x.key), value: x.count, tone: tones[x.key] };
    }), { title: t(title), format: Admin.fmtInt });
  };
  // A card around one chart (its figure is captioned) or, with a heading, around several.
  var card = function (heading, id) {
    var box = heading
      ? el('section', { class: 'card', 'data-chart-box': id, 'aria-labelledby': 'overview-h-' + id },
        el('h3', { id: 'overview-h-' + id, text: t(heading) }))
      : el('div', { class: 'card', 'data-chart-box': id });
    for (var i = 2; i < arguments.length; i++) if (arguments[i]) box.appendChild(arguments[i]);
    return box;
  };
  charts.appendChild(el('div', { class: 'grid2' },
    card(null, 'status', bars(contacts.by_status, 'overview.status.', 'overview.status.title')),
    card(null, 'temperature',
      bars(contacts.by_temperature, 'overview.temperature.', 'overview.temperature.title'),
      el('p', { class: 'ov-note', text: t('overview.temperature.note') }))));

  var cells = (o.rfm && o.rfm.cells) || [];
  var scores = [5, 4, 3, 2, 1];
  var rows = scores.map(function (r) { return { key: r, label: t('overview.rfm.recency', { score: r }) }; });
  var cols = scores.slice().reverse().map(function (f) { return { key: f, label: t('overview.rfm.frequency', { score: f }) }; });
  var count = function (r, f) {
    var hit = cells.filter(function (c) { return c.r === r.key && c.f === f.key; })[0];
    return hit ? hit.count : 0;
  };
  var scored = (o.rfm && o.rfm.scored) || 0;
  charts.appendChild(card(null, 'rfm',
    Admin.charts.heatmap(rows, cols, count, {
      title: t('overview.rfm.title'), rowTitle: t('overview.rfm.rows'), colTitle: t('overview.rfm.cols'),
    }),
    el('p', { class: 'ov-note', text: t('overview.rfm.note', { n: Admin.fmtInt(scored) }) })));

  var series = function (list, key, title) {
    return Admin.charts.columns(list.map(function (x) {
      return { label: x.day || x.week, value: x[key] };
    }), { title: t(title), format: Admin.fmtInt });
  };
  charts.appendChild(card('overview.days.title', 'days',
    el('p', { class: 'ov-note', text: t('overview.days.note') }),
    series(days, 'signups', 'overview.days.signups'),
    series(days, 'confirmations', 'overview.days.confirmations')));
  charts.appendChild(card(null, 'weeks',
    series(weeks, 'withdrawals', 'overview.weeks.withdrawals'),
    el('p', { class: 'ov-note', text: t('overview.weeks.note') })));
}
})();
