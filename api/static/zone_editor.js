// Zone editor: a camera's latest analysed frame, its zones drawn over it with the mouse, per-zone event types
// and rule overrides, saved with PUT /api/v1/sources/{id} (the server validates with the YAML's own models; its
// 422s are shown next to the field). The preview (detections and each rule's candidates with their dwell so
// far) is refreshed every few seconds, so the operator sees what the rule will judge.
//
// Mouse: click on the frame adds a point to the selected zone; drag a point to move it; right-click (or
// Shift+click) a point to delete it.
import { EVENT_LABELS } from "./labels.js";

const REFRESH_MS = 3000;
const SVG_NS = "http://www.w3.org/2000/svg";
// per-zone overrides offered in the form: [field, label, kind]; "baseline" only for debris_spill
const RULE_FIELDS = [
  ["min_dwell_s", "停留 Dwell (s)", "number"],
  ["classes", "类别 Classes (a, b)", "list"],
  ["min_score", "最低分 Min score", "number"],
  ["allowed_hours", "允许时段 Allowed hours (08:00-10:00, …)", "list"],
  ["baseline", "背景 Debris baseline", "baseline"],
];

const state = { built: false, sources: [], source: null, zones: [], selected: -1, drag: null, timer: null, preview: null };
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

async function call(path, { method = "GET", body } = {}) {
  const init = { method, cache: "no-store", credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  let data = null;
  try {
    data = await res.json();
  } catch {
    /* not JSON */
  }
  return { ok: res.ok, status: res.status, data };
}

// -- page --------------------------------------------------------------------------------------

function build(root) {
  const events = el("div", { id: "ze-events", class: "ze-events" });
  for (const [type, label] of Object.entries(EVENT_LABELS)) {
    events.append(el("label", {}, el("input", { type: "checkbox", value: type, "data-event": type }), ` ${label.zh} ${type}`));
  }
  root.append(
    el("div", { class: "filters" },
      el("label", {}, "点位 Camera ", el("select", { id: "ze-source" })),
      el("span", { id: "ze-frame-time", class: "count" }),
      el("span", { id: "ze-status", class: "count", role: "status" })),
    el("div", { class: "ze-layout" },
      el("div", { class: "ze-stage", id: "ze-stage" },
        el("img", { id: "ze-frame", alt: "latest analysed frame" }),
        svg("svg", {}),
        el("div", { id: "ze-labels", class: "ze-labels" }),
        el("div", { id: "ze-no-frame", class: "missing", hidden: "" }, "暂无画面 · No analysed frame yet")),
      el("aside", { class: "ze-side" },
        el("div", { class: "ze-zones-head" },
          el("strong", { text: "区域 Zones" }),
          el("button", { id: "ze-add-zone", type: "button", class: "small" }, "+ 新区域 New zone"),
          el("button", { id: "ze-delete-zone", type: "button", class: "small reject" }, "删除 Delete")),
        el("ol", { id: "ze-zone-list", class: "ze-zone-list" }),
        el("form", { id: "ze-zone-form", class: "ze-form", autocomplete: "off" },
          el("label", {}, "编号 Zone id ", el("input", { id: "ze-zone-id", "data-field": "id", size: "12" })),
          el("span", { class: "error ze-error", "data-error": "id" }),
          // shop-front zones name the shop responsible for the frontage (门前三包); empty: the sign above is read
          el("label", {}, "责任商户 Shop ", el("input", { id: "ze-zone-shop", "data-field": "shop", size: "18",
            maxlength: "120", placeholder: "(读招牌 read the sign)" })),
          el("span", { class: "error ze-error", "data-error": "shop" }),
          el("span", { class: "error ze-error", "data-error": "polygon" }),
          el("div", { class: "ze-label", text: "事件类型 Event types" }), events,
          el("span", { class: "error ze-error", "data-error": "events" }),
          el("div", { id: "ze-rules" }),
          el("p", { class: "hint", text: "单击添加点，拖动移动，右键删除 · click adds a point, drag moves it, right-click deletes it" })),
        // the camera's own model and class mapping (issue 19): e.g. a city model's tricycle -> non_motor_parking
        el("form", { id: "ze-camera-form", class: "ze-form", autocomplete: "off" },
          el("label", {}, "模型 Model ", el("input", { id: "ze-model", size: "14", placeholder: "(model.name)" })),
          el("label", {}, "类别映射 Class map ", el("input", { id: "ze-class-map", size: "24", placeholder: "tricycle=non_motor_parking" }))),
        el("p", { id: "ze-error", class: "error", role: "alert", hidden: "" }),
        el("button", { id: "ze-save", type: "button", class: "primary" }, "保存 Save"))));
  const stage = root.querySelector("#ze-stage svg");
  stage.id = "ze-svg";
  stage.setAttribute("viewBox", "0 0 1 1");
  stage.setAttribute("preserveAspectRatio", "none");
  stage.classList.add("ze-svg");

  $("ze-source").addEventListener("change", () => selectSource($("ze-source").value));
  $("ze-add-zone").addEventListener("click", addZone);
  $("ze-delete-zone").addEventListener("click", deleteZone);
  $("ze-save").addEventListener("click", save);
  $("ze-zone-id").addEventListener("input", () => {
    const zone = currentZone();
    if (zone) zone.id = $("ze-zone-id").value.trim();
    renderZoneList();
  });
  $("ze-zone-shop").addEventListener("input", () => {
    const zone = currentZone();
    if (zone) zone.shop = $("ze-zone-shop").value.trim();
  });
  events.addEventListener("change", () => {
    const zone = currentZone();
    if (!zone) return;
    zone.events = [...events.querySelectorAll("input:checked")].map((i) => i.value);
    renderRules();
  });
  stage.addEventListener("mousedown", onMouseDown);
  stage.addEventListener("contextmenu", (e) => e.preventDefault());
  window.addEventListener("mousemove", onMouseMove);
  window.addEventListener("mouseup", () => { state.drag = null; });
  state.built = true;
}

/** Shows the page (the app calls it when the view opens); reloads the cameras. */
export async function showZoneEditor() {
  const root = $("zones-view");
  if (!state.built) build(root);
  const r = await call("/api/v1/sources");
  if (!r.ok) return showError(r);
  state.sources = r.data;
  const select = $("ze-source");
  select.replaceChildren(...state.sources.map((s) => el("option", { value: s.id, text: s.name ? `${s.id} · ${s.name}` : s.id })));
  const wanted = state.source?.id && state.sources.some((s) => s.id === state.source.id) ? state.source.id : state.sources[0]?.id;
  if (wanted) {
    select.value = wanted;
    await selectSource(wanted);
  }
  clearInterval(state.timer);
  state.timer = setInterval(() => { if (!root.hidden) refreshFrame(); }, REFRESH_MS);
}

export function hideZoneEditor() {
  clearInterval(state.timer);
  state.timer = null;
}

async function selectSource(id) {
  const r = await call(`/api/v1/sources/${encodeURIComponent(id)}`);
  if (!r.ok) return showError(r);
  state.source = r.data;
  state.zones = (r.data.zones ?? []).map((z) => ({ id: z.id, events: [...z.events], polygon: z.polygon.map((p) => [...p]),
                                                  rules: z.rules ?? {}, shop: z.shop ?? "" }));
  state.selected = state.zones.length ? 0 : -1;
  $("ze-model").value = r.data.model ?? "";
  $("ze-class-map").value = Object.entries(r.data.class_map ?? {}).map(([k, v]) => `${k}=${v}`).join(", ");
  showError(null);
  renderAll();
  await refreshFrame();
}

async function refreshFrame() {
  if (!state.source) return;
  const id = encodeURIComponent(state.source.id);
  const img = $("ze-frame");
  const r = await call(`/api/v1/sources/${id}/preview`);
  if (!r.ok) {
    // no frame: the camera is starting, or restarting with the settings just saved; a frame already shown
    // stays (marked as old) rather than flashing away
    const shown = img.dataset.source === state.source.id && img.naturalWidth > 0;
    $("ze-no-frame").hidden = shown;
    img.hidden = !shown;
    if (shown) $("ze-frame-time").textContent = "等待新画面 · waiting for a new frame";
    state.preview = null;
    renderOverlay();
    return;
  }
  $("ze-no-frame").hidden = true;
  img.hidden = false;
  img.dataset.source = state.source.id;
  state.preview = r.data;
  // a fresh URL per refresh (the route says no-store); the same frame the preview describes, within a frame
  img.src = `/api/v1/sources/${id}/snapshot?t=${Date.now()}`;
  $("ze-frame-time").textContent = `${r.data.width}×${r.data.height} · ${new Date(r.data.wall_time * 1000).toLocaleTimeString()}`;
  renderOverlay();
}

// -- zones -------------------------------------------------------------------------------------

const currentZone = () => state.zones[state.selected] ?? null;

function addZone() {
  let n = state.zones.length + 1;
  while (state.zones.some((z) => z.id === `zone-${n}`)) n += 1;
  state.zones.push({ id: `zone-${n}`, events: [], polygon: [], rules: {}, shop: "" });
  state.selected = state.zones.length - 1;
  renderAll();
}

function deleteZone() {
  if (state.selected < 0) return;
  state.zones.splice(state.selected, 1);
  state.selected = Math.min(state.selected, state.zones.length - 1);
  renderAll();
}

function point(event) {
  const box = $("ze-svg").getBoundingClientRect();
  const clamp = (v) => Math.min(1, Math.max(0, Math.round(v * 10000) / 10000));
  return [clamp((event.clientX - box.left) / box.width), clamp((event.clientY - box.top) / box.height)];
}

function onMouseDown(event) {
  const zone = currentZone();
  const index = event.target.dataset?.point;
  if (index !== undefined && zone) {
    event.preventDefault();
    if (event.button === 2 || event.shiftKey) {
      zone.polygon.splice(Number(index), 1);
      renderOverlay();
    } else {
      state.drag = Number(index);
    }
    return;
  }
  if (event.button !== 0) return;
  if (!zone) addZone();
  currentZone().polygon.push(point(event));
  renderOverlay();
}

function onMouseMove(event) {
  const zone = currentZone();
  if (state.drag === null || !zone) return;
  zone.polygon[state.drag] = point(event);
  renderOverlay();
}

// -- rendering ---------------------------------------------------------------------------------

function renderAll() {
  renderZoneList();
  renderZoneForm();
  renderOverlay();
}

function renderZoneList() {
  $("ze-zone-list").replaceChildren(...state.zones.map((z, i) => {
    const item = el("li", { class: i === state.selected ? "active" : "" },
      el("button", { type: "button", class: "link", "data-zone": String(i) }, `${z.id || "?"} (${z.polygon.length} 点 points)`));
    item.querySelector("button").addEventListener("click", () => { state.selected = i; renderAll(); });
    return item;
  }));
}

function renderZoneForm() {
  const zone = currentZone();
  $("ze-zone-form").hidden = !zone;
  $("ze-delete-zone").disabled = !zone;
  if (!zone) return;
  $("ze-zone-id").value = zone.id;
  $("ze-zone-shop").value = zone.shop ?? "";
  for (const box of $("ze-events").querySelectorAll("input")) box.checked = zone.events.includes(box.value);
  renderRules();
}

function renderRules() {
  const zone = currentZone();
  const holder = $("ze-rules");
  holder.replaceChildren();
  if (!zone) return;
  for (const type of zone.events) {
    const rules = zone.rules[type] ?? {};
    const group = el("fieldset", { class: "ze-rule" }, el("legend", { text: `${EVENT_LABELS[type]?.zh ?? type} ${type}` }));
    for (const [field, label, kind] of RULE_FIELDS) {
      if (kind === "baseline" && type !== "debris_spill") continue;
      let input;
      if (kind === "baseline") {
        input = el("select", {}, el("option", { value: "", text: "默认 default" }), el("option", { value: "scene", text: "scene" }),
          el("option", { value: "surface", text: "surface" }));
      } else {
        input = el("input", { size: "14", inputmode: kind === "number" ? "decimal" : "text" });
      }
      input.id = `ze-rule-${type}-${field}`;
      input.dataset.event = type;
      input.dataset.rule = field;
      const value = rules[field];
      input.value = value === undefined || value === null ? "" : Array.isArray(value) ? value.join(", ") : String(value);
      input.addEventListener("change", () => setRule(zone, type, field, kind, input.value));
      group.append(el("label", {}, `${label} `, input), el("span", { class: "error ze-error", "data-error": `rules.${type}.${field}` }));
    }
    holder.append(group);
  }
}

function setRule(zone, type, field, kind, raw) {
  const rules = { ...(zone.rules[type] ?? {}) };
  const text = raw.trim();
  if (!text) delete rules[field];
  else if (kind === "number") rules[field] = Number.isFinite(Number(text)) ? Number(text) : text; // the server names a bad one
  else if (kind === "list") rules[field] = text.split(",").map((s) => s.trim()).filter(Boolean);
  else rules[field] = text;
  zone.rules = { ...zone.rules, [type]: rules };
  if (!Object.keys(rules).length) delete zone.rules[type];
}

function renderOverlay() {
  const layer = $("ze-svg");
  if (!layer) return;
  layer.replaceChildren();
  const labels = [];
  const p = state.preview;
  if (p) {
    for (const d of p.detections) layer.append(rect(d.box, "ze-det"));
    for (const c of p.candidates) {
      layer.append(rect(c.box, c.incident_id ? "ze-cand ze-open" : "ze-cand"));
      // HTML, not SVG text: the SVG is stretched to the frame and would stretch the letters too
      const label = el("span", { class: c.incident_id ? "ze-cand-label ze-open-label" : "ze-cand-label",
        text: `${c.zone_id} ${c.class_name} ${Math.round(c.progress)}/${c.needed} ${c.unit}${c.incident_id ? " ●" : ""}` });
      label.style.left = `${c.box[0] * 100}%`;
      label.style.top = `${c.box[1] * 100}%`;
      labels.push(label);
    }
  }
  $("ze-labels").replaceChildren(...labels);
  const box = layer.getBoundingClientRect();
  const aspect = box.height > 0 ? box.width / box.height : 1; // round handles on a stretched SVG
  state.zones.forEach((zone, i) => {
    const pts = zone.polygon.map(([x, y]) => `${x},${y}`).join(" ");
    layer.append(svg("polygon", { points: pts, class: i === state.selected ? "ze-zone ze-selected" : "ze-zone", "data-zone-shape": zone.id }));
    if (i !== state.selected) return;
    zone.polygon.forEach(([x, y], j) => {
      layer.append(svg("ellipse", { cx: x, cy: y, rx: 0.009, ry: 0.009 * aspect, class: "ze-point", "data-point": j }));
    });
  });
  renderZoneList();
}

function rect([x1, y1, x2, y2], cls) {
  return svg("rect", { x: x1, y: y1, width: Math.max(0, x2 - x1), height: Math.max(0, y2 - y1), class: cls });
}

// -- saving ------------------------------------------------------------------------------------

async function save() {
  if (!state.source) return;
  showError(null);
  const body = { ...state.source, zones: state.zones.map(zoneBody) };
  const classMap = parseClassMap($("ze-class-map").value);
  if (classMap === null) return showError({ status: 422, data: { detail: "class_map: write model_class=event_type, separated by commas" } });
  body.class_map = classMap;
  const model = $("ze-model").value.trim();
  if (model) body.model = model;
  else delete body.model;
  // the URL goes back as GET showed it (password masked): the server keeps the stored one
  const r = await call(`/api/v1/sources/${encodeURIComponent(state.source.id)}`, { method: "PUT", body });
  if (r.ok) {
    state.source = r.data;
    $("ze-status").textContent = `已保存 Saved ${new Date().toLocaleTimeString()}`;
    return;
  }
  $("ze-status").textContent = "";
  showError(r);
}

/** A zone as the API takes it: only the settings it has (no empty rules, no empty shop). */
function zoneBody(z) {
  return { id: z.id, events: z.events, polygon: z.polygon, ...(Object.keys(z.rules).length ? { rules: z.rules } : {}),
           ...(z.shop ? { shop: z.shop } : {}) };
}

/** "tricycle=non_motor_parking, cart=street_vending" -> an object; null when an entry has no "=". */
function parseClassMap(text) {
  const out = {};
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const [from, to, ...rest] = part.split("=").map((p) => p.trim());
    if (!from || !to || rest.length) return null;
    out[from] = to;
  }
  return out;
}

/** A 422 names the field (``zones[0].rules.illegal_parking.min_dwell_s``): shown next to it when that zone is
 * the selected one (the zone with the error is selected), else in the box under the form. */
function showError(r) {
  for (const span of document.querySelectorAll(".ze-error")) span.textContent = "";
  const box = $("ze-error");
  if (!box) return;
  box.hidden = true;
  if (!r) return;
  const detail = r.data?.detail;
  if (!Array.isArray(detail)) {
    box.textContent = typeof detail === "string" ? detail : `HTTP ${r.status}`;
    box.hidden = false;
    return;
  }
  const rest = [];
  for (const e of detail) {
    const loc = (e.loc ?? []).filter((p) => p !== "body");
    if (loc[0] === "zones" && Number.isInteger(loc[1])) {
      if (state.selected !== loc[1]) {
        state.selected = loc[1];
        renderAll();
      }
      const key = loc.slice(2).join(".");
      const span = [...document.querySelectorAll(".ze-error")].find((s) => key === s.dataset.error || key.startsWith(`${s.dataset.error}.`));
      if (span) {
        span.textContent = e.msg;
        continue;
      }
    }
    rest.push(e.msg);
  }
  box.textContent = rest.join("; ");
  box.hidden = !rest.length;
}
