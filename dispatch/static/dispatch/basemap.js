/*
 * Kinisi base map: every map page calls KinisiBasemap.attach(map, options).
 *
 * When a tile server is configured (settings.KINISI_TILE_URL, passed as options.tileUrl, or a tile
 * layer django-leaflet already added from LEAFLET_CONFIG) its tiles are used. Otherwise, and also
 * when the tile server turns out to be unreachable, the municipality's own street graph
 * (GET /api/v1/streets/) is drawn as a light vector layer with street names on hover, so a map is
 * never a grey square. "© OpenStreetMap contributors" is always shown: the data is ODbL.
 *
 * options: {tileUrl: "", streetsUrl: "/api/v1/streets/", fit: true|false (default: only when the
 *           view does not show the streets), onStreets: fn(layer)}
 * Returns a Promise that resolves to the street layer, or null when tiles are used.
 */
(function (global) {
  "use strict";

  var ATTRIBUTION = "© OpenStreetMap contributors";
  var DEFAULT_STREETS_URL = "/api/v1/streets/";
  // Tiles that fail before any loads mean no tile server is reachable (a closed municipal network).
  var TILE_ERRORS_BEFORE_FALLBACK = 4;

  var WIDTH = {
    motorway: 5, trunk: 5, primary: 4.5, secondary: 4, tertiary: 3.5,
    motorway_link: 3, trunk_link: 3, primary_link: 3, secondary_link: 3, tertiary_link: 3,
    unclassified: 2.5, residential: 2.5, road: 2.5, living_street: 2, service: 1.5
  };
  var COLOR = { motorway: "#c9a26b", trunk: "#c9a26b", primary: "#d4b27d", secondary: "#dcc79a" };

  function style(feature) {
    var cls = (feature.properties && feature.properties["class"]) || "road";
    return {
      color: COLOR[cls] || "#b9c2cc",
      weight: WIDTH[cls] || 2,
      opacity: 0.9,
      lineCap: "round",
      lineJoin: "round"
    };
  }

  function basemapPane(map) {
    // Below Leaflet's overlay pane (400), so routes and vehicles are always drawn on top.
    if (!map.getPane("kinisi-basemap")) {
      var pane = map.createPane("kinisi-basemap");
      pane.style.zIndex = 250;
    }
    return "kinisi-basemap";
  }

  function addAttribution(map) {
    if (!map.attributionControl) {
      L.control.attribution().addTo(map);
    }
    map.attributionControl.addAttribution(ATTRIBUTION);
  }

  function drawStreets(map, options) {
    var url = options.streetsUrl || DEFAULT_STREETS_URL;
    var pane = basemapPane(map);
    map.getContainer().style.background = "#f4f1ea";
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/geo+json, application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("streets " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        var layer = L.geoJSON(data, {
          pane: pane,
          // One canvas instead of thousands of SVG paths keeps panning smooth.
          renderer: L.canvas({ pane: pane, padding: 0.5, tolerance: 4 }),
          style: style,
          onEachFeature: function (feature, path) {
            var name = feature.properties && feature.properties.name;
            if (name) {
              path.bindTooltip(name, { sticky: true, direction: "top", className: "kinisi-street-name" });
            }
            path.on("mouseover", function () { path.setStyle({ color: "#6d8299" }); });
            path.on("mouseout", function () { path.setStyle(style(feature)); });
          }
        });
        layer.addTo(map);
        var bounds = layer.getBounds();
        var fit = options.fit;
        if (fit === undefined) {
          // Fit when the map has no view yet, or looks at some other place entirely.
          try { fit = !map.getBounds().intersects(bounds); } catch (e) { fit = true; }
        }
        if (fit && bounds.isValid()) {
          map.fitBounds(bounds);
        }
        if (typeof options.onStreets === "function") {
          options.onStreets(layer);
        }
        return layer;
      })
      .catch(function (error) {
        if (global.console) {
          global.console.warn("kinisi.basemap streets_unavailable", error);
        }
        return null;
      });
  }

  function tileLayers(map) {
    var found = [];
    map.eachLayer(function (layer) {
      if (layer instanceof L.TileLayer) {
        found.push(layer);
      }
    });
    return found;
  }

  function attach(map, options) {
    options = options || {};
    addAttribution(map);
    var tiles = tileLayers(map);
    if (!tiles.length && options.tileUrl) {
      tiles.push(L.tileLayer(options.tileUrl, { attribution: ATTRIBUTION, maxZoom: 19 }).addTo(map));
    }
    if (!tiles.length) {
      return drawStreets(map, options);
    }
    return new Promise(function (resolve) {
      var loaded = 0;
      var errors = 0;
      var fellBack = false;
      tiles.forEach(function (layer) {
        layer.on("tileload", function () {
          loaded += 1;
          if (!fellBack) { resolve(null); }
        });
        layer.on("tileerror", function () {
          errors += 1;
          if (!fellBack && loaded === 0 && errors >= TILE_ERRORS_BEFORE_FALLBACK) {
            fellBack = true;
            tiles.forEach(function (t) { map.removeLayer(t); });
            resolve(drawStreets(map, options));
          }
        });
      });
    });
  }

  global.KinisiBasemap = { attach: attach, drawStreets: drawStreets, ATTRIBUTION: ATTRIBUTION };
})(window);
