"use strict";
// stocksaga screens: scanning (keyboard wedge and camera), feedback, and the queue of
// warehouse events that survives a lost connection. No libraries; one file, inlined.
(() => {
  const $ = (id) => document.getElementById(id);
  const csrf = document.querySelector('meta[name="csrf"]').content;
  const body = document.body;
  const screen = body.dataset.screen;
  const location = body.dataset.location;

  // --- feedback: a beep, a vibration and a coloured line for every scan ----------------
  let audio = null;
  function beep(ok) {
    try {
      audio = audio || new AudioContext();
      const osc = audio.createOscillator(), gain = audio.createGain();
      osc.frequency.value = ok ? 1320 : 220;
      gain.gain.value = 0.15;
      osc.connect(gain).connect(audio.destination);
      osc.start();
      osc.stop(audio.currentTime + (ok ? 0.08 : 0.3));
    } catch (e) { /* no sound on this device */ }
    if (navigator.vibrate) navigator.vibrate(ok ? 40 : [80, 60, 80]);
  }
  function flash(text, ok) {
    const el = $("flash");
    if (!el) return;
    el.textContent = text;
    el.className = "flash " + (ok ? "ok" : "bad");
    beep(ok);
  }
  function log(text, cls) {
    const list = $("log");
    if (!list) return null;
    const li = document.createElement("li");
    li.textContent = text;
    if (cls) li.className = cls;
    list.prepend(li);
    while (list.children.length > 30) list.lastChild.remove();
    return li;
  }

  // --- requests of this page: the session cookie and the CSRF token ---------------------
  async function call(method, path, data, raw) {
    const headers = { "X-CSRF-Token": csrf };
    if (!raw) headers["Content-Type"] = "application/json";
    const res = await fetch(path, {
      method, headers, credentials: "same-origin",
      body: raw ? data : (data === undefined ? undefined : JSON.stringify(data)),
    });
    let answer = {};
    try { answer = await res.json(); } catch (e) { /* not JSON */ }
    if (res.status === 401) { window.location = "/app/sign-in?next=" + encodeURIComponent(window.location.pathname + window.location.search); }
    return { status: res.status, answer };
  }
  const message = (a) => (a && (a.message || (a.detail && JSON.stringify(a.detail)))) || "refused";

  // --- the queue: every event is kept on the device until the server has answered ------
  // Each event gets its id when the scan is made; sent again after a lost connection, the
  // server books it once (a repeat answers "duplicate").
  const QUEUE = "stocksaga.queue";
  const queued = () => JSON.parse(localStorage.getItem(QUEUE) || "[]");
  const keep = (items) => localStorage.setItem(QUEUE, JSON.stringify(items));
  function newId() {
    const bytes = crypto.getRandomValues(new Uint8Array(12));  // randomUUID needs https
    return "scr-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  function showQueue() {
    const el = $("queue");
    if (!el) return;
    const n = queued().length;
    el.hidden = n === 0;
    el.textContent = n + " not sent yet";
  }
  const done = {};  // event_id -> callback once booked
  function book(type, payload, label, then) {
    const event = {
      event_id: newId(), event_type: type, location_id: location,
      occurred_at: new Date().toISOString(), payload,
    };
    keep(queued().concat([{ event, label }]));
    if (then) done[event.event_id] = then;
    log(label + " — sending", "waiting").dataset.id = event.event_id;
    showQueue();
    flush();
    return event.event_id;
  }
  let flushing = false;
  async function flush() {
    if (flushing) return;
    flushing = true;
    try {
      for (;;) {
        const items = queued();
        if (!items.length) break;
        const item = items[0];
        let res;
        try {
          res = await call("POST", "/app/api/events", { events: [item.event] });
        } catch (e) {  // no connection: keep them all, try again when it comes back
          items.forEach((q) => mark(q.event.event_id, q.label + " — waiting for the connection", "waiting"));
          break;
        }
        // the server is in trouble, or the session ended (signing in again sends it): kept
        if (res.status >= 500 || res.status === 401 || res.answer.error === "csrf") break;
        keep(queued().filter((q) => q.event.event_id !== item.event.event_id));
        const result = res.status === 200 ? res.answer.results[0] : null;
        if (result && (result.status === "processed" || result.status === "duplicate")) {
          mark(item.event.event_id, item.label + " — booked", "");
          if (performance.getEntriesByName("scan").length) performance.measure("scan-booked", "scan");
          const then = done[item.event.event_id];
          delete done[item.event.event_id];
          if (then) then(result);
        } else {
          const why = result ? (result.reason || result.status) : message(res.answer);
          mark(item.event.event_id, item.label + " — NOT booked: " + why, "failed");
          flash("Not booked: " + why, false);
        }
      }
    } finally {
      flushing = false;
      showQueue();
    }
  }
  function mark(id, text, cls) {
    const li = document.querySelector('#log li[data-id="' + id + '"]') || log(text, cls);
    li.textContent = text;
    li.className = cls;
    li.dataset.id = id;
  }
  window.addEventListener("online", flush);
  setInterval(flush, 5000);

  // --- codes the device has seen: so a scan made offline can still be read -------------
  const SEEN = "stocksaga.seen." + location;
  const seen = () => JSON.parse(localStorage.getItem(SEEN) || "{}");
  function remember(code, what) {
    const all = seen();
    all[code] = what;
    const keys = Object.keys(all);
    if (keys.length > 500) delete all[keys[0]];
    localStorage.setItem(SEEN, JSON.stringify(all));
  }
  async function resolve(code) {
    try {
      const res = await call("POST", "/app/api/scan", { code, location });
      if (res.status === 200) { remember(code, res.answer); return res.answer; }
      return { kind: "error", message: message(res.answer) };
    } catch (e) {
      const known = seen()[code];
      return known || { kind: "error", message: "offline, and this code was not scanned here before" };
    }
  }

  // --- scanning: a keyboard wedge anywhere on the page, the scan field, or the camera ---
  // A wedge types a burst of keys (a few ms apart) ending in Enter or Tab. A person types
  // slower: a burst that is not fast is left to the field it was typed in.
  let handler = null;
  let burst = "", last = 0, gaps = [];
  document.addEventListener("keydown", (e) => {
    if (!handler || e.ctrlKey || e.metaKey || e.altKey) return;
    const now = performance.now();
    const field = e.target;
    if (e.key === "Enter" || e.key === "Tab") {
      const fast = burst.length >= 4 && gaps.length && gaps.reduce((a, b) => a + b, 0) / gaps.length < 35;
      const inScan = field && field.id === "scan";
      if (inScan || fast) {
        e.preventDefault();
        const code = inScan ? field.value : burst;
        if (inScan) field.value = "";
        else if (field && "value" in field && typeof field.value === "string" && field.value.endsWith(burst)) {
          field.value = field.value.slice(0, -burst.length);  // the burst landed in another field
        }
        burst = ""; gaps = [];
        if (code.trim()) handler(code.trim());
      }
      burst = ""; gaps = [];
      return;
    }
    if (e.key.length !== 1) return;
    if (now - last > 80) { burst = ""; gaps = []; } else if (burst) gaps.push(now - last);
    last = now;
    burst += e.key;
  }, true);
  function scanning(fn) {
    handler = (code) => { performance.mark("scan"); return fn(code); };
    const form = $("scan-form");
    if (form) form.addEventListener("submit", (e) => e.preventDefault());
    const field = $("scan");
    if (field) {
      field.focus();
      performance.mark("ready");  // usable: the scan field has the focus
      document.addEventListener("click", (e) => {
        if (!e.target.closest("input,select,button,a,textarea")) field.focus();
      });
    }
    const typing = $("keyboard");
    if (typing) typing.addEventListener("click", () => { field.inputMode = "text"; field.focus(); });
    const cam = $("camera");
    if (cam) cam.addEventListener("click", () => camera(fn));
  }

  // The camera: the browser's BarcodeDetector where there is one; otherwise frames go to
  // the server (zxing-cpp), one at a time.
  let streaming = null;
  async function camera(fn) {
    const video = $("video");
    if (streaming) { streaming.getTracks().forEach((t) => t.stop()); streaming = null; video.hidden = true; return; }
    try {
      streaming = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: "environment", width: { ideal: 1280 }, height: { ideal: 720 } }, audio: false,
      });
    } catch (e) { flash("No camera: " + e.message, false); return; }
    video.srcObject = streaming;
    video.hidden = false;
    await video.play();
    const detector = "BarcodeDetector" in window
      ? new BarcodeDetector({ formats: ["ean_13", "ean_8", "upc_a", "upc_e", "code_128", "data_matrix"] })
      : null;
    const canvas = document.createElement("canvas");
    let lastCode = "", lastAt = 0;
    const tick = async () => {
      if (!streaming) return;
      let codes = [];
      try {
        if (detector) {
          codes = (await detector.detect(video)).map((c) => c.rawValue);
        } else if (video.videoWidth) {
          canvas.width = video.videoWidth; canvas.height = video.videoHeight;
          canvas.getContext("2d").drawImage(video, 0, 0);
          const blob = await new Promise((ok) => canvas.toBlob(ok, "image/jpeg", 0.8));
          const res = await call("POST", "/app/api/decode", blob, true);
          codes = res.status === 200 ? res.answer.codes : [];
        }
      } catch (e) { /* a frame lost: the next one */ }
      const now = Date.now();
      if (codes.length && (codes[0] !== lastCode || now - lastAt > 2500)) {  // the same code held still: once
        lastCode = codes[0]; lastAt = now;
        handler(codes[0]);
      }
      setTimeout(tick, detector ? 150 : 250);
    };
    tick();
  }

  // --- screens ---------------------------------------------------------------------------
  const screens = {};

  screens.home = () => {
    const select = $("location");
    const saved = localStorage.getItem("stocksaga.location");
    if (select && saved) select.value = saved;
    document.querySelectorAll("a[data-floor]").forEach((a) => a.addEventListener("click", (e) => {
      if (!select) return;
      localStorage.setItem("stocksaga.location", select.value);
      e.preventDefault();
      window.location = a.getAttribute("href") + "?location=" + encodeURIComponent(select.value);
    }));
    const out = $("sign-out");
    if (out) out.addEventListener("click", async () => {
      await call("POST", "/app/sign-out");
      window.location = "/app/sign-in";
    });
  };

  screens.receive = () => {
    let po = null, item = null, serials = [];
    const qty = $("qty");
    const show = (id, on) => { $(id).hidden = !on; };
    function setItem(found) {
      item = found;
      serials = found.serial ? [found.serial] : [];
      $("item-sku").textContent = found.sku;
      $("item-name").textContent = found.name || "";
      const lotted = found.tracking === "lot";
      $("item-lot").textContent = found.lot ? "Lot " + found.lot + (found.expiry ? " · expires " + found.expiry : "") : "";
      show("lot-fields", lotted && !found.lot);
      $("lot").value = found.lot || "";
      $("expiry").value = found.expiry || "";
      qty.value = serials.length || found.count || 1;
      $("item-serials").textContent = serials.length ? "Serials: " + serials.join(", ") : "";
      show("item", true);
      show("putaway", false);
    }
    function sameItem(found) {
      return item && found.sku === item.sku && (found.lot || null) === (item.lot || null);
    }
    let away = null;
    async function offerPutaway(line) {
      away = line;
      $("putaway-what").textContent = line.quantity + " × " + line.sku + (line.lot ? " lot " + line.lot : "");
      const proposed = $("putaway-proposed");
      proposed.hidden = true;
      show("putaway", true);
      try {
        const res = await call("GET", "/app/api/putaway?" + new URLSearchParams(
          Object.assign({ sku: line.sku, location }, line.lot ? { lot: line.lot } : {})));
        if (res.status === 200 && res.answer.bin_id) {
          proposed.textContent = "Put in " + res.answer.bin_id;
          proposed.dataset.bin = res.answer.bin_id;
          proposed.hidden = false;
        }
      } catch (e) { /* offline: scan the bin */ }
    }
    function putAway(bin) {
      const line = away;
      away = null;
      show("putaway", false);
      const payload = { sku: line.sku, quantity: line.quantity, to_bin: bin };
      if (line.lot) payload.lot = line.lot;
      if (line.serials && line.serials.length) payload.serials = line.serials;
      book("PUTAWAY", payload, "Put " + line.quantity + " × " + line.sku + " in " + bin);
      flash("Put away to " + bin, true);
    }
    $("putaway-proposed").addEventListener("click", (e) => putAway(e.target.dataset.bin));
    $("putaway-later").addEventListener("click", () => { away = null; show("putaway", false); });
    $("plus").addEventListener("click", () => { qty.value = Number(qty.value || 0) + 1; });
    $("minus").addEventListener("click", () => { qty.value = Math.max(1, Number(qty.value || 1) - 1); });
    $("receive").addEventListener("click", () => {
      if (!item) return;
      const n = Number(qty.value);
      if (!Number.isInteger(n) || n < 1) { flash("Quantity: a whole number of at least 1", false); return; }
      const lot = item.lot || $("lot").value.trim() || null;
      const expiry = item.expiry || $("expiry").value || null;
      if (item.tracking === "lot" && !lot) { flash("Lot: this item is lot-tracked; scan or type its lot", false); return; }
      if (item.tracking === "serial" && serials.length !== n) {
        flash("Serials: scan each unit (" + serials.length + " of " + n + ")", false); return;
      }
      const line = { sku: item.sku, quantity: n };
      if (lot) line.lot = lot;
      if (expiry) line.expiry = expiry;
      if (serials.length) line.serials = serials.slice();
      const payload = { lines: [line] };
      if (po) payload.purchase_order_id = po.po_id;
      book("RECEIVING_COMPLETE", payload, "Received " + n + " × " + item.sku + (lot ? " lot " + lot : ""));
      flash("Received " + n + " × " + item.sku, true);
      item = null;
      show("item", false);
      offerPutaway(line);
    });
    scanning(async (code) => {
      const found = await resolve(code);
      if (found.kind === "error") { flash(found.message, false); return; }
      if (found.kind === "po") {
        po = found.po;
        $("po").textContent = "PO " + po.po_id + " · " + po.supplier_id + " · " + po.status;
        show("po", true);
        flash("PO " + po.po_id, true);
      } else if (found.kind === "bin") {
        if (away) putAway(found.bin_id);
        else flash("Bin " + found.bin_id + ": receive an item first", false);
      } else if (found.kind === "item") {
        if (found.serial && item && item.sku === found.sku && item.tracking === "serial") {
          if (serials.includes(found.serial)) { flash("Serial " + found.serial + " scanned already", false); return; }
          serials.push(found.serial);
          qty.value = serials.length;
          $("item-serials").textContent = "Serials: " + serials.join(", ");
        } else if (sameItem(found) && !found.serial) {
          qty.value = Number(qty.value) + (found.count || 1);
        } else {
          setItem(found);
        }
        flash(found.sku + (found.lot ? " lot " + found.lot : ""), true);
      }
    });
  };

  showQueue();
  flush();
  if (screens[screen]) screens[screen]();
})();
