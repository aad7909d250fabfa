// ringlb stats page: live charts per backend (requests/s, errors/s, p50/p99
// response time), from the `;histograms` feed polled every few seconds.
// Plain JS and inline SVG: the page works offline. Samples are kept in
// sessionStorage so the page's own refresh does not lose the last minutes.
(function () {
  "use strict";
  var KEEP_MS = 5 * 60 * 1000;
  var SVG = "http://www.w3.org/2000/svg"; // a namespace name, nothing is fetched
  var W = 300, H = 80, PAD = 2;

  // The q-quantile (0..1) of a histogram given as cumulative bucket counts
  // (+Inf last) over upper bounds `bounds` (seconds, one fewer than counts),
  // interpolated linearly within its bucket as Prometheus' histogram_quantile.
  // null when the histogram is empty.
  function quantile(q, bounds, cum) {
    var n = cum.length, total = n ? cum[n - 1] : 0;
    if (!(total > 0)) return null;
    var rank = q * total, i = 0;
    while (i < n - 1 && cum[i] < rank) i++;
    if (i === n - 1) return bounds[n - 2]; // in +Inf: the highest finite bound
    var start = i === 0 ? 0 : bounds[i - 1];
    var below = i === 0 ? 0 : cum[i - 1];
    var count = cum[i] - below;
    if (count <= 0) return bounds[i];
    return start + (bounds[i] - start) * ((rank - below) / count);
  }

  // One point per backend from two samples: rates over the interval between
  // them and the quantiles of the responses that ended in it. null when a
  // counter went back (ringlb restarted or reloaded): no point.
  function point(a, b, dt, bounds) {
    if (b.requests < a.requests || b.errors < a.errors) return null;
    var p = { rps: (b.requests - a.requests) / dt, eps: (b.errors - a.errors) / dt, p50: null, p99: null };
    if (a.buckets && b.buckets && a.buckets.length === b.buckets.length) {
      var d = [];
      for (var i = 0; i < b.buckets.length; i++) {
        var x = b.buckets[i] - a.buckets[i];
        if (x < 0) return null;
        d.push(x);
      }
      p.p50 = quantile(0.5, bounds, d);
      p.p99 = quantile(0.99, bounds, d);
    }
    return p;
  }

  // Per backend name, the points ({t, rps, eps, p50, p99}) of the samples.
  function series(samples) {
    var out = {};
    for (var k = 1; k < samples.length; k++) {
      var a = samples[k - 1], b = samples[k];
      var dt = (b.now_ms - a.now_ms) / 1000;
      if (!(dt > 0)) continue;
      var prev = {};
      a.backends.forEach(function (be) { prev[be.name] = be; });
      b.backends.forEach(function (be) {
        var p = prev[be.name] && point(prev[be.name], be, dt, b.bounds);
        if (!out[be.name]) out[be.name] = { mode: be.mode, points: [] };
        if (p) {
          p.t = b.now_ms;
          out[be.name].points.push(p);
        }
      });
    }
    return out;
  }

  function el(name, attrs, parent) {
    var e = document.createElementNS(SVG, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }

  function fmt(v, unit) {
    if (v === null || v === undefined) return "-";
    if (unit === "s") return v >= 1 ? v.toFixed(2) + " s" : (v * 1000).toFixed(v < 0.01 ? 2 : 0) + " ms";
    return (v >= 100 ? v.toFixed(0) : v.toFixed(1)) + "/s";
  }

  // One chart: an SVG with a polyline per key over the last minutes;
  // `span`: the milliseconds the x axis covers, ending at `now`.
  function chart(title, points, keys, colours, unit, now, span) {
    var fig = document.createElement("figure");
    var cap = document.createElement("figcaption");
    fig.appendChild(cap);
    var svg = el("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H }, fig);
    var max = 0;
    points.forEach(function (p) {
      keys.forEach(function (k) { if (p[k] !== null && p[k] > max) max = p[k]; });
    });
    var top = max > 0 ? max * 1.1 : 1;
    for (var g = 1; g < 4; g++) {
      el("line", { x1: 0, x2: W, y1: (H * g) / 4, y2: (H * g) / 4, stroke: "#e0e0d0" }, svg);
    }
    var text = [];
    keys.forEach(function (k, i) {
      var xy = [], last = null;
      points.forEach(function (p) {
        if (p[k] === null) return;
        var x = W - ((now - p.t) / span) * W;
        var y = H - PAD - (p[k] / top) * (H - 2 * PAD);
        xy.push(x.toFixed(1) + "," + y.toFixed(1));
        last = p[k];
      });
      el("polyline", { points: xy.join(" "), fill: "none", stroke: colours[i], "stroke-width": 1.5,
        "class": "series", "data-key": k, "data-n": xy.length }, svg);
      text.push('<span style="color:' + colours[i] + '">' + k + " " + fmt(last, unit) + "</span>");
    });
    var t = el("text", { x: W - 4, y: 11, "text-anchor": "end", "font-size": 10, fill: "#555" }, svg);
    t.textContent = "max " + fmt(max, unit);
    var age = el("text", { x: 4, y: H - 4, "font-size": 10, fill: "#888" }, svg);
    age.textContent = "last " + (span >= 60000 ? Math.round(span / 60000) + " min" : Math.round(span / 1000) + " s");
    cap.innerHTML = "<b>" + title + "</b> " + text.join(" ");
    return fig;
  }

  function lastOf(points, k) {
    for (var i = points.length - 1; i >= 0; i--) if (points[i][k] !== null) return points[i][k];
    return null;
  }

  function maxOf(points, k) {
    var m = null;
    points.forEach(function (p) { if (p[k] !== null && (m === null || p[k] > m)) m = p[k]; });
    return m;
  }

  // Redraws every backend's group; the values drawn last are kept in the
  // group's data attributes (read by tests and scripts).
  function draw(root, samples, closed) {
    var now = samples.length ? samples[samples.length - 1].now_ms : Date.now();
    var all = series(samples);
    // The x axis grows with the history kept, up to KEEP_MS.
    var first = samples.length ? samples[0].now_ms : now;
    var span = Math.min(KEEP_MS, Math.max(now - first, 2 * every));
    root.textContent = "";
    Object.keys(all).forEach(function (name) {
      var s = all[name], pts = s.points;
      var grp = document.createElement("div");
      grp.className = "chgrp";
      var det = document.createElement("details");
      if (!closed[name]) det.open = true;
      det.addEventListener("toggle", function () { closed[name] = !det.open; save("closed", closed); });
      var sum = document.createElement("summary");
      sum.textContent = name;
      det.appendChild(sum);
      grp.appendChild(det);
      grp.setAttribute("data-backend", name);
      grp.setAttribute("data-points", pts.length);
      ["rps", "eps", "p50", "p99"].forEach(function (k) {
        var l = lastOf(pts, k), m = maxOf(pts, k);
        grp.setAttribute("data-" + k, l === null ? "" : String(l));
        grp.setAttribute("data-max-" + k, m === null ? "" : String(m));
      });
      // A TCP backend's "requests" are its connections.
      var what = s.mode === "http" ? "requests" : "connections";
      det.appendChild(chart(what, pts, ["rps"], ["#2060c0"], "/s", now, span));
      det.appendChild(chart("errors", pts, ["eps"], ["#c02020"], "/s", now, span));
      if (s.mode === "http") {
        det.appendChild(chart("response time", pts, ["p50", "p99"], ["#208020", "#c07000"], "s", now, span));
      }
      root.appendChild(grp);
    });
    root.setAttribute("data-samples", samples.length);
  }

  function load(what, empty) {
    try {
      var v = JSON.parse(window.sessionStorage.getItem(key + what));
      return v || empty;
    } catch (e) {
      return empty;
    }
  }

  function save(what, v) {
    try {
      window.sessionStorage.setItem(key + what, JSON.stringify(v));
    } catch (e) {
      // Storage full or refused: the charts keep what this page load saw.
    }
  }

  var root = document.getElementById("charts");
  var key = "ringlb-charts:" + (root ? root.getAttribute("data-feed") : "") + ":";
  window.ringlbCharts = { quantile: quantile, point: point, series: series };
  if (!root || !window.fetch) return;
  var feed = root.getAttribute("data-feed");
  var every = Number(root.getAttribute("data-interval")) || 2000;
  var samples = load("samples", []);
  var closed = load("closed", {});

  function poll() {
    fetch(feed, { cache: "no-store", credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (!s) return;
        samples.push(s);
        while (samples.length && samples[0].now_ms < s.now_ms - KEEP_MS) samples.shift();
        save("samples", samples);
        draw(root, samples, closed);
      })
      .catch(function () { root.setAttribute("data-error", "feed unreachable"); });
  }
  draw(root, samples, closed);
  poll();
  setInterval(poll, every);
})();
