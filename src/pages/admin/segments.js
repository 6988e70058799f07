// The Segments view: the rule builder (nested groups of conditions on the fields the API
// describes, a live count, save, watch it build, edit as a new version, delete after asking), and
// every segment with its state and size, rebuilt lists refreshing themselves while building, and
// downloads through export jobs (a progress bar, then the signed file link).
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
    mountBuilder(root);
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
      else if (button.dataset.action === 'edit') edit(s);
      else if (button.dataset.action === 'delete') askDelete(s, button);
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
    var editButton = el('button', { type: 'button', class: 'linkish edit', 'data-action': 'edit', 'data-id': s.id },
      t('segments.edit'), el('span', { class: 'visually-hidden', text: ' ' + name }));
    var deleteButton = el('button', { type: 'button', class: 'linkish delete', 'data-action': 'delete', 'data-id': s.id },
      t('segments.delete'), el('span', { class: 'visually-hidden', text: ' ' + name }));
    return el('tr', { 'data-segment-id': s.id },
      el('td', { 'data-label': t('segments.col_name'), 'data-col': 'name' }, el('div', null,
        el('span', { class: 'seg-name', text: name }), el('code', { class: 'id', text: s.id }))),
      stateCell,
      el('td', { class: 'num', 'data-label': t('segments.col_size'), 'data-col': 'size' }, el('span', { text: A.fmtInt(s.size) })),
      el('td', { 'data-label': t('segments.col_computed'), 'data-col': 'computed_at' }, el('div', null, A.timeNode(s.computed_at, t('segments.not_yet')))),
      el('td', { 'data-label': t('segments.col_download'), 'data-col': 'download' }, el('div', { class: 'downloads' }, csv, ndjson, editButton, deleteButton)));
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

  // ---- The builder: a rule as nested groups of conditions, fed by GET /admin/v1/segments/fields ----
  // The model is a tree of groups ({kind:'group', match:'all'|'any'|'none', children}) and
  // conditions ({kind:'cond', field, param, op, one, low, high, list}), redrawn on every change of
  // shape; typing only updates the model, so focus stays where it is. A group "none of these" is
  // {"not":{"any":[…]}}. Every control carries the id of its node (data-for), so an error the
  // server names by path (`rule.all[1].value`) lands next to the input that caused it.
  var PREVIEW_MS = 400, READY_POLL_MS = 1000, READY_POLL_MAX = 180;
  var catalog = null, catalogLoading = null, opsByName = {}, fieldsByName = {};
  var tree = null, nextId = 1, editing = null, previewSeq = 0, readyTimer = null;
  var pathToNode = {};

  function label(x) { return (x && x.labels && (x.labels[A.lang] || x.labels.en)) || (x && x.name) || ''; }
  function group(match, children) { return { kind: 'group', id: 'n' + nextId++, match: match, children: children || [] }; }
  function cond() { return { kind: 'cond', id: 'n' + nextId++, field: '', param: '', op: '', one: '', low: '', high: '', list: [] }; }
  function fieldOf(c) { return fieldsByName[c.field] || null; }
  function shapeOf(c) { var o = opsByName[c.op]; return o ? o.value : 'one'; }
  // The name a condition writes: a family's prefix followed by its parameter.
  function writtenName(c) {
    var f = fieldOf(c);
    if (!f) return c.field;
    return f.parameter ? f.parameter.prefix + c.param : f.name;
  }
  function usable(f) { return !f.requires_scope || A.can(f.requires_scope); }

  function loadCatalog() {
    if (catalog) return Promise.resolve(catalog);
    if (catalogLoading) return catalogLoading;
    catalogLoading = A.api('GET', '/admin/v1/segments/fields').then(function (r) {
      catalogLoading = null;
      if (r.status !== 200 || !r.json || !Array.isArray(r.json.fields)) {
        if (r.status !== -1 && r.status !== 401) builderAlert(A.failure('segments.fields_what', r));
        return null;
      }
      catalog = r.json;
      opsByName = {};
      fieldsByName = {};
      catalog.operators.forEach(function (o) { opsByName[o.name] = o; });
      catalog.fields.forEach(function (f) { fieldsByName[f.name] = f; });
      return catalog;
    });
    return catalogLoading;
  }

  function builderAlert(text) { var a = $('segment-builder-alert'); if (a) a.textContent = text || ''; }

  function mountBuilder(root) {
    var purpose = el('select', { id: 'segment-purpose' });
    root.appendChild(el('div', { class: 'card', id: 'segment-builder-card' },
      el('div', { class: 'sec-head' }, el('h3', { id: 'segment-builder-title', tabIndex: -1, text: t('segments.builder_new') })),
      el('p', { class: 'intro', text: t('segments.builder_intro') }),
      el('div', { class: 'alert', id: 'segment-builder-alert', role: 'alert' }),
      el('form', { id: 'segment-builder', noValidate: true },
        el('div', { class: 'row seg-meta' },
          el('div', { class: 'field' }, el('label', { for: 'segment-name', text: t('segments.name_label') }),
            el('input', { type: 'text', id: 'segment-name', maxLength: 200, autocomplete: 'off' })),
          el('div', { class: 'field' }, el('label', { for: 'segment-purpose', text: t('segments.purpose_label') }), purpose)),
        el('fieldset', { class: 'seg-rule', id: 'segment-rule' },
          el('legend', { text: t('segments.rule_label') }),
          el('div', { id: 'segment-rule-tree' }),
          el('p', { class: 'hint', id: 'segment-derived-note', hidden: true, text: t('segments.derived_hint') })),
        el('div', { class: 'seg-live', id: 'segment-live' },
          el('output', { id: 'segment-live-count', for: 'segment-rule-tree', 'aria-live': 'polite', 'data-state': 'idle' }),
          el('div', { id: 'segment-sample-wrap', hidden: true },
            el('h4', { id: 'segment-sample-title', text: t('segments.sample_title') }),
            el('ul', { class: 'seg-sample', id: 'segment-sample', 'aria-labelledby': 'segment-sample-title' }))),
        el('div', { class: 'row seg-actions' },
          el('button', { type: 'submit', class: 'btn', id: 'segment-save', text: t('segments.save') }),
          el('button', { type: 'button', class: 'btn secondary', id: 'segment-new', hidden: true, text: t('segments.new_segment') })),
        el('div', { id: 'segment-build', class: 'seg-build', hidden: true, role: 'status' },
          el('label', { for: 'segment-build-progress', id: 'segment-build-label' }),
          el('progress', { id: 'segment-build-progress' })))));
    $('segment-builder').addEventListener('submit', function (e) { e.preventDefault(); save(); });
    $('segment-new').addEventListener('click', function () { startNew(true); });
    $('segment-rule-tree').addEventListener('click', onTreeClick);
    $('segment-rule-tree').addEventListener('change', onTreeChange);
    $('segment-rule-tree').addEventListener('input', onTreeInput);
    $('segment-name').addEventListener('input', function () { A.inputError($('segment-name'), ''); });
    purpose.addEventListener('change', function () { A.inputError(purpose, ''); schedulePreview(); });
    A.onSignOut(function () {
      clearTimeout(readyTimer);
      readyTimer = null;
      catalog = null;
      editing = null;
      tree = null;
      // The dialog lives outside the view and names a segment: it goes with the key.
      var dialog = $('segment-delete-dialog');
      if (dialog) dialog.remove();
    });
    startNew(false);
  }

  function fillPurposes(selected) {
    var select = $('segment-purpose');
    var consent = catalog && catalog.fields.filter(function (f) { return f.name.indexOf('consent.') === 0; })[0];
    var known = (consent && consent.parameter && consent.parameter.values) || [{ value: 'marketing_email', labels: {} }];
    A.clear(select);
    known.forEach(function (p) {
      select.appendChild(el('option', { value: p.value, text: (p.labels && (p.labels[A.lang] || p.labels.en)) || p.value }));
    });
    if (selected && !known.some(function (p) { return p.value === selected; })) select.appendChild(el('option', { value: selected, text: selected }));
    select.value = selected || 'marketing_email';
  }

  function startNew(focus) {
    editing = null;
    tree = group('all', []);
    clearTimeout(readyTimer);
    readyTimer = null;
    $('segment-name').value = '';
    A.inputError($('segment-name'), '');
    $('segment-builder-title').textContent = t('segments.builder_new');
    $('segment-save').textContent = t('segments.save');
    A.show($('segment-new'), false);
    A.show($('segment-build'), false);
    builderAlert('');
    loadCatalog().then(function () { fillPurposes(); draw(); schedulePreview(); });
    if (focus) $('segment-name').focus();
  }

  function edit(s) {
    loadCatalog().then(function () {
      if (!catalog) return;
      editing = { id: s.id, version: s.version };
      tree = fromRule(s.rule);
      $('segment-name').value = s.name || '';
      fillPurposes(s.purpose);
      $('segment-builder-title').textContent = t('segments.builder_edit', { name: s.name || s.id });
      $('segment-save').textContent = t('segments.save_version');
      A.show($('segment-new'), true);
      A.show($('segment-build'), false);
      builderAlert('');
      draw();
      schedulePreview();
      $('segment-builder-card').scrollIntoView({ block: 'start' });
      $('segment-builder-title').focus();
    });
  }

  // ---- From and to the rule's JSON --------------------------------------------------------------
  function fromRule(r) {
    var node = fromNode(r);
    return node.kind === 'group' ? node : group('all', [node]);
  }
  function fromNode(r) {
    if (!r || typeof r !== 'object') return group('all', []);
    if (Array.isArray(r.all)) return group('all', r.all.map(fromNode));
    if (Array.isArray(r.any)) return group('any', r.any.map(fromNode));
    if (r.not) return r.not && Array.isArray(r.not.any) ? group('none', r.not.any.map(fromNode)) : group('none', [fromNode(r.not)]);
    var c = cond(), name = String(r.field || '');
    var f = fieldsByName[name] || catalog.fields.filter(function (x) { return x.parameter && name.indexOf(x.parameter.prefix) === 0; })[0];
    if (f) { c.field = f.name; c.param = f.parameter ? name.slice(f.parameter.prefix.length) : ''; }
    c.op = String(r.op || '');
    var v = r.value, shape = shapeOf(c);
    if (shape === 'list') c.list = (Array.isArray(v) ? v : []).map(String);
    else if (shape === 'range') { c.low = Array.isArray(v) ? String(v[0]) : ''; c.high = Array.isArray(v) ? String(v[1]) : ''; }
    else c.one = v === undefined || v === null ? '' : String(v);
    // A date picker shows a day: a stored midnight (how a date is kept) reads back as that day.
    if (f && f.type === 'date') {
      var day = function (x) { return /^\d{4}-\d{2}-\d{2}T00:00:00(\.0+)?Z$/.test(x) ? x.slice(0, 10) : x; };
      if (shape === 'range') { c.low = day(c.low); c.high = day(c.high); } else if (shape === 'one') c.one = day(c.one);
    }
    return c;
  }

  // A typed value from what was typed; what does not read as its type goes as typed, so the server
  // says what is wrong with it, next to the input.
  function typed(f, raw) {
    var s = String(raw).trim();
    var numeric = /^-?\d+(\.\d+)?$/.test(s);
    switch (f && f.type) {
      case 'integer': case 'number': return numeric ? Number(s) : s;
      case 'boolean': return s === 'true' ? true : s === 'false' ? false : s;
      case 'attribute': return numeric ? Number(s) : s === 'true' ? true : s === 'false' ? false : s;
      default: return s;
    }
  }
  function valueOf(c) {
    var f = fieldOf(c), shape = shapeOf(c);
    if (shape === 'flag') return c.one !== 'false';
    if (shape === 'days') return /^\d+$/.test(c.one.trim()) ? Number(c.one.trim()) : c.one.trim();
    if (shape === 'list') return c.list.map(function (x) { return typed(f, x); });
    if (shape === 'range') return [typed(f, c.low), typed(f, c.high)];
    return typed(f, c.one);
  }
  function toRule(node, path) {
    pathToNode[path] = node.id;
    if (node.kind === 'cond') return { field: writtenName(node), op: node.op, value: valueOf(node) };
    var key = node.match === 'none' ? 'any' : node.match;
    var base = path + (node.match === 'none' ? '.not.any' : '.' + key);
    var inner = {};
    inner[key] = node.children.map(function (child, i) { return toRule(child, base + '[' + i + ']'); });
    return node.match === 'none' ? { not: inner } : inner;
  }
  function currentRule() { pathToNode = {}; return toRule(tree, 'rule'); }
  // Whether every condition is filled in enough to ask for a count.
  function complete(node) {
    if (node.kind === 'group') return node.children.every(complete);
    var f = fieldOf(node), shape = shapeOf(node);
    if (!f || !node.op || (f.parameter && !node.param)) return false;
    if (shape === 'flag') return true;
    if (shape === 'list') return node.list.length > 0;
    if (shape === 'range') return node.low.trim() !== '' && node.high.trim() !== '';
    return node.one.trim() !== '';
  }
  // Whether the rule reads derived data (profiling): its members exclude who objected to it.
  function derived(node) {
    if (node.kind === 'group') return node.children.some(derived);
    var f = fieldOf(node);
    return !!(f && f.derived);
  }
  function findNode(node, id) {
    if (node.id === id) return { node: node, parent: null };
    if (node.kind !== 'group') return null;
    for (var i = 0; i < node.children.length; i++) {
      var c = node.children[i];
      if (c.id === id) return { node: c, parent: node };
      var deeper = findNode(c, id);
      if (deeper) return deeper;
    }
    return null;
  }

  // ---- Drawing ---------------------------------------------------------------------------------
  function ctl(node, role, tag, attrs) {
    attrs = attrs || {};
    attrs.id = 'seg-' + node.id + '-' + role;
    attrs['data-for'] = node.id;
    attrs['data-role'] = role;
    return el(tag, attrs);
  }
  function labelled(text, control, hidden) {
    return el('div', { class: 'seg-ctl' }, el('label', { for: control.id, class: hidden ? 'visually-hidden' : null, text: text }), control);
  }
  function draw(focusId, focusRole) {
    var box = $('segment-rule-tree');
    if (!box || !tree) return;
    var active = document.activeElement;
    if (!focusId && active && box.contains(active) && active.dataset.for) { focusId = active.dataset.for; focusRole = active.dataset.role; }
    A.clear(box);
    box.appendChild(drawGroup(tree, 1, [0]));
    A.show($('segment-derived-note'), derived(tree));
    if (focusId) {
      var again = $('seg-' + focusId + '-' + focusRole) || box.querySelector('[data-for="' + focusId + '"]');
      if (again) again.focus();
    }
  }
  function drawGroup(g, depth, number) {
    var where = number.slice(1).join('.');
    var match = ctl(g, 'match', 'select');
    [['all', 'segments.match_all'], ['any', 'segments.match_any'], ['none', 'segments.match_none']].forEach(function (m) {
      match.appendChild(el('option', { value: m[0], text: t(m[1]) }));
    });
    match.value = g.match;
    var list = el('ol', { class: 'seg-children' });
    g.children.forEach(function (child, i) {
      var n = number.concat(i + 1);
      list.appendChild(el('li', null, child.kind === 'group' ? drawGroup(child, depth + 1, n) : drawCond(child, n)));
    });
    var canNest = depth < ((catalog && catalog.limits.max_depth) || 6) - 2;
    var head = el('div', { class: 'row seg-group-head' },
      labelled(depth === 1 ? t('segments.match_label') : t('segments.match_label_group', { n: where }), match),
      depth > 1 ? ctl(g, 'remove', 'button', { type: 'button', class: 'linkish', 'data-action': 'remove', text: t('segments.remove_group'),
        'aria-label': t('segments.remove_group_n', { n: where }) }) : null);
    var foot = el('div', { class: 'row seg-group-foot' },
      ctl(g, 'add-condition', 'button', { type: 'button', class: 'btn small secondary', 'data-action': 'add-condition', text: t('segments.add_condition'),
        'aria-label': depth === 1 ? null : t('segments.add_condition_to', { n: where }) }),
      canNest ? ctl(g, 'add-group', 'button', { type: 'button', class: 'btn small secondary', 'data-action': 'add-group', text: t('segments.add_group'),
        'aria-label': depth === 1 ? null : t('segments.add_group_to', { n: where }) }) : null);
    return el('div', { class: 'seg-group' + (depth === 1 ? ' root' : ''), 'data-node': 'group', 'data-node-id': g.id, 'data-match': g.match },
      head,
      g.children.length ? list : el('p', { class: 'hint seg-empty', text: depth === 1 ? t('segments.rule_empty') : t('segments.group_empty') }),
      foot,
      el('p', { class: 'error', id: 'seg-' + g.id + '-error', 'data-for': g.id, 'data-role': 'error', hidden: true }));
  }
  function drawCond(c, number) {
    var where = number.slice(1).join('.');
    var f = fieldOf(c);
    var field = ctl(c, 'field', 'select');
    field.appendChild(el('option', { value: '', text: t('segments.field_choose') }));
    var declared = el('optgroup', { label: t('segments.fields_declared') });
    var derived = el('optgroup', { label: t('segments.fields_derived') });
    catalog.fields.forEach(function (x) {
      var ok = usable(x);
      (x.derived ? derived : declared).appendChild(el('option', { value: x.name, disabled: !ok,
        text: label(x) + (ok ? '' : ' ' + t('segments.needs_scope', { scope: x.requires_scope })) }));
    });
    field.appendChild(declared);
    field.appendChild(derived);
    field.value = c.field;
    var parts = [labelled(t('segments.field_label_n', { n: where }), field, true)];
    if (f && f.parameter) {
      var param;
      if (f.parameter.values) {
        param = ctl(c, 'param', 'select');
        param.appendChild(el('option', { value: '', text: t('segments.param_choose') }));
        f.parameter.values.forEach(function (p) { param.appendChild(el('option', { value: p.value, text: label({ labels: p.labels, name: p.value }) })); });
      } else {
        param = ctl(c, 'param', 'input', { type: 'text', autocomplete: 'off', spellcheck: 'false', pattern: f.parameter.pattern.replace(/^\^|\$$/g, '') });
      }
      param.value = c.param;
      parts.push(labelled(t('segments.param_label', { name: f.parameter.name }), param, true));
    }
    if (f) {
      var op = ctl(c, 'op', 'select');
      f.operators.forEach(function (name) { op.appendChild(el('option', { value: name, text: label(opsByName[name]) })); });
      op.value = c.op;
      parts.push(labelled(t('segments.op_label'), op, true));
      parts.push(drawValue(c, f));
    }
    if (f && f.derived) parts.push(el('span', { class: 'pill other seg-derived', title: t('segments.derived_hint'), text: t('segments.derived_tag') }));
    parts.push(ctl(c, 'remove', 'button', { type: 'button', class: 'linkish', 'data-action': 'remove', text: t('segments.remove_condition'),
      'aria-label': t('segments.remove_condition_n', { n: where }) }));
    return el('div', { class: 'seg-cond', 'data-node': 'condition', 'data-node-id': c.id, 'data-field': c.field, role: 'group',
      'aria-label': t('segments.condition_n', { n: where }) },
      el('div', { class: 'row' }, parts),
      el('p', { class: 'error', id: 'seg-' + c.id + '-error', 'data-for': c.id, 'data-role': 'error', hidden: true }));
  }
  function input(c, role, f, value) {
    var type = f.type, attrs = { autocomplete: 'off' };
    if (type === 'date') attrs.type = 'date';
    else if (type === 'integer' || type === 'number') {
      attrs.type = 'number';
      attrs.step = type === 'integer' ? '1' : 'any';
      if (f.min !== null) attrs.min = String(f.min);
      if (f.max !== null) attrs.max = String(f.max);
    } else if (type === 'money') { attrs.type = 'text'; attrs.inputMode = 'decimal'; attrs.placeholder = '129.90'; }
    else if (type === 'country') { attrs.type = 'text'; attrs.maxLength = 2; attrs.placeholder = 'BR'; attrs.autocapitalize = 'characters'; }
    else attrs.type = 'text';
    if (type === 'enum' || type === 'boolean' || type === 'segment') {
      var select = ctl(c, role, 'select');
      choicesOf(f).forEach(function (o) { select.appendChild(el('option', { value: o.value, text: o.text })); });
      select.value = value;
      if (select.value !== value && select.options.length) { select.selectedIndex = 0; setValue(c, role, select.value); }
      return select;
    }
    var node = ctl(c, role, 'input', attrs);
    node.value = value;
    return node;
  }
  function choicesOf(f) {
    if (f.type === 'boolean') return [{ value: 'true', text: t('segments.yes') }, { value: 'false', text: t('segments.no') }];
    if (f.type === 'segment') {
      return segments.filter(function (s) { return !editing || s.id !== editing.id; })
        .map(function (s) { return { value: s.id, text: String(s.name || s.id) }; });
    }
    return (f.values || []).map(function (v) { return { value: v.value, text: label({ labels: v.labels, name: v.value }) }; });
  }
  function drawValue(c, f) {
    var shape = shapeOf(c);
    if (shape === 'flag') {
      var known = ctl(c, 'value', 'select');
      known.appendChild(el('option', { value: 'true', text: t('segments.flag_known') }));
      known.appendChild(el('option', { value: 'false', text: t('segments.flag_unknown') }));
      known.value = c.one === 'false' ? 'false' : 'true';
      return labelled(t('segments.value_label'), known, true);
    }
    if (shape === 'days') {
      var days = ctl(c, 'value', 'input', { type: 'number', min: '1', max: String((catalog.limits && catalog.limits.max_days) || 36500), step: '1', inputMode: 'numeric' });
      days.value = c.one;
      return el('div', { class: 'seg-ctl seg-days' }, el('label', { for: days.id, class: 'visually-hidden', text: t('segments.days_label') }), days,
        el('span', { 'aria-hidden': 'true', text: t('segments.days_unit') }));
    }
    if (shape === 'range') {
      return el('div', { class: 'row seg-range' },
        labelled(t('segments.from_label'), input(c, 'value-low', f, c.low), true),
        el('span', { 'aria-hidden': 'true', text: t('segments.and') }),
        labelled(t('segments.to_label'), input(c, 'value-high', f, c.high), true));
    }
    if (shape === 'list') {
      if (f.type === 'enum' || f.type === 'segment' || f.type === 'boolean') {
        var multi = ctl(c, 'value', 'select', { multiple: true, size: Math.min(5, Math.max(2, choicesOf(f).length)) });
        choicesOf(f).forEach(function (o) { multi.appendChild(el('option', { value: o.value, text: o.text, selected: c.list.indexOf(o.value) >= 0 })); });
        return labelled(t('segments.values_label'), multi, true);
      }
      var text = ctl(c, 'value', 'input', { type: 'text', autocomplete: 'off', placeholder: t('segments.list_placeholder') });
      text.value = c.list.join(', ');
      return labelled(t('segments.values_label_typed'), text, true);
    }
    return labelled(t('segments.value_label'), input(c, 'value', f, c.one), true);
  }

  // ---- Editing the tree --------------------------------------------------------------------------
  function setValue(c, role, v) {
    if (role === 'value-low') c.low = v;
    else if (role === 'value-high') c.high = v;
    else c.one = v;
  }
  function onTreeClick(e) {
    var button = e.target.closest('button[data-action]');
    if (!button || !catalog || !tree) return;
    var found = findNode(tree, button.dataset.for);
    if (!found) return;
    var action = button.dataset.action;
    if (action === 'add-condition' || action === 'add-group') {
      var child = action === 'add-condition' ? cond() : group('all', [cond()]);
      found.node.children.push(child);
      draw(child.kind === 'group' ? child.children[0].id : child.id, 'field');
    } else if (action === 'remove' && found.parent) {
      var i = found.parent.children.indexOf(found.node);
      found.parent.children.splice(i, 1);
      var next = found.parent.children[i] || found.parent.children[i - 1];
      draw(next ? next.id : found.parent.id, next ? (next.kind === 'group' ? 'match' : 'field') : 'add-condition');
    }
    schedulePreview();
  }
  function onTreeChange(e) {
    var target = e.target, role = target.dataset.role;
    var found = target.dataset.for && findNode(tree, target.dataset.for);
    if (!found) return;
    var node = found.node;
    if (role === 'match') { node.match = target.value; draw(); }
    else if (role === 'field') {
      var f = fieldsByName[target.value];
      node.field = target.value;
      node.param = f && f.parameter && f.parameter.values && f.parameter.values.length === 1 ? f.parameter.values[0].value : '';
      if (!f || f.operators.indexOf(node.op) < 0) node.op = f ? f.operators[0] : '';
      node.one = node.low = node.high = '';
      node.list = [];
      draw(node.id, f ? (f.parameter && !node.param ? 'param' : 'op') : 'field');
    } else if (role === 'op') {
      var before = shapeOf(node);
      node.op = target.value;
      if (shapeOf(node) !== before) { node.one = node.low = node.high = ''; node.list = []; }
      draw(node.id, 'op');
    } else if (role === 'param') node.param = target.value.trim();
    else if (role === 'value' && target.multiple) {
      node.list = Array.prototype.filter.call(target.options, function (o) { return o.selected; }).map(function (o) { return o.value; });
    } else readInput(node, target);
    A.inputError(target, '');
    schedulePreview();
  }
  function onTreeInput(e) {
    var target = e.target;
    var found = target.dataset.for && findNode(tree, target.dataset.for);
    if (!found || target.tagName === 'SELECT') return;
    if (target.dataset.role === 'param') found.node.param = target.value.trim();
    else readInput(found.node, target);
    schedulePreview();
  }
  function readInput(node, target) {
    var role = target.dataset.role;
    if (role === 'value' && shapeOf(node) === 'list') {
      node.list = target.value.split(',').map(function (x) { return x.trim(); }).filter(Boolean);
    } else if (role === 'value' || role === 'value-low' || role === 'value-high') setValue(node, role, target.value);
  }

  // ---- Errors the server names by path -----------------------------------------------------------
  function clearErrors() {
    builderAlert('');
    var box = $('segment-rule-tree');
    if (!box) return;
    box.querySelectorAll('[aria-invalid=true]').forEach(function (x) { A.inputError(x, ''); });
    box.querySelectorAll('p.error[data-role=error]').forEach(function (p) { p.textContent = ''; A.show(p, false); });
    A.inputError($('segment-name'), '');
    A.inputError($('segment-purpose'), '');
  }
  // The control a path names: the longest node path it starts with, then .field / .op / .value[i].
  function showErrors(errors) {
    var rest = [];
    Object.keys(errors).forEach(function (path) {
      var message = errors[path];
      if (path === 'name') { A.inputError($('segment-name'), message); return; }
      if (path === 'purpose') { A.inputError($('segment-purpose'), message); return; }
      var best = null;
      Object.keys(pathToNode).forEach(function (p) {
        if ((path === p || path.indexOf(p + '.') === 0 || path.indexOf(p + '[') === 0) && (!best || p.length > best.length)) best = p;
      });
      if (!best) { rest.push(message); return; }
      var id = pathToNode[best], tail = path.slice(best.length), target = null;
      if (/^\.field/.test(tail)) target = $('seg-' + id + '-param') || $('seg-' + id + '-field');
      else if (/^\.op/.test(tail)) target = $('seg-' + id + '-op');
      else if (/^\.value\[1\]/.test(tail)) target = $('seg-' + id + '-value-high') || $('seg-' + id + '-value');
      else if (/^\.value/.test(tail)) target = $('seg-' + id + '-value-low') || $('seg-' + id + '-value');
      if (target) { A.inputError(target, message); return; }
      var p = $('seg-' + id + '-error');
      if (p) { p.textContent = message; A.show(p, true); } else rest.push(message);
    });
    if (rest.length) builderAlert(rest.join(' '));
    var first = document.querySelector('#segment-builder [aria-invalid=true]');
    return first;
  }

  // ---- Live count --------------------------------------------------------------------------------
  var schedulePreview = A.debounce(preview, PREVIEW_MS);
  function liveCount(state, text) {
    var out = $('segment-live-count');
    if (!out) return;
    out.dataset.state = state;
    if (state !== 'ready') delete out.dataset.count;
    out.textContent = text;
  }
  function preview() {
    if (!tree || !catalog || !$('segment-live-count')) return;
    var seq = ++previewSeq;
    var sampleWrap = $('segment-sample-wrap');
    if (!complete(tree)) {
      liveCount('incomplete', t('segments.count_incomplete'));
      A.show(sampleWrap, false);
      return;
    }
    var rule = currentRule();
    liveCount('counting', t('segments.counting'));
    A.api('POST', '/admin/v1/segments/preview', { rule: rule, purpose: $('segment-purpose').value }).then(function (r) {
      if (seq !== previewSeq || r.status === -1) return;
      clearErrors();
      if (r.status !== 200 || !r.json) {
        A.show(sampleWrap, false);
        if (r.status === 400) {
          showErrors(A.fieldErrors(r));
          liveCount('invalid', t('segments.count_invalid'));
        } else liveCount('failed', A.failure('segments.count_what', r));
        return;
      }
      var n = Number(r.json.count) || 0, out = $('segment-live-count');
      liveCount('ready', r.json.count_capped ? t('segments.count_capped', { count: n, shown: A.fmtInt(n) })
        : t('segments.count', { count: n, shown: A.fmtInt(n) }));
      out.dataset.count = String(n);
      var list = $('segment-sample');
      A.clear(list);
      var sample = Array.isArray(r.json.sample) ? r.json.sample : [];
      // The sample is personal data: shown only to a key that may read contacts.
      if (A.can('contacts:read') && sample.length) {
        sample.forEach(function (p) {
          list.appendChild(el('li', null, el('span', { class: 'mono', text: String(p.email || '') }),
            p.name ? ' ' + String(p.name) : '', p.country ? el('span', { class: 'muted', text: ' · ' + String(p.country) }) : null));
        });
        A.show(sampleWrap, true);
      } else A.show(sampleWrap, false);
    });
  }

  // ---- Save, then watch it build -----------------------------------------------------------------
  function save() {
    var button = $('segment-save');
    if (A.isBusy(button) || !tree) return;
    clearErrors();
    var body = { name: $('segment-name').value, rule: currentRule(), purpose: $('segment-purpose').value };
    var was = editing;
    A.busy(button, true, t('segments.saving'));
    A.api(was ? 'PUT' : 'POST', was ? '/admin/v1/segments/' + encodeURIComponent(was.id) : '/admin/v1/segments', body).then(function (r) {
      A.busy(button, false);
      if (r.status === -1) return;
      if ((r.status !== 201 && r.status !== 200) || !r.json || !r.json.id) {
        if (r.status === 400) {
          var first = showErrors(A.fieldErrors(r));
          if (!Object.keys(A.fieldErrors(r)).length) builderAlert(r.message || t('segments.save_failed', { status: r.status }));
          A.say(t('segments.save_invalid'), 'error');
          if (first) first.focus();
        } else {
          var message = r.status === 403 ? (t('segments.save_forbidden') + ' ' + (r.message || '')).trim()
            : r.status === 0 ? t('segments.save_unreachable') : t('segments.save_failed', { status: r.status }) + (r.message ? ' ' + r.message : '');
          builderAlert(message);
          A.say(message, 'error');
        }
        return;
      }
      var s = r.json;
      editing = { id: s.id, version: s.version };
      $('segment-builder-title').textContent = t('segments.builder_edit', { name: s.name || s.id });
      $('segment-save').textContent = t('segments.save_version');
      A.show($('segment-new'), true);
      A.say(t(was ? 'segments.saved_version' : 'segments.saved', { name: s.name, version: s.version }));
      watchBuild(s);
      load();
    });
  }
  function watchBuild(s) {
    var box = $('segment-build'), bar = $('segment-build-progress'), text = $('segment-build-label');
    var polls = 0, gen = A.session();
    clearTimeout(readyTimer);
    A.show(box, true);
    box.dataset.state = s.state;
    box.dataset.segmentId = s.id;
    box.dataset.version = String(s.version);
    bar.removeAttribute('value');
    var shown = function (x) {
      box.dataset.state = x.state;
      if (x.state === 'ready') {
        bar.max = 1;
        bar.value = 1;
        text.textContent = t('segments.build_ready', { count: Number(x.size) || 0, shown: A.fmtInt(Number(x.size) || 0), name: x.name });
        A.say(text.textContent);
        load();
        return true;
      }
      text.textContent = t('segments.build_running', { name: x.name, version: x.version });
      return false;
    };
    if (shown(s)) return;
    var tick = function () {
      readyTimer = null;
      if (gen !== A.session() || !editing || editing.id !== s.id) return;
      if (++polls > READY_POLL_MAX) { text.textContent = t('segments.build_slow'); return; }
      A.api('GET', '/admin/v1/segments/' + encodeURIComponent(s.id)).then(function (r) {
        if (r.status === -1 || !editing || editing.id !== s.id) return;
        if (r.status === 200 && r.json && r.json.version === s.version && shown(r.json)) return;
        if (r.status === 200 && r.json && r.json.version > s.version) return;
        if (r.status === 404) { text.textContent = t('segments.build_gone'); return; }
        readyTimer = setTimeout(tick, READY_POLL_MS);
      });
    };
    readyTimer = setTimeout(tick, READY_POLL_MS);
  }

  // ---- Delete, after asking ----------------------------------------------------------------------
  function askDelete(s, button) {
    var dialog = $('segment-delete-dialog');
    if (!dialog) {
      dialog = el('dialog', { id: 'segment-delete-dialog', 'aria-labelledby': 'segment-delete-title', 'aria-describedby': 'segment-delete-text' },
        el('h3', { id: 'segment-delete-title' }),
        el('p', { id: 'segment-delete-text', text: t('segments.delete_text') }),
        el('div', { class: 'row' },
          el('button', { type: 'button', class: 'btn danger', id: 'segment-delete-confirm', text: t('segments.delete_confirm') }),
          el('button', { type: 'button', class: 'btn secondary', id: 'segment-delete-cancel', text: t('segments.cancel') })));
      document.body.appendChild(dialog);
      $('segment-delete-cancel').addEventListener('click', function () { dialog.close(); });
    }
    $('segment-delete-title').textContent = t('segments.delete_title', { name: String(s.name || s.id) });
    var confirm = $('segment-delete-confirm');
    var fresh = confirm.cloneNode(true);
    confirm.replaceWith(fresh);
    fresh.addEventListener('click', function () {
      if (A.isBusy(fresh)) return;
      A.busy(fresh, true, t('segments.deleting'));
      A.api('DELETE', '/admin/v1/segments/' + encodeURIComponent(s.id)).then(function (r) {
        A.busy(fresh, false);
        dialog.close();
        if (r.status === -1) return;
        if (r.status !== 200) {
          var message = r.status === 404 ? t('segments.delete_gone') : t('segments.delete_failed', { status: r.status }) + (r.message ? ' ' + r.message : '');
          $('segments-alert').textContent = message;
          A.say(message, 'error');
          return;
        }
        A.say(t('segments.deleted', { name: String(s.name || s.id) }));
        if (editing && editing.id === s.id) startNew(false);
        load();
        var title = $('h-segments-list');
        if (title) { title.tabIndex = -1; title.focus(); }
      });
    });
    dialog.addEventListener('close', function once() {
      dialog.removeEventListener('close', once);
      if (button && document.body.contains(button)) button.focus();
    });
    dialog.showModal();
    $('segment-delete-cancel').focus();
  }

  A.style([
    '.seg-meta .field{flex:1 1 16rem}',
    '.seg-meta input{width:100%}',
    '.seg-rule{border:1px solid var(--line);border-radius:10px;padding:.75rem 1rem 1rem;margin:0 0 1rem;min-width:0}',
    '.seg-rule legend{font-weight:600;padding:0 .35rem}',
    '.seg-group{border-left:3px solid var(--accent-soft);padding:.25rem 0 .25rem .75rem;min-width:0}',
    '.seg-group.root{border-left:0;padding-left:0}',
    '.seg-group[data-match=any]{border-left-color:#c99a06}',
    '.seg-group[data-match=none]{border-left-color:var(--danger)}',
    '.seg-children{list-style:none;margin:.5rem 0;padding:0;display:flex;flex-direction:column;gap:.5rem}',
    '.seg-cond{background:var(--bg);border:1px solid var(--line);border-radius:8px;padding:.5rem .6rem;min-width:0}',
    '.seg-cond .row{align-items:flex-start}',
    '.seg-ctl{display:flex;flex-direction:column;min-width:0;max-width:100%}',
    '.seg-ctl select,.seg-ctl input{max-width:100%}',
    '.seg-days{flex-direction:row;align-items:center;gap:.4rem}',
    '.seg-days input{width:6rem}',
    '.seg-range{align-items:center}',
    '.seg-derived{align-self:center}',
    '.seg-group-head,.seg-group-foot{align-items:center}',
    '.seg-live{margin:0 0 1rem}',
    '#segment-live-count{display:block;font-size:1.1rem;font-weight:700}',
    '#segment-live-count[data-state=incomplete],#segment-live-count[data-state=counting]{color:var(--muted);font-weight:400}',
    '#segment-live-count[data-state=invalid],#segment-live-count[data-state=failed]{color:var(--danger)}',
    '.seg-sample{margin:.25rem 0 0;padding-left:1.2rem;font-size:.92rem}',
    '#segment-sample-title{font-size:.95rem;margin:.5rem 0 0}',
    '.seg-build{display:flex;flex-direction:column;gap:.2rem;margin-top:.75rem}',
    '.seg-build progress{width:100%;max-width:20rem;height:.8rem}',
    '.btn.danger{background:var(--danger);border-color:var(--danger)}',
    'dialog{border:1px solid var(--line);border-radius:12px;padding:1.25rem;max-width:min(32rem,calc(100% - 2rem))}',
    'dialog::backdrop{background:rgba(16,24,40,.45)}',
    '.downloads .linkish.edit,.downloads .linkish.delete{margin-left:.25rem}'
  ].join('\n'));

  A.view({ id: 'segments', title: 'segments.title', scopes: ['segments'], mount: mount, load: load });
  // For the builder: the list's own reload, after a save or a delete.
  A.segments = { reload: load };
})(Admin);
