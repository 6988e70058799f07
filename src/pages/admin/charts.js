// Charts the workspace draws itself as SVG (no library, no outside request): horizontal bars,
// columns over time and a heat map. Each is a <figure> whose SVG is hidden from screen readers
// and whose numbers are also in a visually hidden table beside it, so nothing is only a picture.
// Every mark carries data-label and data-value: what a test (or a curious marketer) reads back.
(function (A) {
  'use strict';
  var el = A.el, fmt = function (opts, v) { return opts.format ? opts.format(v) : A.fmtInt(v); };

  function figure(kind, opts, svg, header, rows) {
    // In a hidden box, not a hidden table: a table ignores `overflow: hidden` and would still
    // take its full height on the page.
    var table = el('table', null,
      el('caption', { text: opts.title }),
      el('thead', null, el('tr', null, header.map(function (h) { return el('th', { scope: 'col', text: h }); }))),
      el('tbody', null, rows.map(function (r) {
        return el('tr', null, r.map(function (c, i) { return el(i ? 'td' : 'th', i ? null : { scope: 'row' }, String(c)); }));
      })));
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    return el('figure', { class: 'chart', 'data-chart': kind }, el('figcaption', { text: opts.title }), svg,
      el('div', { class: 'visually-hidden' }, table));
  }
  function max(values) { return values.reduce(function (m, v) { return v > m ? v : m; }, 0); }

  // One labelled bar per item, longest = largest value. items: [{label, value, tone?}].
  function bars(items, opts) {
    var rowH = 28, labelW = 150, width = 640, valueW = 70;
    var top = max(items.map(function (i) { return i.value || 0; }));
    var svg = el('svg:svg', { viewBox: '0 0 ' + width + ' ' + Math.max(rowH * items.length, rowH), role: 'img' });
    items.forEach(function (item, i) {
      var v = item.value || 0, y = i * rowH;
      var w = top > 0 ? Math.max(v > 0 ? 2 : 0, (width - labelW - valueW) * v / top) : 0;
      svg.appendChild(el('svg:text', { x: labelW - 8, y: y + rowH / 2 + 4, 'text-anchor': 'end', text: item.label }));
      svg.appendChild(el('svg:rect', { x: labelW, y: y + 5, width: w.toFixed(1), height: rowH - 10, rx: 3,
        class: 'tone-' + (item.tone || 'none'), 'data-label': item.label, 'data-value': v }));
      svg.appendChild(el('svg:text', { x: labelW + w + 6, y: y + rowH / 2 + 4, class: 'v', text: fmt(opts, v) }));
    });
    return figure('bars', opts, svg, [opts.labelTitle || '', opts.valueTitle || ''],
      items.map(function (i) { return [i.label, fmt(opts, i.value || 0)]; }));
  }

  // One column per point in time, left to right. points: [{label (ISO date), value}].
  function columns(points, opts) {
    var width = 720, height = 180, base = height - 24, left = 36;
    var top = max(points.map(function (p) { return p.value || 0; }));
    var step = points.length ? (width - left) / points.length : 0;
    var svg = el('svg:svg', { viewBox: '0 0 ' + width + ' ' + height, role: 'img' });
    svg.appendChild(el('svg:line', { x1: left, x2: width, y1: base, y2: base, stroke: '#d5dae1' }));
    svg.appendChild(el('svg:text', { x: left - 6, y: 12, 'text-anchor': 'end', text: fmt(opts, top) }));
    svg.appendChild(el('svg:text', { x: left - 6, y: base, 'text-anchor': 'end', text: '0' }));
    points.forEach(function (p, i) {
      var v = p.value || 0, h = top > 0 ? (base - 8) * v / top : 0;
      var rect = el('svg:rect', { x: (left + i * step + step * 0.1).toFixed(1), y: (base - h).toFixed(1),
        width: Math.max(step * 0.8, 1).toFixed(1), height: h.toFixed(1), class: 'tone-' + (p.tone || 'none'),
        'data-label': p.label, 'data-value': v });
      rect.appendChild(el('svg:title', { text: A.fmtDate(p.label) + ': ' + fmt(opts, v) }));
      svg.appendChild(rect);
    });
    // The first, middle and last dates under the axis: enough to read the span.
    [0, Math.floor((points.length - 1) / 2), points.length - 1].forEach(function (i, n, all) {
      if (i < 0 || !points[i] || all.indexOf(i) !== n) return;
      svg.appendChild(el('svg:text', { x: (left + i * step + step / 2).toFixed(1), y: height - 6,
        'text-anchor': n === 0 ? 'start' : n === 2 ? 'end' : 'middle', text: A.fmtDate(points[i].label) }));
    });
    return figure('columns', opts, svg, [opts.labelTitle || '', opts.valueTitle || ''],
      points.map(function (p) { return [A.fmtDate(p.label), fmt(opts, p.value || 0)]; }));
  }

  // A grid of counts, darker for more. rows/cols: [{key, label}]; value(r, c) → number.
  function heatmap(rows, cols, value, opts) {
    var cell = 56, left = 90, topPad = 36;
    var width = left + cols.length * cell, height = topPad + rows.length * cell + 8;
    var values = [];
    rows.forEach(function (r) { cols.forEach(function (c) { values.push(value(r, c) || 0); }); });
    var top = max(values);
    var svg = el('svg:svg', { viewBox: '0 0 ' + width + ' ' + height, role: 'img', style: 'max-width:' + width + 'px' });
    if (opts.colTitle) svg.appendChild(el('svg:text', { x: left, y: 11, text: opts.colTitle }));
    cols.forEach(function (c, j) {
      svg.appendChild(el('svg:text', { x: left + j * cell + cell / 2, y: topPad - 6, 'text-anchor': 'middle', text: c.label }));
    });
    rows.forEach(function (r, i) {
      svg.appendChild(el('svg:text', { x: left - 8, y: topPad + i * cell + cell / 2 + 4, 'text-anchor': 'end', text: r.label }));
      cols.forEach(function (c, j) {
        var v = value(r, c) || 0, share = top > 0 ? v / top : 0;
        var rect = el('svg:rect', { x: left + j * cell + 2, y: topPad + i * cell + 2, width: cell - 4, height: cell - 4, rx: 4,
          fill: v > 0 ? 'rgba(31,94,255,' + (0.12 + 0.88 * share).toFixed(2) + ')' : '#eef2fb',
          'data-label': r.key + ',' + c.key, 'data-value': v });
        rect.appendChild(el('svg:title', { text: r.label + ' × ' + c.label + ': ' + A.fmtInt(v) }));
        svg.appendChild(rect);
        svg.appendChild(el('svg:text', { x: left + j * cell + cell / 2, y: topPad + i * cell + cell / 2 + 4, 'text-anchor': 'middle',
          class: 'v', fill: share > 0.55 ? '#fff' : undefined, style: share > 0.55 ? 'fill:#fff' : undefined, text: A.fmtInt(v) }));
      });
    });
    return figure('heatmap', opts, svg, [opts.rowTitle || ''].concat(cols.map(function (c) { return c.label; })),
      rows.map(function (r) { return [r.label].concat(cols.map(function (c) { return A.fmtInt(value(r, c) || 0); })); }));
  }

  A.charts = { bars: bars, columns: columns, heatmap: heatmap };
})(Admin);
