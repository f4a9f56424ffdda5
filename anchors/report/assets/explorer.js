/* The per-sentence explorer of the anchors report. No network, no library: the data is the JSON block
   #explorer-data (anchors/report/explorer.py writes it). One pass renders the chain of thought; changing the
   condition only recolours the sentences; a click renders one detail panel. */
(function () {
  "use strict";
  var root = document.getElementById("explorer");
  if (!root) { return; }
  var holder = document.getElementById("explorer-data");
  if (!holder) { console.error("explorer: the data block #explorer-data is missing"); return; }
  var datasets = JSON.parse(holder.textContent).datasets || [];
  datasets.forEach(function (d) {  /* an array equal to an earlier embedder's is written as that embedder's name */
    Object.keys(d.embedders).forEach(function (e) {
      ["importance", "similarity", "dissimilar"].forEach(function (k) {
        var v = d.embedders[e][k];
        if (typeof v === "string") { d.embedders[e][k] = d.embedders[v][k]; }
      });
    });
  });
  var el = function (id) { return document.getElementById(id); };
  var controls = { dataset: el("ex-dataset"), embedder: el("ex-embedder"), condition: el("ex-condition"),
                   shade: el("ex-shade") };
  var cot = el("ex-cot"), detail = el("ex-detail"), legend = el("ex-legend");
  var ds = null, spans = [], selected = -1;

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function fmt(x) {
    if (x === null || x === undefined || isNaN(x)) { return "–"; }
    if (x !== 0 && Math.abs(x) < 0.001) { return x.toExponential(1); }
    return Number(x.toPrecision(3)).toString();
  }
  function thresholdText(t) {  /* a calibrated llm threshold can sit within 1e-15 of 1 */
    return t !== null && 1 - t > 0 && 1 - t < 1e-6 ? "1 − " + (1 - t).toExponential(1) : fmt(t);
  }
  function fill(select, values, chosen) {
    select.innerHTML = values.map(function (v, i) {
      return '<option value="' + i + '"' + (v === chosen ? " selected" : "") + ">" + esc(v) + "</option>";
    }).join("");
  }
  function embedderNames() { return Object.keys(ds.embedders); }
  function embedder() { return ds.embedders[embedderNames()[+controls.embedder.value]]; }
  function condition() { return ds.conditions[+controls.condition.value]; }
  function point(emb, c, i) { var v = emb.importance[c][i]; return v ? v[0] : null; }

  function values() {
    var emb = embedder(), c = condition(), change = controls.shade.value === "change";
    return ds.sentences.map(function (_, i) {
      var v = point(emb, c, i);
      if (!change || v === null) { return v; }
      var ref = point(emb, "none", i);
      return ref === null ? null : v - ref;
    });
  }
  function scale(vals) {
    var m = 0;
    vals.forEach(function (v) { if (v !== null) { m = Math.max(m, Math.abs(v)); } });
    return m || 1;
  }
  function colour(t) {
    var a = Math.min(1, Math.abs(t)) * 0.6;  /* 0.6 keeps #1a1a1a text above 7:1 contrast on either hue */
    return t >= 0 ? "rgba(230,97,1," + a + ")" : "rgba(33,102,172," + a + ")";
  }
  function shade() {
    var vals = values(), s = scale(vals), c = condition();
    spans.forEach(function (span, i) {
      var v = vals[i];
      span.classList.toggle("na", v === null);
      span.style.backgroundColor = v === null ? "" : colour(v / s);
      span.title = "#" + i + " " + ds.sentences[i][1] + ": " + fmt(v);
    });
    var what = controls.shade.value === "change" ? c + " − none" : c;
    legend.innerHTML = esc(what) + ': <span class="bar" style="background:linear-gradient(to right,' +
      colour(-1) + ",rgba(255,255,255,0)," + colour(1) + ')"></span> ' + fmt(-s) + " … " + fmt(s) +
      " (" + esc(ds.metric_label) + "; dotted: undefined)";
  }
  function renderCot() {
    var parts = [], trace = -1;
    ds.sentences.forEach(function (s, i) {
      if (ds.n_traces > 1 && s[2] !== trace) {
        trace = s[2];
        parts.push('<div class="trace-label">trace ' + (trace + 1) + " of " + ds.n_traces + "</div>");
      }
      parts.push('<span class="ex-s" data-i="' + i + '" tabindex="0" role="button">' + esc(s[0]) + "</span> ");
    });
    cot.innerHTML = parts.join("");
    spans = Array.prototype.slice.call(cot.querySelectorAll(".ex-s"));
  }

  function forest(i) {
    /* One CI bar per condition and embedder: the importance side by side. */
    var rows = [], lo = 0, hi = 0;
    embedderNames().forEach(function (e) {
      ds.conditions.forEach(function (c) {
        var v = ds.embedders[e].importance[c][i];
        rows.push({ label: c + " (" + e + ")", v: v });
        if (v) { lo = Math.min(lo, v[1] === null ? v[0] : v[1], v[0]); hi = Math.max(hi, v[2] === null ? v[0] : v[2], v[0]); }
      });
    });
    if (hi === lo) { hi = lo + 1; }
    var w = 220, x0 = 170, h = 16, x = function (t) { return x0 + (t - lo) / (hi - lo) * w; };
    var svg = ['<svg width="' + (x0 + w + 10) + '" height="' + (rows.length * h + 18) + '" role="img" ' +
               'aria-label="importance with 95% CI per condition">'];
    svg.push('<line x1="' + x(0) + '" x2="' + x(0) + '" y1="0" y2="' + rows.length * h + '" stroke="#999"/>');
    rows.forEach(function (r, k) {
      var y = k * h + h / 2;
      svg.push('<text x="0" y="' + (y + 4) + '" font-size="11">' + esc(r.label) + "</text>");
      if (!r.v) { svg.push('<text x="' + x0 + '" y="' + (y + 4) + '" font-size="11">undefined</text>'); return; }
      if (r.v[1] !== null && r.v[2] !== null) {
        svg.push('<line x1="' + x(r.v[1]) + '" x2="' + x(r.v[2]) + '" y1="' + y + '" y2="' + y + '" stroke="#333" stroke-width="2"/>');
      }
      svg.push('<circle cx="' + x(r.v[0]) + '" cy="' + y + '" r="3.5" fill="#D55E00"/>');
    });
    svg.push('<text x="' + x0 + '" y="' + (rows.length * h + 14) + '" font-size="11">' + fmt(lo) + "</text>");
    svg.push('<text x="' + (x0 + w) + '" y="' + (rows.length * h + 14) + '" font-size="11" text-anchor="end">' + fmt(hi) + "</text>");
    return svg.join("") + "</svg>";
  }
  function conditionTable(i) {
    var names = embedderNames(), head = "<tr><th></th>" + ds.conditions.map(function (c) {
      return "<th>" + esc(c) + "</th>"; }).join("") + "</tr>";
    var rows = names.map(function (e) {
      return "<tr><td>importance (" + esc(e) + ")</td>" + ds.conditions.map(function (c) {
        var v = ds.embedders[e].importance[c][i];
        return "<td>" + (v ? fmt(v[0]) + " [" + fmt(v[1]) + ", " + fmt(v[2]) + "]" : "–") + "</td>";
      }).join("") + "</tr>";
    });
    var stats = function (label, f) {
      return "<tr><td>" + label + "</td>" + ds.conditions.map(function (c) {
        return "<td>" + f(ds.resamples[c][i] || [], c) + "</td>"; }).join("") + "</tr>";
    };
    rows.push(stats("valid / stored", function (rs) {
      return rs.filter(function (r) { return r[3]; }).length + " / " + rs.length; }));
    rows.push(stats("correct among valid", function (rs) {
      var v = rs.filter(function (r) { return r[3]; });
      return v.length ? fmt(v.filter(function (r) { return r[2] === 1; }).length / v.length) : "–"; }));
    return '<div class="ex-scroll"><table>' + head + rows.join("") + "</table></div>";
  }
  function resampleColumns(i) {
    var emb = embedder();
    return '<div class="resample-grid">' + ds.conditions.map(function (c) {
      var rs = ds.resamples[c][i] || [], sims = emb.similarity[c][i] || [], split = emb.dissimilar[c][i] || [];
      var items = rs.map(function (r, k) {
        var sim = sims[k], dis = split[k] === 1;
        var mark = r[2] === 1 ? '<span class="ok">✓</span>' : r[2] === 0 ? '<span class="bad">✗</span>' : "?";
        var text = r[0] < 0 ? "(no resampled sentence recorded)" : ds.strings[r[0]];
        var answer = r[1] < 0 || ds.strings[r[1]] === "" ? "no answer" : ds.strings[r[1]];
        return '<div class="resample' + (dis ? " dissimilar" : "") + (r[3] ? "" : " invalid") + '">' +
          '<span class="text">' + esc(text) + '</span><span class="meta">sim <b class="sim">' +
          (dis && sim !== null && sim >= emb.threshold ? "&lt; " + thresholdText(emb.threshold) : fmt(sim)) +
          "</b>" + (dis ? " (dissimilar)" : "") + " · answer " + esc(answer) + " " + mark +
          (r[3] ? "" : " · not valid") + "</span></div>";
      }).join("");
      return '<div class="resample-col"><h4>' + esc(c) + " (" + rs.length + ")</h4>" +
        (items || "<p>no rollouts stored</p>") + "</div>";
    }).join("") + "</div>";
  }
  function select(i) {
    if (selected >= 0 && spans[selected]) { spans[selected].classList.remove("selected"); }
    selected = i;
    spans[i].classList.add("selected");
    var s = ds.sentences[i];
    detail.innerHTML = "<h3>Sentence " + i + (ds.n_traces > 1 ? " (trace " + (s[2] + 1) + ")" : "") + " · " +
      esc(s[1].replace(/_/g, " ")) + '</h3><p class="full">' + esc(s[0]) + "</p>" +
      "<h4>Importance, 95% CI (rollout bootstrap)</h4>" + forest(i) + conditionTable(i) +
      "<h4>Resamples (similarity under " + esc(embedderNames()[+controls.embedder.value]) + ", threshold " +
      thresholdText(embedder().threshold) + ")</h4>" + (ds.has_resamples ? resampleColumns(i) : "<p>not kept by this source</p>");
  }
  function load(k) {
    ds = datasets[k];
    fill(controls.embedder, embedderNames(), embedderNames()[0]);
    var ablated = ds.conditions.filter(function (c) { return c.indexOf("receiver") === 0; })[0] || ds.conditions[0];
    fill(controls.condition, ds.conditions, ablated);
    selected = -1;
    detail.innerHTML = "<p>Click a sentence.</p>";
    renderCot();
    shade();
  }
  if (!datasets.length) { cot.textContent = "No per-sentence data in this report."; return; }
  fill(controls.dataset, datasets.map(function (d) { return d.label; }), datasets[0].label);
  controls.dataset.addEventListener("change", function () { load(+controls.dataset.value); });
  [controls.embedder, controls.condition, controls.shade].forEach(function (c) {
    c.addEventListener("change", function () { shade(); if (selected >= 0) { select(selected); } });
  });
  cot.addEventListener("click", function (ev) {
    var t = ev.target.closest(".ex-s");
    if (t) { select(+t.getAttribute("data-i")); }
  });
  cot.addEventListener("keydown", function (ev) {
    var t = ev.target.closest(".ex-s");
    if (t && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); select(+t.getAttribute("data-i")); }
  });
  load(0);
}());
