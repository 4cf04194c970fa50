/* convnet serve: the page. A view of numbers that convnet computes on the server.
 *
 * Nothing here does the network's math: every probability, activation, gradient, product, sum
 * and relative error is read from the JSON the server sends (see the HTTP contract in the README)
 * and only drawn, coloured (values scaled to a colour with the server's min/max) and laid out.
 * The one thing the page makes itself is the input: the 28x28 grey levels of the drawing.
 *
 * window.convnetServe exposes the page's state for tests and the curious: the image last shown,
 * the last answers, and idle() (true when no request is pending or scheduled).
 */
"use strict";

(function () {
  const SIZE = 28;                 // the input is SIZE x SIZE grey levels
  const SCALE = 10;                // canvas pixels per input pixel
  const BRUSH = 22;                // stroke width on the 280 px ink canvas: ~2.2 input pixels
  const PREDICT_DELAY = 40;        // ms: debounce of live predictions while drawing
  const FORWARD_DELAY = 200;       // ms: debounce of the full forward pass after a stroke

  const S = {                      // the page's state
    model: null,
    image: blank(),                // what the network sees: SIZE rows of SIZE floats in [0, 1]
    version: 0,                    // bumped on every change of the image
    shown: null,                   // {version, image, probabilities, label}: the bars on screen
    forward: null,                 // last /api/forward answer and its image
    backward: null,                // last /api/backward answer and its image and label
    cell: null,                    // last /api/cell answer
    pending: 0,                    // requests in flight
    timers: new Set(),             // scheduled requests
    running: 0,                    // handlers at work (between their requests, too)
    live: [],                      // training snapshots
    filters: {},                   // layer name -> last /api/filters answer
  };
  window.convnetServe = S;
  S.idle = () => S.pending === 0 && S.timers.size === 0 && S.running === 0;

  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  function blank() {
    return Array.from({length: SIZE}, () => new Array(SIZE).fill(0));
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("data-") || k === "title" || k === "href" || k === "target" ||
               k === "colspan" || k === "role" || k === "width" || k === "height") {
        node.setAttribute(k, v);
      } else node[k] = v;
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return node;
  }

  /** node.append, leaving out null and undefined (which append would write as text). */
  function put(node, ...children) {
    node.append(...children.filter((c) => c !== null && c !== undefined));
  }

  // ----- numbers: shown rounded, kept exact in data-value --------------------------------------
  function fmt(x) {
    if (x === null || x === undefined) return "–";
    if (typeof x !== "number") return String(x);
    if (x === 0) return "0";
    const a = Math.abs(x);
    if (a >= 1e4 || a < 1e-3) return x.toExponential(2);
    return String(Number(x.toPrecision(4)));
  }

  /** Shorter, for the arithmetic tables: 3 significant digits. */
  function fmt3(x) {
    if (typeof x !== "number" || x === 0) return fmt(x);
    const a = Math.abs(x);
    if (a >= 1e4 || a < 1e-3) return x.toExponential(1);
    return String(Number(x.toPrecision(3)));
  }

  function num(x, cls) {
    return el("span", {class: "n " + (cls || ""), "data-value": String(x), title: String(x),
                       text: fmt(x)});
  }

  // ----- nested lists: shapes and indexing only ------------------------------------------------
  function shapeOf(a) {
    const shape = [];
    while (Array.isArray(a)) { shape.push(a.length); a = a[0]; }
    return shape;
  }

  function flat(a, out) {
    out = out || [];
    if (Array.isArray(a)) for (const v of a) flat(v, out); else out.push(a);
    return out;
  }

  // ----- colours: the only arithmetic on the page scales a value into a colour ------------------
  const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  function sequential(t) {               // t in [0, 1] -> viridis
    t = Math.min(1, Math.max(0, t || 0)) * (VIRIDIS.length - 1);
    const i = Math.min(VIRIDIS.length - 2, Math.floor(t)), f = t - i;
    return VIRIDIS[i].map((c, k) => Math.round(c + f * (VIRIDIS[i + 1][k] - c)));
  }
  function diverging(t) {                // t in [-1, 1] -> blue, white, red
    t = Math.min(1, Math.max(-1, t || 0));
    const white = [247, 247, 247], end = t < 0 ? [33, 102, 172] : [178, 24, 43];
    const f = Math.abs(t);
    return white.map((c, k) => Math.round(c + f * (end[k] - c)));
  }
  function grey(t) { const g = Math.round(255 * Math.min(1, Math.max(0, t))); return [g, g, g]; }

  /** A colour function for values in [lo, hi]: diverging around 0 if any value is negative. */
  function colourScale(lo, hi, signed) {
    if (signed || lo < 0) {
      const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
      return (v) => diverging(v / m);
    }
    const m = hi > 0 ? hi : 1;
    return (v) => sequential(v / m);
  }

  function rangeOf(values) {
    let lo = Infinity, hi = -Infinity;
    for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
    return [lo === Infinity ? 0 : lo, hi === -Infinity ? 0 : hi];
  }

  /** Paint a canvas of w x h pixels from get(i, j) -> [r, g, b] (null: background). */
  function paint(canvas, h, w, get) {
    canvas.width = w; canvas.height = h;
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(w, h);
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        const c = get(i, j) || [225, 228, 235], p = 4 * (i * w + j);
        img.data[p] = c[0]; img.data[p + 1] = c[1]; img.data[p + 2] = c[2]; img.data[p + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);
  }

  /** Where in a canvas of h x w cells a pointer event fell: [row, col]. */
  function cellAt(ev, canvas, h, w) {
    const r = canvas.getBoundingClientRect();
    const i = Math.floor((ev.clientY - r.top) / r.height * h);
    const j = Math.floor((ev.clientX - r.left) / r.width * w);
    return [Math.min(h - 1, Math.max(0, i)), Math.min(w - 1, Math.max(0, j))];
  }

  // ----- talking to the server ------------------------------------------------------------------
  function status(text, kind) {
    const s = $("#status");
    s.textContent = text || "";
    s.className = kind || "";
  }

  async function api(path, body) {
    S.pending++;
    try {
      const init = body === undefined ? {} : body instanceof Blob ? {   // a file, as it is
        method: "POST", headers: {"Content-Type": body.type}, body} : {
        method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)};
      const r = await fetch(path, init);
      const text = await r.text();
      let data;
      try { data = JSON.parse(text); } catch (e) { data = {error: text.slice(0, 200)}; }
      if (!r.ok) {
        const err = new Error(data.error || `${path}: HTTP ${r.status}`);
        err.status = r.status;
        throw err;
      }
      return data;
    } finally {
      S.pending--;
    }
  }

  /** Run fn after delay ms, once, however often it is asked for meanwhile. */
  function schedule(key, delay, fn) {
    clearTimeout(schedule[key]);
    S.timers.add(key);
    schedule[key] = setTimeout(() => {
      S.timers.delete(key);
      track(fn)();
    }, delay);
  }

  /** fn as an event handler: errors go to the status line, and idle() is false while it runs. */
  function track(fn) {
    return async (...args) => {
      S.running++;
      try { return await fn(...args); } catch (e) { status(e.message, "error"); } finally { S.running--; }
    };
  }

  function docLink(anchor, text) {
    const a = el("a", {class: "doc", "data-anchor": anchor, target: "_blank", text: text});
    setDocHref(a);
    return a;
  }
  function setDocHref(a) {
    const base = S.model && S.model.docs;
    if (base) a.href = `${base}#${a.dataset.anchor}`;
    a.target = "_blank";
    a.rel = "noopener";
  }

  const LAYER_DOCS = {
    Conv2D: "conv2d", MaxPooling2D: "maxpooling2d-the-gradient-goes-to-the-winner",
    AveragePooling2D: "averagepooling2d-the-gradient-is-shared-equally",
    Dropout: "dropout-inverted-scaling", Flatten: "flatten", Dense: "dense",
    Activation: "activations",
    BatchNormalization: "batchnormalization-the-gradient-through-the-batchs-own-statistics",
  };
  const LAYER_WORDS = {
    Conv2D: "one map per filter: each cell is a window of the input times the kernel, summed, plus the bias, through the activation",
    MaxPooling2D: "each cell is the largest value of a window of the map above",
    AveragePooling2D: "each cell is the mean of a window of the map above",
    Dropout: "at prediction time it passes its input through unchanged (it zeroes values only while training)",
    Flatten: "the same numbers as the layer above, laid out in one row",
    Dense: "each unit is the dot product of the whole input with its weight column, plus its bias, through the activation",
    Activation: "the activation function applied to every value",
    BatchNormalization: "each channel shifted and scaled by its learned statistics",
  };

  // ===== 1. drawing ==============================================================================
  const ink = document.createElement("canvas");         // strokes at 10x the input resolution
  ink.width = ink.height = SIZE * SCALE;
  const inkCtx = ink.getContext("2d", {willReadFrequently: true});
  const small = document.createElement("canvas");       // the 28x28 image, for display
  small.width = small.height = SIZE;

  function clearInk() {
    inkCtx.fillStyle = "#000";
    inkCtx.fillRect(0, 0, ink.width, ink.height);
  }

  /** The input from the ink: each input pixel is the mean grey of its 10x10 block. */
  function imageFromInk() {
    const data = inkCtx.getImageData(0, 0, ink.width, ink.height).data;
    const image = blank();
    for (let i = 0; i < SIZE; i++) {
      for (let j = 0; j < SIZE; j++) {
        let total = 0;
        for (let y = i * SCALE; y < (i + 1) * SCALE; y++) {
          for (let x = j * SCALE; x < (j + 1) * SCALE; x++) total += data[4 * (y * ink.width + x)];
        }
        image[i][j] = total / (255 * SCALE * SCALE);
      }
    }
    return image;
  }

  /** Put an image (e.g. a test digit) on the ink canvas, so that drawing adds to it. */
  function inkFromImage(image) {
    for (let i = 0; i < SIZE; i++) {
      for (let j = 0; j < SIZE; j++) {
        const g = Math.round(255 * image[i][j]);
        inkCtx.fillStyle = `rgb(${g},${g},${g})`;
        inkCtx.fillRect(j * SCALE, i * SCALE, SCALE, SCALE);
      }
    }
  }

  function showImage() {
    paint(small, SIZE, SIZE, (i, j) => grey(S.image[i][j]));
    const canvas = $("#canvas"), ctx = canvas.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
    ctx.save();                                        // MNIST digits fill the middle 20x20
    ctx.setLineDash([6, 6]);
    ctx.strokeStyle = "rgba(120, 170, 255, 0.55)";
    ctx.lineWidth = 1;
    ctx.strokeRect(4 * SCALE + 0.5, 4 * SCALE + 0.5, 20 * SCALE, 20 * SCALE);
    ctx.restore();
    const mini = $("#saliency-input");
    paint(mini, SIZE, SIZE, (i, j) => grey(S.image[i][j]));
  }

  function imageChanged(source) {
    S.version++;
    S.imageSource = source;
    showImage();
    requestPredict();
    if (S.backward) $("#backward-stale").hidden = false;
  }

  // Live predictions while drawing: one request at a time, the next one as soon as it is
  // answered (a debounce alone would wait for the pen to stop).
  let predicting = false, predictAgain = false;
  function requestPredict() {
    if (predicting) { predictAgain = true; return; }
    predicting = true;
    predictAgain = false;
    schedule("predict", PREDICT_DELAY, async () => {
      try {
        await predict();
      } finally {
        predicting = false;
        if (predictAgain) requestPredict();
      }
    });
  }

  function setupCanvas() {
    const canvas = $("#canvas");
    let last = null;
    const pos = (ev) => {
      const r = canvas.getBoundingClientRect();
      return [(ev.clientX - r.left) / r.width * ink.width,
              (ev.clientY - r.top) / r.height * ink.height];
    };
    const stroke = (from, to) => {
      inkCtx.strokeStyle = "#fff";
      inkCtx.fillStyle = "#fff";
      inkCtx.lineWidth = BRUSH;
      inkCtx.lineCap = "round";
      inkCtx.lineJoin = "round";
      inkCtx.beginPath();
      inkCtx.moveTo(from[0], from[1]);
      inkCtx.lineTo(to[0], to[1]);
      inkCtx.stroke();
    };
    canvas.addEventListener("pointerdown", (ev) => {
      ev.preventDefault();
      canvas.setPointerCapture(ev.pointerId);
      last = pos(ev);
      stroke(last, last);
      S.image = imageFromInk();
      imageChanged("drawing");
    });
    canvas.addEventListener("pointermove", (ev) => {
      if (last === null) return;
      const events = ev.getCoalescedEvents ? ev.getCoalescedEvents() : [ev];
      for (const e of (events.length ? events : [ev])) {
        const p = pos(e);
        stroke(last, p);
        last = p;
      }
      S.image = imageFromInk();
      imageChanged("drawing");
    });
    const end = () => {
      if (last === null) return;
      last = null;
      schedule("forward", FORWARD_DELAY, forward);
    };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    $("#clear").addEventListener("click", () => {
      clearInk();
      S.image = blank();
      $("#test-label").textContent = "";
      imageChanged("blank");
      schedule("forward", FORWARD_DELAY, forward);
    });
    const loadTest = async (index) => {
      const t = await api(`/api/test_image?index=${index}`);
      $("#test-index").value = t.index !== undefined ? t.index : index;
      clearInk();
      S.image = t.image;
      inkFromImage(t.image);
      $("#test-label").textContent = `MNIST test image #${$("#test-index").value}: ` +
        `its true label is ${t.label}.`;
      $("#target-label").value = String(t.label);
      imageChanged(`test image ${index}`);
      schedule("forward", 0, forward);
    };
    $("#pick-test").addEventListener("click", track(() => loadTest($("#test-index").value)));
    $("#random-test").addEventListener("click", track(() => {
      const n = (S.model && S.model.test_images) || 1;
      return loadTest(Math.floor(Math.random() * n));
    }));
    S.loadTest = loadTest;
    // convnet.preprocessing prepares pictures as `convnet predict` does: grey, ink white,
    // cropped to 20x20, centred by mass in 28x28 (the server does it: /api/prepare)
    const usePrepared = (answer, source, note) => {
      clearInk();
      S.image = answer.image;
      inkFromImage(answer.image);
      $("#test-label").textContent = note;
      imageChanged(source);
      schedule("forward", 0, forward);
    };
    $("#prepare").addEventListener("click", track(async () => {
      const answer = await api("/api/prepare", {pixels: S.image});
      usePrepared(answer, "centred drawing", "Your drawing, cropped and centred by " +
                  "convnet.preprocessing as MNIST's digits were (and as `convnet predict` does).");
    }));
    $("#upload").addEventListener("change", track(async (ev) => {
      const file = ev.target.files && ev.target.files[0];
      if (!file) return;
      const answer = await api("/api/prepare", file);
      ev.target.value = "";
      const [h, w] = answer.original_shape || [];
      usePrepared(answer, `upload ${file.name}`, `${file.name}` + (h ? ` (${w}×${h})` : "") +
                  ", made into 28×28 by convnet.preprocessing as `convnet predict` does.");
    }));
  }

  // ----- probabilities --------------------------------------------------------------------------
  function setupProbabilities(classes) {
    const box = $("#probabilities");
    box.textContent = "";
    for (let k = 0; k < classes; k++) {
      put(box, el("div", {class: "prob", "data-digit": String(k), "data-value": ""},
        el("span", {class: "digit", text: String(k)}),
        el("span", {class: "bar"}, el("span", {class: "fill"})),
        el("span", {class: "value", text: "–"})));
    }
  }

  function showProbabilities(answer, version, image) {
    if (S.shown && S.shown.version > version) return;          // an older answer came late
    S.shown = {version, image, probabilities: answer.probabilities, label: answer.label};
    answer.probabilities.forEach((p, k) => {
      const row = $(`#probabilities [data-digit="${k}"]`);
      row.dataset.value = String(p);
      row.classList.toggle("top", k === answer.label);
      $(".fill", row).style.width = `${(100 * p).toFixed(2)}%`;
      $(".value", row).textContent = `${(100 * p).toFixed(1)}%`;
      $(".value", row).title = String(p);
    });
    const label = $("#predicted-label");
    label.textContent = String(answer.label);
    label.dataset.label = String(answer.label);
  }

  async function predict() {
    const version = S.version, image = S.image;
    const answer = await api("/api/predict", {image});
    showProbabilities(answer, version, image);
    status("");
  }

  // ===== 2. forward: every layer ==================================================================
  function layerCard(container, layer, kind) {
    const id = `${kind}-${layer.name}`;
    let card = container.querySelector(`.layer-card[data-card="${CSS.escape(id)}"]`);
    if (card) return card;
    const info = (S.model.layers || []).find((l) => l.name === layer.name) || {};
    const cls = layer.class || info.class;
    const act = info.activation && info.activation !== "linear" ? `, ${info.activation}` : "";
    card = el("div", {class: "layer-card", "data-card": id, "data-layer": layer.name},
      el("div", {class: "layer-head"},
        el("span", {class: "layer-name", text: layer.name}),
        el("span", {class: "layer-class", text: cls + act}),
        el("span", {class: "layer-shape"}),
        el("span", {class: "layer-range"}),
        LAYER_DOCS[cls] ? docLink(LAYER_DOCS[cls], "docs →") : null),
      el("div", {class: "layer-words", text: LAYER_WORDS[cls] ? `${cls}: ${LAYER_WORDS[cls]}.` : ""}),
      el("div", {class: "maps"}),
      el("div", {class: "extra"}));
    put(container, card);
    return card;
  }

  /** Draw a per-sample array as maps (h, w, c), bars (n) or a heat grid (n large). */
  function drawValues(card, layerName, values, lo, hi, signed, onClick) {
    const shape = shapeOf(values);
    const maps = $(".maps", card);
    const colour = colourScale(lo, hi, signed);
    $(".layer-shape", card).textContent = shape.join("×");
    $(".layer-range", card).innerHTML = "";
    put($(".layer-range", card), "range ", num(lo), " … ", num(hi));
    card.dataset.shape = JSON.stringify(shape);
    if (shape.length === 3) {
      const [h, w, c] = shape;
      let canvases = $$("canvas.fmap", maps);
      if (canvases.length !== c) {
        maps.textContent = "";
        maps.className = "maps grid";
        const px = Math.max(44, Math.min(84, 2 * h));
        for (let k = 0; k < c; k++) {
          const canvas = el("canvas", {class: "fmap", "data-layer": layerName,
                                       "data-channel": String(k), title: `${layerName} channel ${k}`});
          canvas.style.width = canvas.style.height = `${px}px`;
          canvas.addEventListener("click", (ev) => {
            const [i, j] = cellAt(ev, canvas, h, w);
            track(onClick)([i, j, k], canvas);
          });
          put(maps, el("div", {class: "fmap-wrap"}, canvas));
        }
        canvases = $$("canvas.fmap", maps);
      }
      canvases.forEach((canvas, k) => paint(canvas, h, w, (i, j) => colour(values[i][j][k])));
    } else if (shape.length === 1) {
      const n = shape[0];
      maps.className = "maps";
      if (n <= 16) {
        maps.textContent = "";
        const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
        values.forEach((v, k) => {
          const fill = el("span", {class: "fill"});
          fill.style.width = `${(100 * Math.abs(v) / m).toFixed(2)}%`;
          fill.style.background = `rgb(${colour(v).join(",")})`;
          const row = el("div", {class: "unit fmap-cell", "data-layer": layerName,
                                 "data-index": JSON.stringify([k]), "data-value": String(v)},
            el("span", {class: "digit", text: String(k)}),
            el("span", {class: "bar"}, fill), num(v));
          row.addEventListener("click", () => track(onClick)([k], row));
          put(maps, row);
        });
      } else {
        const cols = n <= 512 ? n : Math.ceil(Math.sqrt(n));
        const rows = Math.ceil(n / cols);
        let canvas = $("canvas.fmap", maps);
        if (!canvas || canvas.dataset.n !== String(n)) {
          maps.textContent = "";
          canvas = el("canvas", {class: n <= 512 ? "fmap strip" : "fmap square",
                                 "data-layer": layerName, "data-n": String(n)});
          canvas.addEventListener("click", (ev) => {
            const [i, j] = cellAt(ev, canvas, canvas.height, canvas.width);
            const k = n <= 512 ? j : i * cols + j;
            if (k < n) track(onClick)([k], canvas);
          });
          put(maps, canvas);
          if (n > 512) put(maps, el("div", {class: "note", text: `${n} values, row by row (${cols} a row)`}));
        }
        if (n <= 512) {                       // bars: height is the value
          const H = 48, m = Math.max(Math.abs(lo), Math.abs(hi)) || 1, base = lo < 0 ? H / 2 : H;
          paint(canvas, H, n, (i, j) => {
            const v = values[j], top = base - (v / m) * (lo < 0 ? H / 2 : H);
            const inside = v >= 0 ? (i >= top && i < base) : (i >= base && i < top);
            return inside ? colour(v) : [244, 246, 250];
          });
          canvas.style.width = `${Math.min(520, Math.max(n * 3, 240))}px`;
          canvas.style.height = `${H}px`;
        } else {
          paint(canvas, rows, cols, (i, j) => (i * cols + j < n ? colour(values[i * cols + j]) : null));
          canvas.style.width = canvas.style.height = `${Math.min(288, cols * 3)}px`;
        }
      }
    } else {
      maps.textContent = `(${shape.join("×")}: not drawn)`;
    }
  }

  /** Mark a clicked cell, and its receptive field on the layer above, with outlines. */
  function markCell(container, layerName, index, origin, fieldShape) {
    $$(".mark", container).forEach((m) => m.remove());
    const card = container.querySelector(`.layer-card[data-layer="${CSS.escape(layerName)}"]`);
    if (!card) return;
    const shape = JSON.parse(card.dataset.shape || "[]");
    const box = (wrap, top, left, hgt, wid, h, w, cls) => {
      const m = el("div", {class: "mark " + cls});
      Object.assign(m.style, {top: `${100 * top / h}%`, left: `${100 * left / w}%`,
                              height: `${100 * hgt / h}%`, width: `${100 * wid / w}%`});
      put(wrap, m);
    };
    if (shape.length === 3) {
      const wrap = $$(".fmap-wrap", card)[index[2]];
      if (wrap) box(wrap, index[0], index[1], 1, 1, shape[0], shape[1], "cell");
      const cards = $$(".layer-card", container);
      const above = cards[cards.indexOf(card) - 1];
      if (above && origin && fieldShape && fieldShape.length >= 2) {
        const ashape = JSON.parse(above.dataset.shape || "[]");
        if (ashape.length === 3) {
          $$(".fmap-wrap", above).forEach((w2, k) => {
            if (fieldShape.length === 3 && fieldShape[2] === 1 && k !== index[2]) return;
            box(w2, origin[0], origin[1], fieldShape[0], fieldShape[1], ashape[0], ashape[1], "field");
          });
        }
      }
    } else {
      $$(".fmap-cell", card).forEach((c) => c.classList.toggle("selected",
        c.dataset.index === JSON.stringify(index)));
    }
  }

  async function forward() {
    const version = S.version, image = S.image;
    const answer = await api("/api/forward", {image});
    showProbabilities(answer, version, image);
    if (version < S.version) return;                           // the drawing moved on
    S.forward = {answer, image, version};
    const container = $("#layers");
    for (const layer of answer.layers) {
      const card = layerCard(container, layer, "fwd");
      drawValues(card, layer.name, layer.values, layer.min, layer.max, false,
                 (index) => selectCell(layer.name, index));
      if (layer.class === "Conv2D" && !S.filters[layer.name]) await showFilters(layer.name);
    }
    if (S.cell) await selectCell(S.cell.layer, S.cell.index, true);
    status("");
    if ($("#auto-backward").checked) schedule("backward", 0, backward);
  }

  // ----- filters -------------------------------------------------------------------------------
  /** A 4-D kernel (kh, kw, cin, cout) as tiles: one column per output channel, one row per
   * input channel (a single input channel wraps into rows of 16). Click -> onClick(index). */
  function kernelTiles(kernel, onClick, title) {
    const [kh, kw, cin, cout] = shapeOf(kernel);
    const wrapOne = cin === 1;
    const cols = wrapOne ? Math.min(16, cout) : cout;
    const rows = wrapOne ? Math.ceil(cout / cols) : cin;
    const W = cols * (kw + 1) + 1, H = rows * (kh + 1) + 1;
    const [lo, hi] = rangeOf(flat(kernel));
    const colour = colourScale(lo, hi, true);
    const canvas = el("canvas", {class: "tiles", title: title || ""});
    paint(canvas, H, W, (y, x) => {
      const r = (y - 1) % (kh + 1), c = (x - 1) % (kw + 1);
      if (y === 0 || x === 0 || r === kh || c === kw) return [255, 255, 255];
      const tr = Math.floor((y - 1) / (kh + 1)), tc = Math.floor((x - 1) / (kw + 1));
      const ci = wrapOne ? 0 : tr, co = wrapOne ? tr * cols + tc : tc;
      if (co >= cout) return [255, 255, 255];
      return colour(kernel[r][c][ci][co]);
    });
    const s = Math.max(1, Math.min(7, Math.floor(520 / W)));
    canvas.style.width = `${W * s}px`;
    canvas.style.height = `${H * s}px`;
    if (onClick) canvas.classList.add("clickable");
    canvas.addEventListener("click", (ev) => {
      if (!onClick) return;
      const [y, x] = cellAt(ev, canvas, H, W);
      const r = (y - 1) % (kh + 1), c = (x - 1) % (kw + 1);
      if (y === 0 || x === 0 || r === kh || c === kw) return;
      const tr = Math.floor((y - 1) / (kh + 1)), tc = Math.floor((x - 1) / (kw + 1));
      const ci = wrapOne ? 0 : tr, co = wrapOne ? tr * cols + tc : tc;
      if (co < cout) onClick([r, c, ci, co]);
    });
    const legend = el("div", {class: "note"},
      wrapOne ? `${cout} filters of ${kh}×${kw}` :
        `${cout} filters (columns) × ${cin} input channels (rows), each ${kh}×${kw}`,
      "; range ", num(lo), " … ", num(hi), onClick ? ". Click a weight to check its gradient." : "");
    return el("div", {class: "tiles-box"}, canvas, legend);
  }

  async function showFilters(layerName) {
    const answer = await api("/api/filters", {layer: layerName});
    S.filters[layerName] = answer;
    const card = $(`#layers .layer-card[data-layer="${CSS.escape(layerName)}"]`);
    if (!card) return;
    const extra = $(".extra", card);
    extra.textContent = "";
    const shape = shapeOf(answer.kernel);
    if (shape.length !== 4) return;
    put(extra, el("div", {class: "sub", text: "filters (kernel weights: blue < 0 < red)"}),
      kernelTiles(answer.kernel, (index) => chooseWeight(layerName, "kernel", index),
                  `${layerName} kernel`));
  }

  // ----- one cell's arithmetic -----------------------------------------------------------------
  function table(values2d, cls) {
    const t = el("table", {class: "mini " + cls});
    for (const row of values2d) {
      put(t, el("tr", {}, ...row.map((v) => el("td", {class: cls, "data-value": String(v),
                                                         title: String(v), text: fmt3(v)}))));
    }
    return t;
  }

  /** inputs / weights / products side by side, per input channel for a 3-D window. */
  function arithmeticTables(a) {
    const shape = shapeOf(a.inputs);
    const box = el("div", {class: "arith"});
    const triple = (inp, w, p, title) => el("div", {class: "triple"},
      title ? el("div", {class: "sub", text: title}) : null,
      el("div", {class: "tables"},
        el("figure", {}, table(inp, "input"), el("figcaption", {text: "input"})),
        w ? el("span", {class: "op", text: "×"}) : null,
        w ? el("figure", {}, table(w, "weight"), el("figcaption", {text: "weights"})) : null,
        p ? el("span", {class: "op", text: "="}) : null,
        p ? el("figure", {}, table(p, "product"), el("figcaption", {text: "products"})) : null));
    if (shape.length === 3) {
      const [kh, kw, cin] = shape;
      const slice = (a3, c) => a3 && Array.from({length: kh}, (_, i) =>
        Array.from({length: kw}, (_, j) => a3[i][j][c]));
      for (let c = 0; c < cin; c++) {
        put(box, triple(slice(a.inputs, c), slice(a.weights, c), slice(a.products, c),
                          cin > 1 ? `input channel ${c}` : ""));
      }
    } else if (shape.length === 2) {
      put(box, triple(a.inputs, a.weights, a.products, ""));
    } else if (shape.length === 1) {
      const n = shape[0];
      const rows = Array.from({length: n}, (_, k) => k);
      let note = null;
      if (n > 200 && a.products) {                  // list the largest products; all are in the sum
        rows.sort((x, y) => Math.abs(a.products[y]) - Math.abs(a.products[x]));
        rows.length = 32;
        note = el("div", {class: "note", text: `the 32 largest of ${n} products (by size); the sum below is over all ${n}`});
      } else if (n > 200) {
        rows.length = 200;
        note = el("div", {class: "note", text: `the first 200 of ${n} inputs`});
      }
      const t = el("table", {class: "list"}, el("tr", {},
        el("th", {text: "k"}), el("th", {text: "input"}),
        a.weights ? el("th", {text: "weight"}) : null, a.products ? el("th", {text: "product"}) : null));
      for (const k of rows) {
        put(t, el("tr", {}, el("td", {text: String(k)}),
          el("td", {class: "input", "data-value": String(a.inputs[k]), text: fmt(a.inputs[k])}),
          a.weights ? el("td", {class: "weight", "data-value": String(a.weights[k]), text: fmt(a.weights[k])}) : null,
          a.products ? el("td", {class: n > 200 ? "product-top" : "product", "data-value": String(a.products[k]), text: fmt(a.products[k])}) : null));
      }
      put(box, note, el("div", {class: "scroll"}, t));
    } else if (shape.length === 0 && a.inputs !== null && a.inputs !== undefined) {
      put(box, el("div", {}, "input ", num(a.inputs)));
    }
    return box;
  }

  function renderCell(a) {
    const box = $("#cell-arithmetic");
    box.className = "";
    box.textContent = "";
    const ds = box.dataset;
    ds.layer = a.layer;
    ds.index = JSON.stringify(a.index);
    ds.value = String(a.value);
    ds.sum = String(a.sum);
    ds.bias = a.bias === null || a.bias === undefined ? "" : String(a.bias);
    ds.preActivation = String(a.pre_activation);
    ds.activation = a.activation || "";
    put(box, el("div", {class: "cell-title"},
      el("b", {text: `${a.layer}[${a.index.join(", ")}]`}), ` (${a.class}) = `, num(a.value, "value")));
    const steps = el("table", {class: "steps"});
    const row = (label, value, cls) => put(steps, el("tr", {}, el("th", {text: label}),
                                                   el("td", {}, num(value, cls))));
    if (a.products) row("Σ products", a.sum, "sum");
    if (a.bias !== null && a.bias !== undefined) row("+ bias", a.bias, "bias");
    if (a.products || a.bias !== null) row("= pre-activation z", a.pre_activation, "pre-activation");
    row(a.activation && a.activation !== "linear" ? `${a.activation}(z) = output` : "output",
        a.value, "value");
    put(box, steps);
    if (a.formula) put(box, el("pre", {class: "formula", text: a.formula}));
    if (a.input_origin) {
      put(box, el("div", {class: "note", text: `The receptive field starts at row ` +
        `${a.input_origin[0]}, column ${a.input_origin[1]} of the layer's input (outlined on ` +
        "the layer above). Hover a number for all its digits."}));
    }
    put(box, arithmeticTables(a));
  }

  async function selectCell(layerName, index, quiet) {
    const image = S.image;
    try {
      const a = await api("/api/cell", {image, layer: layerName, index});
      S.cell = a;
      renderCell(a);
      markCell($("#layers"), layerName, index, a.input_origin, shapeOf(a.inputs));
      if (!quiet) status("");
    } catch (e) {
      status(e.message, "error");
    }
  }

  // ===== 3. backward =============================================================================
  async function backward() {
    const version = S.version, image = S.image;
    const label = Number($("#target-label").value);
    const answer = await api("/api/backward", {image, label});
    S.backward = {answer, image, label, version};
    $("#backward-stale").hidden = version === S.version;
    const loss = $("#loss");
    loss.dataset.value = String(answer.loss);
    loss.textContent = "";
    put(loss, `loss for label ${label}: `, num(answer.loss));
    const [lo, hi] = rangeOf(flat(answer.input_gradient));
    const colour = colourScale(lo, hi, true);
    paint($("#saliency"), SIZE, SIZE, (i, j) => colour(answer.input_gradient[i][j]));
    $("#saliency").dataset.min = String(lo);
    $("#saliency").dataset.max = String(hi);
    const container = $("#grad-layers");
    for (const layer of [...answer.layers].reverse()) {      // in the order backprop visits them
      const card = layerCard(container, layer, "bwd");
      $(".layer-words", card).textContent = "dL/d(output): how fast the loss changes as each output value grows (red: the loss rises, blue: it falls).";
      if (layer.output_gradient === null || layer.output_gradient === undefined) {
        $(".maps", card).textContent = "(no gradient reaches this layer)";
      } else {
        drawValues(card, layer.name, layer.output_gradient, layer.min, layer.max, true,
                   (index) => selectGradCell(layer.name, index));
      }
      const extra = $(".extra", card);
      extra.textContent = "";
      const dz = layer.preactivation_gradient;
      if (dz !== undefined && dz !== null && shapeOf(dz).length === 1) {
        const info = S.model.layers.find((l) => l.name === layer.name) || {};
        put(extra, el("div", {class: "sub",
          text: `dL/dz: the gradient before the ${info.activation || "activation"} (through its derivative)`}),
          info.activation === "softmax" ? el("div", {class: "note"},
            "Softmax and cross-entropy together give p − y here: the probabilities minus the " +
            "one-hot target. ", docLink("softmax--cross-entropy-fuse-to-p--y--n", "Why →")) : null,
          shapeOf(dz)[0] <= 16 ? labelledBars(dz) : vectorStrip(dz, null));
      }
      for (const [wname, g] of Object.entries(layer.weight_gradients || {})) {
        const shape = (layer.weight_gradient_shapes || {})[wname] || shapeOf(g);
        put(extra, el("div", {class: "sub", text: `dL/d${wname} ${shape.join("×")}`}));
        if (g === null || g === undefined) {
          put(extra, el("div", {class: "note", text: `(${shape.reduce((a, b) => a * b, 1)} values: too many to send; check single weights in section 4)`}));
        } else if (shape.length === 4) {
          put(extra, kernelTiles(g, (index) => chooseWeight(layer.name, wname, index),
                                   `dL/d${wname} of ${layer.name}`));
        } else if (shape.length === 1) {
          put(extra, vectorStrip(g, (k) => chooseWeight(layer.name, wname, [k])));
        } else if (shape.length === 2) {
          put(extra, matrixImage(g, (index) => chooseWeight(layer.name, wname, index)));
        }
      }
    }
    if (S.gradCell) await selectGradCell(S.gradCell.layer, S.gradCell.index, true);
  }

  /** A short vector as labelled horizontal bars (display only). */
  function labelledBars(values) {
    const [lo, hi] = rangeOf(values);
    const colour = colourScale(lo, hi, true);
    const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
    const box = el("div", {class: "bars"});
    values.forEach((v, k) => {
      const fill = el("span", {class: "fill"});
      fill.style.width = `${(100 * Math.abs(v) / m).toFixed(2)}%`;
      fill.style.background = `rgb(${colour(v).join(",")})`;
      put(box, el("div", {class: "unit"}, el("span", {class: "digit", text: String(k)}),
                    el("span", {class: "bar"}, fill), num(v)));
    });
    return box;
  }

  function vectorStrip(values, onClick) {
    const [lo, hi] = rangeOf(values);
    const colour = colourScale(lo, hi, true);
    const canvas = el("canvas", {class: "strip-h"});
    paint(canvas, 1, values.length, (i, j) => colour(values[j]));
    canvas.style.width = `${Math.min(520, Math.max(120, values.length * 8))}px`;
    canvas.style.height = "14px";
    if (onClick) {
      canvas.classList.add("clickable");
      canvas.addEventListener("click", (ev) => onClick(cellAt(ev, canvas, 1, values.length)[1]));
    }
    return el("div", {class: "tiles-box"}, canvas,
              el("div", {class: "note"}, "range ", num(lo), " … ", num(hi)));
  }

  function matrixImage(values, onClick) {
    const [h, w] = shapeOf(values);
    const [lo, hi] = rangeOf(flat(values));
    const colour = colourScale(lo, hi, true);
    const canvas = el("canvas", {class: "matrix"});
    paint(canvas, w, h, (i, j) => colour(values[j][i]));     // one row per unit
    canvas.style.width = `${Math.min(520, Math.max(160, h * 3))}px`;
    canvas.style.height = `${Math.min(200, Math.max(30, w * 6))}px`;
    canvas.addEventListener("click", (ev) => {
      const [i, j] = cellAt(ev, canvas, w, h);
      onClick([j, i]);
    });
    return el("div", {class: "tiles-box"}, canvas, el("div", {class: "note"},
      `one row per unit (${w}), one column per input (${h}); range `, num(lo), " … ", num(hi)));
  }

  async function selectGradCell(layerName, index, quiet) {
    const label = Number($("#target-label").value);
    try {
      const a = await api("/api/backward_cell", {image: S.image, label, layer: layerName, index});
      S.gradCell = {layer: layerName, index};
      const box = $("#backward-cell");
      box.className = "";
      box.textContent = "";
      box.dataset.layer = layerName;
      box.dataset.index = JSON.stringify(index);
      box.dataset.gradient = String(a.gradient);
      box.dataset.sum = String(a.sum);
      put(box, el("div", {class: "cell-title"},
        el("b", {text: `dL/d ${layerName}[${index.join(", ")}]`}), " = ", num(a.gradient, "gradient")));
      const t = el("table", {class: "list terms"}, el("tr", {},
        el("th", {text: "feeds"}), el("th", {text: "upstream dL/d(next)"}),
        el("th", {text: "local d(next)/d(this)"}), el("th", {text: "product"})));
      for (const term of a.terms || []) {
        put(t, el("tr", {}, el("td", {class: "consumer", text: term.consumer}),
          el("td", {}, num(term.upstream, "upstream")), el("td", {}, num(term.local, "local")),
          el("td", {}, num(term.product, "term"))));
      }
      const count = a.term_count !== undefined ? a.term_count : (a.terms || []).length;
      box.dataset.termCount = String(count);
      if (count > (a.terms || []).length) {
        put(box, el("div", {class: "note", text: `the ${(a.terms || []).length} largest of ${count} terms (by size); the sum is over all ${count}`}));
      }
      put(box, el("div", {class: "scroll"}, t));
      const steps = el("table", {class: "steps"}, el("tr", {}, el("th", {text: count > 1 ? `Σ of the ${count} terms` : "the one term"}),
        el("td", {}, num(a.sum, "sum"))));
      put(box, steps);
      if (a.formula) put(box, el("pre", {class: "formula", text: a.formula}));
      markCell($("#grad-layers"), layerName, index, null, null);
      if (!quiet) status("");
    } catch (e) {
      status(e.message, "error");
    }
  }

  // ===== 4. gradient check =======================================================================
  function chooseWeight(layerName, weight, index) {
    $("#gc-layer").value = layerName;
    fillWeights();
    $("#gc-weight").value = weight;
    $("#gc-index").value = index.join(",");
    status(`${layerName}.${weight}[${index.join(", ")}] chosen for the gradient check (section 4)`);
  }

  function fillWeights() {
    const info = S.model.layers.find((l) => l.name === $("#gc-layer").value);
    const select = $("#gc-weight");
    const keep = select.value;
    select.textContent = "";
    for (const w of (info && info.weights) || []) {
      put(select, el("option", {value: w.name, text: `${w.name} ${w.shape.join("×")}`}));
    }
    if ([...select.options].some((o) => o.value === keep)) select.value = keep;
  }

  async function gradientCheck() {
    const layer = $("#gc-layer").value, weight = $("#gc-weight").value;
    const index = $("#gc-index").value.split(/[\s,]+/).filter((s) => s !== "").map(Number);
    const label = Number($("#target-label").value);
    const box = $("#gradcheck-result");
    box.className = "result busy";
    box.textContent = "checking…";
    try {
      const r = await api("/api/gradcheck", {image: S.image, label, layer, weight, index});
      box.className = "result";
      box.textContent = "";
      box.dataset.relativeError = String(r.relative_error);
      box.dataset.analytic = String(r.analytic);
      box.dataset.numeric = String(r.numeric);
      box.dataset.h = String(r.h);
      const ok = r.relative_error < 1e-4;
      box.dataset.kink = String(!!r.kink);
      put(box,
        el("div", {class: "cell-title"}, el("b", {text: `dL/d ${layer}.${weight}[${(r.index || index).join(", ")}]`}),
           ` for label ${label}`),
        el("table", {class: "steps"},
          el("tr", {}, el("th", {text: "analytic (backpropagation)"}), el("td", {}, num(r.analytic, "analytic"))),
          el("tr", {}, el("th", {text: `numeric (L(w+h) − L(w−h)) / 2h, h = ${r.h}`}), el("td", {}, num(r.numeric, "numeric"))),
          el("tr", {}, el("th", {text: "relative error"}), el("td", {}, num(r.relative_error, "relative-error")))),
        el("div", {class: ok ? "verdict-ok" : "verdict-bad",
                   text: ok ? "✓ backpropagation agrees with the numeric derivative" :
                     "✗ the two disagree: look closer (a ReLU or max-pool tie near w can do this)"}),
        r.kink ? el("div", {class: "note kink"}, "The loss has a kink at this weight (a ReLU " +
          "input at exactly 0, or a max-pool tie): the one-sided slopes are ",
          num(r.slopes[0]), " and ", num(r.slopes[1]), ", so the central difference is their " +
          "average, not a derivative, and the error says nothing about backpropagation. " +
          "Try another weight.") : null,
        r.dtype ? el("div", {class: "note", text: `both computed in ${r.dtype}, on a ${r.dtype} copy of the model`}) : null);
    } catch (e) {
      box.className = "result error";
      box.textContent = e.message;
    }
  }

  // ===== 5. step / undo ==========================================================================
  async function afterWeightsChanged() {
    S.filters = {};
    await forward();
    if (S.backward) await backward();
  }

  async function step() {
    const label = Number($("#target-label").value);
    const box = $("#step-result");
    try {
      const r = await api("/api/step", {image: S.image, label});
      box.className = "result";
      box.textContent = "";
      box.dataset.lossBefore = String(r.loss_before);
      box.dataset.lossAfter = String(r.loss_after);
      box.dataset.step = String(r.step);
      setDepth(r.step);
      put(box, el("table", {class: "steps"},
        el("tr", {}, el("th", {text: `loss before (label ${label})`}), el("td", {}, num(r.loss_before, "loss-before"))),
        el("tr", {}, el("th", {text: "loss after"}), el("td", {}, num(r.loss_after, "loss-after"))),
        r.probabilities_before && r.probabilities_after ? el("tr", {},
          el("th", {text: `probability of ${label}: before → after`}),
          el("td", {}, num(r.probabilities_before[label]), " → ", num(r.probabilities_after[label]))) : null));
      const grid = el("div", {class: "deltas"});
      for (const d of r.deltas || []) {
        const shape = d.shape || shapeOf(d.delta);
        const cell = el("div", {class: "delta", "data-layer": d.layer, "data-weight": d.weight},
          el("div", {class: "sub"}, `Δ ${d.layer}.${d.weight} ${shape.join("×")}: max |Δw| `,
             num(d.max_abs_delta, "max-abs-delta")));
        if (d.delta && shape.length === 4) put(cell, kernelTiles(d.delta, null, `Δ${d.weight}`));
        else if (d.delta && shape.length === 1) put(cell, vectorStrip(d.delta, null));
        put(grid, cell);
      }
      put(box, grid);
      await afterWeightsChanged();
    } catch (e) {
      box.className = "result error";
      box.textContent = e.message;
    }
  }

  function setDepth(depth) {
    const d = $("#step-depth");
    d.dataset.step = String(depth);
    d.textContent = depth ? `${depth} step${depth > 1 ? "s" : ""} taken (Undo goes back one)` :
      "no steps taken: the weights are the model's own";
  }

  async function undo() {
    try {
      const r = await api("/api/undo", {});
      setDepth(r.step);
      const box = $("#step-result");
      box.className = "result";
      box.textContent = "Undone: every weight and the optimizer's state are back as they were.";
      box.dataset.step = String(r.step);
      await afterWeightsChanged();
    } catch (e) {
      status(e.status === 409 ? "Nothing to undo." : e.message, e.status === 409 ? "" : "error");
    }
  }

  // ===== 6. training =============================================================================
  const testImages = new Map();
  async function testImage(index) {
    if (!testImages.has(index)) testImages.set(index, api(`/api/test_image?index=${index}`));
    return testImages.get(index);
  }

  function logValue(logs, names) {
    for (const n of names) if (logs && typeof logs[n] === "number") return logs[n];
    return null;
  }

  function drawCurves(upto) {
    const canvas = $("#live-curves"), ctx = canvas.getContext("2d");
    const W = canvas.width, H = canvas.height, pad = 34;
    ctx.clearRect(0, 0, W, H);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, W, H);
    ctx.strokeStyle = "#ccd";
    ctx.strokeRect(pad, 10, W - 2 * pad, H - pad - 10);
    const ev = S.live;
    if (!ev.length) return;
    const series = [
      {names: ["loss"], colour: "#d6604d", axis: "loss", dash: []},
      {names: ["val_loss"], colour: "#d6604d", axis: "loss", dash: [5, 4]},
      {names: ["accuracy", "acc"], colour: "#2166ac", axis: "acc", dash: []},
      {names: ["val_accuracy", "val_acc"], colour: "#2166ac", axis: "acc", dash: [5, 4]},
    ];
    const losses = ev.flatMap((e) => [logValue(e.logs, ["loss"]), logValue(e.logs, ["val_loss"])])
      .filter((v) => v !== null);
    const lossMax = losses.length ? Math.max(...losses) : 1;
    const x = (i) => pad + (ev.length === 1 ? 0.5 : i / (ev.length - 1)) * (W - 2 * pad);
    const y = (v, axis) => 10 + (1 - v / (axis === "acc" ? 1 : lossMax || 1)) * (H - pad - 10);
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = "#555";
    ctx.fillText(fmt(lossMax), 2, 16);
    ctx.fillText("0", 2, H - pad);
    ctx.fillText("1", W - pad + 4, 16);
    ctx.fillText("0", W - pad + 4, H - pad);
    ctx.fillText(`snapshot 1 … ${ev.length}`, pad, H - 12);
    for (const s of series) {
      ctx.strokeStyle = s.colour;
      ctx.setLineDash(s.dash);
      ctx.lineWidth = 2;
      ctx.beginPath();
      let started = false;
      ev.forEach((e, i) => {
        const v = logValue(e.logs, s.names);
        if (v === null) return;
        if (!started) { ctx.moveTo(x(i), y(v, s.axis)); started = true; } else ctx.lineTo(x(i), y(v, s.axis));
      });
      ctx.stroke();
    }
    ctx.setLineDash([]);
    if (upto !== undefined) {
      ctx.strokeStyle = "#333";
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(x(upto), 10);
      ctx.lineTo(x(upto), H - pad);
      ctx.stroke();
    }
  }

  async function showSnapshot(i) {
    const e = S.live[i];
    if (!e) return;
    drawCurves(i);
    $("#live-scrub-label").textContent = `${i + 1} / ${S.live.length}: epoch ${e.epoch}` +
      (e.batch !== undefined && e.batch !== null ? `, batch ${e.batch}` : "");
    const logs = $("#live-logs");
    logs.textContent = "";
    for (const [k, v] of Object.entries(e.logs || {})) put(logs, `${k} `, num(v), "  ");
    const filt = $("#live-filters");
    // filters and panel come in some snapshots only: show the latest up to this one
    const withFilters = S.live.slice(0, i + 1).reverse().find((s) => s.filters);
    filt.textContent = "";
    if (withFilters) {
      for (const [name, kernel] of Object.entries(withFilters.filters)) {
        if (shapeOf(kernel).length === 4) {
          put(filt, el("div", {class: "sub", text: `${name} filters`}),
                      kernelTiles(kernel, null, `${name} at this snapshot`));
        }
      }
    }
    const withPanel = S.live.slice(0, i + 1).reverse().find((s) => s.panel);
    const panel = $("#live-panel");
    if (!withPanel) { panel.textContent = ""; return; }
    const tiles = [];
    for (const p of withPanel.panel) {
      const canvas = el("canvas", {class: "pixel digit-img"});
      const ok = p.predicted === p.label;
      const tile = el("div", {class: `digit-tile ${ok ? "right" : "wrong"}`, "data-index": String(p.index),
                              "data-predicted": String(p.predicted), "data-label": String(p.label)},
        canvas, el("div", {class: "digit-caption"},
          el("b", {text: String(p.predicted)}),
          p.probabilities ? el("span", {}, " ", num(p.probabilities[p.predicted])) : null,
          ok ? null : el("span", {class: "truth", text: ` (is ${p.label})`})));
      tiles.push(tile);
      testImage(p.index).then((t) => paint(canvas, SIZE, SIZE, (a, b) => grey(t.image[a][b])))
        .catch(() => {});
    }
    panel.replaceChildren(...tiles);
  }

  function addSnapshot(e) {
    const scrub = $("#live-scrub");
    const following = Number(scrub.value) >= S.live.length - 1;
    S.live.push(e);
    scrub.max = String(S.live.length - 1);
    scrub.disabled = false;
    if (following) {
      scrub.value = String(S.live.length - 1);
      showSnapshot(S.live.length - 1);
    } else drawCurves(Number(scrub.value));
  }

  async function setupLive() {
    const statusBox = $("#live-status");
    $("#live-scrub").addEventListener("input", (ev) => showSnapshot(Number(ev.target.value)));
    drawCurves();
    let history;
    try {
      history = await api("/api/live/history");
    } catch (e) {
      statusBox.textContent = "This server has no training stream.";
      return;
    }
    for (const e of history.events || []) S.live.push(e);
    if (S.live.length) {
      $("#live-scrub").max = String(S.live.length - 1);
      $("#live-scrub").value = String(S.live.length - 1);
      $("#live-scrub").disabled = false;
      await showSnapshot(S.live.length - 1);
    }
    if (history.live === false) {
      statusBox.textContent = "This page is not watching a training run. To watch one, train " +
        "with callbacks=[convnet.callbacks.LiveView()] in Python or `convnet train --live`: " +
        "it opens this page with the curves, filters and test digits streaming in.";
      return;
    }
    const describe = () => {
      statusBox.textContent = S.live.length ?
        `${S.live.length} snapshot${S.live.length > 1 ? "s" : ""} received.` :
        "No training snapshots yet: train with callbacks=[convnet.callbacks.LiveView()] " +
        "or `convnet train --live` and they appear here as they come.";
    };
    describe();
    if (!window.EventSource) return;
    const source = new EventSource(`/api/live?from=${S.live.length}`);   // after the history
    source.onmessage = (msg) => {
      try { addSnapshot(JSON.parse(msg.data)); } catch (e) { return; }
      describe();
    };
    source.addEventListener("end", track(async () => {    // training is over: the model is free
      describe();
      statusBox.textContent += " Training has ended: the panels above show the trained model.";
      await refreshModel();
    }));
    source.onerror = () => { if (source.readyState === EventSource.CLOSED) describe(); };
  }

  /** Re-read /api/model; while fit owns the model the endpoints that run it answer 409. */
  async function refreshModel() {
    S.model = await api("/api/model");
    const training = !!S.model.training;
    document.body.classList.toggle("training", training);
    if (training) {
      status("The model is training: the drawing and the passes come alive when it ends " +
             "(the training panel below shows it as it goes).");
    } else {
      status("");
      S.filters = {};
      schedule("forward", 0, forward);
    }
  }

  // ===== start ===================================================================================
  async function start() {
    clearInk();
    showImage();
    try {
      S.model = await api("/api/model");
    } catch (e) {
      status(`cannot reach the server: ${e.message}`, "error");
      return;
    }
    const m = S.model;
    const params = m.layers.reduce((a, l) => a + (l.params || 0), 0);
    $("#model-info").textContent = `${m.name}: ${m.layers.length} layers, ` +
      `${params.toLocaleString("en")} parameters` + (m.optimizer ? `, ${m.optimizer}` : "");
    $$("a.doc").forEach(setDocHref);
    setupProbabilities(m.classes || 10);
    const target = $("#target-label");
    for (let k = 0; k < (m.classes || 10); k++) put(target, el("option", {value: String(k), text: String(k)}));
    target.value = "7";
    target.addEventListener("change", () => { if (S.backward) schedule("backward", 0, backward); });
    const gcLayer = $("#gc-layer");
    for (const l of m.layers.filter((x) => (x.weights || []).length)) {
      put(gcLayer, el("option", {value: l.name, text: `${l.name} (${l.class})`}));
    }
    gcLayer.addEventListener("change", () => {
      fillWeights();
      const w = m.layers.find((l) => l.name === gcLayer.value).weights.find((x) => x.name === $("#gc-weight").value);
      $("#gc-index").value = w ? w.shape.map(() => 0).join(",") : "";
    });
    fillWeights();
    const first = m.layers.find((x) => (x.weights || []).length);
    if (first) $("#gc-index").value = first.weights[0].shape.map((d) => Math.min(1, d - 1)).join(",");
    setupCanvas();
    $("#run-backward").addEventListener("click", () => schedule("backward", 0, backward));
    $("#gradcheck").addEventListener("click", track(gradientCheck));
    $("#step").addEventListener("click", track(step));
    $("#undo").addEventListener("click", track(undo));
    setDepth(0);
    if (!m.test_images) $$("#pick-test, #random-test, #test-index").forEach((x) => { x.disabled = true; });
    if (m.training) {
      document.body.classList.add("training");
      status("The model is training: the drawing and the passes come alive when it ends " +
             "(the training panel below shows it as it goes).");
    } else {
      schedule("forward", 0, forward);
    }
    setupLive();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
