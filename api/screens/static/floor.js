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
          if (performance.getEntriesByName("scan").length) performance.measure("scan-booked:" + item.event.event_type, "scan");
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
  // A wedge types a burst of keys ending in Enter or Tab. Where the focus is on no field,
  // every such burst is a scan. In another field a person may be typing: there only a fast
  // burst (keys a few ms apart; people are slower) is taken as a scan and removed again
  // from the field it landed in.
  let handler = null;
  let burst = "", last = 0, gaps = [];
  const typingField = (el) => el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT");
  document.addEventListener("keydown", (e) => {
    if (!handler || e.ctrlKey || e.metaKey || e.altKey) return;
    const now = performance.now();
    const field = e.target;
    if (field && field.dataset && field.dataset.wedge === "keep") return;  // a field that takes scans itself
    const inField = typingField(field) && field.id !== "scan";
    if (e.key === "Enter" || e.key === "Tab") {
      const inScan = field && field.id === "scan";
      const fast = burst.length >= 4 && gaps.length && gaps.reduce((a, b) => a + b, 0) / gaps.length < 50;
      if (inScan || (burst.length && (!inField || fast))) {
        e.preventDefault();
        const code = inScan ? field.value : burst;
        if (inScan) field.value = "";
        else if (inField && typeof field.value === "string" && field.value.endsWith(burst)) {
          field.value = field.value.slice(0, -burst.length);  // the burst landed in another field
        }
        if (code.trim()) handler(code.trim());
      }
      burst = ""; gaps = [];
      return;
    }
    if (e.key.length !== 1) return;
    if (now - last > (inField ? 80 : 3000)) { burst = ""; gaps = []; } else if (burst) gaps.push(now - last);
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
    function choosePo(chosen) {
      po = chosen;
      $("po").textContent = "PO " + po.po_id + " · " + po.supplier_id + " · " + po.status;
      show("po", true);
      if ($("expected")) $("expected").open = false;
      flash("PO " + po.po_id, true);
    }
    document.querySelectorAll(".choose-po").forEach((b) => b.addEventListener("click", () =>
      choosePo({ po_id: b.dataset.po, supplier_id: b.dataset.supplier, status: b.dataset.status })));
    scanning(async (code) => {
      const found = await resolve(code);
      if (found.kind === "error") { flash(found.message, false); return; }
      if (found.kind === "po") {
        choosePo(found.po);
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


  screens.waves = () => {
    $("plan").addEventListener("click", async () => {
      const res = await call("POST", "/app/api/waves/plan", { location });
      if (res.status !== 201) { flash("Not planned: " + message(res.answer), false); return; }
      flash(res.answer.waves.length ? res.answer.waves.length + " new wave(s)" : "No shipments are waiting", res.answer.waves.length > 0);
      if (res.answer.waves.length) window.location.reload();
    });
  };

  screens.pick = () => {
    const wave = JSON.parse($("wave-data").textContent);
    const KEY = "stocksaga.pick." + wave.wave_id;
    const state = Object.assign({ taken: {}, booked: {}, packed: {}, shipped: {} }, JSON.parse(localStorage.getItem(KEY) || "{}"));
    const save = () => localStorage.setItem(KEY, JSON.stringify(state));
    let list = wave.pick_list;
    const ship = (s) => s.order_id + "|" + s.shipment_id;
    const key = (s) => [s.order_id, s.shipment_id, s.sku, s.bin_id || "", s.lot || ""].join("|");
    const got = (s) => state.taken[key(s)] || (state.taken[key(s)] = { n: 0, serials: [], bin: false });
    wave.shipments.forEach((m) => {  // what the server has moved on already
      const k = m.order_id + "|" + m.shipment_id;
      if (m.status !== "requested") state.booked[k] = true;
      if (m.status === "packed" || m.status === "shipped") state.packed[k] = true;
      if (m.status === "shipped") state.shipped[k] = true;
    });
    const open = () => list.filter((s) => !state.booked[ship(s)]);
    const current = () => open().find((s) => s.bin_id && got(s).n < s.quantity);

    function render() {
      const stops = open();
      const left = stops.filter((s) => got(s).n < s.quantity);
      $("progress").textContent = (list.length - left.length) + " of " + list.length + " lines picked";
      const stop = current();
      $("short-reasons").hidden = true;
      if (!stop) {
        const stuck = left.filter((s) => !s.bin_id);
        $("stop-where").textContent = "";
        $("stop-bin").textContent = stuck.length ? "Not on the shelf" : "All picked";
        $("stop-what").textContent = stuck.length
          ? stuck.map((s) => s.quantity + " × " + s.sku + " for " + s.order_id).join("; ") + ": these shipments wait"
          : "Pack and ship below";
        $("stop-step").textContent = ""; $("stop-count").textContent = "";
        $("take-all").hidden = true; $("short").hidden = true;
      } else {
        const g = got(stop);
        $("stop-where").textContent = "Order " + stop.order_id + " · shipment " + stop.shipment_id;
        $("stop-bin").textContent = stop.bin_id;
        $("stop-what").textContent = stop.quantity + " × " + stop.sku + (stop.lot ? " · lot " + stop.lot : "");
        $("stop-step").textContent = !g.bin ? "Scan the bin"
          : stop.tracking === "serial" ? "Scan each unit's serial" : "Scan the item";
        $("stop-count").textContent = g.n + " / " + stop.quantity;
        $("take-all").hidden = !(g.bin && g.n > 0 && stop.tracking !== "serial" && g.n < stop.quantity);
        $("take-all").textContent = "All " + stop.quantity + " taken";
        $("short").hidden = false;
      }
      renderShipments();
    }

    function renderShipments() {
      const box = $("shipments");
      box.textContent = "";
      wave.shipments.forEach((m) => {
        const k = m.order_id + "|" + m.shipment_id;
        if (!state.booked[k] || state.shipped[k]) return;
        const div = document.createElement("div");
        div.className = "ship";
        const title = document.createElement("p");
        title.textContent = "Order " + m.order_id + " · " + m.shipment_id + (state.packed[k] ? " · packed" : " · picked");
        div.appendChild(title);
        if (!state.packed[k]) {
          const pack = document.createElement("button");
          pack.className = "go"; pack.textContent = "Packed";
          pack.addEventListener("click", () => {
            state.packed[k] = true; save();
            book("PACK_COMPLETE", { order_id: m.order_id, shipment_id: m.shipment_id }, "Packed " + m.order_id);
            renderShipments();
          });
          div.appendChild(pack);
        } else {
          const row = document.createElement("div");
          row.className = "row";
          const tracking = document.createElement("input");
          tracking.placeholder = "Scan the parcel label"; tracking.maxLength = 200; tracking.dataset.wedge = "keep";
          tracking.setAttribute("aria-label", "Tracking number for " + m.order_id);
          const send = document.createElement("button");
          send.className = "go"; send.textContent = "Shipped";
          const shipIt = () => {
            const t = tracking.value.trim();
            state.shipped[k] = true; save();
            book("SHIP_COMPLETE", Object.assign({ order_id: m.order_id, shipment_id: m.shipment_id }, t ? { tracking: t } : {}),
              "Shipped " + m.order_id + (t ? " (" + t + ")" : ""));
            renderShipments();
          };
          send.addEventListener("click", shipIt);
          tracking.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); shipIt(); } });
          row.appendChild(tracking); row.appendChild(send);
          div.appendChild(row);
        }
        box.appendChild(div);
      });
    }

    function finishShipment(order_id, shipment_id) {
      const k = order_id + "|" + shipment_id;
      const stops = list.filter((s) => ship(s) === k);
      if (state.booked[k] || stops.some((s) => got(s).n < s.quantity)) return;
      const lines = stops.filter((s) => got(s).n > 0).map((s) => {
        const line = { sku: s.sku, quantity: got(s).n };
        if (s.bin_id) line.bin_id = s.bin_id;
        if (s.lot) line.lot = s.lot;
        if (got(s).serials.length) line.serials = got(s).serials;
        return line;
      });
      state.booked[k] = true; save();
      book("PICK_COMPLETE", { order_id, shipment_id, lines }, "Picked " + order_id + " / " + shipment_id);
    }

    function took(stop, n, serial) {
      const g = got(stop);
      g.n += n;
      if (serial) g.serials.push(serial);
      save();
      if (g.n >= stop.quantity) {
        flash(stop.sku + " done", true);
        finishShipment(stop.order_id, stop.shipment_id);
      } else {
        flash(stop.sku + " " + g.n + " of " + stop.quantity, true);
      }
      render();
    }

    $("take-all").addEventListener("click", () => { const s = current(); if (s) took(s, s.quantity - got(s).n); });
    $("short").addEventListener("click", () => { $("short-reasons").hidden = !$("short-reasons").hidden; });
    document.querySelectorAll("[data-reason]").forEach((b) => b.addEventListener("click", async () => {
      const s = current();
      if (!s) return;
      const missing = s.quantity - got(s).n;
      const res = await call("POST", "/app/api/waves/" + encodeURIComponent(wave.wave_id) + "/short", {
        order_id: s.order_id, shipment_id: s.shipment_id, sku: s.sku, bin_id: s.bin_id, lot: s.lot,
        missing, reason: b.dataset.reason,
      }).catch(() => ({ status: 0, answer: { message: "offline: report the short when the connection is back" } }));
      if (res.status !== 200) { flash(message(res.answer), false); return; }
      list = res.answer.pick_list;
      log("Short " + missing + " × " + s.sku + " in " + s.bin_id + " (" + b.dataset.reason.replace("_", " ") + ")", "");
      flash("Short reported: next place for " + s.sku, true);
      render();
    }));

    scanning(async (code) => {
      const stop = current();
      if (!stop) { flash("Nothing left to pick here", false); return; }
      const found = await resolve(code);
      if (found.kind === "error") { flash(found.message, false); return; }
      const g = got(stop);
      if (found.kind === "bin") {
        if (found.bin_id !== stop.bin_id) { flash("Wrong bin " + found.bin_id + ": go to " + stop.bin_id, false); return; }
        g.bin = true; save(); flash("Bin " + stop.bin_id, true); render(); return;
      }
      if (found.kind !== "item") { flash("Scan the bin, then the item", false); return; }
      if (!g.bin) { flash("Scan bin " + stop.bin_id + " first", false); return; }
      if (found.sku !== stop.sku) { flash("Wrong item " + found.sku + ": take " + stop.sku, false); return; }
      if (stop.lot && found.lot && found.lot !== stop.lot) {
        flash("Lot " + found.lot + ": take lot " + stop.lot + " (it expires first)", false); return;
      }
      if (stop.tracking === "serial") {
        if (!found.serial) { flash("Scan the serial label of the unit", false); return; }
        if (g.serials.includes(found.serial)) { flash("Serial " + found.serial + " scanned already", false); return; }
        took(stop, 1, found.serial);
        return;
      }
      const n = Math.min(found.count || 1, stop.quantity - g.n);
      took(stop, n);
    });
    render();
  };

  screens.buy = () => {
    const table = $("proposals");
    const rows = () => Array.from(table.querySelectorAll("tr.proposal"));
    const detailOf = (row) => row.nextElementSibling;
    function filter() {
      const supplier = $("f-supplier").value, status = $("f-status").value;
      const text = $("f-text").value.trim().toLowerCase();
      rows().forEach((row) => {
        const d = row.dataset;
        const shown = (!supplier || d.supplier === supplier) && (!status || d.status === status)
          && (!text || (d.sku + " " + d.location).toLowerCase().includes(text));
        row.hidden = !shown;
        if (!shown) { detailOf(row).hidden = true; row.querySelector(".pick").checked = false; }
      });
    }
    ["f-supplier", "f-status"].forEach((id) => $(id).addEventListener("change", filter));
    $("f-text").addEventListener("input", filter);
    let sortKey = null, ascending = true;
    table.querySelectorAll("th[data-sort]").forEach((th) => th.addEventListener("click", () => {
      const key = th.dataset.sort, numeric = "num" in th.dataset;
      ascending = sortKey === key ? !ascending : true;
      sortKey = key;
      const body = table.tBodies[0];
      rows().sort((a, b) => {
        const x = a.dataset[key], y = b.dataset[key];
        const order = numeric ? Number(x) - Number(y) : x.localeCompare(y);
        return ascending ? order : -order;
      }).forEach((row) => { const detail = detailOf(row); body.appendChild(row); body.appendChild(detail); });
    }));
    $("all").addEventListener("change", (e) => {
      rows().forEach((row) => { const box = row.querySelector(".pick"); if (!row.hidden && !box.disabled) box.checked = e.target.checked; });
    });
    table.addEventListener("click", (e) => {
      if (!e.target.classList.contains("why")) return;
      const detail = detailOf(e.target.closest("tr"));
      const img = detail.querySelector("img");
      if (img && !img.src) img.src = img.dataset.src;  // drawn only when asked for
      detail.hidden = !detail.hidden;
    });
    async function decide(action) {
      const chosen = rows().filter((row) => !row.hidden && row.querySelector(".pick").checked);
      if (!chosen.length) { flash("Select proposals first", false); return; }
      const res = await call("POST", "/app/api/proposals/decide", { action, ids: chosen.map((r) => Number(r.dataset.id)) });
      if (res.status !== 200) { flash(message(res.answer), false); return; }
      let failed = 0;
      res.answer.results.forEach((r) => {
        const row = table.querySelector('tr.proposal[data-id="' + r.proposal_id + '"]');
        if (!row) return;
        if (r.error) { failed += 1; row.querySelector(".status").textContent = "not " + action + "d: " + r.error; return; }
        row.dataset.status = r.status;
        row.querySelector(".status").textContent = r.status + (r.po_id ? " · " + r.po_id : "");
        const box = row.querySelector(".pick"); box.checked = false; box.disabled = true;
        if (r.po_id) addPurchaseOrder(r, row);
      });
      flash((res.answer.results.length - failed) + " " + action + "d" + (failed ? ", " + failed + " refused" : ""), !failed);
    }
    function addPurchaseOrder(r, row) {
      const body = $("pos").tBodies[0];
      if (body.querySelector('tr[data-po="' + r.po_id + '"]')) return;
      const tr = document.createElement("tr");
      tr.dataset.po = r.po_id;
      [r.po_id, row.dataset.supplier, row.dataset.location, "submitted", row.dataset.sku + " 0/" + row.dataset.quantity, "now", ""]
        .forEach((text) => { const td = document.createElement("td"); td.textContent = text; tr.appendChild(td); });
      body.prepend(tr);
    }
    $("approve").addEventListener("click", () => decide("approve"));
    $("reject").addEventListener("click", () => decide("reject"));
    filter();
  };

  screens.ops = () => {
    const field = $("order-id");
    if (field) field.focus();
    document.querySelectorAll("#dead .retry").forEach((b) => b.addEventListener("click", async () => {
      const row = b.closest("tr");
      const res = await call("POST", "/app/api/dead-letters/" + encodeURIComponent(row.dataset.event) + "/retry");
      const status = res.answer.status;
      if (res.status === 200 && status === "processed") {
        flash("Event " + row.dataset.event + " applied", true);
        row.remove();
      } else {
        flash("Still not applied: " + (res.answer.reason || message(res.answer)), false);
      }
    }));
  };

  screens.count = () => {
    let place = null, attempt = 1, binSeen = false;
    const qty = $("count-qty");
    const who = document.querySelector(".who") ? document.querySelector(".who").textContent.split(" · ")[0] : "counter";
    function start(sku, bin, lot) {
      place = { sku, bin_id: bin || null, lot: lot || null };
      attempt = 1; binSeen = !bin; qty.value = 0;
      $("count-bin").textContent = bin || location;
      $("count-what").textContent = sku + (lot ? " · lot " + lot : "");
      step();
      $("reasons").hidden = true;
      $("counting").hidden = false; $("tasks").hidden = true;
    }
    function step() {
      $("count-step").textContent = !binSeen ? "Scan the bin"
        : attempt > 1 ? "Count again, please, from zero" : "Scan each unit, or type how many there are";
    }
    function stop() { place = null; $("counting").hidden = true; $("tasks").hidden = false; }
    document.querySelectorAll("button.task").forEach((b) => b.addEventListener("click", () => start(b.dataset.sku, b.dataset.bin, b.dataset.lot)));
    $("count-plus").addEventListener("click", () => { qty.value = Number(qty.value || 0) + 1; });
    $("count-minus").addEventListener("click", () => { qty.value = Math.max(0, Number(qty.value || 0) - 1); });
    $("count-cancel").addEventListener("click", stop);
    function bookCount(reason) {
      const payload = { sku: place.sku, actual: Number(qty.value), counted_by: who };
      if (place.bin_id) payload.bin_id = place.bin_id;
      if (place.lot) payload.lot = place.lot;
      if (reason) payload.reason = reason;
      book("CYCLE_COUNT_ADJUSTMENT", payload, "Counted " + place.sku + (place.bin_id ? " in " + place.bin_id : ""));
      const done = document.querySelector('button.task[data-sku="' + CSS.escape(place.sku) + '"][data-bin="' + CSS.escape(place.bin_id || "") + '"]');
      if (done) done.closest("li").remove();
      flash("Count of " + place.sku + " booked", true);
      stop();
    }
    $("counted").addEventListener("click", async () => {
      if (!place) return;
      if (!binSeen) { flash("Scan bin " + place.bin_id + " first", false); return; }
      const n = Number(qty.value);
      if (!Number.isInteger(n) || n < 0) { flash("Count: a whole number, 0 or more", false); return; }
      let res;
      try {
        res = await call("POST", "/app/api/counts/check", Object.assign({ location, counted: n }, place));
      } catch (e) { flash("Offline: a count is checked before it is booked; try again when connected", false); return; }
      if (res.status !== 200) { flash(message(res.answer), false); return; }
      if (res.answer.recount && attempt === 1) {
        attempt = 2; qty.value = 0; step();
        flash("Please count again", false);
        return;
      }
      if (res.answer.variance) { $("reasons").hidden = false; return; }
      bookCount(null);
    });
    document.querySelectorAll("#reasons [data-reason]").forEach((b) => b.addEventListener("click", () => bookCount(b.dataset.reason)));
    scanning(async (code) => {
      const found = await resolve(code);
      if (found.kind === "error") { flash(found.message, false); return; }
      if (found.kind === "bin") {
        if (place && place.bin_id && found.bin_id !== place.bin_id) { flash("Wrong bin " + found.bin_id + ": this count is of " + place.bin_id, false); return; }
        if (!place) { flash("Bin " + found.bin_id + ": now scan an item in it", true); place = { sku: null, bin_id: found.bin_id, lot: null }; binSeen = true; return; }
        binSeen = true; step(); flash("Bin " + found.bin_id, true); return;
      }
      if (found.kind !== "item") { flash("Scan a bin or an item", false); return; }
      if (place && !place.sku) { start(found.sku, place.bin_id, found.lot); binSeen = true; step(); }
      if (!place) { flash("Choose a place to count, or scan its bin first", false); return; }
      if (!binSeen) { flash("Scan bin " + place.bin_id + " first", false); return; }
      if (found.sku !== place.sku) { flash(found.sku + " is not counted here: count only " + place.sku, false); return; }
      if (place.lot && found.lot && found.lot !== place.lot) { flash("Lot " + found.lot + ": this count is of lot " + place.lot, false); return; }
      qty.value = Number(qty.value || 0) + (found.count || 1);
      flash(place.sku + " +" + (found.count || 1), true);
    });
  };

  showQueue();
  flush();
  if (screens[screen]) screens[screen]();
})();
