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
                  heatmap: true, opacity: 0.45 };
  // Pixel units: 8-bit images are 0..255; 16-bit DICOM slices are in modality units, where
  // presets and mouse steps scale by `unit` and the default window comes from the header.
  const units = { min: 0, unit: 1, defaults: [255, 128] };
  const image = new Image();
  const heat = new Image();
  let pixels = null;        // greyscale source values, one per pixel
  let scratch = null;       // offscreen canvas holding the windowed slice
  let heatReady = false;

  function loadSlice() {
    const off = document.createElement("canvas");
    off.width = image.naturalWidth;
    off.height = image.naturalHeight;
    const octx = off.getContext("2d");
    octx.drawImage(image, 0, 0);
    const data = octx.getImageData(0, 0, off.width, off.height).data;
    pixels = new Uint8ClampedArray(off.width * off.height);
    for (let i = 0, j = 0; j < pixels.length; i += 4, j += 1) {
      pixels[j] = (data[i] * 299 + data[i + 1] * 587 + data[i + 2] * 114) / 1000;
    }
    scratch = off;
    render();
  }

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
    if (state.heatmap && heatReady) {
      ctx.globalAlpha = state.opacity;
      ctx.drawImage(heat, x, y, w, h);
      ctx.globalAlpha = 1;
    }
    document.getElementById("wl-width").textContent = Math.round(state.width);
    document.getElementById("wl-level").textContent = Math.round(state.level);
    document.getElementById("zoom").textContent = Math.round(state.zoom * 100);
    viewer.dataset.heatmap = state.heatmap && heatReady ? "on" : "off";
    viewer.dataset.invert = state.invert ? "on" : "off";
  }

  function reset() {
    Object.assign(state, { width: units.defaults[0], level: units.defaults[1], zoom: 1, panX: 0,
                           panY: 0, invert: false });
    setPressed("invert-toggle", false);
    render();
  }

  function setPressed(id, on) {
    const button = document.getElementById(id);
    if (button) button.setAttribute("aria-pressed", on ? "true" : "false");
  }

  function toggleHeatmap() {
    if (!heatReady) return;
    state.heatmap = !state.heatmap;
    setPressed("heatmap-toggle", state.heatmap);
    render();
  }

  function toggleInvert() {
    state.invert = !state.invert;
    setPressed("invert-toggle", state.invert);
    render();
  }

  // 16-bit DICOM slices: canvases decode PNGs to 8 bits, so the server sends the raw
  // little-endian Uint16 samples and this windows the modality values itself, starting
  // from the header's window centre and width.
  function loadSixteenBit(url) {
    fetch(url, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) throw new Error("pixels: HTTP " + response.status);
      const width = parseInt(response.headers.get("X-Image-Width"), 10);
      const height = parseInt(response.headers.get("X-Image-Height"), 10);
      const offset = parseFloat(response.headers.get("X-Pixel-Offset"));
      const step = parseFloat(response.headers.get("X-Pixel-Scale"));
      return response.arrayBuffer().then(function (buffer) {
        const view = new DataView(buffer);
        pixels = new Float32Array(width * height);
        let low = Infinity;
        let high = -Infinity;
        for (let j = 0; j < pixels.length; j += 1) {
          const v = view.getUint16(j * 2, true) * step + offset;
          pixels[j] = v;
          if (v < low) low = v;
          if (v > high) high = v;
        }
        units.min = low;
        units.unit = Math.max(high - low, 1) / 255;
        const center = parseFloat(viewer.dataset.windowCenter);
        const windowWidth = parseFloat(viewer.dataset.windowWidth);
        units.defaults = isFinite(center) && isFinite(windowWidth)
          ? [windowWidth, center] : [high - low, (high + low) / 2];
        PRESETS.default = null;
        state.width = units.defaults[0];
        state.level = units.defaults[1];
        scratch = document.createElement("canvas");
        scratch.width = width;
        scratch.height = height;
        viewer.dataset.depth = "16";
        render();
      });
    }).catch(function () {
      // The 8-bit image still gives a usable view.
      image.src = viewer.dataset.imageUrl;
    });
  }

  image.addEventListener("load", loadSlice);
  if (viewer.dataset.pixelsUrl) {
    loadSixteenBit(viewer.dataset.pixelsUrl);
  } else {
    image.src = viewer.dataset.imageUrl;
  }
  if (viewer.dataset.heatmapUrl) {
    heat.addEventListener("load", function () { heatReady = true; render(); });
    heat.src = viewer.dataset.heatmapUrl;
  } else {
    state.heatmap = false;
    setPressed("heatmap-toggle", false);
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
      state.width = Math.min(510 * units.unit, Math.max(units.unit, state.width + dx * units.unit));
      state.level = Math.min(units.min + 255 * units.unit,
                             Math.max(units.min, state.level - dy * units.unit));
    }
    render();
  });
  canvas.addEventListener("wheel", function (e) {
    e.preventDefault();
    state.zoom = Math.min(8, Math.max(0.5, state.zoom * (e.deltaY < 0 ? 1.1 : 1 / 1.1)));
    render();
  }, { passive: false });

  document.querySelectorAll("[data-preset]").forEach(function (button) {
    button.addEventListener("click", function () {
      const preset = PRESETS[button.dataset.preset];
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

  function updateCorrection() {
    const differs = chosenLabel() !== reviewForm.dataset.aiLabel;
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

  function accept() {
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
    document.getElementById("accept").addEventListener("click", function (e) {
      e.preventDefault();
      accept();
    });
  }
  document.getElementById("show-keys").addEventListener("click", function () { dialog.showModal(); });

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const target = e.target;
    const typing = target.tagName === "TEXTAREA" || (target.tagName === "INPUT" && target.type === "text");
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
    if (/^[1-4]$/.test(e.key)) {
      chooseClass(e.key);
    } else if (e.key === "a" && reviewForm) {
      accept();
    } else if (e.key === "c" && reviewForm) {
      startCorrection();
    } else if (e.key === "n") {
      nextForm.requestSubmit();
    } else if (e.key === "g") {
      toggleHeatmap();
    } else if (e.key === "i") {
      toggleInvert();
    } else if (e.key === " ") {
      reset();
    } else if (e.key === "?") {
      dialog.showModal();
    } else {
      return;
    }
    e.preventDefault();
  });
})();
