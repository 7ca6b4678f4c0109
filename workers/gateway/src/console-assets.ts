// The web console's three files, kept as plain strings: no build step, no framework,
// nothing fetched from elsewhere (it works offline). The script talks only to /v1 on
// the same origin with the token the user typed (kept in localStorage), or none.
// All data is written with textContent / DOM nodes, never as HTML.

export const CONSOLE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lakehouse console</title>
<link rel="stylesheet" href="/console/app.css">
<script src="/console/app.js" defer></script>
</head>
<body>
<header>
  <h1>lakehouse</h1>
  <span id="health" class="pill">checking…</span>
  <form id="token-form" autocomplete="off">
    <label for="token">token</label>
    <input id="token" type="password" placeholder="bearer token (none locally)">
    <button type="submit" id="token-save">use</button>
  </form>
</header>
<div id="banner" class="banner" hidden></div>
<main>
  <section id="datasets-panel">
    <h2>Datasets <button id="datasets-refresh" class="small">refresh</button></h2>
    <table id="datasets"><thead><tr><th>name</th><th>rows</th><th>version</th><th>updated</th></tr></thead><tbody></tbody></table>
    <p id="datasets-empty" class="muted" hidden>no datasets yet</p>
    <div id="dataset-detail" hidden>
      <h3 id="dataset-name"></h3>
      <p class="muted" id="dataset-meta"></p>
      <h4>Schema</h4>
      <table id="dataset-schema"><thead><tr><th>column</th><th>type</th><th>nullable</th></tr></thead><tbody></tbody></table>
      <h4>Versions</h4>
      <table id="dataset-versions"><thead><tr><th>version</th><th>rows</th><th>objects</th><th>created</th></tr></thead><tbody></tbody></table>
    </div>
  </section>

  <section id="sql-panel">
    <h2>SQL</h2>
    <textarea id="sql-input" rows="5" spellcheck="false" placeholder="SELECT * FROM my_dataset LIMIT 10"></textarea>
    <div class="row"><button id="sql-run">run</button><span class="muted">Ctrl+Enter</span><span id="sql-status" class="muted"></span></div>
    <div id="sql-error" class="error" hidden></div>
    <div class="scroll"><table id="sql-result"><thead></thead><tbody></tbody></table></div>
  </section>

  <section id="observer-panel">
    <h2>Observer <label class="small"><input type="checkbox" id="observer-live" checked> live</label></h2>
    <div class="stats">
      <div><span class="label">total</span><span id="stats-total">–</span></div>
      <div><span class="label">successes</span><span id="stats-successes" class="ok">–</span></div>
      <div><span class="label">failures</span><span id="stats-failures" class="bad">–</span></div>
    </div>
    <p class="muted">by source: <span id="stats-sources">–</span></p>
    <h4>Successes and failures over time</h4>
    <svg id="ops-chart" viewBox="0 0 600 140" preserveAspectRatio="none" role="img" aria-label="successes and failures over time"></svg>
    <h4>Failure clusters</h4>
    <table id="clusters"><thead><tr><th>signature</th><th>count</th><th>endpoint</th><th>last error</th></tr></thead><tbody></tbody></table>
    <h4>Recent operations</h4>
    <div class="scroll short"><table id="ops"><thead><tr><th>time</th><th>source</th><th>endpoint</th><th>ok</th><th>ms</th><th>summary</th></tr></thead><tbody></tbody></table></div>
  </section>

  <section id="vector-panel">
    <h2>Vector search</h2>
    <div class="row">
      <select id="vector-index"><option value="">(no index)</option></select>
      <input id="vector-query" placeholder="search text">
      <input id="vector-k" type="number" min="1" max="100" value="10" class="narrow">
      <button id="vector-run">search</button>
    </div>
    <div id="vector-error" class="error" hidden></div>
    <table id="vector-result"><thead><tr><th>id</th><th>distance</th><th>corpus</th><th>metadata</th></tr></thead><tbody></tbody></table>
  </section>
</main>
</body>
</html>
`;

export const CONSOLE_CSS = `
:root { --fg:#1d2330; --muted:#6b7385; --line:#dde1e8; --bg:#f6f7f9; --ok:#1f8a4c; --bad:#c0392b; --accent:#2857c5; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color:var(--fg); background:var(--bg); }
header { display:flex; align-items:center; gap:16px; padding:10px 20px; background:#fff; border-bottom:1px solid var(--line); }
header h1 { font-size:18px; margin:0; }
header form { margin-left:auto; display:flex; gap:6px; align-items:center; }
main { display:grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap:16px; padding:16px 20px; }
section { background:#fff; border:1px solid var(--line); border-radius:6px; padding:12px 16px; min-width:0; }
h2 { font-size:16px; margin:0 0 8px; display:flex; align-items:center; gap:10px; }
h3 { font-size:15px; margin:12px 0 4px; } h4 { font-size:13px; margin:12px 0 4px; color:var(--muted); }
table { border-collapse:collapse; width:100%; font-size:13px; }
th, td { text-align:left; padding:3px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:#fafbfc; font-weight:600; }
td.num { text-align:right; font-variant-numeric: tabular-nums; }
tr.clickable { cursor:pointer; } tr.clickable:hover, tr.selected { background:#eef3ff; }
textarea, input, select { font:inherit; padding:5px 7px; border:1px solid var(--line); border-radius:4px; }
textarea { width:100%; font-family: ui-monospace, Menlo, Consolas, monospace; }
button { font:inherit; padding:5px 12px; border:1px solid var(--accent); background:var(--accent); color:#fff; border-radius:4px; cursor:pointer; }
button.small, label.small { font-size:12px; padding:2px 8px; font-weight:normal; }
.row { display:flex; gap:8px; align-items:center; margin:6px 0; flex-wrap:wrap; }
.row input#vector-query { flex:1; } .narrow { width:70px; }
.muted { color:var(--muted); } .ok { color:var(--ok); } .bad { color:var(--bad); }
.error { color:var(--bad); background:#fdf0ee; border:1px solid #f3c9c3; padding:6px 8px; border-radius:4px; margin:6px 0; white-space:pre-wrap; }
.banner { margin:12px 20px 0; padding:8px 12px; background:#fff6e0; border:1px solid #f0d48a; border-radius:4px; }
.pill { padding:2px 8px; border-radius:10px; background:#eee; font-size:12px; }
.pill.ok { background:#e3f5ea; } .pill.bad { background:#fbe4e1; }
.stats { display:flex; gap:24px; } .stats div { display:flex; flex-direction:column; } .stats span:last-child { font-size:22px; font-weight:600; }
.label { font-size:12px; color:var(--muted); }
.scroll { overflow:auto; max-height:420px; } .scroll.short { max-height:260px; }
svg#ops-chart { width:100%; height:140px; background:#fafbfc; border:1px solid var(--line); }
`;

export const CONSOLE_JS = String.raw`
'use strict';
(function () {
  var TOKEN_KEY = 'lakehouse.token';
  function $(id) { return document.getElementById(id); }
  function token() { return localStorage.getItem(TOKEN_KEY) || ''; }

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function cell(value) {
    var td = el('td');
    if (value === null || value === undefined) { td.textContent = 'NULL'; td.className = 'muted'; }
    else if (typeof value === 'number') { td.textContent = String(value); td.className = 'num'; }
    else if (typeof value === 'object') td.textContent = JSON.stringify(value);
    else td.textContent = String(value);
    return td;
  }
  function fillBody(table, rows) {
    var body = table.tBodies[0];
    body.replaceChildren();
    rows.forEach(function (r) {
      var tr = el('tr');
      r.forEach(function (v) { tr.appendChild(cell(v)); });
      body.appendChild(tr);
    });
    return body;
  }
  function banner(text) {
    var b = $('banner');
    b.hidden = !text;
    b.textContent = text || '';
  }

  // Every call goes to /v1 on this origin, with the typed token when there is one.
  function api(path, options) {
    options = options || {};
    var headers = { accept: 'application/json' };
    if (token()) headers.authorization = 'Bearer ' + token();
    var init = { method: options.method || 'GET', headers: headers };
    if (options.json !== undefined) { headers['content-type'] = 'application/json'; init.body = JSON.stringify(options.json); }
    return fetch('/v1' + path, init).then(function (res) {
      return res.text().then(function (text) {
        var body;
        try { body = text ? JSON.parse(text) : null; } catch (e) { body = text; }
        if (!res.ok) {
          var msg = body && body.error ? body.error.code + ': ' + body.error.message : 'HTTP ' + res.status;
          if (res.status === 401) banner('The gateway wants a token: type it in the box at the top right. (' + msg + ')');
          else if (res.status === 403 || res.status === 503) banner(msg);
          var err = new Error(msg); err.status = res.status; throw err;
        }
        return body;
      });
    });
  }

  function health() {
    fetch('/v1/health').then(function (r) { return r.json(); }).then(function (h) {
      var p = $('health');
      p.textContent = h.status;
      p.className = 'pill ' + (h.status === 'ok' ? 'ok' : 'bad');
      var bad = Object.keys(h.services || {}).filter(function (k) { return h.services[k] !== 'ok'; });
      p.title = bad.length ? 'not ok: ' + bad.join(', ') : 'every service ok';
    }).catch(function () { $('health').textContent = 'unreachable'; $('health').className = 'pill bad'; });
  }

  // ---- datasets
  function loadDatasets() {
    return api('/catalog/list').then(function (res) {
      banner('');
      var list = (res && res.datasets) || [];
      $('datasets-empty').hidden = list.length > 0;
      var body = $('datasets').tBodies[0];
      body.replaceChildren();
      list.forEach(function (d) {
        var tr = el('tr', null, 'clickable');
        tr.dataset.name = d.name;
        [d.name, d.row_count, d.version, d.updated_at].forEach(function (v) { tr.appendChild(cell(v)); });
        tr.addEventListener('click', function () { showDataset(d.name, tr); });
        body.appendChild(tr);
      });
    }).catch(function (e) { $('datasets-empty').hidden = false; $('datasets-empty').textContent = e.message; });
  }
  function showDataset(name, row) {
    Array.prototype.forEach.call(document.querySelectorAll('#datasets tr.selected'), function (r) { r.classList.remove('selected'); });
    if (row) row.classList.add('selected');
    var enc = encodeURIComponent(name);
    api('/catalog/manifest/' + enc).then(function (m) {
      $('dataset-detail').hidden = false;
      $('dataset-name').textContent = m.name;
      $('dataset-meta').textContent = m.row_count + ' rows · version ' + m.version + ' · ' + (m.objects || []).length + ' object(s) · fingerprint ' + String(m.schema_fingerprint).slice(0, 12) + '…';
      fillBody($('dataset-schema'), (m.schema || []).map(function (f) { return [f.name, f.type, f.nullable ? 'yes' : 'no']; }));
      if (!$('sql-input').value.trim()) $('sql-input').value = 'SELECT * FROM "' + m.name.replace(/"/g, '""') + '" LIMIT 20';
    }).catch(function (e) { $('dataset-meta').textContent = e.message; });
    api('/catalog/history/' + enc).then(function (h) {
      var versions = Array.isArray(h) ? h : (h && (h.versions || h.history)) || [];
      fillBody($('dataset-versions'), versions.map(function (v) { return [v.version, v.row_count, (v.objects || []).length, v.created_at || v.updated_at]; }));
    }).catch(function () { fillBody($('dataset-versions'), []); });
  }

  // ---- SQL
  function runSql() {
    var sql = $('sql-input').value.trim();
    if (!sql) return;
    $('sql-error').hidden = true;
    $('sql-status').textContent = 'running…';
    var table = $('sql-result');
    api('/sql', { method: 'POST', json: { sql: sql, max_rows: 1000 } }).then(function (res) {
      var head = el('tr');
      (res.columns || []).forEach(function (c) { var th = el('th', c.name); th.title = c.type; head.appendChild(th); });
      table.tHead.replaceChildren(head);
      fillBody(table, res.rows || []);
      $('sql-status').textContent = res.row_count + ' row' + (res.row_count === 1 ? '' : 's') +
        (res.truncated ? ' (truncated)' : '') + (res.elapsed_ms !== undefined ? ' · ' + res.elapsed_ms + ' ms' : '');
    }).catch(function (e) {
      $('sql-status').textContent = '';
      $('sql-error').hidden = false;
      $('sql-error').textContent = e.message;
      table.tHead.replaceChildren();
      fillBody(table, []);
    });
  }

  // ---- observer
  function opTime(op) { var t = Date.parse(op.timestamp); return isNaN(t) ? null : t; }
  function drawChart(ops) {
    var svg = $('ops-chart');
    var NS = 'http://www.w3.org/2000/svg';
    svg.replaceChildren();
    var times = ops.map(opTime).filter(function (t) { return t !== null; });
    if (!times.length) { var t0 = document.createElementNS(NS, 'text'); t0.setAttribute('x', '10'); t0.setAttribute('y', '70'); t0.textContent = 'no operations yet'; t0.setAttribute('fill', '#6b7385'); svg.appendChild(t0); return; }
    var min = Math.min.apply(null, times), max = Math.max.apply(null, times);
    var n = 30, span = Math.max(max - min, 1000), width = 600 / n;
    var ok = new Array(n).fill(0), bad = new Array(n).fill(0);
    ops.forEach(function (op) {
      var t = opTime(op); if (t === null) return;
      var i = Math.min(n - 1, Math.floor((t - min) / span * n));
      if (op.success) ok[i]++; else bad[i]++;
    });
    var top = Math.max.apply(null, ok.map(function (v, i) { return v + bad[i]; })) || 1;
    for (var i = 0; i < n; i++) {
      var hOk = ok[i] / top * 120, hBad = bad[i] / top * 120;
      [[hOk, 130 - hOk, '#1f8a4c', ok[i], 'successes'], [hBad, 130 - hOk - hBad, '#c0392b', bad[i], 'failures']].forEach(function (b) {
        if (!b[0]) return;
        var r = document.createElementNS(NS, 'rect');
        r.setAttribute('x', String(i * width + 1)); r.setAttribute('width', String(width - 2));
        r.setAttribute('y', String(b[1])); r.setAttribute('height', String(b[0])); r.setAttribute('fill', b[2]);
        r.setAttribute('class', b[4]);
        var title = document.createElementNS(NS, 'title'); title.textContent = b[3] + ' ' + b[4]; r.appendChild(title);
        svg.appendChild(r);
      });
    }
    var axis = document.createElementNS(NS, 'text');
    axis.setAttribute('x', '4'); axis.setAttribute('y', '139'); axis.setAttribute('font-size', '9'); axis.setAttribute('fill', '#6b7385');
    axis.textContent = new Date(min).toLocaleTimeString() + ' → ' + new Date(max).toLocaleTimeString();
    svg.appendChild(axis);
  }
  function loadObserver() {
    api('/observer/stats').then(function (s) {
      $('stats-total').textContent = s.total;
      $('stats-successes').textContent = s.successes;
      $('stats-failures').textContent = s.failures;
      var src = s.by_source || {};
      $('stats-sources').textContent = Object.keys(src).length ? Object.keys(src).map(function (k) {
        var v = src[k]; return k + ' ' + (typeof v === 'object' ? JSON.stringify(v) : v);
      }).join(' · ') : '–';
    }).catch(function (e) { $('stats-sources').textContent = e.message; });
    api('/observer/ops?limit=500').then(function (res) {
      var ops = Array.isArray(res) ? res : (res && res.ops) || [];
      ops = ops.slice().sort(function (a, b) { return (opTime(a) || 0) - (opTime(b) || 0); });
      drawChart(ops);
      fillBody($('ops'), ops.slice(-25).reverse().map(function (op) {
        var summary = String(op.error || op.output_summary || op.input_summary || '');
        return [op.timestamp, op.source || '', op.endpoint, op.success ? 'yes' : 'no', op.duration_ms, summary.length > 120 ? summary.slice(0, 119) + '…' : summary];
      }));
    }).catch(function () { drawChart([]); });
    api('/observer/clusters').then(function (res) {
      var list = Array.isArray(res) ? res : (res && res.clusters) || [];
      fillBody($('clusters'), list.map(function (c) {
        return [c.sig_hash || c.signature || c.id, c.count !== undefined ? c.count : (c.ops || []).length, c.endpoint || '', c.last_error || c.error || c.sample_error || ''];
      }));
    }).catch(function () { fillBody($('clusters'), []); });
  }

  // ---- vector search (matrix search over one index: the text is embedded server-side)
  function loadIndexes() {
    api('/vectors/index').then(function (res) {
      var sel = $('vector-index');
      var keep = sel.value;
      sel.replaceChildren();
      var list = (res && res.indexes) || [];
      if (!list.length) sel.appendChild(el('option', '(no index)'));
      list.forEach(function (ix) {
        var o = el('option', ix.name + ' (' + ix.count + ' × ' + ix.dimension + ')');
        o.value = ix.name; sel.appendChild(o);
      });
      if (keep) sel.value = keep;
    }).catch(function () {});
  }
  function runVector() {
    var index = $('vector-index').value, q = $('vector-query').value.trim();
    $('vector-error').hidden = true;
    if (!index || !q) { $('vector-error').hidden = false; $('vector-error').textContent = 'choose an index and type a query'; return; }
    api('/matrix/search', { method: 'POST', json: { query_text: q, corpora: [index], k: Number($('vector-k').value) || 10 } }).then(function (res) {
      fillBody($('vector-result'), (res.results || []).map(function (r) { return [r.id, Number(r.distance).toFixed(4), r.corpus || index, r.metadata || null]; }));
    }).catch(function (e) { $('vector-error').hidden = false; $('vector-error').textContent = e.message; });
  }

  function refreshAll() { banner(''); health(); loadDatasets(); loadObserver(); loadIndexes(); }

  document.addEventListener('DOMContentLoaded', function () {
    $('token').value = token();
    $('token-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      localStorage.setItem(TOKEN_KEY, $('token').value.trim());
      refreshAll();
    });
    $('datasets-refresh').addEventListener('click', loadDatasets);
    $('sql-run').addEventListener('click', runSql);
    $('sql-input').addEventListener('keydown', function (ev) { if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); runSql(); } });
    $('vector-run').addEventListener('click', runVector);
    $('vector-query').addEventListener('keydown', function (ev) { if (ev.key === 'Enter') runVector(); });
    refreshAll();
    setInterval(function () { if ($('observer-live').checked && !document.hidden) loadObserver(); }, 3000);
  });
})();
`;
