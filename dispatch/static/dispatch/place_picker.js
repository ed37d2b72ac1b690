/*
 * The job form's place: click the map, or find a street and number (GET geocodeUrl?q=...), to
 * fill the latitude and longitude fields. On the job's page the same map just shows the place.
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("map-config").textContent);
  var textNode = document.getElementById("picker-text");
  var text = textNode ? JSON.parse(textNode.textContent) : {};
  var latInput = document.getElementById("id_latitude");
  var lonInput = document.getElementById("id_longitude");
  var addressInput = document.getElementById("id_address");

  var start = config.job ? [config.job.lat, config.job.lon] : config.center;
  if (latInput && latInput.value && lonInput.value) {
    start = [Number(latInput.value), Number(lonInput.value)];
  }
  var map = L.map("job-map").setView(start, 16);
  if (window.KinisiBasemap) {
    KinisiBasemap.attach(map, { tileUrl: config.tileUrl, streetsUrl: config.streetsUrl, fit: false });
  }
  var marker = null;
  function put(lat, lon) {
    if (!marker) { marker = L.marker([lat, lon], { draggable: !!latInput }).addTo(map); } else {
      marker.setLatLng([lat, lon]);
    }
    if (latInput) {
      latInput.value = lat.toFixed(6);
      lonInput.value = lon.toFixed(6);
      marker.off("dragend").on("dragend", function () {
        var ll = marker.getLatLng();
        put(ll.lat, ll.lng);
      });
    }
  }
  if (config.job || (latInput && latInput.value)) { put(start[0], start[1]); }
  if (!latInput) { return; }
  map.on("click", function (e) { put(e.latlng.lat, e.latlng.lng); });

  var box = document.getElementById("geocode-q");
  var results = document.getElementById("geocode-results");
  var timer = null;
  box.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(search, 250);
  });
  box.addEventListener("keydown", function (e) { if (e.key === "Enter") { e.preventDefault(); search(); } });

  function search() {
    var q = box.value.trim();
    if (q.length < 2) { results.replaceChildren(); return; }
    fetch(config.geocodeUrl + "?q=" + encodeURIComponent(q), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (places) {
        if (!places.length) {
          var none = document.createElement("li");
          none.textContent = text.none || "—";
          results.replaceChildren(none);
          return;
        }
        results.replaceChildren.apply(results, places.map(function (p) {
          var li = document.createElement("li");
          var b = document.createElement("button");
          b.type = "button";
          b.textContent = p.label + (p.exact ? "" : " (" + (text.street_only || "") + ")");
          b.addEventListener("click", function () {
            put(p.lat, p.lon);
            map.setView([p.lat, p.lon], 17);
            if (addressInput && !addressInput.value) { addressInput.value = p.label; }
            results.replaceChildren();
          });
          li.appendChild(b);
          return li;
        }));
      });
  }
})();
