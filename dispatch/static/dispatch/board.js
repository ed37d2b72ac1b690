/*
 * Kinisi dispatch board: a live map of every vehicle, the unassigned jobs, each vehicle's queue,
 * suggestions and one-action assignment (a click in the suggestions, or dragging a job onto a
 * vehicle).
 *
 * Data comes over the WebSocket /ws/dispatch/board/: a "snapshot" first, then "positions"
 * (batched marker moves) and "dispatch" (changed jobs and vehicles). Assignments go through the
 * REST API with the vehicle's queue version, so a dispatcher who decided on a stale board gets a
 * 409 and the board resyncs instead of double-booking a vehicle.
 *
 * window.kinisiBoard exposes read-only helpers for tests and the latency benchmark.
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("board-config").textContent);
  var text = JSON.parse(document.getElementById("board-text").textContent);
  var csrf = document.querySelector("#csrf-holder [name=csrfmiddlewaretoken]").value;

  var board = document.getElementById("board");
  var jobList = document.getElementById("job-list");
  var vehicleList = document.getElementById("vehicle-list");
  var panel = document.getElementById("suggestions");

  var COLORS = {
    moving: "#1f8a4c", free: "#2fb36b", busy: "#0b6bcb", workshop: "#e08a00", out: "#c62828"
  };

  var state = {
    vehicles: new Map(), // id -> {meta, live, marker}
    jobs: new Map(), // id -> brief
    jobMarkers: new Map(),
    openJob: config.openJob ? Number(config.openJob) : null,
    lastMessageAt: 0,
    messages: 0,
    socket: null,
    retry: 500
  };

  // --- map -------------------------------------------------------------------------------------

  var map = L.map("board-map", { preferCanvas: true, zoomControl: true })
    .setView(config.center, 15);
  if (window.KinisiBasemap) {
    KinisiBasemap.attach(map, { tileUrl: config.tileUrl, streetsUrl: config.streetsUrl, fit: false });
  }
  var renderer = L.canvas({ padding: 0.5 });
  var vehicleLayer = L.layerGroup().addTo(map);
  var jobLayer = L.layerGroup().addTo(map);

  function colorOf(v) {
    if (v.meta.state === "workshop" || v.meta.state === "out") { return COLORS[v.meta.state]; }
    if (v.live && v.live.moving) { return COLORS.moving; }
    return COLORS[v.meta.state] || COLORS.free;
  }

  function placeVehicle(v) {
    var where = v.live ? [v.live.lat, v.live.lon] : v.meta.depot;
    if (!where || where[0] === null) {
      if (v.marker) { vehicleLayer.removeLayer(v.marker); v.marker = null; }
      return;
    }
    var style = {
      renderer: renderer, radius: v.live && v.live.moving ? 7 : 6, weight: 2,
      color: "#fff", fillColor: colorOf(v), fillOpacity: v.live ? 0.95 : 0.45
    };
    if (!v.marker) {
      v.marker = L.circleMarker(where, style).addTo(vehicleLayer);
      v.marker.on("click", function () { focusVehicle(v.meta.id); });
      v.marker.bindTooltip("");
    } else {
      v.marker.setLatLng(where);
      v.marker.setStyle(style);
    }
    v.marker.setTooltipContent(v.meta.label + " · " + stateLabel(v));
  }

  function placeJob(job) {
    var marker = state.jobMarkers.get(job.id);
    var open = job.status === "new" || job.status === "assigned" || job.status === "en_route" ||
      job.status === "on_site";
    if (!open) {
      if (marker) { jobLayer.removeLayer(marker); state.jobMarkers.delete(job.id); }
      return;
    }
    var style = {
      renderer: renderer, radius: job.id === state.openJob ? 9 : 5, weight: 2,
      color: job.status === "new" ? "#b3261e" : "#555", fillColor: "#ffd54f",
      fillOpacity: job.status === "new" ? 0.95 : 0.5, dashArray: job.status === "new" ? null : "2,2"
    };
    if (!marker) {
      marker = L.circleMarker([job.lat, job.lon], style).addTo(jobLayer);
      marker.on("click", function () { if (job.status === "new") { openSuggestions(job.id); } });
      marker.bindTooltip(job.title);
      state.jobMarkers.set(job.id, marker);
    } else {
      marker.setLatLng([job.lat, job.lon]);
      marker.setStyle(style);
    }
  }

  // --- lists -----------------------------------------------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; } else if (k === "class") {
        node.className = attrs[k];
      } else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { node.appendChild(c); } });
    return node;
  }

  // Times are shown in the municipality's time zone, whatever the browser's.
  var clock = new Intl.DateTimeFormat("en-GB", {
    hour: "2-digit", minute: "2-digit", hour12: false, timeZone: config.timeZone || undefined
  });
  function hhmm(iso) {
    return iso ? clock.format(new Date(iso)) : "";
  }

  function stateLabel(v) {
    var parts = [text[v.meta.state] || v.meta.state];
    if (v.live) { parts.push(v.live.moving ? text.moving : text.stopped); } else {
      parts.push(text.no_position);
    }
    if (v.meta.queue.length) { parts.push(v.meta.queue.length + " " + text.jobs); }
    return parts.join(" · ");
  }

  var renderPending = false;
  function scheduleRender() {
    if (renderPending) { return; }
    renderPending = true;
    window.requestAnimationFrame(function () { renderPending = false; renderLists(); });
  }

  function renderLists() {
    var newJobs = Array.from(state.jobs.values()).filter(function (j) { return j.status === "new"; })
      .sort(function (a, b) { return b.priority - a.priority || a.id - b.id; });
    document.getElementById("new-count").textContent = newJobs.length;
    jobList.replaceChildren.apply(jobList, newJobs.map(jobItem));
    var filter = (document.getElementById("vehicle-filter").value || "").toLowerCase();
    var vehicles = Array.from(state.vehicles.values()).filter(function (v) {
      return !filter || v.meta.label.toLowerCase().indexOf(filter) >= 0 ||
        (v.meta.category_label || "").toLowerCase().indexOf(filter) >= 0;
    });
    document.getElementById("vehicle-count").textContent = state.vehicles.size;
    vehicleList.replaceChildren.apply(vehicleList, vehicles.map(vehicleItem));
  }

  function jobItem(job) {
    var suggest = el("button", { type: "button", class: "suggest", text: text.suggest });
    suggest.addEventListener("click", function () { openSuggestions(job.id); });
    var when = job.window_start ? text.window + " " + hhmm(job.window_start) +
      (job.window_end ? "–" + hhmm(job.window_end) : "") : "";
    var item = el("li", {
      class: "job-item prio-" + job.priority + (job.id === state.openJob ? " open" : ""),
      "data-job": job.id, draggable: config.canEdit ? "true" : "false"
    }, [
      el("a", { href: config.jobPageUrl.replace("{id}", job.id), class: "job-title", text: "#" + job.id + " " + job.title }),
      el("div", { class: "helptext", text: [job.address, when].filter(Boolean).join(" · ") }),
      config.canEdit ? suggest : null
    ]);
    item.addEventListener("dragstart", function (e) {
      e.dataTransfer.setData("text/plain", String(job.id));
      e.dataTransfer.effectAllowed = "move";
    });
    item.addEventListener("mouseenter", function () {
      var m = state.jobMarkers.get(job.id);
      if (m) { m.openTooltip(); }
    });
    return item;
  }

  function vehicleItem(v) {
    var queue = el("ol", { class: "queue" }, v.meta.queue.map(function (jid) {
      var job = state.jobs.get(jid);
      return el("li", {
        class: "chip job-" + (job ? job.status : "assigned"), "data-job": jid,
        title: job ? job.title + " · " + (job.status_label || job.status) : "#" + jid
      }, [el("a", { href: config.jobPageUrl.replace("{id}", jid), text: "#" + jid })]);
    }));
    var item = el("li", {
      class: "vehicle-item state-" + v.meta.state, "data-vehicle": v.meta.id,
      "data-version": v.meta.queue_version
    }, [
      el("span", { class: "dot " + (v.live && v.live.moving ? "moving" : v.meta.state) }),
      el("strong", { class: "vehicle-label", text: v.meta.label }),
      el("span", { class: "helptext", text: " " + (v.meta.category_label || "") }),
      el("div", { class: "helptext vehicle-state", text: stateLabel(v) +
        (v.meta.order ? " · " + text.order + " " + v.meta.order.reference : "") }),
      queue
    ]);
    item.addEventListener("click", function (e) {
      if (e.target.tagName !== "A") { focusVehicle(v.meta.id); }
    });
    if (config.canEdit) {
      item.addEventListener("dragover", function (e) { e.preventDefault(); item.classList.add("drop"); });
      item.addEventListener("dragleave", function () { item.classList.remove("drop"); });
      item.addEventListener("drop", function (e) {
        e.preventDefault();
        item.classList.remove("drop");
        var jobId = Number(e.dataTransfer.getData("text/plain"));
        if (jobId) { assign(jobId, v.meta.id, v.meta.queue_version); }
      });
    }
    return item;
  }

  function focusVehicle(id) {
    var v = state.vehicles.get(id);
    if (v && v.marker) {
      map.panTo(v.marker.getLatLng());
      v.marker.openTooltip();
    }
    var row = vehicleList.querySelector('[data-vehicle="' + id + '"]');
    if (row) { row.scrollIntoView({ block: "nearest" }); row.classList.add("focus");
      setTimeout(function () { row.classList.remove("focus"); }, 1500); }
  }

  // --- messages --------------------------------------------------------------------------------

  function applyVehicle(meta) {
    var v = state.vehicles.get(meta.id);
    if (!v) { v = { meta: meta, live: null, marker: null }; state.vehicles.set(meta.id, v); }
    var live = meta.live;
    delete meta.live;
    v.meta = Object.assign({}, v.meta, meta);
    if (live !== undefined) { v.live = live; }
    placeVehicle(v);
  }

  function applyJob(job) {
    state.jobs.set(job.id, job);
    placeJob(job);
  }

  function onMessage(message) {
    state.lastMessageAt = performance.now();
    state.messages += 1;
    if (message.type === "snapshot") {
      vehicleLayer.clearLayers();
      jobLayer.clearLayers();
      state.vehicles.clear();
      state.jobs.clear();
      state.jobMarkers.clear();
      message.vehicles.forEach(applyVehicle);
      message.jobs.forEach(applyJob);
      board.dataset.state = "live";
      scheduleRender();
      if (state.openJob && state.jobs.has(state.openJob) && panel.hidden) {
        openSuggestions(state.openJob);
      }
    } else if (message.type === "positions") {
      message.vehicles.forEach(function (p) {
        var v = state.vehicles.get(p.id);
        if (!v) { return; }
        var wasMoving = v.live && v.live.moving;
        v.live = p;
        placeVehicle(v);
        if (wasMoving !== p.moving) { scheduleRender(); }
      });
    } else if (message.type === "dispatch") {
      message.vehicles.forEach(applyVehicle);
      message.jobs.forEach(applyJob);
      scheduleRender();
      if (state.openJob && message.vehicles.length && !panel.hidden) {
        var job = state.jobs.get(state.openJob);
        if (job && job.status === "new") { refreshSuggestions(); } else { closeSuggestions(); }
      }
    }
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + location.host + config.wsPath);
    state.socket = socket;
    socket.onopen = function () { state.retry = 500; };
    socket.onmessage = function (event) { onMessage(JSON.parse(event.data)); };
    socket.onclose = function () {
      board.dataset.state = "reconnecting";
      toast(text.disconnected, "warn");
      setTimeout(connect, state.retry);
      state.retry = Math.min(state.retry * 2, 10000);
    };
  }

  function resync() {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) {
      state.socket.send(JSON.stringify({ type: "resync" }));
    }
  }

  // --- suggestions and assignment --------------------------------------------------------------

  function api(method, url, body) {
    return fetch(url, {
      method: method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
      body: body ? JSON.stringify(body) : undefined
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { status: response.status, data: data };
      });
    });
  }

  function minutes(s) { return Math.max(1, Math.round(s / 60)) + " " + text.min; }
  function km(m) { return (m / 1000).toFixed(1) + " " + text.km; }

  function openSuggestions(jobId) {
    state.openJob = jobId;
    var job = state.jobs.get(jobId);
    panel.hidden = false;
    document.getElementById("suggestions-title").textContent = job ? "#" + job.id + " " + job.title : "#" + jobId;
    document.getElementById("eligible").replaceChildren();
    document.getElementById("ineligible").replaceChildren();
    if (job) { map.panTo([job.lat, job.lon]); placeJob(job); }
    scheduleRender();
    refreshSuggestions();
  }

  function closeSuggestions() {
    var was = state.openJob;
    state.openJob = null;
    panel.hidden = true;
    if (was && state.jobs.has(was)) { placeJob(state.jobs.get(was)); }
    scheduleRender();
  }

  var suggestionSeq = 0;
  function refreshSuggestions() {
    var jobId = state.openJob;
    if (!jobId) { return; }
    var seq = ++suggestionSeq;
    var status = document.getElementById("suggestions-status");
    status.textContent = text.loading;
    api("GET", config.jobsUrl + jobId + "/suggestions/").then(function (r) {
      if (seq !== suggestionSeq || jobId !== state.openJob) { return; }
      if (r.status !== 200) { status.textContent = r.data.detail || String(r.status); return; }
      renderSuggestions(r.data);
    });
  }

  function renderSuggestions(data) {
    var status = document.getElementById("suggestions-status");
    status.textContent = data.eligible.length ? (data.routed ? "" : text.estimate) : text.none;
    var rows = data.eligible.map(function (c, i) {
      var button = el("button", { type: "button", class: "assign" + (i === 0 ? " primary" : ""), text: text.assign, "data-vehicle": c.vehicle });
      button.addEventListener("click", function () { assign(data.job, c.vehicle, c.queue_version); });
      var origin = text["from_" + c.origin] || "";
      var warn = c.warnings.map(function (w) { return w.message; }).join(" ");
      return el("tr", { class: "candidate" + (c.late ? " late" : ""), "data-vehicle": c.vehicle, title: [origin, warn].filter(Boolean).join(" · ") }, [
        el("td", { text: String(i + 1) }),
        el("td", {}, [el("strong", { text: c.label }), el("div", { class: "helptext", text: c.driver_name })]),
        el("td", {}, [el("span", { text: minutes(c.road_time_s) }), el("div", { class: "helptext", text: km(c.distance_m) })]),
        el("td", { text: hhmm(c.eta) + (c.late ? " (" + text.late + ")" : "") }),
        el("td", { text: String(c.load) }),
        el("td", {}, [config.canEdit ? button : null])
      ]);
    });
    document.getElementById("eligible").replaceChildren.apply(document.getElementById("eligible"), rows);
    var bad = data.ineligible.map(function (r) {
      var item = el("li", { "data-vehicle": r.vehicle }, [
        el("strong", { text: r.label + ": " }),
        el("span", { text: r.reasons.map(function (x) { return x.message; }).join(" ") })
      ]);
      if (config.canOverride) {
        var force = el("button", { type: "button", class: "link-dark override", text: "⚠ " + text.assign });
        force.addEventListener("click", function () { assign(data.job, r.vehicle, r.queue_version, true); });
        item.appendChild(force);
      }
      return item;
    });
    document.getElementById("ineligible-count").textContent = bad.length;
    document.getElementById("ineligible").replaceChildren.apply(document.getElementById("ineligible"), bad);
  }

  function assign(jobId, vehicleId, version, forcing) {
    var body = { vehicle: vehicleId, expected_version: version };
    if (forcing) {
      var reason = window.prompt(text.override_prompt);
      if (!reason) { return; }
      body.override_reason = reason;
    }
    api("POST", config.jobsUrl + jobId + "/assign/", body).then(function (r) {
      if (r.status === 200) {
        var v = state.vehicles.get(vehicleId);
        toast(text.assigned + " " + (v ? v.meta.label : vehicleId), "ok");
        applyJob(Object.assign({}, state.jobs.get(jobId) || {}, { id: jobId, status: "assigned", vehicle: vehicleId }));
        if (state.openJob === jobId) { closeSuggestions(); }
        scheduleRender();
      } else if (r.status === 409) {
        toast(r.data.detail, "bad");
        resync();
        if (state.openJob === jobId) { refreshSuggestions(); }
      } else if (r.status === 400 && r.data.reasons) {
        if (config.canOverride && !forcing) {
          toast(r.data.detail, "bad");
          assign(jobId, vehicleId, version, true);
        } else {
          toast(r.data.detail, "bad");
        }
      } else {
        toast(r.data.detail || JSON.stringify(r.data), "bad");
      }
    });
  }

  // --- small things ----------------------------------------------------------------------------

  var toastTimer = null;
  function toast(message, kind) {
    var box = document.getElementById("toast");
    box.textContent = message;
    box.className = "toast " + (kind || "");
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { box.hidden = true; }, kind === "bad" ? 8000 : 3500);
  }

  document.getElementById("suggestions-close").addEventListener("click", closeSuggestions);
  document.getElementById("vehicle-filter").addEventListener("input", scheduleRender);

  window.kinisiBoard = {
    position: function (id) {
      var v = state.vehicles.get(id);
      if (!v || !v.marker) { return null; }
      var ll = v.marker.getLatLng();
      return [ll.lat, ll.lng];
    },
    jobStatus: function (id) { var j = state.jobs.get(id); return j ? j.status : null; },
    vehicleCount: function () { return state.vehicles.size; },
    markerCount: function () { var n = 0; state.vehicles.forEach(function (v) { if (v.marker) { n += 1; } }); return n; },
    messages: function () { return state.messages; },
    openSuggestions: openSuggestions
  };

  connect();
})();
