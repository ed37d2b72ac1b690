/*
 * Geofences page: every geofence on the map, coloured by role; click one (on the map or in the
 * list) to select it. With the right to edit, draw a polygon or a circle (Leaflet.draw, the copy
 * shipped by django-leaflet), move corners, move and resize circles, and save, cancel or delete
 * in the side form. Saving posts the form to the page's own views, which check everything and
 * answer JSON; after a save the page reloads with the geofence selected.
 */
(function (global) {
  "use strict";

  function byId(id) { return document.getElementById(id); }
  function readJson(id) { return JSON.parse(byId(id).textContent); }

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function translateDrawTools(text) {
    var handlers = L.drawLocal.draw.handlers;
    handlers.polygon.tooltip.start = text.drawPolygonStart;
    handlers.polygon.tooltip.cont = text.drawPolygonCont;
    handlers.polygon.tooltip.end = text.drawPolygonEnd;
    handlers.polyline.error = text.crossing;
    handlers.circle.tooltip.start = text.drawCircleStart;
    handlers.circle.radius = text.radius;
    handlers.simpleshape.tooltip.end = text.drawRelease;
  }

  global.kinisiGeofences = function (map) {
    var config = readJson("geofence-config");
    var data = readJson("geofence-data");
    var text = readJson("geofence-text");
    KinisiBasemap.attach(map, { tileUrl: config.tileUrl, streetsUrl: config.streetsUrl, fit: false });

    var form = byId("geofence-form");
    var title = byId("geofence-form-title");
    var errors = byId("geofence-errors");
    var hint = byId("geofence-hint");
    var radiusRow = byId("geofence-radius-row");
    var radiusInput = byId("geofence-radius");
    var deleteButton = byId("geofence-delete");
    var defaultHint = hint.textContent;

    var features = {};   // id -> GeoJSON feature as loaded
    var layers = {};     // id -> Leaflet layer on the map
    var selectedId = null;
    var draft = null;    // a shape drawn but not saved yet
    var shapeChanged = false;

    function colour(role) { return config.colours[role] || config.colours.general; }

    function styleFor(props, selected) {
      var c = colour(props.role);
      return {
        color: c,
        fillColor: c,
        weight: selected ? 4 : 2,
        opacity: props.active === false ? 0.6 : 0.9,
        fillOpacity: selected ? 0.35 : 0.18,
        dashArray: props.active === false || props.role === "boundary" ? "6 4" : null
      };
    }

    function layerFor(feature) {
      var props = feature.properties, geometry = feature.geometry, layer;
      if (geometry.type === "Point") {
        var c = geometry.coordinates;
        layer = L.circle([c[1], c[0]], L.extend({ radius: props.radius }, styleFor(props, false)));
      } else {
        layer = L.GeoJSON.geometryToLayer(feature);
        layer.setStyle(styleFor(props, false));
      }
      // Leaflet puts a string tooltip in as HTML; a name is text.
      var label = document.createElement("span");
      label.textContent = props.name;
      layer.bindTooltip(label, { sticky: true });
      layer.on("click", function () { select(feature.id); });
      return movable(layer);
    }

    function addFeature(feature) {
      features[feature.id] = feature;
      layers[feature.id] = layerFor(feature).addTo(map);
    }

    data.features.forEach(addFeature);
    var all = L.featureGroup(Object.keys(layers).map(function (id) { return layers[id]; }));
    if (all.getLayers().length && !config.selected) {
      map.fitBounds(all.getBounds(), { padding: [20, 20], maxZoom: 16 });
    }

    function listItems() { return document.querySelectorAll("#geofence-list li[data-id]"); }

    function showErrors(messages) {
      errors.innerHTML = "";
      messages.forEach(function (message) {
        var li = document.createElement("li");
        li.textContent = message;
        errors.appendChild(li);
      });
    }

    function fillForm(props, kind, heading) {
      title.textContent = heading;
      form.elements.name.value = props.name || "";
      form.elements.role.value = props.role || "general";
      form.elements.speed_limit_kmh.value = props.speed_limit_kmh == null ? "" : props.speed_limit_kmh;
      form.elements.active.checked = props.active !== false;
      radiusRow.hidden = kind !== "circle";
      radiusInput.value = kind === "circle" && props.radius ? Math.round(props.radius) : "";
      if (deleteButton) { deleteButton.hidden = selectedId === null; }
      showErrors([]);
      form.hidden = false;
    }

    function startEditing(layer) {
      if (!config.canEdit || !layer.editing) { return; }
      layer.editing.enable();
      hint.textContent = layer instanceof L.Circle ? text.editCircleHint : text.editHint;
    }

    function shifted(latlngs, dLat, dLng) {
      return latlngs.map(function (item) {
        return Array.isArray(item) ? shifted(item, dLat, dLng) : L.latLng(item.lat + dLat, item.lng + dLng);
      });
    }

    // Leaflet.draw moves a polygon's corners one by one; pressing inside the polygon being
    // edited and dragging moves all of it.
    function movable(layer) {
      if (!config.canEdit || layer instanceof L.Circle) { return layer; }
      layer.on("mousedown", function (down) {
        if (!layer.editing || !layer.editing.enabled()) { return; }
        L.DomEvent.stop(down);
        var start = down.latlng, original = layer.getLatLngs(), moved = false;
        map.dragging.disable();
        layer.editing.disable();
        function onMove(event) {
          moved = true;
          layer.setLatLngs(shifted(original, event.latlng.lat - start.lat, event.latlng.lng - start.lng));
        }
        function onUp() {
          map.off("mousemove", onMove);
          document.removeEventListener("mouseup", onUp);
          map.dragging.enable();
          layer.editing.enable();
          if (moved) { shapeChanged = true; }
        }
        map.on("mousemove", onMove);
        document.addEventListener("mouseup", onUp);
      });
      return layer;
    }

    function stopEditing(layer) {
      if (layer && layer.editing && layer.editing.enabled()) { layer.editing.disable(); }
    }

    // Drop unsaved changes: a draft disappears, an edited shape goes back to what was loaded.
    function discard() {
      if (draft) { stopEditing(draft); map.removeLayer(draft); draft = null; }
      if (selectedId !== null) {
        var id = selectedId, layer = layers[id];
        stopEditing(layer);
        if (shapeChanged) {
          map.removeLayer(layer);
          layers[id] = layerFor(features[id]).addTo(map);
        } else {
          layer.setStyle(styleFor(features[id].properties, false));
        }
      }
      selectedId = null;
      shapeChanged = false;
      listItems().forEach(function (li) { li.classList.remove("selected"); });
      form.hidden = true;
      hint.textContent = defaultHint;
    }

    function select(id) {
      if (draft && config.canEdit) { return; }  // finish or cancel the new shape first
      if (selectedId === id) { return; }
      discard();
      var feature = features[id];
      if (!feature) { return; }
      selectedId = id;
      var layer = layers[id];
      layer.setStyle(styleFor(feature.properties, true));
      layer.bringToFront();
      map.fitBounds(layer.getBounds(), { padding: [40, 40], maxZoom: 17 });
      listItems().forEach(function (li) {
        li.classList.toggle("selected", Number(li.dataset.id) === id);
      });
      fillForm(feature.properties, feature.geometry.type === "Point" ? "circle" : "polygon", feature.properties.name);
      startEditing(layer);
    }

    listItems().forEach(function (li) {
      li.addEventListener("click", function (event) {
        event.preventDefault();
        select(Number(li.dataset.id));
      });
    });

    byId("geofence-cancel").addEventListener("click", discard);

    if (config.canEdit) {
      translateDrawTools(text);
      var drawers = {
        polygon: new L.Draw.Polygon(map, {
          allowIntersection: false,
          showArea: false,
          shapeOptions: styleFor({ role: form.elements.role.value }, true)
        }),
        circle: new L.Draw.Circle(map, {
          showRadius: true,
          metric: true,
          shapeOptions: styleFor({ role: "general" }, true)
        })
      };
      var activeDrawer = null;
      var startDrawing = function (kind) {
        discard();
        if (activeDrawer) { activeDrawer.disable(); }
        activeDrawer = drawers[kind];
        activeDrawer.enable();
      };
      byId("geofence-draw-polygon").addEventListener("click", function () { startDrawing("polygon"); });
      byId("geofence-draw-circle").addEventListener("click", function () { startDrawing("circle"); });

      map.on(L.Draw.Event.CREATED, function (event) {
        activeDrawer = null;
        draft = movable(event.layer.addTo(map));
        var kind = event.layerType === "circle" ? "circle" : "polygon";
        draft.kinisiKind = kind;
        fillForm(
          { name: "", role: "general", active: true, radius: kind === "circle" ? draft.getRadius() : null },
          kind,
          kind === "circle" ? text.newCircle : text.newPolygon
        );
        startEditing(draft);
        form.elements.name.focus();
      });

      // Corners moved, a circle moved or resized: the shape is sent with the next save.
      map.on("draw:editvertex draw:editmove draw:editresize", function () {
        shapeChanged = true;
        var layer = draft || layers[selectedId];
        if (layer instanceof L.Circle) { radiusInput.value = Math.round(layer.getRadius()); }
      });
      radiusInput.addEventListener("change", function () {
        var layer = draft || layers[selectedId], value = Number(radiusInput.value);
        if (layer instanceof L.Circle && value > 0) {
          stopEditing(layer);
          layer.setRadius(value);
          startEditing(layer);
          shapeChanged = true;
        }
      });
      form.elements.role.addEventListener("change", function () {
        var layer = draft || layers[selectedId];
        if (layer) { layer.setStyle(styleFor({ role: form.elements.role.value }, true)); }
      });

      var geometryOf = function (layer) {
        if (layer instanceof L.Circle) {
          var c = layer.getLatLng();
          return { type: "Point", coordinates: [c.lng, c.lat] };
        }
        return layer.toGeoJSON(7).geometry;
      };

      var post = function (url, body) {
        return fetch(url, {
          method: "POST",
          body: body,
          credentials: "same-origin",
          headers: { "X-CSRFToken": csrfToken(form), Accept: "application/json" }
        }).then(function (response) {
          return response.json().then(function (payload) {
            return { ok: response.ok, payload: payload };
          });
        });
      };

      var fail = function () { showErrors([text.failed]); };

      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var layer = draft || layers[selectedId];
        if (!layer) { return; }
        var body = new FormData(form);
        var url;
        if (draft) {
          url = config.createUrl;
          body.set("kind", draft.kinisiKind);
        } else {
          url = config.pageUrl + selectedId + "/";
        }
        if (draft || shapeChanged) {
          body.set("geometry", JSON.stringify(geometryOf(layer)));
          if (layer instanceof L.Circle) { body.set("radius", String(layer.getRadius())); }
        } else {
          body.delete("radius");
        }
        post(url, body).then(function (result) {
          if (result.ok) {
            draft = null;
            shapeChanged = false;
            global.location.assign(config.pageUrl + result.payload.feature.id + "/");
            return;
          }
          var messages = [], found = result.payload.errors || {};
          Object.keys(found).forEach(function (field) { messages = messages.concat(found[field]); });
          showErrors(messages);
        }).catch(fail);
      });

      if (deleteButton) {
        deleteButton.addEventListener("click", function () {
          if (selectedId === null || !global.confirm(text.confirmDelete)) { return; }
          post(config.pageUrl + selectedId + "/delete/", new FormData()).then(function (result) {
            if (!result.ok) { fail(); return; }
            shapeChanged = false;
            global.location.assign(config.pageUrl);
          }).catch(fail);
        });
      }

      global.addEventListener("beforeunload", function (event) {
        if (draft || shapeChanged) { event.preventDefault(); event.returnValue = text.unsaved; }
      });
    }

    if (config.selected) { select(config.selected); }
  };
})(window);
