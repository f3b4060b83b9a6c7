// 一张图: cameras, open incidents and open cases by lng/lat. Leaflet (vendored) is imported when the page is
// first shown. With ui.map.tile_url the city's own tiles are the base; without it a plain lng/lat plot
// (CRS.Simple) with a graticule and the area and grid labels.
import { cityMap } from "./api.js";
import { CASE_STATUS_LABELS, eventLabel, STATUS_LABELS } from "./labels.js";

const REFRESH_MS = 15000;
const CAMERA_COLORS = { streaming: "#16a34a", backing_off: "#f59e0b", stalled: "#f59e0b", connecting: "#f59e0b",
  failed: "#dc2626" };
const TYPE_COLORS = ["#2563eb", "#db2777", "#7c3aed", "#0891b2", "#ea580c", "#65a30d", "#9333ea", "#0d9488"];
const $ = (id) => document.getElementById(id);

let L = null;
let map = null;
let layers = null;
let labels = null;
let fitted = false;
let timer = null;
let open = { incident: () => {}, case: () => {} };
const typeColor = new Map();

function colorOfType(type) {
  if (!typeColor.has(type)) typeColor.set(type, TYPE_COLORS[typeColor.size % TYPE_COLORS.length]);
  return typeColor.get(type);
}

async function ensureMap(tiles) {
  if (map) return;
  L = await import("./vendor/leaflet/leaflet-src.esm.js");
  const options = tiles ? { minZoom: tiles.min_zoom, maxZoom: tiles.max_zoom } : { crs: L.CRS.Simple, minZoom: -2, maxZoom: 22, zoomSnap: 0.25 };
  map = L.map($("map"), { ...options, attributionControl: Boolean(tiles) });
  if (tiles) L.tileLayer(tiles.url, { attribution: tiles.attribution, minZoom: tiles.min_zoom, maxZoom: tiles.max_zoom }).addTo(map);
  layers = { cameras: L.layerGroup().addTo(map), incidents: L.layerGroup().addTo(map), cases: L.layerGroup().addTo(map) };
  labels = L.layerGroup().addTo(map);
  $("map").dataset.crs = tiles ? "tiles" : "plain";
}

function popup(point) {
  const box = document.createElement("div");
  box.className = "map-popup";
  const title = document.createElement("strong");
  const kind = { camera: "点位 Camera", incident: "事件 Incident", case: "案件 Case" }[point.kind];
  title.textContent = `${kind} · ${point.kind === "camera" ? point.label : point.kind === "case" ? point.label : eventLabel(point.type).zh}`;
  const meta = document.createElement("div");
  const state = point.kind === "incident" ? STATUS_LABELS[point.state] : point.kind === "case" ? CASE_STATUS_LABELS[point.state] : point.state;
  meta.textContent = [state ?? point.state, point.source, point.area, point.grid && `网格 ${point.grid}`].filter(Boolean).join(" · ");
  box.append(title, meta);
  if (point.kind !== "camera") {
    const link = document.createElement("a");
    link.href = `#${point.kind}/${encodeURIComponent(point.id)}`;
    link.className = "map-open";
    link.textContent = "打开 Open →";
    link.addEventListener("click", (e) => {
      e.preventDefault();
      open[point.kind](point.id);
    });
    box.append(document.createElement("br"), link);
  }
  return box;
}

function marker(point) {
  const style = point.kind === "camera"
    ? { radius: 5, color: "#111827", weight: 1, fillColor: CAMERA_COLORS[point.state] ?? "#9ca3af", fillOpacity: 0.9 }
    : point.kind === "incident"
      ? { radius: 8, color: colorOfType(point.type), weight: 3, fillOpacity: 0.15, dashArray: point.state === "pending" ? "3 3" : null }
      : { radius: 11, color: colorOfType(point.type), weight: 2, fillOpacity: 0, dashArray: "1 4" };
  const className = `mk mk-${point.kind} mk-state-${point.state} mk-id-${String(point.id).replace(/[^A-Za-z0-9_-]/g, "_")}`;
  return L.circleMarker([point.lat, point.lng], { ...style, className }).bindPopup(() => popup(point));
}

/** Area and grid names at the middle of their cameras; a lng/lat graticule on the plain plot. */
function drawLabels(cameras, plain) {
  labels.clearLayers();
  const groups = (key) => {
    const out = new Map();
    for (const c of cameras) if (c[key]) (out.get(c[key]) ?? out.set(c[key], []).get(c[key])).push(c);
    return out;
  };
  const centre = (cs) => [cs.reduce((s, c) => s + c.lat, 0) / cs.length, cs.reduce((s, c) => s + c.lng, 0) / cs.length];
  for (const [name, cs] of groups("area")) {
    L.tooltip({ permanent: true, direction: "center", className: "map-label area" }).setLatLng(centre(cs)).setContent(name).addTo(labels);
  }
  if (plain) {
    for (const [name, cs] of groups("grid")) {
      L.tooltip({ permanent: true, direction: "top", className: "map-label grid", opacity: 0.7 }).setLatLng(centre(cs)).setContent(name).addTo(labels);
    }
    if (cameras.length) graticule(cameras);
  }
}

function graticule(cameras) {
  const lats = cameras.map((c) => c.lat);
  const lngs = cameras.map((c) => c.lng);
  const [s, n, w, e] = [Math.min(...lats), Math.max(...lats), Math.min(...lngs), Math.max(...lngs)];
  const span = Math.max(n - s, e - w, 1e-4);
  const unit = 10 ** Math.floor(Math.log10(span / 5));
  const step = [1, 2, 5, 10].map((m) => m * unit).find((st) => span / st <= 8); // 4 to 8 lines a side
  const style = { color: "#cbd5e1", weight: 1, interactive: false };
  const digits = Math.max(0, -Math.floor(Math.log10(step)));
  for (let x = Math.floor(w / step) * step; x <= e + step; x += step) {
    L.polyline([[s - step, x], [n + step, x]], style).addTo(labels);
    L.tooltip({ permanent: true, direction: "bottom", className: "map-label grid" }).setLatLng([s - span * 0.03, x]).setContent(x.toFixed(digits)).addTo(labels);
  }
  for (let y = Math.floor(s / step) * step; y <= n + step; y += step) {
    L.polyline([[y, w - step], [y, e + step]], style).addTo(labels);
    L.tooltip({ permanent: true, direction: "left", className: "map-label grid" }).setLatLng([y, w - span * 0.03]).setContent(y.toFixed(digits)).addTo(labels);
  }
}

function legend(types) {
  const items = [["#16a34a", "在线 Streaming"], ["#f59e0b", "重连 Backing off"], ["#dc2626", "失败 Failed"],
    ...types.map((t) => [colorOfType(t), eventLabel(t).zh])];
  $("map-legend").replaceChildren(...items.map(([color, text]) => {
    const span = document.createElement("span");
    const dot = document.createElement("i");
    dot.style.background = color;
    span.append(dot, text);
    return span;
  }));
}

async function refresh() {
  const data = await cityMap();
  await ensureMap(data.tiles);
  for (const [name, points] of [["cameras", data.cameras], ["incidents", data.incidents], ["cases", data.cases]]) {
    layers[name].clearLayers();
    for (const p of points) layers[name].addLayer(marker(p));
  }
  drawLabels(data.cameras, !data.tiles);
  legend([...new Set([...data.incidents, ...data.cases].map((p) => p.type))]);
  $("map-count").textContent = `${data.cameras.length} 点位 cameras · ${data.incidents.length} 事件 incidents · ${data.cases.length} 案件 cases`
    + (data.unplaced_cameras ? ` · ${data.unplaced_cameras} 无坐标 unplaced` : "");
  const all = [...data.cameras, ...data.incidents, ...data.cases];
  if (!fitted && all.length) {
    map.fitBounds(L.latLngBounds(all.map((p) => [p.lat, p.lng])).pad(0.05));
    fitted = true;
  }
  map.invalidateSize();
  applyToggles();
  $("map").dataset.ready = "1";
}

function applyToggles() {
  if (!map) return;
  for (const name of ["cameras", "incidents", "cases"]) {
    const on = $(`map-show-${name}`).checked;
    if (on && !map.hasLayer(layers[name])) layers[name].addTo(map);
    if (!on && map.hasLayer(layers[name])) layers[name].remove();
  }
}

export function showMap(on) {
  clearInterval(timer);
  timer = null;
  if (!on) return;
  refresh().catch((err) => console.warn("map refresh failed", err));
  timer = setInterval(() => refresh().catch((err) => console.warn("map refresh failed", err)), REFRESH_MS);
}

export function initMap({ openIncident, openCase }) {
  open = { incident: openIncident, case: openCase };
  for (const name of ["cameras", "incidents", "cases"]) $(`map-show-${name}`).addEventListener("change", applyToggles);
}
