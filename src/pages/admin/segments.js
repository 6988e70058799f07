// The Segments view: every segment with its state and size, rebuilt lists refreshing themselves
// while building, and downloads through export jobs (a progress bar, then the signed file link).
(function (A) {
  'use strict';
  var t = A.t, el = A.el, $ = A.$;
  var BUILD_POLL_MS = 5000, BUILD_POLL_MAX = 60, EXPORT_POLL_MS = 1000;
  var segments = [], buildTimer = null, buildPolls = 0;

  function status(text, kind) {
    var s = $('segments-status');
    s.textContent = text;
    s.className = 'sec-status' + (kind ? ' ' + kind : '');
    A.show(s, !!text);
  }

  function mount(root) {
    root.appendChild(el('div', { class: 'card', id: 'sec-segments' },
      el('div', { class: 'sec-head' }, el('h3', { id: 'h-segments-list', text: t('segments.list_title') }),
        el('span', { class: 'count', id: 'segments-count', hidden: true })),
      el('p', { class: 'intro', text: t('segments.intro') }),
      el('p', { class: 'sec-status', id: 'segments-status' }),
      el('div', { class: 'alert', id: 'segments-alert', role: 'alert' }),
      el('div', { class: 'table-wrap', id: 'segments-wrap', hidden: true },
        el('table', { class: 'stack', id: 'segments-table' },
          el('caption', { class: 'visually-hidden', text: t('segments.list_title') }),
          el('thead', null, el('tr', null,
            ['segments.col_name', 'segments.col_state', 'segments.col_size', 'segments.col_computed', 'segments.col_download']
              .map(function (k) { return el('th', { scope: 'col', text: t(k) }); }))),
          el('tbody', { id: 'segments-body' })))));
    $('segments-body').addEventListener('click', function (e) {
      var button = e.target.closest('button[data-action]');
      if (!button) return;
      var s = segments.filter(function (x) { return x.id === button.dataset.id; })[0];
      if (!s) return;
      var base = 'segment-' + (A.slug(s.name) || A.slug(s.id));
      if (button.dataset.action === 'ndjson') exportJob(button, s, 'ndjson', base + '.ndjson');
      else if (button.dataset.action === 'csv') exportJob(button, s, 'csv', base + '.csv');
    });
    A.onSignOut(stopBuildPoll);
  }

  function load() {
    var s = $('segments-status');
    if (s.dataset.loaded !== 'yes') {
      A.clear(s);
      s.className = 'sec-status';
      A.show(s, true);
      s.appendChild(el('span', { class: 'spinner', 'aria-hidden': 'true' }));
      s.appendChild(document.createTextNode(t('segments.loading')));
    }
    buildPolls = 0;
    stopBuildPoll();
    return A.api('GET', '/admin/v1/segments').then(function (r) {
      if (r.status === -1 || r.status === 401) return;
      if (r.status !== 200) {
        s.dataset.loaded = '';
        status(A.failure('segments.what', r), r.status === 403 ? 'forbidden' : 'failed');
        A.clear($('segments-body'));
        A.show($('segments-wrap'), false);
        return;
      }
      segments = (r.json && Array.isArray(r.json.segments)) ? r.json.segments : [];
      render();
    });
  }

  function render() {
    var body = $('segments-body');
    if (!body) return;
    // Keep focus on the same control across a re-render (the table refreshes itself while building).
    var active = document.activeElement, focusKey = null;
    if (active && body.contains(active) && active.dataset.action) focusKey = active.dataset.action + ':' + active.dataset.id;
    A.clear(body);
    $('segments-alert').textContent = '';
    $('segments-status').dataset.loaded = 'yes';
    var count = $('segments-count');
    count.textContent = String(segments.length);
    A.show(count, true);
    if (!segments.length) {
      status(t('segments.none'));
      A.show($('segments-wrap'), false);
      stopBuildPoll();
      return;
    }
    var building = segments.filter(function (s) { return s.state === 'building'; }).length;
    status(building ? t('segments.summary_building', { count: segments.length, building: building })
      : t('segments.summary_ready', { count: segments.length }));
    segments.forEach(function (s) { body.appendChild(row(s)); });
    A.show($('segments-wrap'), true);
    if (focusKey) {
      var parts = focusKey.split(':');
      var again = body.querySelector('[data-action="' + parts[0] + '"][data-id="' + CSS.escape(parts.slice(1).join(':')) + '"]');
      if (again) again.focus();
    }
    if (building) scheduleBuildPoll(); else stopBuildPoll();
  }

  function row(s) {
    var name = String(s.name || s.id);
    var state = s.state === 'ready' ? el('span', { class: 'pill ready', text: t('segments.state_ready') })
      : s.state === 'building' ? el('span', { class: 'pill building', text: t('segments.state_building') })
      : el('span', { class: 'pill other', text: String(s.state || '?') });
    var stateCell = el('td', { 'data-label': t('segments.col_state'), 'data-col': 'state' }, el('div', null, state,
      s.state === 'building' ? el('span', { class: 'state-hint', text: t('segments.building_hint') }) : null));
    var csv = el('button', { type: 'button', class: 'btn small', 'data-action': 'csv', 'data-id': s.id },
      t('segments.download_csv'), el('span', { class: 'visually-hidden', text: ' ' + t('segments.of', { name: name }) }));
    var ndjson = el('button', { type: 'button', class: 'linkish', 'data-action': 'ndjson', 'data-id': s.id },
      'NDJSON', el('span', { class: 'visually-hidden', text: ' ' + t('segments.of', { name: name }) }));
    return el('tr', { 'data-segment-id': s.id },
      el('td', { 'data-label': t('segments.col_name'), 'data-col': 'name' }, el('div', null,
        el('span', { class: 'seg-name', text: name }), el('code', { class: 'id', text: s.id }))),
      stateCell,
      el('td', { class: 'num', 'data-label': t('segments.col_size'), 'data-col': 'size' }, el('span', { text: A.fmtInt(s.size) })),
      el('td', { 'data-label': t('segments.col_computed'), 'data-col': 'computed_at' }, el('div', null, A.timeNode(s.computed_at, t('segments.not_yet')))),
      el('td', { 'data-label': t('segments.col_download'), 'data-col': 'download' }, el('div', { class: 'downloads' }, csv, ndjson)));
  }

  // ---- Segment exports: a queue job of any size, its progress shown, then its file saved ---------
  function exportJob(button, s, format, filename) {
    if (A.isBusy(button)) return;
    var gen = A.session(), alert = $('segments-alert');
    alert.textContent = '';
    A.busy(button, true, t('common.preparing'));
    exporting++;
    var cell = button.closest('td');
    var barId = 'export-progress-' + format + '-' + s.id;
    var old = document.getElementById(barId + '-wrap');
    if (old) old.remove();
    var bar = el('progress', { id: barId, max: '1', value: '0' });
    var label = el('label', { for: barId, text: t('segments.exporting', { file: filename }) });
    var wrap = el('div', { class: 'export-progress', id: barId + '-wrap' }, label, bar);
    if (cell) cell.appendChild(wrap);
    var finished = false;
    var done = function () {
      if (finished) return;
      finished = true;
      exporting--;
      A.busy(button, false);
      wrap.remove();
    };
    var fail = function (message) {
      done();
      alert.textContent = message;
      A.say(message, 'error');
    };
    var answerFailed = function (r) {
      if (r.status === -1 || r.status === 401) { done(); return; }
      if (r.status === 403) { fail((t('segments.export_forbidden') + ' ' + (r.message || '')).trim()); return; }
      if (r.status === 0) { fail(t('segments.export_interrupted', { file: filename })); return; }
      if (r.status === 429) { fail(t('common.too_many_downloads')); return; }
      fail(t('segments.export_failed', { file: filename, status: r.status }) + (r.message ? ' ' + r.message : ''));
    };
    A.api('POST', '/admin/v1/segments/' + encodeURIComponent(s.id) + '/exports', { format: format }).then(function (r) {
      if (r.status !== 202 || !r.json || !r.json.id) { answerFailed(r); return; }
      poll(r.json.id);
    });
    function poll(id) {
      A.api('GET', '/admin/v1/exports/' + encodeURIComponent(id)).then(function (r) {
        if (r.status !== 200 || !r.json) { answerFailed(r); return; }
        var x = r.json, rows = Number(x.rows) || 0, total = Number(x.total) || 0;
        bar.max = Math.max(total, rows, 1);
        bar.value = rows;
        label.textContent = t('segments.exporting_rows', { file: filename, rows: A.fmtInt(rows), total: A.fmtInt(Math.max(total, rows)) });
        if (x.state === 'failed') { fail(t('segments.export_failed_because', { file: filename, why: x.error || '' })); return; }
        if (x.state !== 'ready' || !x.download_url) { setTimeout(function () { poll(id); }, EXPORT_POLL_MS); return; }
        bar.value = bar.max;
        save(x.download_url);
      });
    }
    // The signed link is the credential: no key goes with it. Fetched by path, so it stays on
    // this origin whatever PUBLIC_BASE_URL says.
    function save(url) {
      var u = new URL(url, location.href);
      fetch(u.pathname + u.search, { credentials: 'omit', cache: 'no-store', redirect: 'error' }).then(function (res) {
        if (!res.ok) { answerFailed({ status: res.status, message: '' }); return; }
        return res.blob().then(function (blob) {
          done();
          if (gen !== A.session()) return;
          A.saveBlob(blob, filename);
        });
      }).catch(function () { fail(t('segments.export_interrupted', { file: filename })); });
    }
  }

  // While a segment is building, reload the list now and then (not while downloading).
  var exporting = 0;
  function scheduleBuildPoll() {
    if (buildTimer || buildPolls >= BUILD_POLL_MAX) return;
    buildTimer = setTimeout(function () {
      buildTimer = null;
      if (!$('segments-body')) return;
      if (exporting > 0 || A.downloading() || document.hidden) { scheduleBuildPoll(); return; }
      buildPolls++;
      A.api('GET', '/admin/v1/segments').then(function (r) {
        if (r.status !== 200 || exporting > 0) { if (r.status !== -1 && r.status !== 401) scheduleBuildPoll(); return; }
        segments = (r.json && Array.isArray(r.json.segments)) ? r.json.segments : [];
        render();
      });
    }, BUILD_POLL_MS);
  }
  function stopBuildPoll() { clearTimeout(buildTimer); buildTimer = null; }

  A.view({ id: 'segments', title: 'segments.title', scopes: ['segments'], mount: mount, load: load });
  // For the builder: the list's own reload, after a save or a delete.
  A.segments = { reload: load };
})(Admin);
