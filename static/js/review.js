// The review screen: a canvas slice viewer (window/level, zoom, pan, invert, heat map, a
// distance ruler), all of it on keys as well as the mouse, and keyboard-first reading.
// Data comes from data-* attributes (CSP forbids inline script). The canvas's backing store
// is sized in device pixels, so the 1:1 view (z) draws one image pixel on one screen pixel;
// its state is mirrored on the canvas's data-* attributes (zoom, scale, window, level, pan,
// ruler) for tests and tools.
(function () {
  "use strict";
  const viewer = document.getElementById("viewer");
  const canvas = document.getElementById("slice");
  if (!viewer || !canvas) return;
  const ctx = canvas.getContext("2d");
  // Window presets in 8-bit units (16-bit slices scale them by `unit`); w cycles them.
  const PRESETS = { default: [255, 128], brain: [160, 90], contrast: [100, 110],
                    wide: [400, 128] };
  const PRESET_ORDER = ["default", "brain", "contrast", "wide"];
  const WL_STEP = 10;       // [ ] and ; ' nudge the window by this many 8-bit units
  const ZOOM_STEP = 1.25;   // + and -
  const PAN_STEP = 40;      // shift+arrows, in CSS pixels
  // zoom: a multiple of the fit-to-window size; native: exactly one image pixel per device
  // pixel (z), whatever the fit; panX/panY in canvas (device) pixels.
  const state = { width: 255, level: 128, zoom: 1, panX: 0, panY: 0, invert: false,
                  heatmap: false, opacity: 0.45, native: false, preset: "default" };
  // The ruler (u): two points in image pixels; `pending` while the second is not placed.
  const ruler = { on: false, a: null, b: null, pending: false, dragging: false };
  // The heat map starts off: it would anchor the eye before the reader has looked (g shows it).
  // Pixel units: 8-bit images are 0..255; 16-bit DICOM slices are in modality units, where
  // presets and mouse steps scale by `unit` and the default window comes from the header.
  const units = { min: 0, unit: 1, defaults: [255, 128], invert: false };
  let heat = null;          // the shown slice's heat map, once loaded
  let pixels = null;        // greyscale source values of the shown slice, one per pixel
  let scratch = null;       // offscreen canvas holding the windowed slice
  let windowTouched = false;
  let invertTouched = false;
  // A study case lists its slices as buttons (#slice-strip); a single image is a list of one
  // made from the viewer's own data-* attributes.
  const chips = Array.prototype.slice.call(document.querySelectorAll("#slice-strip .slice-chip"));
  const slices = chips.length ? chips.map(function (chip) { return chip.dataset; }) : [viewer.dataset];
  const cache = new Map();  // slice index -> promise of {pixels, width, height, depth, low, high}
  const heats = new Map();  // slice index -> promise of its loaded heat map (or null)
  let current = -1;

  function windowed() {
    const octx = scratch.getContext("2d");
    const out = octx.createImageData(scratch.width, scratch.height);
    const low = state.level - state.width / 2;
    const scale = 255 / Math.max(1, state.width);
    for (let j = 0, i = 0; j < pixels.length; j += 1, i += 4) {
      let v = (pixels[j] - low) * scale;
      v = v < 0 ? 0 : v > 255 ? 255 : v;
      if (state.invert) v = 255 - v;
      out.data[i] = out.data[i + 1] = out.data[i + 2] = v;
      out.data[i + 3] = 255;
    }
    octx.putImageData(out, 0, 0);
  }

  // Canvas pixels per CSS pixel (the device pixel ratio, as the backing store was sized).
  function ratio() {
    const rect = canvas.getBoundingClientRect();
    return rect.width ? canvas.width / rect.width : 1;
  }

  // Size the backing store to the canvas's laid-out box in whole device pixels, and the box
  // to exactly that, so no scaling stands between canvas and screen.
  function fitCanvas() {
    Object.assign(canvas.style, { width: "", height: "", flex: "", marginTop: "", marginLeft: "" });
    const rect = canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.floor(rect.width * dpr));
    const h = Math.max(1, Math.floor(rect.height * dpr));
    // The box starts on a device pixel too (the text above may end mid-pixel), or the
    // compositor would resample the whole canvas.
    const left = (rect.left + window.scrollX) * dpr;
    const top = (rect.top + window.scrollY) * dpr;
    const parent = canvas.parentElement.getBoundingClientRect();
    Object.assign(canvas.style, {
      flex: "none",
      width: w / dpr + "px",
      height: h / dpr + "px",
      marginTop: (Math.ceil(top - 0.001) - top) / dpr + "px",
      marginLeft: (rect.left - parent.left) + (Math.ceil(left - 0.001) - left) / dpr + "px",
    });
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    canvas.dataset.dpr = String(dpr);
    render();
  }

  function fitScale() {
    return Math.min(canvas.width / scratch.width, canvas.height / scratch.height);
  }

  // Where the slice is drawn: scale (canvas pixels per image pixel) and top-left corner.
  function geometry() {
    const fit = fitScale();
    const scale = state.native ? 1 : fit * state.zoom;
    let x = (canvas.width - scratch.width * scale) / 2 + state.panX;
    let y = (canvas.height - scratch.height * scale) / 2 + state.panY;
    if (state.native) {
      x = Math.round(x);
      y = Math.round(y);
    }
    return { fit: fit, scale: scale, x: x, y: y };
  }

  function spacing() {
    const meta = slices[Math.max(current, 0)] || viewer.dataset;
    const parts = (meta.pixelSpacing || "").split(" ").map(parseFloat);
    return parts.length === 2 && parts.every(function (v) { return isFinite(v) && v > 0; })
      ? { row: parts[0], col: parts[1] } : null;
  }

  // The ruler's length: millimetres where the slice's pixel spacing is known, else pixels.
  function rulerLength() {
    if (!ruler.a || !ruler.b) return null;
    const dx = ruler.b.x - ruler.a.x;
    const dy = ruler.b.y - ruler.a.y;
    const mm = spacing();
    if (mm) return { value: Math.hypot(dx * mm.col, dy * mm.row), unit: "mm" };
    return { value: Math.hypot(dx, dy), unit: "px" };
  }

  function rulerText(length) {
    return length.value.toFixed(length.unit === "mm" ? 1 : 0) + " " + length.unit;
  }

  function drawRuler(g) {
    const length = rulerLength();
    if (!length) return;
    const r = ratio();
    const ax = g.x + ruler.a.x * g.scale;
    const ay = g.y + ruler.a.y * g.scale;
    const bx = g.x + ruler.b.x * g.scale;
    const by = g.y + ruler.b.y * g.scale;
    ctx.save();
    ctx.strokeStyle = "#ffd24a";
    ctx.fillStyle = "#ffd24a";
    ctx.lineWidth = 1.5 * r;
    ctx.beginPath();
    ctx.moveTo(ax, ay);
    ctx.lineTo(bx, by);
    ctx.stroke();
    [[ax, ay], [bx, by]].forEach(function (p) {
      ctx.beginPath();
      ctx.arc(p[0], p[1], 3 * r, 0, 2 * Math.PI);
      ctx.fill();
    });
    const text = rulerText(length);
    ctx.font = "600 " + Math.round(13 * r) + "px system-ui, sans-serif";
    const tw = ctx.measureText(text).width;
    const lx = Math.min(canvas.width - tw - 10 * r, Math.max(4 * r, bx + 8 * r));
    const ly = Math.min(canvas.height - 6 * r, Math.max(18 * r, by - 8 * r));
    ctx.fillStyle = "rgba(13, 17, 20, 0.8)";
    ctx.fillRect(lx - 4 * r, ly - 15 * r, tw + 8 * r, 20 * r);
    ctx.fillStyle = "#ffd24a";
    ctx.fillText(text, lx, ly);
    ctx.restore();
  }

  function render() {
    if (!pixels) return;
    windowed();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#0d1114";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    const g = geometry();
    const w = scratch.width * g.scale;
    const h = scratch.height * g.scale;
    // At 1:1 each image pixel is copied to one device pixel, unsmoothed.
    ctx.imageSmoothingEnabled = !state.native;
    ctx.drawImage(scratch, g.x, g.y, w, h);
    if (state.heatmap && heat) {
      ctx.imageSmoothingEnabled = true;
      ctx.globalAlpha = state.opacity;
      ctx.drawImage(heat, g.x, g.y, w, h);
      ctx.globalAlpha = 1;
    }
    if (ruler.on) drawRuler(g);
    const length = rulerLength();
    document.getElementById("wl-width").textContent = Math.round(state.width);
    document.getElementById("wl-level").textContent = Math.round(state.level);
    // 100 % is one image pixel per screen pixel (1:1), not the fit.
    document.getElementById("zoom").textContent = Math.round(g.scale * 100);
    document.getElementById("zoom-mode").textContent =
      state.native ? " (1:1)" : state.zoom === 1 && !state.panX && !state.panY ? " (fit)" : "";
    const readout = document.getElementById("ruler-readout");
    readout.hidden = !ruler.on;
    readout.textContent = !ruler.on ? "" : length ? "ruler " + rulerText(length)
      : spacing() ? "ruler (mm): click two points" : "ruler (px, spacing unknown): click two points";
    viewer.dataset.heatmap = state.heatmap && heat ? "on" : "off";
    viewer.dataset.invert = state.invert ? "on" : "off";
    Object.assign(canvas.dataset, {
      zoom: (g.scale / g.fit).toFixed(4),
      scale: g.scale.toFixed(4),
      native: state.native ? "1" : "0",
      window: String(Math.round(state.width * 100) / 100),
      level: String(Math.round(state.level * 100) / 100),
      preset: state.preset,
      panX: String(Math.round(state.panX)),
      panY: String(Math.round(state.panY)),
      originX: String(g.x),
      originY: String(g.y),
      ruler: ruler.on ? "on" : "off",
      rulerLength: length ? length.value.toFixed(2) : "",
      rulerUnit: length ? length.unit : spacing() ? "mm" : "px",
    });
  }

  function reset() {
    windowTouched = false;
    invertTouched = false;
    Object.assign(state, { width: units.defaults[0], level: units.defaults[1], zoom: 1, panX: 0,
                           panY: 0, invert: units.invert, native: false, preset: "default" });
    setPressed("invert-toggle", state.invert);
    render();
  }

  function setPressed(id, on) {
    const button = document.getElementById(id);
    if (button) button.setAttribute("aria-pressed", on ? "true" : "false");
  }

  function toggleHeatmap() {
    if (!slices.some(function (meta) { return meta.heatmapUrl; })) return;
    state.heatmap = !state.heatmap;
    setPressed("heatmap-toggle", state.heatmap);
    render();
  }

  function toggleInvert() {
    invertTouched = true;
    state.invert = !state.invert;
    setPressed("invert-toggle", state.invert);
    render();
  }

  // 8-bit images: drawn to a canvas and read back as luminance.
  function loadEightBit(url) {
    return new Promise(function (resolve, reject) {
      const image = new Image();
      image.onload = function () {
        const off = document.createElement("canvas");
        off.width = image.naturalWidth;
        off.height = image.naturalHeight;
        const octx = off.getContext("2d");
        octx.drawImage(image, 0, 0);
        const data = octx.getImageData(0, 0, off.width, off.height).data;
        const values = new Uint8ClampedArray(off.width * off.height);
        for (let i = 0, j = 0; j < values.length; i += 4, j += 1) {
          values[j] = (data[i] * 299 + data[i + 1] * 587 + data[i + 2] * 114) / 1000;
        }
        resolve({ pixels: values, width: off.width, height: off.height, depth: 8 });
      };
      image.onerror = reject;
      image.src = url;
    });
  }

  // 16-bit DICOM slices: canvases decode PNGs to 8 bits, so the server sends the raw
  // little-endian Uint16 samples and this windows the modality values itself, starting
  // from the header's window centre and width.
  function loadSixteenBit(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) throw new Error("pixels: HTTP " + response.status);
      const width = parseInt(response.headers.get("X-Image-Width"), 10);
      const height = parseInt(response.headers.get("X-Image-Height"), 10);
      const offset = parseFloat(response.headers.get("X-Pixel-Offset"));
      const step = parseFloat(response.headers.get("X-Pixel-Scale"));
      return response.arrayBuffer().then(function (buffer) {
        const view = new DataView(buffer);
        const values = new Float32Array(width * height);
        let low = Infinity;
        let high = -Infinity;
        for (let j = 0; j < values.length; j += 1) {
          const v = view.getUint16(j * 2, true) * step + offset;
          values[j] = v;
          if (v < low) low = v;
          if (v > high) high = v;
        }
        return { pixels: values, width: width, height: height, depth: 16, low: low, high: high };
      });
    });
  }

  function sliceData(index) {
    if (!cache.has(index)) {
      const meta = slices[index];
      const loading = meta.pixelsUrl
        ? loadSixteenBit(meta.pixelsUrl).catch(function () {
          // The 8-bit image still gives a usable view.
          return loadEightBit(meta.imageUrl);
        })
        : loadEightBit(meta.imageUrl);
      cache.set(index, loading);
      loading.catch(function () { cache.delete(index); });
    }
    return cache.get(index);
  }

  function heatMap(index) {
    if (!heats.has(index)) {
      const url = slices[index].heatmapUrl;
      heats.set(index, !url ? Promise.resolve(null) : new Promise(function (resolve) {
        const overlay = new Image();
        overlay.onload = function () { resolve(overlay); };
        overlay.onerror = function () { resolve(null); };
        overlay.src = url;
      }));
    }
    return heats.get(index);
  }

  function headerWindow(meta, data) {
    const center = parseFloat(meta.windowCenter);
    const width = parseFloat(meta.windowWidth);
    if (isFinite(center) && isFinite(width)) return [width, center];
    return [data.high - data.low, (data.high + data.low) / 2];
  }

  function display(index, data) {
    pixels = data.pixels;
    scratch = document.createElement("canvas");
    scratch.width = data.width;
    scratch.height = data.height;
    if (data.depth === 16) {
      units.min = data.low;
      units.unit = Math.max(data.high - data.low, 1) / 255;
      units.defaults = headerWindow(slices[index], data);
      PRESETS.default = null;
    } else {
      units.min = 0;
      units.unit = 1;
      units.defaults = [255, 128];
      PRESETS.default = [255, 128];
    }
    // MONOCHROME1 means low values are white: shown inverted, as its header asks.
    units.invert = data.depth === 16 && slices[index].monochrome1 === "1";
    // Scrolling keeps the reader's window; a fresh view starts at the slice's own default.
    if (!windowTouched) {
      state.width = units.defaults[0];
      state.level = units.defaults[1];
      state.preset = "default";
    }
    if (!invertTouched) {
      state.invert = units.invert;
      setPressed("invert-toggle", state.invert);
    }
    viewer.dataset.depth = String(data.depth);
    render();
  }

  function showSlice(index) {
    index = Math.max(0, Math.min(slices.length - 1, index));
    if (index === current) return;
    current = index;
    heat = null;
    if (chips.length) {
      chips.forEach(function (chip, i) {
        chip.classList.toggle("current", i === index);
        chip.setAttribute("aria-current", i === index ? "true" : "false");
      });
      chips[index].scrollIntoView({ block: "nearest", inline: "nearest" });
      document.getElementById("slice-position").textContent =
        "Slice " + (index + 1) + " / " + slices.length;
      document.getElementById("slice-where").textContent = slices[index].where || "";
      document.getElementById("slice-range").value = String(index + 1);
      const keyInput = document.getElementById("id_key_slice");
      if (keyInput) {
        keyInput.value = slices[index].scan;
        document.getElementById("key-slice-label").textContent =
          "slice " + (index + 1) + " (the one on screen)";
      }
      viewer.dataset.slice = String(index + 1);
    }
    sliceData(index).then(function (data) {
      if (index === current) display(index, data);
    }).catch(function () {
      document.getElementById("viewer-status").classList.add("error");
    });
    heatMap(index).then(function (overlay) {
      if (index !== current) return;
      heat = overlay;
      render();
    });
    // Read ahead so scrolling through the stack does not wait on the network.
    [index + 1, index - 1].forEach(function (near) {
      if (near >= 0 && near < slices.length) sliceData(near).catch(function () {});
    });
  }

  function showKeySlice() {
    const key = chips.findIndex(function (chip) { return chip.classList.contains("key"); });
    if (key >= 0) showSlice(key);
  }

  // Messages float over a corner (see app.css) so the image keeps its place after a read;
  // each can be dismissed, and all but errors go by themselves.
  document.querySelectorAll(".review-page > .messages .msg").forEach(function (message) {
    const close = document.createElement("button");
    close.type = "button";
    close.className = "msg-dismiss";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    close.addEventListener("click", function () { message.remove(); });
    message.appendChild(close);
    if (!message.classList.contains("msg-error")) {
      setTimeout(function () { message.remove(); }, 4000);
    }
  });

  const strip = document.getElementById("slice-strip");
  fitCanvas();
  showSlice(strip ? parseInt(strip.dataset.start, 10) || 0 : 0);
  chips.forEach(function (chip, i) {
    chip.addEventListener("click", function () { showSlice(i); });
  });
  if (chips.length) {
    document.getElementById("slice-prev").addEventListener("click", function () {
      showSlice(current - 1);
    });
    document.getElementById("slice-next").addEventListener("click", function () {
      showSlice(current + 1);
    });
    document.getElementById("slice-range").addEventListener("input", function (e) {
      showSlice(parseInt(e.target.value, 10) - 1);
    });
    const keyButton = document.getElementById("slice-key");
    if (keyButton) keyButton.addEventListener("click", showKeySlice);
  }

  // Window/level, by steps of the 8-bit scale (mouse pixels or key nudges).
  function nudgeWindow(dWidth, dLevel) {
    windowTouched = true;
    state.preset = "";
    state.width = Math.min(510 * units.unit, Math.max(units.unit, state.width + dWidth * units.unit));
    state.level = Math.min(units.min + 255 * units.unit,
                           Math.max(units.min, state.level + dLevel * units.unit));
    render();
  }

  function applyPreset(name) {
    const preset = PRESETS[name];
    windowTouched = Boolean(preset);
    if (preset) {
      state.width = preset[0] * units.unit;
      state.level = units.min + preset[1] * units.unit;
    } else {
      // A 16-bit slice's default is its header's window.
      state.width = units.defaults[0];
      state.level = units.defaults[1];
    }
    state.preset = name;
    render();
  }

  function cyclePreset() {
    applyPreset(PRESET_ORDER[(PRESET_ORDER.indexOf(state.preset) + 1) % PRESET_ORDER.length]);
  }

  // Zoom about the canvas centre (the pan scales with it).
  function zoomTo(zoom) {
    const g = geometry();
    const before = g.scale / g.fit;
    zoom = Math.min(Math.max(32, 32 / g.fit), Math.max(Math.min(0.25, 0.25 / g.fit), zoom));
    state.native = false;
    state.zoom = zoom;
    state.panX *= zoom / before;
    state.panY *= zoom / before;
    render();
  }

  function zoomBy(factor) {
    if (!scratch) return;
    const g = geometry();
    zoomTo((g.scale / g.fit) * factor);
  }

  function fitView() {
    Object.assign(state, { zoom: 1, native: false, panX: 0, panY: 0 });
    render();
  }

  function toggleNative() {
    if (!scratch) return;
    if (state.native) {
      fitView();
      return;
    }
    fitCanvas();  // re-aligned on device pixels, should anything above have moved
    const g = geometry();
    const zoom = 1 / g.fit;
    state.panX *= zoom / (g.scale / g.fit);
    state.panY *= zoom / (g.scale / g.fit);
    state.zoom = zoom;
    state.native = true;
    render();
  }

  function pan(dx, dy) {
    const r = ratio();
    state.panX += dx * r;
    state.panY += dy * r;
    render();
  }

  function toggleRuler() {
    ruler.on = !ruler.on;
    Object.assign(ruler, { a: null, b: null, pending: false, dragging: false });
    setPressed("ruler-toggle", ruler.on);
    render();
  }

  function clearRuler() {
    if (ruler.a) Object.assign(ruler, { a: null, b: null, pending: false, dragging: false });
    else if (ruler.on) toggleRuler();
    render();
  }

  // A mouse position in image pixels.
  function imagePoint(e) {
    const rect = canvas.getBoundingClientRect();
    const r = canvas.width / rect.width;
    const g = geometry();
    return { x: ((e.clientX - rect.left) * r - g.x) / g.scale,
             y: ((e.clientY - rect.top) * r - g.y) / g.scale };
  }

  // Mouse: drag = window/level, shift+drag = pan, wheel = zoom; with the ruler on, two
  // clicks (or a drag) measure.
  let drag = null;
  canvas.addEventListener("mousedown", function (e) {
    e.preventDefault();
    canvas.focus({ preventScroll: true });
    const panning = e.shiftKey || e.button === 1;
    if (ruler.on && !panning && e.button === 0 && scratch) {
      const p = imagePoint(e);
      if (ruler.pending) {
        ruler.b = p;
        ruler.pending = false;
      } else {
        Object.assign(ruler, { a: p, b: p, pending: true, dragging: true,
                               start: { x: e.clientX, y: e.clientY } });
      }
      render();
      return;
    }
    drag = { x: e.clientX, y: e.clientY, pan: panning };
  });
  window.addEventListener("mouseup", function (e) {
    drag = null;
    if (ruler.dragging) {
      ruler.dragging = false;
      // A drag places both ends; a click leaves the second end to the next click.
      if (Math.hypot(e.clientX - ruler.start.x, e.clientY - ruler.start.y) > 4) {
        ruler.b = imagePoint(e);
        ruler.pending = false;
        render();
      }
    }
  });
  window.addEventListener("mousemove", function (e) {
    if (ruler.on && ruler.pending) {
      ruler.b = imagePoint(e);
      render();
      return;
    }
    if (!drag) return;
    const dx = e.clientX - drag.x;
    const dy = e.clientY - drag.y;
    drag.x = e.clientX;
    drag.y = e.clientY;
    if (drag.pan) pan(dx, dy);
    else nudgeWindow(dx, -dy);
  });
  canvas.addEventListener("wheel", function (e) {
    e.preventDefault();
    if (chips.length > 1 && !e.ctrlKey) {
      showSlice(current + (e.deltaY > 0 ? 1 : -1));
      return;
    }
    zoomBy(e.deltaY < 0 ? 1.1 : 1 / 1.1);
  }, { passive: false });

  document.querySelectorAll("[data-preset]").forEach(function (button) {
    button.addEventListener("click", function () { applyPreset(button.dataset.preset); });
  });
  document.getElementById("zoom-fit").addEventListener("click", fitView);
  document.getElementById("zoom-native").addEventListener("click", toggleNative);
  document.getElementById("ruler-toggle").addEventListener("click", toggleRuler);
  window.addEventListener("resize", fitCanvas);
  // The side panel or the toolbar can change the viewer's width without a window resize.
  if (window.ResizeObserver) {
    let viewerWidth = viewer.clientWidth;
    new ResizeObserver(function () {
      if (viewer.clientWidth === viewerWidth) return;
      viewerWidth = viewer.clientWidth;
      fitCanvas();
    }).observe(viewer);
  }
  document.getElementById("invert-toggle").addEventListener("click", toggleInvert);
  document.getElementById("heatmap-toggle").addEventListener("click", toggleHeatmap);
  document.getElementById("view-reset").addEventListener("click", reset);
  document.getElementById("heatmap-opacity").addEventListener("input", function (e) {
    state.opacity = Number(e.target.value) / 100;
    render();
  });

  // Reading from the keyboard.
  const reviewForm = document.getElementById("review-form");
  const initialForm = document.getElementById("initial-form");
  const classForm = reviewForm || initialForm;
  const correction = document.getElementById("correction");
  const reason = document.getElementById("id_reason");
  const dialog = document.getElementById("keys-dialog");
  const nextForm = document.getElementById("next-case-form");
  const skipReason = document.getElementById("id_skip_reason");

  function chooseClass(key) {
    if (!classForm) return;
    const radio = classForm.querySelector('input[name="label"][data-key="' + key + '"]');
    if (!radio) return;
    radio.checked = true;
    if (reviewForm) updateCorrection();
  }

  function chosenLabel() {
    const checked = reviewForm.querySelector('input[name="label"]:checked');
    return checked ? checked.value : "";
  }

  // After a blind first read the form holds the reader's own answer: keeping it needs no
  // reason; taking the AI's instead is a deliberate key (shift+A), recorded as a change.
  const blindLabel = reviewForm ? reviewForm.dataset.blindLabel || "" : "";
  const blindDiffers = Boolean(blindLabel) && blindLabel !== (reviewForm && reviewForm.dataset.aiLabel);
  const blindHint = document.getElementById("blind-hint");

  function updateCorrection() {
    const label = chosenLabel();
    const differs = label !== reviewForm.dataset.aiLabel && label !== blindLabel;
    reviewForm.dataset.changed = blindLabel && label !== blindLabel ? "1" : "";
    correction.classList.toggle("active", differs);
    reason.required = differs;
    if (differs) reason.focus();
  }

  function startCorrection() {
    correction.classList.add("active");
    reviewForm.classList.add("correcting");
    reason.required = true;
    const first = reviewForm.querySelector('input[name="label"]:not(:checked)');
    if (first && chosenLabel() === reviewForm.dataset.aiLabel) first.focus();
  }

  function takeAi() {
    const ai = reviewForm.querySelector('input[name="label"][value="' + reviewForm.dataset.aiLabel + '"]');
    ai.checked = true;
    reason.value = "";
    updateCorrection();
    if (blindHint) blindHint.textContent = "Changed to the AI's answer: enter records the change.";
  }

  function accept() {
    if (blindDiffers) {
      // One keystroke must not turn a blind answer into the AI's.
      if (blindHint) blindHint.textContent = "Your blind answer differs from the AI's: enter keeps yours, shift+A takes the AI's.";
      return;
    }
    const ai = reviewForm.querySelector('input[name="label"][value="' + reviewForm.dataset.aiLabel + '"]');
    ai.checked = true;
    reason.value = "";
    reason.required = false;
    reviewForm.requestSubmit();
  }

  if (reviewForm) {
    reviewForm.querySelectorAll('input[name="label"]').forEach(function (radio) {
      radio.addEventListener("change", updateCorrection);
    });
    document.getElementById("correct").addEventListener("click", startCorrection);
    const acceptButton = document.getElementById("accept");
    if (acceptButton) {
      acceptButton.addEventListener("click", function (e) {
        e.preventDefault();
        accept();
      });
    }
    const takeAiButton = document.getElementById("take-ai");
    if (takeAiButton) takeAiButton.addEventListener("click", takeAi);
  }
  document.getElementById("show-keys").addEventListener("click", function () { dialog.showModal(); });

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const target = e.target;
    const typing = target.tagName === "TEXTAREA" || (target.tagName === "INPUT" && target.type === "text");
    if (e.key === "Enter" && target === skipReason) {
      e.preventDefault();
      nextForm.requestSubmit();
      return;
    }
    if (e.key === "Enter" && !typing && classForm && target.tagName !== "BUTTON") {
      e.preventDefault();
      classForm.requestSubmit();
      return;
    }
    // Inside a text box or the reason list, keys belong to that control (type-ahead).
    if (typing || target.tagName === "SELECT") {
      if (e.key === "Escape") target.blur();
      return;
    }
    if (dialog.open) return;
    // The viewer's keys come first: shift+arrows pan (plain arrows move through slices).
    if (e.shiftKey && e.key.indexOf("Arrow") === 0) {
      const step = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[e.key];
      pan(step[0] * PAN_STEP, step[1] * PAN_STEP);
      e.preventDefault();
      return;
    }
    if (/^[1-6]$/.test(e.key)) {
      chooseClass(e.key);
    } else if (e.key === "A" && reviewForm && blindDiffers) {
      takeAi();
    } else if (e.key === "a" && reviewForm) {
      accept();
    } else if (e.key === "c" && reviewForm) {
      startCorrection();
    } else if (e.key === "n") {
      // On a held case n skips it: the reason comes first (type-ahead, then enter).
      if (skipReason && !skipReason.value) skipReason.focus();
      else nextForm.requestSubmit();
    } else if (e.key === "g") {
      toggleHeatmap();
    } else if (e.key === "i") {
      toggleInvert();
    } else if (e.key === " ") {
      reset();
    } else if (e.key === "w") {
      cyclePreset();
    } else if (e.key === "[" || e.key === "]") {
      nudgeWindow(e.key === "]" ? WL_STEP : -WL_STEP, 0);
    } else if (e.key === ";" || e.key === "'") {
      nudgeWindow(0, e.key === "'" ? WL_STEP : -WL_STEP);
    } else if (e.key === "+" || e.key === "=") {
      zoomBy(ZOOM_STEP);
    } else if (e.key === "-" || e.key === "_") {
      zoomBy(1 / ZOOM_STEP);
    } else if (e.key === "0") {
      fitView();
    } else if (e.key === "z") {
      toggleNative();
    } else if (e.key === "u") {
      toggleRuler();
    } else if (e.key === "Escape" && ruler.on) {
      clearRuler();
    } else if (chips.length && (e.key === "ArrowDown" || e.key === "j" || e.key === "PageDown")) {
      if (target.type === "radio" && e.key === "ArrowDown") return;
      showSlice(current + 1);
    } else if (chips.length && (e.key === "ArrowUp" || e.key === "k" || e.key === "PageUp")) {
      if (target.type === "radio" && e.key === "ArrowUp") return;
      showSlice(current - 1);
    } else if (chips.length && e.key === "Home") {
      showSlice(0);
    } else if (chips.length && e.key === "End") {
      showSlice(slices.length - 1);
    } else if (chips.length && e.key === "m") {
      showKeySlice();
    } else if (e.key === "?") {
      dialog.showModal();
    } else {
      return;
    }
    e.preventDefault();
  });
})();
