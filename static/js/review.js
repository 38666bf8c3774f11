// The review screen: a canvas slice viewer (window/level, zoom, pan, invert, heat map)
// and keyboard-first reading. Data comes from data-* attributes (CSP forbids inline script).
(function () {
  "use strict";
  const viewer = document.getElementById("viewer");
  const canvas = document.getElementById("slice");
  if (!viewer || !canvas) return;
  const ctx = canvas.getContext("2d");
  const PRESETS = { default: [255, 128], brain: [160, 90], contrast: [100, 110] };
  const state = { width: 255, level: 128, zoom: 1, panX: 0, panY: 0, invert: false,
                  heatmap: false, opacity: 0.45 };
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

  function render() {
    if (!pixels) return;
    windowed();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#0d1114";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    const fit = Math.min(canvas.width / scratch.width, canvas.height / scratch.height) * state.zoom;
    const w = scratch.width * fit;
    const h = scratch.height * fit;
    const x = (canvas.width - w) / 2 + state.panX;
    const y = (canvas.height - h) / 2 + state.panY;
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(scratch, x, y, w, h);
    if (state.heatmap && heat) {
      ctx.globalAlpha = state.opacity;
      ctx.drawImage(heat, x, y, w, h);
      ctx.globalAlpha = 1;
    }
    document.getElementById("wl-width").textContent = Math.round(state.width);
    document.getElementById("wl-level").textContent = Math.round(state.level);
    document.getElementById("zoom").textContent = Math.round(state.zoom * 100);
    viewer.dataset.heatmap = state.heatmap && heat ? "on" : "off";
    viewer.dataset.invert = state.invert ? "on" : "off";
  }

  function reset() {
    windowTouched = false;
    invertTouched = false;
    Object.assign(state, { width: units.defaults[0], level: units.defaults[1], zoom: 1, panX: 0,
                           panY: 0, invert: units.invert });
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

  const strip = document.getElementById("slice-strip");
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

  // Mouse: drag = window/level, shift+drag = pan, wheel = zoom.
  let drag = null;
  canvas.addEventListener("mousedown", function (e) {
    drag = { x: e.clientX, y: e.clientY, pan: e.shiftKey || e.button === 1 };
    e.preventDefault();
  });
  window.addEventListener("mouseup", function () { drag = null; });
  window.addEventListener("mousemove", function (e) {
    if (!drag) return;
    const dx = e.clientX - drag.x;
    const dy = e.clientY - drag.y;
    drag.x = e.clientX;
    drag.y = e.clientY;
    if (drag.pan) {
      state.panX += dx;
      state.panY += dy;
    } else {
      windowTouched = true;
      state.width = Math.min(510 * units.unit, Math.max(units.unit, state.width + dx * units.unit));
      state.level = Math.min(units.min + 255 * units.unit,
                             Math.max(units.min, state.level - dy * units.unit));
    }
    render();
  });
  canvas.addEventListener("wheel", function (e) {
    e.preventDefault();
    if (chips.length > 1 && !e.ctrlKey) {
      showSlice(current + (e.deltaY > 0 ? 1 : -1));
      return;
    }
    state.zoom = Math.min(8, Math.max(0.5, state.zoom * (e.deltaY < 0 ? 1.1 : 1 / 1.1)));
    render();
  }, { passive: false });

  document.querySelectorAll("[data-preset]").forEach(function (button) {
    button.addEventListener("click", function () {
      const preset = PRESETS[button.dataset.preset];
      windowTouched = Boolean(preset);
      if (preset) {
        state.width = preset[0] * units.unit;
        state.level = units.min + preset[1] * units.unit;
      } else {
        state.width = units.defaults[0];
        state.level = units.defaults[1];
      }
      render();
    });
  });
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
