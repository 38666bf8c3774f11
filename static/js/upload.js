// Upload page: drag and drop or choose many files; each is sent on its own request so it
// gets its own progress bar and its own result (stored, duplicate, or refused and why),
// then the model's reading (class, P(tumour), flags, link), followed by background polls
// until every stored file has a reading or has failed.
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  if (!form) return;
  const input = document.getElementById("upload-input");
  const folder = document.getElementById("upload-folder");
  const list = document.getElementById("upload-list");
  const section = document.getElementById("upload-results");
  const rowTemplate = document.getElementById("upload-row");
  const config = JSON.parse(document.getElementById("upload-config").textContent);
  const url = form.dataset.uploadUrl;
  const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  const queue = [];
  const PARALLEL = 3;
  const POLL_MS = 3000;
  const POLL_BATCH = 50;
  let active = 0;
  // Scan id -> the rows (a duplicate shares its scan) still waiting for a reading.
  const waiting = new Map();
  let polling = null;

  function setState(row, kind, label, message) {
    const state = row.querySelector(".upload-state");
    state.replaceChildren();
    const pill = document.createElement("span");
    pill.className = "pill " + kind;
    pill.textContent = label;
    state.appendChild(pill);
    const msg = row.querySelector(".upload-message");
    msg.replaceChildren(document.createTextNode(message || ""));
    row.dataset.state = kind;
  }

  // A folder brings its hidden files along (.DS_Store, Thumbs.db's kin): not images.
  function hidden(file) {
    const path = file.webkitRelativePath || file.name;
    return path.split("/").some(function (part) { return part.startsWith("."); });
  }

  function addFiles(files) {
    files = files.filter(function (file) { return !hidden(file); });
    if (!files.length) return;
    section.hidden = false;
    for (const file of files) {
      const row = rowTemplate.content.firstElementChild.cloneNode(true);
      row.querySelector(".upload-name").textContent = file.webkitRelativePath || file.name;
      list.prepend(row);
      if (file.size > config.maxFileBytes) {
        setState(row, "danger", "Refused", "The file is larger than " +
          Math.round(config.maxFileBytes / 1048576) + " MB.");
        row.querySelector("progress").value = 0;
        continue;
      }
      queue.push({ file: file, row: row });
    }
    pump();
  }

  function pump() {
    while (active < PARALLEL && queue.length) {
      active += 1;
      send(queue.shift());
    }
  }

  function scanLink(scan) {
    return scan ? "/scans/" + scan.id + "/" : null;
  }

  function pill(kind, text) {
    const span = document.createElement("span");
    span.className = "pill " + kind;
    span.textContent = text;
    return span;
  }

  function className(label) {
    const text = (label || "").replace(/_/g, " ");
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  // The model's reading of a stored scan, or why there is none; false while it is pending.
  function showReading(row, scan) {
    const box = row.querySelector(".upload-reading");
    const p = scan.prediction;
    if (p) {
      const parts = [
        pill(p.tumor_suspected ? "danger" : "ok",
          p.tumor_suspected ? "Tumour suspected" : "No tumour suspected"),
        pill("info", className(p.label)),
      ];
      const prob = document.createElement("span");
      prob.className = "p-tumor";
      prob.textContent = "P(tumour) " + Number(p.p_tumor).toFixed(2);
      parts.push(prob);
      if (p.ood) parts.push(pill("warn", "Unusual image"));
      const link = document.createElement("a");
      link.href = scanLink(scan);
      link.textContent = "Open case";
      parts.push(link);
      box.replaceChildren.apply(box, parts);
      row.querySelector(".upload-message").textContent = "Read by the model.";
      row.dataset.reading = "predicted";
      return true;
    }
    if (scan.status === "failed" || scan.status === "quarantined") {
      const reason = document.createElement("span");
      reason.className = "muted";
      reason.textContent = scan.status === "failed"
        ? "The model could not read it: " + (scan.status_reason || "no reason given")
        : "Held in quarantine for an admin; not read by the model.";
      box.replaceChildren(pill(scan.status === "failed" ? "danger" : "warn",
        scan.status === "failed" ? "Prediction failed" : "Quarantined"), reason);
      row.dataset.reading = scan.status;
      return true;
    }
    box.replaceChildren(pill("info", "Waiting for the model"));
    row.dataset.reading = "pending";
    return false;
  }

  function follow(row, scan) {
    if (!scan) return;
    const name = row.querySelector(".upload-name");
    if (scan.display_name && scan.format === "dicom") {
      name.textContent = scan.display_name + " (" + name.textContent + ")";
    }
    if (showReading(row, scan)) return;
    const rows = waiting.get(scan.id) || [];
    rows.push(row);
    waiting.set(scan.id, rows);
    schedulePoll();
  }

  function schedulePoll() {
    if (polling || !waiting.size) return;
    polling = setTimeout(poll, POLL_MS);
  }

  // A background request: it does not keep an idle session signed in.
  function poll() {
    const ids = Array.from(waiting.keys()).slice(0, POLL_BATCH);
    const query = ids.map(function (id) { return "id=" + encodeURIComponent(id); }).join("&");
    fetch(url + "?page_size=" + POLL_BATCH + "&" + query, {
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-Background-Refresh": "1" },
    })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) {
        (data.results || []).forEach(function (scan) {
          const rows = waiting.get(scan.id);
          if (!rows) return;
          const done = rows.map(function (row) { return showReading(row, scan); });
          if (done.every(Boolean)) waiting.delete(scan.id);
        });
      })
      .catch(function () { /* the next poll tries again */ })
      .then(function () { polling = null; schedulePoll(); });
  }

  function send(item) {
    const xhr = new XMLHttpRequest();
    const body = new FormData();
    body.append("files", item.file, item.file.name);
    const bar = item.row.querySelector("progress");
    setState(item.row, "info", "Uploading", "");
    xhr.upload.addEventListener("progress", function (event) {
      if (event.lengthComputable) bar.value = Math.round((event.loaded / event.total) * 100);
    });
    xhr.addEventListener("load", function () {
      bar.value = 100;
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
      if (xhr.status === 429) {
        const wait = parseInt(xhr.getResponseHeader("Retry-After") || "5", 10);
        setState(item.row, "warn", "Waiting", "Too many uploads at once; retrying in " + wait + " s.");
        setTimeout(function () { queue.unshift(item); pump(); }, wait * 1000);
      } else if (data && data.results && data.results.length) {
        const result = data.results[0];
        if (result.status === "created") {
          setState(item.row, "ok", "Stored", result.message);
          follow(item.row, result.scan);
        } else if (result.status === "duplicate") {
          setState(item.row, "warn", "Duplicate", result.message);
          follow(item.row, result.scan);
        } else {
          setState(item.row, "danger", "Refused", result.message);
        }
      } else if (data && data.error) {
        const detail = data.error.details && data.error.details.results;
        const message = detail && detail.length ? detail[0].message : data.error.message;
        setState(item.row, "danger", "Refused", message);
      } else {
        setState(item.row, "danger", "Failed", "The server answered " + xhr.status + ".");
      }
      done();
    });
    xhr.addEventListener("error", function () {
      setState(item.row, "danger", "Failed", "The upload did not reach the server; try again.");
      done();
    });
    xhr.open("POST", url);
    xhr.setRequestHeader("X-CSRFToken", csrf);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.send(body);
  }

  function done() {
    active -= 1;
    pump();
  }

  [input, folder].forEach(function (chooser) {
    if (!chooser) return;
    chooser.addEventListener("change", function () {
      addFiles(Array.from(chooser.files));
      chooser.value = "";
    });
  });

  // A dropped folder arrives as an entry to walk (readEntries answers in chunks).
  function entryFiles(entry, prefix) {
    if (entry.isFile) {
      return new Promise(function (resolve) {
        entry.file(function (file) {
          try {
            Object.defineProperty(file, "webkitRelativePath", { value: prefix + file.name });
          } catch (error) { /* the plain name will do */ }
          resolve([file]);
        }, function () { resolve([]); });
      });
    }
    if (!entry.isDirectory) return Promise.resolve([]);
    const reader = entry.createReader();
    const path = prefix + entry.name + "/";
    return new Promise(function (resolve) {
      const entries = [];
      (function more() {
        reader.readEntries(function (chunk) {
          if (!chunk.length) {
            Promise.all(entries.map(function (e) { return entryFiles(e, path); }))
              .then(function (lists) { resolve([].concat.apply([], lists)); });
            return;
          }
          entries.push.apply(entries, chunk);
          more();
        }, function () { resolve([]); });
      })();
    });
  }

  function droppedFiles(transfer) {
    const items = Array.from(transfer.items || []);
    const entries = items.map(function (item) {
      return item.webkitGetAsEntry ? item.webkitGetAsEntry() : null;
    });
    if (!entries.length || entries.some(function (e) { return !e; })) {
      return Promise.resolve(Array.from(transfer.files));
    }
    return Promise.all(entries.map(function (e) { return entryFiles(e, ""); }))
      .then(function (lists) { return [].concat.apply([], lists); });
  }
  ["dragenter", "dragover"].forEach(function (name) {
    form.addEventListener(name, function (event) {
      event.preventDefault();
      form.classList.add("dragging");
    });
  });
  ["dragleave", "drop"].forEach(function (name) {
    form.addEventListener(name, function (event) {
      event.preventDefault();
      form.classList.remove("dragging");
    });
  });
  form.addEventListener("drop", function (event) {
    droppedFiles(event.dataTransfer).then(addFiles);
  });
  form.addEventListener("submit", function (event) { event.preventDefault(); });
})();
