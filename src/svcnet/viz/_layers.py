"""Compact, escaped map layers drawn by a small script of svcnet's own.

A :class:`VectorLayer` carries its features as a compact JSON "spec": coordinates
quantized to about a metre and delta-encoded, the tooltip columns stored once
(categorical text as codes), the class of each feature for its colour, and a
legend section. The page's script (``_RUNTIME_JS``, added once to the page's
header) turns a spec into a Leaflet feature group drawn on one canvas per map.

Every string that comes from data (unit and facility names, ids, layer names in
the legend) reaches the page as text: the script sets ``textContent``, never
``innerHTML``. The two places where Leaflet itself writes HTML, layer-control
names and attributions, get strings escaped here with :func:`html.escape`.
"""

from __future__ import annotations

import html
import json
import logging
import math
from typing import Any

import folium
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, Figure, MacroElement
from folium.template import Template

from svcnet.errors import InputError

logger = logging.getLogger(__name__)

__all__ = [
    "QUANTUM_DEG",
    "FitView",
    "ScaleBar",
    "SharedData",
    "VectorLayer",
    "encode_column",
    "encode_geometries",
]

QUANTUM_DEG = 1e-5  # coordinates are sent as integers of 1e-5 degree: about a metre
_RUNTIME_NAME = "svcnet_viz_runtime"

_RUNTIME_CSS = """
.leaflet-container { background: #f3f3f0; }
.leaflet-control-layers { font-size: 13px; }
.leaflet-control-attribution { max-width: 55vw; white-space: normal; line-height: 1.3; }
.svcnet-tooltip, .svcnet-legend {
  font: 12px/1.35 "Helvetica Neue", Arial, "PingFang SC", "Hiragino Sans GB",
        "Microsoft YaHei", "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif;
  color: #222;
}
.svcnet-tip-title { font-weight: 600; margin-bottom: 2px; }
.svcnet-tooltip table { border-collapse: collapse; }
.svcnet-tooltip th { text-align: left; font-weight: normal; color: #555; padding: 0 8px 0 0; }
.svcnet-tooltip td { text-align: right; padding: 0; font-variant-numeric: tabular-nums; }
.svcnet-tooltip td.svcnet-long { text-align: left; white-space: normal; min-width: 220px;
  max-width: 320px; }
.svcnet-legend { background: rgba(255,255,255,0.92); padding: 6px 8px; max-width: 240px; }
.svcnet-legend-heading { font-weight: 600; font-size: 13px; margin-bottom: 4px; }
.svcnet-legend-section + .svcnet-legend-section { margin-top: 4px; }
.svcnet-legend-title { font-weight: 600; }
.svcnet-legend-note { color: #555; font-size: 11px; }
.svcnet-legend-item { display: flex; align-items: center; white-space: nowrap; }
.svcnet-swatch { display: inline-block; width: 18px; height: 12px; margin-right: 6px;
  flex: none; box-sizing: border-box; }
.svcnet-swatch.line { height: 0; border-top: 2px solid; }
.svcnet-swatch.point { width: 10px; height: 10px; margin: 1px 10px 1px 4px;
  border-radius: 50%; border: 1.5px solid #fff; box-shadow: 0 0 0 1px #888; }
"""

# The page-side half of this module: plain ES5 so that older browsers run it too.
_RUNTIME_JS = r"""
var svcnetViz = window.svcnetViz || (function () {
  "use strict";

  function groupDigits(text) {
    var parts = text.split(".");
    parts[0] = parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return parts.join(".");
  }

  function formatValue(value) {
    if (value === null || value === undefined) { return ""; }
    if (typeof value === "number") {
      return groupDigits(value % 1 === 0 ? String(value) : value.toFixed(2));
    }
    return String(value);
  }

  function valueOf(column, i) {
    if (column.codes) {
      var code = column.codes[i];
      return code === null ? null : column.categories[code];
    }
    return column.values[i];
  }

  function tooltipContent(spec, i) {
    var box = document.createElement("div"), table = document.createElement("table");
    var j, column, value, row, head, cell, title;
    for (j = 0; j < spec.columns.length; j++) {
      column = spec.columns[j];
      value = valueOf(column, i);
      if ((value === null || value === undefined) && column.missing) { value = column.missing; }
      if (value === null || value === undefined || value === "") { continue; }
      if (j === spec.titleColumn) {
        title = document.createElement("div");
        title.className = "svcnet-tip-title";
        title.textContent = (column.label ? column.label + " " : "") + formatValue(value);
        box.appendChild(title);
        continue;
      }
      row = table.insertRow(-1);
      head = document.createElement("th");
      head.textContent = column.label;
      row.appendChild(head);
      cell = row.insertCell(-1);
      cell.textContent = formatValue(value);
      if (typeof value === "string" && value.length > 40) { cell.className = "svcnet-long"; }
    }
    box.appendChild(table);
    return box;
  }

  function decodeLine(flat, spec) {
    var q = spec.quantum, x = spec.origin[0], y = spec.origin[1], out = [], k;
    for (k = 0; k < flat.length; k += 2) {
      x += flat[k];
      y += flat[k + 1];
      out.push([y * q, x * q]);
    }
    return out;
  }

  function decodeParts(geometry, spec, depth) {
    // depth 1: a list of lines; depth 2: a list of polygons, each a list of rings
    if (typeof geometry[0] === "number") { return decodeLine(geometry, spec); }
    var out = [], k;
    for (k = 0; k < geometry.length; k++) {
      out.push(depth > 1 ? decodeParts(geometry[k], spec, depth - 1)
                         : decodeLine(geometry[k], spec));
    }
    return out;
  }

  function canvasOf(map) {
    if (!map._svcnetCanvas) { map._svcnetCanvas = L.canvas({padding: 0.3, tolerance: 3}); }
    return map._svcnetCanvas;
  }

  function legendBox(map) {
    if (!map._svcnetLegend) {
      var control = L.control({position: "bottomright"});
      control.onAdd = function () {
        var div = L.DomUtil.create("div", "svcnet-legend leaflet-bar");
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.disableScrollPropagation(div);
        return div;
      };
      control.addTo(map);
      map._svcnetLegend = control;
    }
    return map._svcnetLegend.getContainer();
  }

  function refreshLegend(box) {
    var shown = false, k;
    for (k = 0; k < box.childNodes.length; k++) {
      if (box.childNodes[k].style.display !== "none") { shown = true; }
    }
    box.style.display = shown ? "" : "none";
  }

  function textDiv(className, text) {
    var div = document.createElement("div");
    div.className = className;
    div.textContent = text;
    return div;
  }

  function legendSection(legend) {
    var section = textDiv("svcnet-legend-section", ""), k, item, row, swatch;
    if (legend.title) { section.appendChild(textDiv("svcnet-legend-title", legend.title)); }
    if (legend.note) { section.appendChild(textDiv("svcnet-legend-note", legend.note)); }
    for (k = 0; k < legend.items.length; k++) {
      item = legend.items[k];
      row = textDiv("svcnet-legend-item", "");
      swatch = document.createElement("span");
      swatch.className = "svcnet-swatch " + item.kind;
      if (item.kind === "line") {
        swatch.style.borderTopColor = item.color;
        swatch.style.borderTopWidth = item.weight + "px";
      } else if (item.colors) {  // several colours: stripes
        swatch.style.background = "linear-gradient(to right, " + item.colors.map(
          function (c, n) {
            return c + " " + (100 * n / item.colors.length) + "% " +
                   (100 * (n + 1) / item.colors.length) + "%";
          }).join(", ") + ")";
        if (item.opacity !== undefined) { swatch.style.opacity = item.opacity; }
      } else {
        swatch.style.background = item.color;
        if (item.opacity !== undefined) { swatch.style.opacity = item.opacity; }
      }
      row.appendChild(swatch);
      row.appendChild(document.createTextNode(item.label));
      section.appendChild(row);
    }
    return section;
  }

  function build(kind, geometry, spec, options) {
    if (kind === "point") {
      return L.circleMarker(decodeLine(geometry, spec)[0], options);
    }
    if (kind === "line") { return L.polyline(decodeParts(geometry, spec, 1), options); }
    return L.polygon(decodeParts(geometry, spec, 2), options);
  }

  function featureLayer(map, spec) {
    var group = L.featureGroup([]);
    var renderer = canvasOf(map), styles = [], k, i, feature, options;
    var interactive = spec.columns.length > 0;
    var colors = spec.colors || [null];
    for (k = 0; k < colors.length; k++) {
      options = L.extend({}, spec.style, {renderer: renderer, interactive: interactive});
      if (colors[k] !== null) { options[spec.colorOption] = colors[k]; }
      styles.push(options);
    }
    for (i = 0; i < spec.geometries.length; i++) {
      options = styles[spec.classes ? spec.classes[i] : 0];
      if (options === undefined) { continue; }  // class -1: not drawn
      if (spec.radii) { options = L.extend({}, options, {radius: spec.radii[i]}); }
      feature = build(spec.kind, spec.geometries[i], spec, options);
      feature.svcnetIndex = i;
      group.addLayer(feature);
    }
    if (interactive) {
      group.bindTooltip(function (target) { return tooltipContent(spec, target.svcnetIndex); },
                        {sticky: spec.kind !== "point", className: "svcnet-tooltip",
                         direction: "top", opacity: 0.95});
    }
    if (interactive && spec.popup) {
      group.bindPopup(function (target) { return tooltipContent(spec, target.svcnetIndex); },
                      {className: "svcnet-tooltip", maxWidth: 380});
      // the popup shows what the tooltip showed: one box, not two on top of each other
      group.on("popupopen", function () { group.closeTooltip(); });
    }
    if (spec.below) {  // under the map's other features (sites, patches), however late it is added
      group.on("add", function () { group.bringToBack(); });
    }
    if (interactive && spec.highlight) {
      group.on("mouseover", function (e) {
        e.layer.setStyle(spec.highlight);
        if (spec.kind !== "point" && !spec.below) { e.layer.bringToFront(); }
      });
      group.on("mouseout", function (e) { e.layer.setStyle(spec.unhighlight); });
    }
    return group;
  }

  // Many cells (a city's grid): one canvas that draws the cells class by class from
  // coordinates projected once, skipping those out of view. Leaflet's own polygons
  // would project, clip and simplify tens of thousands of objects at every zoom.
  // The canvas sits in a pane below the other layers and takes no mouse events: the
  // map's mousemove finds the cell under the pointer through a bucket index.
  function gridPane(map) {
    var pane = map.getPane("svcnetGrid");
    if (!pane) {
      pane = map.createPane("svcnetGrid");
      pane.style.zIndex = 350;
      pane.style.pointerEvents = "none";
    }
    return "svcnetGrid";
  }

  var CellsLayer = null;  // made on first use, so that this script may run before Leaflet's

  function cellsLayer(map, spec) {
    if (!CellsLayer) { CellsLayer = L.Canvas.extend(cellsMethods); }
    return new CellsLayer(map, spec);
  }

  var cellsMethods = {
    initialize: function (map, spec) {
      L.Canvas.prototype.initialize.call(this, {
        pane: gridPane(map), padding: 0.3});
      this.svcnetSpec = spec;
      this._spec = spec;
      this._hover = -1;
      this._tip = L.tooltip({className: "svcnet-tooltip", direction: "top", opacity: 0.95,
                             offset: [0, -6]});
      this._prepare(map.options.crs);
    },

    _prepare: function (crs) {
      var spec = this._spec, n = spec.geometries.length, rings = [], cellRing = [0];
      var i, k, j, parts, ring, p, box, total = 0, xy, at = 0, size = 0;
      for (i = 0; i < n; i++) {
        parts = decodeParts(spec.geometries[i], spec, 2);
        if (typeof parts[0][0] === "number") { parts = [[parts]]; }  // one ring
        for (k = 0; k < parts.length; k++) {
          for (j = 0; j < parts[k].length; j++) {
            rings.push(parts[k][j]);
            total += parts[k][j].length;
          }
        }
        cellRing.push(rings.length);
      }
      xy = new Float64Array(total * 2);
      this._ringStart = new Int32Array(rings.length + 1);
      this._bbox = new Float64Array(n * 4);
      for (i = 0; i < n; i++) {
        box = [Infinity, Infinity, -Infinity, -Infinity];
        for (k = cellRing[i]; k < cellRing[i + 1]; k++) {
          this._ringStart[k] = at / 2;
          ring = rings[k];
          for (j = 0; j < ring.length; j++) {
            p = crs.latLngToPoint(L.latLng(ring[j][0], ring[j][1]), 0);
            xy[at++] = p.x;
            xy[at++] = p.y;
            if (p.x < box[0]) { box[0] = p.x; }
            if (p.y < box[1]) { box[1] = p.y; }
            if (p.x > box[2]) { box[2] = p.x; }
            if (p.y > box[3]) { box[3] = p.y; }
          }
        }
        this._bbox.set(box, i * 4);
        size += Math.max(box[2] - box[0], box[3] - box[1]);
      }
      this._ringStart[rings.length] = at / 2;
      this._xy = xy;
      this._cellRing = cellRing;
      this._bucket = n ? 2 * size / n : 1;
      this._index = {};
      this._byClass = [];
      for (k = 0; k < spec.colors.length; k++) { this._byClass.push([]); }
      for (i = 0; i < n; i++) {
        if (spec.classes[i] < 0) { continue; }  // class -1: a cell this layer leaves out
        this._addToIndex(i);
        this._byClass[spec.classes[i]].push(i);
      }
    },

    _addToIndex: function (i) {
      var b = this._bbox, s = this._bucket, x, y, key;
      for (x = Math.floor(b[4 * i] / s); x <= Math.floor(b[4 * i + 2] / s); x++) {
        for (y = Math.floor(b[4 * i + 1] / s); y <= Math.floor(b[4 * i + 3] / s); y++) {
          key = x + "," + y;
          (this._index[key] = this._index[key] || []).push(i);
        }
      }
    },

    _contains: function (i, px, py) {  // even-odd rule over all rings of the cell
      var inside = false, xy = this._xy, k, a, b, end, ax, ay, bx, by;
      for (k = this._cellRing[i]; k < this._cellRing[i + 1]; k++) {
        end = this._ringStart[k + 1];
        for (a = this._ringStart[k], b = end - 1; a < end; b = a++) {
          ax = xy[2 * a]; ay = xy[2 * a + 1]; bx = xy[2 * b]; by = xy[2 * b + 1];
          if ((ay > py) !== (by > py) && px < (bx - ax) * (py - ay) / (by - ay) + ax) {
            inside = !inside;
          }
        }
      }
      return inside;
    },

    cellAt: function (latlng) {
      var p = this._map.options.crs.latLngToPoint(latlng, 0), s = this._bucket;
      var found = this._index[Math.floor(p.x / s) + "," + Math.floor(p.y / s)] || [], k;
      for (k = found.length - 1; k >= 0; k--) {
        if (this._contains(found[k], p.x, p.y)) { return found[k]; }
      }
      return -1;
    },

    cellCount: function () { return this._cellRing.length - 1; },

    drawnCount: function () {
      var n = 0, k;
      for (k = 0; k < this._byClass.length; k++) { n += this._byClass[k].length; }
      return n;
    },

    cellCenter: function (i) {  // the mean of the outer ring's vertices
      var start = this._ringStart[this._cellRing[i]], end = this._ringStart[this._cellRing[i] + 1];
      var x = 0, y = 0, k;
      for (k = start; k < end; k++) { x += this._xy[2 * k]; y += this._xy[2 * k + 1]; }
      return this._map.options.crs.pointToLatLng(L.point(x / (end - start), y / (end - start)), 0);
    },

    _draw: function () {
      var map = this._map, ctx = this._ctx, spec = this._spec;
      if (!map || !ctx || !this._bounds) { return; }
      var s = map.getZoomScale(map.getZoom(), 0), o = map.getPixelOrigin(), b = this._bounds;
      var minX = (b.min.x + o.x) / s, minY = (b.min.y + o.y) / s;
      var maxX = (b.max.x + o.x) / s, maxY = (b.max.y + o.y) / s;
      var xy = this._xy, box = this._bbox, c, n, i, k, j, start, end, cells;
      ctx.save();
      ctx.globalAlpha = spec.style.fillOpacity;
      for (c = 0; c < this._byClass.length; c++) {
        cells = this._byClass[c];
        ctx.fillStyle = spec.colors[c];
        for (n = 0; n < cells.length; n++) {
          i = cells[n];
          if (box[4 * i] > maxX || box[4 * i + 2] < minX || box[4 * i + 1] > maxY ||
              box[4 * i + 3] < minY) { continue; }
          ctx.beginPath();  // one path a cell: a path of thousands is slow to fill
          for (k = this._cellRing[i]; k < this._cellRing[i + 1]; k++) {
            start = this._ringStart[k];
            end = this._ringStart[k + 1];
            ctx.moveTo(xy[2 * start] * s - o.x, xy[2 * start + 1] * s - o.y);
            for (j = start + 1; j < end; j++) {
              ctx.lineTo(xy[2 * j] * s - o.x, xy[2 * j + 1] * s - o.y);
            }
            ctx.closePath();
          }
          ctx.fill("evenodd");
        }
      }
      ctx.restore();
    },

    getEvents: function () {
      var events = L.Canvas.prototype.getEvents.call(this);
      events.mousemove = this._onPointer;
      events.click = this._onPointer;  // touch screens have no hover
      events.mouseout = this._leave;
      events.zoomstart = this._leave;
      return events;
    },

    _onPointer: function (e) {
      var map = this._map, other = map._svcnetCanvas, i;
      if ((map.dragging && map.dragging.moving()) || (other && other._hoveredLayer)) {
        this._leave();  // a boundary or facility drawn above is under the pointer
        return;
      }
      i = this.cellAt(e.latlng);
      if (i < 0) { this._leave(); return; }
      if (i !== this._hover) {
        this._leave();
        this._hover = i;
        this._tip.setContent(tooltipContent(this._spec, i));
        this._outline = L.polygon(decodeParts(this._spec.geometries[i], this._spec, 2),
          L.extend({}, this._spec.highlight, {fill: false, interactive: false,
                                              renderer: canvasOf(map)})).addTo(map);
      }
      this._tip.setLatLng(e.latlng);
      if (!map.hasLayer(this._tip)) { map.openTooltip(this._tip); }
    },

    _leave: function () {
      var map = this._map;
      this._hover = -1;
      if (map && map.hasLayer(this._tip)) { map.closeTooltip(this._tip); }
      if (this._outline) { this._outline.remove(); this._outline = null; }
    },

    onRemove: function () {
      this._leave();
      L.Canvas.prototype.onRemove.call(this);
    }
  };

  function attachLegend(map, layer, spec) {
    var box = legendBox(map), section = legendSection(spec.legend);
    section.style.display = "none";
    box.appendChild(section);
    refreshLegend(box);
    layer.on("add", function () { section.style.display = ""; refreshLegend(box); });
    layer.on("remove", function () { section.style.display = "none"; refreshLegend(box); });
  }

  var sharedData = {};

  // Geometries and tooltip columns that several layers of a page use (a plan's cells).
  function share(key, data) { sharedData[key] = data; }

  // Each part of a layer's credit ("a | b") is credited on its own, so a part that a
  // basemap also credits (OpenStreetMap) is shown once: Leaflet counts equal texts once.
  function credit(map, layer, text) {
    var parts = text ? text.split(" | ") : [];
    function each(method) {
      var control = map.attributionControl, k;
      if (!control) { return; }
      for (k = 0; k < parts.length; k++) { control[method](parts[k]); }
    }
    layer.on("add", function () { each("addAttribution"); });
    layer.on("remove", function () { each("removeAttribution"); });
  }

  // Layers of one exclusive group are shown one at a time (views of the same cells).
  // The others are removed after the layer control has handled its click, so that it
  // then unticks them.
  function exclusive(map, layer, group) {
    var groups = map._svcnetExclusive || (map._svcnetExclusive = {});
    var members = groups[group] || (groups[group] = []);
    members.push(layer);
    layer.on("add", function () {
      setTimeout(function () {
        if (!map.hasLayer(layer)) { return; }
        for (var k = 0; k < members.length; k++) {
          if (members[k] !== layer && map.hasLayer(members[k])) { map.removeLayer(members[k]); }
        }
      }, 0);
    });
  }

  function layer(map, spec) {
    if (spec.shared) { spec = L.extend({}, sharedData[spec.shared], spec); }
    var result = spec.kind === "cells" ? cellsLayer(map, spec) : featureLayer(map, spec);
    result.svcnetSpec = spec;
    credit(map, result, spec.attribution);
    if (spec.exclusive) { exclusive(map, result, spec.exclusive); }
    if (spec.legend) { attachLegend(map, result, spec); }
    return result;
  }

  // Fit the map to bounds once its container has a size. A map whose page is laid out
  // late (an <iframe srcdoc> written into a page, a hidden tab) starts at 0 x 0 pixels,
  // where Leaflet's fitBounds gives NaN and every layer fails.
  // Leaflet sizes an expanded layer control once, when it is added: at 0 x 0 pixels it
  // gets a scroll bar and no room. Size it again as Leaflet would.
  function fitLayerControls(map) {
    var lists = map.getContainer().querySelectorAll(".leaflet-control-layers-list");
    var k, list, room;
    for (k = 0; k < lists.length; k++) {
      list = lists[k];
      list.style.height = "";
      L.DomUtil.removeClass(list, "leaflet-control-layers-scrollbar");
      room = map.getSize().y - (list.parentNode.offsetTop + 50);
      if (room < list.clientHeight) {
        L.DomUtil.addClass(list, "leaflet-control-layers-scrollbar");
        list.style.height = room + "px";
      }
    }
  }

  function fit(map, bounds, padding) {
    var done = false, observer;
    function roomy() {
      var size = map.getSize();
      return size.x > 2 * padding && size.y > 2 * padding;
    }
    function go() {
      if (done) { return; }
      map.invalidateSize(false);
      if (!roomy()) { return; }
      done = true;
      if (observer) { observer.disconnect(); }
      map.fitBounds(bounds, {padding: [padding, padding], animate: false});
      fitLayerControls(map);
    }
    if (roomy()) { go(); return; }
    map.setView(L.latLngBounds(bounds).getCenter(), map.getZoom() || 1, {animate: false});
    if (window.ResizeObserver) {
      observer = new ResizeObserver(go);
      observer.observe(map.getContainer());
    }
    window.addEventListener("load", go);
    window.addEventListener("resize", go);
  }

  function heading(map, text) {
    var box = legendBox(map);
    box.insertBefore(textDiv("svcnet-legend-heading", text), box.firstChild);
  }

  return {layer: layer, heading: heading, share: share, fit: fit, formatValue: formatValue};
})();
"""


def js_literal(obj: Any) -> str:
    r"""JSON for a ``<script>`` block: ``<``, ``>``, ``&`` and line separators escaped.

    Examples
    --------
    >>> js_literal({"name": "</script><b>"})
    '{"name":"\\u003c/script\\u003e\\u003cb\\u003e"}'
    """
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):  # fmt: skip
        text = text.replace(char, escape)
    return text


class _RawHtml(Element):
    """A fixed piece of HTML for the page's header (no template processing)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def render(self, **kwargs: Any) -> str:
        return self._text


def add_runtime(figure: Figure) -> None:
    """Add svcnet's map script and styles to a page's header (once)."""
    figure.header.add_child(
        _RawHtml(f"<style>{_RUNTIME_CSS}</style>\n<script>{_RUNTIME_JS}</script>"),
        name=_RUNTIME_NAME,
    )


class VectorLayer(folium.map.Layer):
    """A layer of polygons, lines, points or grid cells drawn from a compact spec.

    Polygons, lines and points become Leaflet vector layers on one canvas per
    map. Grid cells (``kind="cells"``: many polygons, each coloured by class)
    get a canvas of their own that draws each colour class as one path, below
    the other layers, with the cell under the pointer found by a bucket index.

    Parameters
    ----------
    spec
        What :mod:`svcnet.viz.maps` builds: ``kind``, ``quantum``, ``origin``,
        ``geometries``, ``columns``, ``style`` and optionally ``classes``
        (``-1``: a feature this layer leaves out), ``colors``, ``colorOption``,
        ``highlight``/``unhighlight``, ``titleColumn``, ``legend``,
        ``attribution`` (escaped HTML; parts joined by ``" | "`` are credited
        one by one, so a credit the basemap also gives is shown once),
        ``radii`` (points: a radius per feature), ``popup`` (the tooltip's
        table also opens on click), ``exclusive`` (a group name: layers of a
        group are shown one at a time), ``below`` (drawn under the map's other
        features whenever it is added, and not raised on hover: polygons
        that would hide sites) and ``shared`` (the name of a
        :class:`SharedData` whose entries this spec starts from). A column may
        have ``missing``: the text shown where its value is missing.
    name
        The layer's name in the layer control (plain text; escaped here).
    show
        Whether the layer is on when the page opens.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = svcnetViz.layer({{ this._parent.get_name() }},
                {{ this.spec_js }});
        {% endmacro %}
        """
    )

    def __init__(self, spec: dict[str, Any], *, name: str, show: bool = True) -> None:
        super().__init__(name=html.escape(name), overlay=True, control=True, show=show)
        self._name = "SvcnetLayer"
        self.spec_js = js_literal(spec)

    def render(self, **kwargs: Any) -> None:
        if not isinstance(self._parent, folium.Map):
            msg = "svcnet map layers must be added to a folium.Map, not inside another layer"
            raise InputError(msg)
        add_runtime(self.get_root())
        super().render(**kwargs)


class SharedData(MacroElement):
    """Spec entries that several layers of a map use, sent once (e.g. a plan's cells).

    Add it to the map before the layers whose spec has ``"shared": data.key``.

    Parameters
    ----------
    data
        Spec entries: typically ``quantum``, ``origin``, ``geometries`` and ``columns``.

    Examples
    --------
    >>> data = SharedData({"quantum": QUANTUM_DEG, "origin": [0, 0], "geometries": []})
    >>> data.key.startswith("svcnet_shared_data_")
    True
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            svcnetViz.share({{ this.key_js }}, {{ this.data_js }});
        {% endmacro %}
        """
    )

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__()
        self._name = "SvcnetSharedData"
        self.key = self.get_name()
        self.key_js = js_literal(self.key)
        self.data_js = js_literal(data)

    def render(self, **kwargs: Any) -> None:
        add_runtime(self.get_root())
        super().render(**kwargs)


class MapHeading(MacroElement):
    """A heading at the top of the map's legend (plain text)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            svcnetViz.heading({{ this._parent.get_name() }}, {{ this.text_js }});
        {% endmacro %}
        """
    )

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "SvcnetHeading"
        self.text_js = js_literal(text)

    def render(self, **kwargs: Any) -> None:
        add_runtime(self.get_root())
        super().render(**kwargs)


class FitView(MacroElement):
    """Fit the map to bounds once its container has a size (see ``fit`` in the runtime).

    Unlike ``folium.Map.fit_bounds``, this works when the page is laid out
    after the map's script runs, as in an ``<iframe srcdoc>`` of a report.

    Parameters
    ----------
    bounds
        ``[[south, west], [north, east]]`` in degrees.
    padding
        Pixels kept free around the bounds.

    Examples
    --------
    >>> FitView([[22.5, 114.0], [22.6, 114.1]]).bounds_js
    '[[22.5,114.0],[22.6,114.1]]'
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            svcnetViz.fit({{ this._parent.get_name() }}, {{ this.bounds_js }}, {{ this.padding }});
        {% endmacro %}
        """
    )

    def __init__(self, bounds: list[list[float]], padding: int = 12) -> None:
        super().__init__()
        self._name = "SvcnetFitView"
        self.bounds_js = js_literal([[float(v) for v in corner] for corner in bounds])
        self.padding = int(padding)

    def render(self, **kwargs: Any) -> None:
        add_runtime(self.get_root())
        super().render(**kwargs)


class ScaleBar(MacroElement):
    """A metric scale bar (Leaflet's own, without miles and feet)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            L.control.scale({metric: true, imperial: false, maxWidth: 160,
                             position: "bottomleft"}).addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self) -> None:
        super().__init__()
        self._name = "SvcnetScaleBar"


# -- encoding -------------------------------------------------------------------------
def _nested(values: list[Any], index: np.ndarray, count: int) -> list[list[Any]]:
    """Group ``values`` (sorted by ``index``) into ``count`` lists."""
    out: list[list[Any]] = [[] for _ in range(count)]
    for value, i in zip(values, index.tolist(), strict=True):
        out[i].append(value)
    return out


def encode_geometries(
    geometries: np.ndarray, kind: str, quantum: float = QUANTUM_DEG
) -> tuple[list[int], list[Any], np.ndarray]:
    """Quantize and delta-encode lon/lat geometries for :class:`VectorLayer`.

    Parameters
    ----------
    geometries
        Shapely geometries in lon/lat: polygons (``kind="polygon"``), their
        outlines (``kind="line"``: every ring becomes a line) or points.
    kind
        ``"polygon"``, ``"line"`` or ``"point"``.
    quantum
        The step of the integer coordinates, in degrees.

    Returns
    -------
    origin : list of int
        The integer x, y that every first vertex is relative to.
    encoded : list
        One entry per kept geometry: a flat ``[x0, y0, dx1, dy1, ...]`` list
        (a point, a line, or a polygon with one ring), or a nested list
        (several lines; several polygons, each a list of rings).
    kept : numpy.ndarray
        The positions of the geometries kept (those not empty at this precision).

    Examples
    --------
    >>> from shapely.geometry import box
    >>> origin, encoded, kept = encode_geometries(
    ...     np.array([box(114.0, 22.5, 114.001, 22.501)]), "polygon")
    >>> origin, encoded, kept.tolist()
    ([11400000, 2250000], [[100, 0, 0, 100, -100, 0, 0, -100]], [0])
    """
    geometries = np.asarray(geometries, dtype=object)
    if kind == "point":
        coords = shapely.get_coordinates(geometries)
        kept = np.flatnonzero(~shapely.is_empty(geometries))
        ints = np.round(coords / quantum).astype(np.int64)
        origin = ints.min(axis=0) if len(ints) else np.zeros(2, np.int64)
        return origin.tolist(), (ints - origin).tolist(), kept

    parts, part_of = shapely.get_parts(geometries, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    is_exterior = np.r_[True, ring_of[1:] != ring_of[:-1]] if len(rings) else np.array([], bool)
    coords = shapely.get_coordinates(rings)
    counts = shapely.get_num_coordinates(rings)
    ints = np.round(coords / quantum).astype(np.int64)
    origin = ints.min(axis=0) if len(ints) else np.zeros(2, np.int64)
    ints -= origin
    starts = np.r_[0, np.cumsum(counts)[:-1]].astype(np.int64)
    first = np.zeros(len(ints), bool)
    first[starts] = True
    delta = np.diff(ints, axis=0, prepend=ints[:1])
    delta[first] = ints[first]
    keep = first | (delta != 0).any(axis=1)  # drop repeated vertices
    if kind == "polygon":
        keep[starts + counts - 1] = False  # Leaflet closes polygons itself
    # a vertex dropped as a repeat sits where the previous one is: deltas stay valid
    ring_id = np.repeat(np.arange(len(rings)), counts)
    kept_count = np.bincount(ring_id[keep], minlength=len(rings))
    flat = delta[keep].ravel().tolist()
    ring_lists: list[list[int]] = []
    position = 0
    for n in kept_count.tolist():
        ring_lists.append(flat[position : position + 2 * n])
        position += 2 * n
    minimum = 3 if kind == "polygon" else 2
    ring_ok = kept_count >= minimum
    if kind == "line":
        usable = ring_ok
        feature_of_ring = part_of[ring_of]
        lines = _nested(
            [r for r, ok in zip(ring_lists, usable, strict=True) if ok],
            feature_of_ring[usable],
            len(geometries),
        )
        kept = np.flatnonzero([len(x) > 0 for x in lines])
        encoded: list[Any] = [lines[i][0] if len(lines[i]) == 1 else lines[i] for i in kept]
        return origin.tolist(), encoded, kept
    # polygons: a polygon whose exterior ring collapsed is dropped with its holes
    exterior_ok = ring_ok[is_exterior]
    polygon_ok = np.zeros(len(parts), bool)
    polygon_ok[ring_of[is_exterior]] = exterior_ok
    usable = ring_ok & polygon_ok[ring_of]
    by_polygon = _nested(
        [r for r, ok in zip(ring_lists, usable, strict=True) if ok], ring_of[usable], len(parts)
    )
    polygons = [p for p, ok in zip(by_polygon, polygon_ok, strict=True) if ok]
    by_feature = _nested(polygons, part_of[polygon_ok], len(geometries))
    kept = np.flatnonzero([len(x) > 0 for x in by_feature])
    encoded = []
    for i in kept:
        polys = by_feature[i]
        encoded.append(polys[0][0] if len(polys) == 1 and len(polys[0]) == 1 else polys)
    return origin.tolist(), encoded, kept


def _number(value: float) -> int | float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if float(value).is_integer():
        return int(value)
    return round(float(value), 2)


def encode_column(values: pd.Series, label: str) -> dict[str, Any]:
    """One tooltip column for :class:`VectorLayer`: numbers, text, or coded text.

    Text with few distinct values is sent once, with a code per feature.

    Examples
    --------
    >>> encode_column(pd.Series([1, 2.5, None]), "People")
    {'label': 'People', 'values': [1, 2.5, None]}
    >>> encode_column(pd.Series(["a", "a", "b", "a", "a", "a", "a", "a"]), "Unit")
    {'label': 'Unit', 'categories': ['a', 'b'], 'codes': [0, 0, 1, 0, 0, 0, 0, 0]}
    """
    if pd.api.types.is_bool_dtype(values):
        values = values.map({True: "yes", False: "no"})
    if pd.api.types.is_numeric_dtype(values):
        return {"label": label, "values": [_number(v) for v in values.astype(float).tolist()]}
    missing = values.isna().to_numpy()
    # a list, not Series.map: pandas 3 turns the None that map returns into NaN
    text = pd.Series(
        [None if gone else str(v) for v, gone in zip(values.tolist(), missing, strict=True)],
        index=values.index,
        dtype=object,
    )
    distinct = text.dropna().unique()
    if len(text) >= 8 and len(distinct) <= len(text) // 4:
        codes, categories = pd.factorize(text, use_na_sentinel=True)
        return {
            "label": label,
            "categories": [str(c) for c in categories],
            "codes": [None if c < 0 else int(c) for c in codes.tolist()],
        }
    return {"label": label, "values": text.tolist()}
