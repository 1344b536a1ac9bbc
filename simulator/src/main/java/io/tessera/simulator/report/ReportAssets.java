package io.tessera.simulator.report;

/**
 * The report page's inline style sheet and script: no external resources, no fonts, no network. The script renders
 * the slice grid of the tensor selected in {@code #tensor-list} from {@code #tensor-data} and filters the list; the
 * rest of the page is static markup and works without it.
 */
final class ReportAssets {

    private ReportAssets() {
    }

    /** The style sheet: a readable page on a laptop screen, and print rules (no scroll areas, a page per section). */
    static final String CSS = """
            :root { --ink: #1f2933; --muted: #616e7c; --line: #d9e2ec; --bg: #f5f7fa; --accent: #2d6cdf; }
            * { box-sizing: border-box; }
            body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial,
                   sans-serif; color: var(--ink); background: #fff; }
            header, main, nav { max-width: 1200px; margin: 0 auto; padding: 0 20px; }
            header { padding-top: 16px; }
            h1 { font-size: 22px; margin: 8px 0 4px; }
            h2 { font-size: 18px; margin: 0 0 8px; border-bottom: 2px solid var(--line); padding-bottom: 4px; }
            h3 { font-size: 15px; margin: 4px 0; word-break: break-all; }
            nav { position: sticky; top: 0; background: #fff; border-bottom: 1px solid var(--line); z-index: 2;
                  padding-top: 6px; padding-bottom: 6px; }
            nav a { color: var(--accent); text-decoration: none; margin-right: 14px; white-space: nowrap; }
            section { padding: 16px 0 20px; }
            dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0; }
            dl.facts dt { color: var(--muted); }
            dl.facts dd { margin: 0; }
            p.note { color: var(--muted); margin: 4px 0 8px; }
            table { border-collapse: collapse; width: 100%; margin: 8px 0; }
            th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
            th { background: var(--bg); font-weight: 600; }
            td.num, th.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
            td.wrap { word-break: break-word; }
            .mesh-split { display: grid; grid-template-columns: minmax(220px, 320px) 1fr; gap: 16px; }
            #tensor-filter { width: 100%; padding: 4px 6px; margin-bottom: 6px; font: inherit; }
            .scroll-x { overflow-x: auto; }
            .scroll { max-height: 70vh; overflow: auto; border: 1px solid var(--line); }
            #tensor-list { list-style: none; margin: 0; padding: 0; }
            #tensor-list li { padding: 2px 8px; cursor: pointer; border-bottom: 1px solid var(--bg);
                              word-break: break-all; font-size: 13px; }
            #tensor-list li:hover, #tensor-list li:focus { background: var(--bg); outline: none; }
            #tensor-list li.sel { background: #dbe7fb; }
            #tensor-list li::after { color: var(--muted); font-size: 11px; margin-left: 6px; }
            #tensor-list li.k-parameter::after { content: "parameter"; }
            #tensor-list li.k-activation::after { content: "activation"; }
            #slice-view svg { max-width: 100%; height: auto; }
            svg text { font: 11px system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
                       fill: var(--ink); }
            svg.chart { width: 100%; height: auto; display: block; }
            .legend { display: flex; flex-wrap: wrap; gap: 4px 14px; margin: 4px 0; font-size: 12px; }
            .legend span::before { content: ""; display: inline-block; width: 11px; height: 11px;
                                   margin-right: 5px; vertical-align: -1px; background: var(--sw); }
            .seg-parameters, .sw-parameters { fill: #2d6cdf; --sw: #2d6cdf; }
            .seg-gradients, .sw-gradients { fill: #7fa8f0; --sw: #7fa8f0; }
            .seg-optimizer, .sw-optimizer { fill: #f0a030; --sw: #f0a030; }
            .seg-activations, .sw-activations { fill: #3aa17e; --sw: #3aa17e; }
            .seg-buffers, .sw-buffers { fill: #a779d9; --sw: #a779d9; }
            .bar { fill: #2d6cdf; }
            .c-forward { fill: #2d6cdf; --sw: #2d6cdf; }
            .c-backward { fill: #3aa17e; --sw: #3aa17e; }
            .c-recompute { fill: #9cc8f7; --sw: #9cc8f7; }
            .c-optimizer { fill: #f0a030; --sw: #f0a030; }
            .c-send { fill: #e0555a; --sw: #e0555a; }
            .c-gradient, .c-parallel_optimizer { fill: #a779d9; --sw: #a779d9; }
            .c-redistribution, .c-operator { fill: #c9a227; --sw: #c9a227; }
            svg.outlined rect { stroke: #fff; stroke-width: 0.6; }
            .grid-line { stroke: var(--line); stroke-width: 1; }
            .cell { stroke: #fff; stroke-width: 1; }
            @media (max-width: 760px) { .mesh-split { grid-template-columns: 1fr; } }
            @media print {
              nav, #tensor-filter, #tensor-list li:not(.sel) { display: none; }
              .scroll, .scroll-x { max-height: none; overflow: visible; border: 0; }
              section { break-before: page; page-break-before: always; }
              header + nav + main section:first-child { break-before: auto; page-break-before: auto; }
              tr, g { break-inside: avoid; page-break-inside: avoid; }
              body { font-size: 11px; }
              .mesh-split { display: block; }
            }
            """;

    /**
     * The script: the slice view. {@code #tensor-data} holds {@code stageDevices}, {@code cellsUpTo}, {@code layouts}
     * (each {@code s} shape, {@code p} splits per dimension, {@code d} device matrix, {@code i} the slice index of
     * every stage-local rank), {@code details} (texts like {@code parameter, Float32}) and {@code tensors}
     * ({@code [detail id, stage, layout id]}, in the order of {@code #tensor-list}, whose items hold the names).
     */
    static final String JS = """
            (function () {
              'use strict';
              var holder = document.getElementById('tensor-data');
              var view = document.getElementById('slice-view');
              if (!holder || !view) { return; }
              var data = JSON.parse(holder.textContent);
              var items = document.querySelectorAll('#tensor-list li');
              function esc(s) {
                return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
                  .replace(/"/g, '&quot;');
              }
              function colour(i, n) {
                if (n === 1) { return '#9aa5b1'; }
                return 'hsl(' + ((i * 137.508) % 360).toFixed(1) + ',62%,' + (48 + (i % 3) * 9) + '%)';
              }
              function bounds(L, idx) {
                var c = [], rest = idx, d, parts = [];
                for (d = L.p.length - 1; d >= 0; d--) { c[d] = rest % L.p[d]; rest = Math.floor(rest / L.p[d]); }
                for (d = 0; d < L.s.length; d++) {
                  var w = L.s[d] / L.p[d];
                  parts.push(c[d] * w + ':' + (c[d] + 1) * w);
                }
                return '[' + parts.join(', ') + ']';
              }
              // the device matrix's last dimensions (not 1) as columns: at least 4 where they allow, at most 32
              function columns(L, n) {
                var cols = 1, d;
                for (d = L.d.length - 1; d >= 0; d--) {
                  if (L.d[d] === 1) { continue; }
                  if (cols * L.d[d] > 32) { break; }
                  cols *= L.d[d];
                  if (cols >= 4) { break; }
                }
                if (cols === 1 && n > 1) { cols = Math.min(n, 16); }
                return cols;
              }
              function show(k) {
                var t = data.tensors[k], name = items[k].textContent, L = data.layouts[t[2]], n = L.i.length;
                var count = 1, j;
                for (j = 0; j < L.p.length; j++) { count *= L.p[j]; }
                var base = t[1] * data.stageDevices;
                var html = '<h3>' + esc(name) + '</h3><p class="note">' + esc(data.details[t[0]])
                  + ', stage ' + t[1] + '; shape [' + L.s.join(', ') + '], ' + count + ' distinct slice'
                  + (count === 1 ? '' : 's') + ' over ' + n + ' devices (device matrix [' + L.d.join(', ')
                  + '], split per dimension [' + L.p.join(', ') + '])</p>';
                var cells = [], size, cols, rows;
                if (n <= data.cellsUpTo) {
                  cols = columns(L, n);
                  rows = Math.ceil(n / cols);
                  size = cols > 16 ? 22 : 34;
                  for (j = 0; j < n; j++) {
                    var x = (j % cols) * size, y = Math.floor(j / cols) * size, s = L.i[j];
                    cells.push('<g><rect class="cell" x="' + x + '" y="' + y + '" width="' + size + '" height="'
                      + size + '" style="fill:' + colour(s, count) + '"/>'
                      + (size > 30 ? '<text x="' + (x + size / 2) + '" y="' + (y + size / 2 + 4)
                        + '" text-anchor="middle">' + s + '</text>' : '')
                      + '<title>rank ' + (base + j) + ' (stage-local ' + j + '): slice ' + s + ' ' + bounds(L, s)
                      + '</title></g>');
                  }
                  html += '<p class="note">One cell per device, ' + cols + ' per row; the number is the slice'
                    + ' index, hover for the slice bounds.</p>';
                } else {
                  var classes = {}, order = [];
                  for (j = 0; j < n; j++) {
                    var c = classes[L.i[j]];
                    if (!c) { c = classes[L.i[j]] = [j, 0]; order.push(L.i[j]); }
                    c[1]++;
                  }
                  order.sort(function (a, b) { return a - b; });
                  var shown = Math.min(order.length, 1024);
                  cols = Math.min(shown, 32);
                  rows = Math.ceil(shown / cols);
                  size = 22;
                  for (j = 0; j < shown; j++) {
                    var sl = order[j], cl = classes[sl];
                    cells.push('<g><rect class="cell" x="' + (j % cols) * size + '" y="'
                      + Math.floor(j / cols) * size + '" width="' + size + '" height="' + size + '" style="fill:'
                      + colour(sl, count) + '"/><title>slice ' + sl + ' ' + bounds(L, sl) + ': ' + cl[1]
                      + ' devices, the first rank ' + (base + cl[0]) + '</title></g>');
                  }
                  html += '<p class="note">' + n + ' devices: one cell per distinct slice (slice classes)'
                    + (shown < order.length ? ', the first ' + shown + ' of ' + order.length : '')
                    + '; hover for the slice bounds and its devices.</p>';
                }
                html += '<svg viewBox="0 0 ' + cols * size + ' ' + rows * size + '" width="' + cols * size
                  + '" height="' + rows * size + '" role="img" aria-label="slices of ' + esc(name) + '">'
                  + cells.join('') + '</svg>';
                view.innerHTML = html;
                for (j = 0; j < items.length; j++) {
                  var on = items[j].getAttribute('data-tensor') === String(k);
                  items[j].className = on ? 'sel' : '';
                  items[j].setAttribute('aria-selected', on ? 'true' : 'false');
                }
              }
              for (var i = 0; i < items.length; i++) {
                items[i].setAttribute('tabindex', '0');
                items[i].setAttribute('role', 'option');
                items[i].addEventListener('click', function (e) {
                  show(Number(e.currentTarget.getAttribute('data-tensor')));
                });
                items[i].addEventListener('keydown', function (e) {
                  if (e.key === 'Enter' || e.key === ' ') {
                    e.preventDefault();
                    show(Number(e.currentTarget.getAttribute('data-tensor')));
                  }
                });
              }
              var filter = document.getElementById('tensor-filter');
              if (filter) {
                filter.addEventListener('input', function () {
                  var q = filter.value.toLowerCase();
                  for (var j = 0; j < items.length; j++) {
                    items[j].style.display = items[j].textContent.toLowerCase().indexOf(q) >= 0 ? '' : 'none';
                  }
                });
              }
              if (data.tensors.length > 0) { show(0); }
            })();
            """;
}
