/*
 * Route planner page: click two or more points, see the route and its time.
 * django-leaflet calls window.kinisiRoutePlanner(map) once the map exists.
 */
(function (global) {
  "use strict";

  function readJson(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : {};
  }

  function formatDuration(seconds, text) {
    var minutes = seconds / 60;
    if (minutes < 1) {
      return Math.round(seconds) + " s";
    }
    if (minutes < 60) {
      return minutes.toFixed(minutes < 10 ? 1 : 0) + " " + text.min;
    }
    var h = Math.floor(minutes / 60);
    return h + " h " + Math.round(minutes - h * 60) + " " + text.min;
  }

  function formatLength(metres, text) {
    return metres < 1000 ? Math.round(metres) + " m" : (metres / 1000).toFixed(2) + " " + text.km;
  }

  function stopIcon(n) {
    return L.divIcon({ className: "", html: '<div class="planner-stop">' + n + "</div>", iconSize: [24, 24], iconAnchor: [12, 12] });
  }

  global.kinisiRoutePlanner = function (map) {
    var config = readJson("planner-config");
    var text = readJson("planner-text");
    var csrf = document.querySelector("#planner-csrf input[name=csrfmiddlewaretoken]");
    var summary = document.getElementById("planner-summary");
    var legsList = document.getElementById("planner-legs");
    var metricSelect = document.getElementById("planner-metric");
    var vehicleSelect = document.getElementById("planner-vehicle");
    var stops = [];
    var routeLayer = L.layerGroup().addTo(map);
    var requestId = 0;

    global.KinisiBasemap.attach(map, { tileUrl: config.tileUrl, streetsUrl: config.streetsUrl });

    function say(message, bad) {
      summary.textContent = message;
      summary.className = "planner-summary" + (bad ? " bad" : "");
    }

    function renumber() {
      stops.forEach(function (marker, i) { marker.setIcon(stopIcon(i + 1)); });
    }

    function clearRoute() {
      routeLayer.clearLayers();
      legsList.innerHTML = "";
    }

    function update() {
      clearRoute();
      if (stops.length === 0) { say(text.pick); return; }
      if (stops.length === 1) { say(text.more); return; }
      var body = {
        points: stops.map(function (m) { var p = m.getLatLng(); return [p.lat, p.lng]; }),
        metric: metricSelect.value
      };
      if (vehicleSelect.value) { body.vehicle = Number(vehicleSelect.value); }
      var mine = ++requestId;
      say(text.busy);
      fetch(config.routeUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf ? csrf.value : "" },
        body: JSON.stringify(body)
      })
        .then(function (response) {
          return response.json().then(function (data) { return { status: response.status, data: data }; });
        })
        .then(function (result) {
          if (mine !== requestId) { return; }  // a newer request superseded this one
          var feature = result.data;
          var props = (feature && feature.properties) || {};
          if (result.status !== 200 || !feature.geometry) {
            say(text[props.reason] || text.error, true);
            return;
          }
          var line = L.geoJSON(feature, { style: { color: "#0b6bcb", weight: 6, opacity: 0.85 } });
          routeLayer.addLayer(line);
          (props.points || []).forEach(function (p) {
            if (p.ok && p.distance_m > 1) {
              // Dashed from the clicked point to where it meets the road.
              routeLayer.addLayer(L.polyline([[p.lat, p.lon], [p.road_lat, p.road_lon]],
                { color: "#0b6bcb", weight: 2, dashArray: "4 4", opacity: 0.8 }));
            }
          });
          say(text.total + ": " + formatDuration(props.duration_s, text) + " · " + formatLength(props.length_m, text));
          (props.legs || []).forEach(function (leg, i) {
            var li = document.createElement("li");
            li.textContent = text.leg + " " + (i + 1) + ": " + formatDuration(leg.duration_s, text) + " · " + formatLength(leg.length_m, text);
            legsList.appendChild(li);
          });
        })
        .catch(function () {
          if (mine === requestId) { say(text.error, true); }
        });
    }

    function addStop(latlng) {
      var marker = L.marker(latlng, { draggable: true, icon: stopIcon(stops.length + 1), autoPan: true });
      marker.on("dragend", update);
      marker.on("click", function () {
        stops = stops.filter(function (m) { return m !== marker; });
        map.removeLayer(marker);
        renumber();
        update();
      });
      marker.addTo(map);
      stops.push(marker);
      update();
    }

    map.on("click", function (event) { addStop(event.latlng); });
    metricSelect.addEventListener("change", update);
    vehicleSelect.addEventListener("change", update);
    document.getElementById("planner-clear").addEventListener("click", function () {
      stops.forEach(function (m) { map.removeLayer(m); });
      stops = [];
      update();
    });
    // For scripted use (and the browser test): the map, and adding a stop by coordinates.
    global.kinisiPlanner = { map: map, addStop: function (lat, lon) { addStop(L.latLng(lat, lon)); } };
    update();
  };
})(window);
