/*
 * Live map: every vehicle of the municipality with its status, refreshed by polling
 * GET /api/v1/live/ (session authentication) every config.intervalMs. Markers are updated in
 * place, so the map does not flicker and a popup stays open across refreshes.
 */
(function (global) {
  "use strict";

  var COLORS = { moving: "#1a9850", stopped: "#2c7bb6", offline: "#999999", no_data: "#999999" };

  function readJson(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : {};
  }

  function format(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_, key) { return values[key]; });
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function popupHtml(v, text) {
    var lines = ["<strong>" + escapeHtml(v.label) + "</strong>", text[v.status] || v.status];
    if (v.speed_kmh !== null) { lines.push(Math.round(v.speed_kmh) + " " + text.kmh); }
    if (v.ignition !== null) { lines.push(v.ignition ? text.ignition_on : text.ignition_off); }
    if (v.last_seen) { lines.push(text.last_seen + ": " + new Date(v.last_seen).toLocaleString()); }
    return lines.join("<br>");
  }

  global.kinisiLiveMap = function (map) {
    var config = readJson("livemap-config");
    var text = readJson("livemap-text");
    var markers = {};
    var fitted = false;
    var list = document.getElementById("livemap-list");
    var summary = document.getElementById("livemap-summary");
    var updated = document.getElementById("livemap-updated");

    if (global.KinisiBasemap) {
      global.KinisiBasemap.attach(map, { tileUrl: config.tileUrl, streetsUrl: config.streetsUrl });
    }

    function render(vehicles) {
      var seen = {};
      var counts = { moving: 0, stopped: 0, offline: 0 };
      var bounds = [];
      list.innerHTML = "";
      vehicles.forEach(function (v) {
        var status = v.status === "no_data" ? "offline" : v.status;
        counts[status] += 1;
        var item = document.createElement("li");
        item.innerHTML = '<span class="dot ' + v.status + '"></span>' + escapeHtml(v.label);
        item.title = text[v.status] || v.status;
        list.appendChild(item);
        if (v.latitude === null || v.longitude === null) { return; }
        seen[v.vehicle_id] = true;
        var latlng = [v.latitude, v.longitude];
        bounds.push(latlng);
        var marker = markers[v.vehicle_id];
        var style = { radius: 7, color: "#fff", weight: 2, fillColor: COLORS[v.status],
                      fillOpacity: 0.95 };
        if (!marker) {
          marker = L.circleMarker(latlng, style).addTo(map);
          marker.bindPopup(popupHtml(v, text));
          marker.bindTooltip(escapeHtml(v.label));
          markers[v.vehicle_id] = marker;
        } else {
          marker.setLatLng(latlng);
          marker.setStyle(style);
          marker.setPopupContent(popupHtml(v, text));
        }
        item.addEventListener("click", function () {
          map.setView(latlng, Math.max(map.getZoom(), 16));
          marker.openPopup();
        });
      });
      Object.keys(markers).forEach(function (id) {
        if (!seen[id]) { map.removeLayer(markers[id]); delete markers[id]; }
      });
      summary.textContent = format(text.summary, counts);
      updated.textContent = text.updated + ": " + new Date().toLocaleTimeString();
      if (!fitted && bounds.length) {
        map.fitBounds(bounds, { padding: [30, 30], maxZoom: 16 });
        fitted = true;
      }
    }

    function poll() {
      fetch(config.liveUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(render)
        .catch(function (error) {
          updated.textContent = text.unreachable;
          global.console.warn("kinisi.livemap poll_failed", error);
        })
        .then(function () { global.setTimeout(poll, config.intervalMs || 2000); });
    }
    poll();
  };
})(window);
