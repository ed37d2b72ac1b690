/*
 * An optimised plan on the map: each vehicle's route along the roads (shapes worked out on the
 * server, config.geometry) in its own colour, with numbered stops and their planned times, a
 * table per route, and (for a draft) moving a stop to another vehicle or position, then
 * re-timing the plan through POST /api/v1/plans/<id>/adjust/.
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("map-config").textContent);
  var text = JSON.parse(document.getElementById("plan-text").textContent);
  var csrf = document.querySelector("#csrf-holder [name=csrfmiddlewaretoken]").value;
  var plan = config.plan;
  var PALETTE = ["#0b6bcb", "#c62828", "#1f8a4c", "#8e24aa", "#e08a00", "#00838f", "#6d4c41", "#3949ab"];

  if (plan.status === "pending") { setTimeout(function () { location.reload(); }, 2000); }

  var map = L.map("plan-map", { preferCanvas: true }).setView(config.center, 14);
  if (window.KinisiBasemap) {
    KinisiBasemap.attach(map, { tileUrl: config.tileUrl, streetsUrl: config.streetsUrl, fit: false });
  }
  var result = plan.result || {};
  var routes = result.routes || [];
  var bounds = [];
  var box = document.getElementById("plan-routes");

  function hhmm(seconds) {
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60);
    return String(h).padStart(2, "0") + ":" + String(m).padStart(2, "0");
  }

  var geometry = config.geometry || [];
  var drawn = [];  // what is on the map, for the page's tests (window.kinisiPlan)

  function stopPopup(s, n) {
    var div = document.createElement("div");
    var title = document.createElement("strong");
    if (s.kind === "job") {
      title.textContent = n + ". #" + s.job;
    } else {
      title.textContent = s.kind === "unload" ? text.unload + " " + (s.name || "") : text.depot;
    }
    div.appendChild(title);
    var lines = [text.arrival + " " + hhmm(s.arrival)];
    if (s.kind === "job" || s.kind === "unload") {
      lines.push(text.start + " " + hhmm(s.start) + " · " + text.departure + " " + hhmm(s.departure));
    }
    lines.forEach(function (line) {
      div.appendChild(document.createElement("br"));
      div.appendChild(document.createTextNode(line));
    });
    return div;
  }

  // The roads each route follows, leg by leg; a leg with no road route is a dashed straight line.
  function drawRoute(route, r, color) {
    var shape = geometry[r];
    var unrouted = [];
    if (!shape || !shape.legs || shape.legs.length !== route.stops.length - 1) {
      var straight = route.stops.map(function (s) { return [s.lat, s.lon]; });
      var whole = L.polyline(straight, { color: color, weight: 3, opacity: 0.8, dashArray: "6 6", className: "plan-leg plan-leg-straight" }).addTo(map);
      drawn.push({ route: r, vehicle: route.vehicle, road: false, line: whole });
      bounds = bounds.concat(straight);
      // Every leg of it is straight.
      return route.stops.slice(1).map(function (s, i) { return i; });
    }
    shape.legs.forEach(function (leg, i) {
      var line = L.polyline(leg.points, leg.ok
        ? { color: color, weight: 4, opacity: 0.85, className: "plan-leg plan-leg-road" }
        : { color: color, weight: 3, opacity: 0.8, dashArray: "6 6", className: "plan-leg plan-leg-straight" });
      line.addTo(map);
      drawn.push({ route: r, vehicle: route.vehicle, road: leg.ok, line: line });
      if (!leg.ok) {
        unrouted.push(i);
        line.bindTooltip(text.no_road);
      }
      bounds = bounds.concat(leg.points);
    });
    return unrouted;
  }

  routes.forEach(function (route, r) {
    var color = PALETTE[r % PALETTE.length];
    var unrouted = drawRoute(route, r, color);
    var n = 0;
    route.stops.forEach(function (s, i) {
      if (s.kind === "job") {
        n += 1;
        L.marker([s.lat, s.lon], {
          icon: L.divIcon({ className: "stop-icon", html: '<span style="background:' + color + '">' + n + "</span>", iconSize: [22, 22] })
        }).bindTooltip("#" + s.job + " · " + hhmm(s.start)).bindPopup(stopPopup(s, n)).addTo(map);
      } else if (i === 0 || s.kind === "unload") {
        L.circleMarker([s.lat, s.lon], { radius: 6, color: color, fillColor: "#fff", fillOpacity: 1, weight: 3 })
          .bindPopup(stopPopup(s, 0)).addTo(map);
      }
    });
    var h = document.createElement("h3");
    h.style.color = color;
    h.textContent = text.vehicle + " " + (route.label || route.vehicle) + " · " + (route.distance / 1000).toFixed(1) + " " + text.km + " · " + hhmm(route.start_time) + "–" + hhmm(route.end_time);
    box.appendChild(h);
    if (unrouted.length) {
      var warn = document.createElement("p");
      warn.className = "helptext plan-unrouted";
      warn.textContent = text.no_road_legs + " " + unrouted.length;
      box.appendChild(warn);
    }
    if (route.problems && route.problems.length) {
      var p = document.createElement("p");
      p.className = "error";
      p.textContent = text.problems + ": " + route.problems.join("; ");
      box.appendChild(p);
    }
    var ol = document.createElement("ol");
    ol.className = "plan-stops";
    route.stops.forEach(function (s, i) {
      var li = document.createElement("li");
      li.dataset.kind = s.kind;
      if (unrouted.indexOf(i - 1) >= 0) {
        // Reached by a leg with no road route: say so next to the stop.
        var mark = document.createElement("span");
        mark.className = "plan-straight-mark error";
        mark.textContent = "⤳ " + text.straight + " ";
        mark.title = text.no_road;
        li.appendChild(mark);
      }
      if (s.kind === "job") {
        li.dataset.job = s.job;
        li.appendChild(document.createTextNode(hhmm(s.start) + " #" + s.job + " "));
        if (plan.status === "draft") {
          var select = document.createElement("select");
          select.className = "move";
          routes.forEach(function (other) {
            var o = document.createElement("option");
            o.value = other.vehicle;
            o.textContent = text.move_to + " " + (other.label || other.vehicle);
            if (other.vehicle === route.vehicle) { o.selected = true; }
            select.appendChild(o);
          });
          var order = document.createElement("input");
          order.type = "number"; order.className = "order"; order.min = 1; order.style.width = "4em";
          order.value = ol.querySelectorAll("li[data-job]").length + 1;
          li.appendChild(select);
          li.appendChild(order);
        }
      } else {
        li.appendChild(document.createTextNode(hhmm(s.arrival) + " " + (s.kind === "unload" ? text.unload + " " + (s.name || "") : text.depot)));
        li.className = "helptext";
      }
      ol.appendChild(li);
    });
    box.appendChild(ol);
  });
  (result.unassigned || []).forEach(function (u, i) {
    if (i === 0) {
      var h = document.createElement("h3");
      h.textContent = text.left_out;
      box.appendChild(h);
    }
    var p = document.createElement("p");
    p.className = "helptext";
    p.textContent = "#" + u.job + ": " + u.detail;
    box.appendChild(p);
  });
  if (bounds.length) { map.fitBounds(bounds, { padding: [20, 20] }); }

  window.kinisiPlan = {
    legs: function () {
      return drawn.map(function (d) {
        return {
          route: d.route, vehicle: d.vehicle, road: d.road, onMap: map.hasLayer(d.line),
          vertices: d.line.getLatLngs().length, color: d.line.options.color,
          dashed: Boolean(d.line.options.dashArray)
        };
      });
    }
  };

  var retime = document.getElementById("plan-retime");
  if (retime) {
    retime.addEventListener("click", function () {
      var wanted = {};
      box.querySelectorAll("li[data-job]").forEach(function (li) {
        var vehicle = li.querySelector("select.move").value;
        var order = Number(li.querySelector("input.order").value) || 0;
        (wanted[vehicle] = wanted[vehicle] || []).push([order, Number(li.dataset.job)]);
      });
      var body = { routes: {} };
      Object.keys(wanted).forEach(function (v) {
        body.routes[v] = wanted[v].sort(function (a, b) { return a[0] - b[0]; }).map(function (x) { return x[1]; });
      });
      fetch(config.planUrl + "adjust/", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
        body: JSON.stringify(body)
      }).then(function () { location.reload(); });
    });
  }
})();
