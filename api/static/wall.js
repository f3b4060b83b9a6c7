// The camera wall: every camera as a tile with its latest frame, state, decoder, fps, worker, last incident and
// a low-confirm-rate flag. One summary request (GET /api/v1/wall) on a timer feeds all tiles; a thumbnail is
// fetched only for a tile on screen (IntersectionObserver), and refreshed on the timer only while it is.
import { wall as fetchWall } from "./api.js";
import { eventLabel } from "./labels.js";
import { el } from "./queue.js";
import { wallTime } from "./format.js";

const REFRESH_MS = 10000;
const THUMB_WIDTH = 320;
const STATE_LABELS = {
  streaming: "在线 Streaming", backing_off: "重连中 Backing off", failed: "失败 Failed", stalled: "卡顿 Stalled",
  connecting: "连接中 Connecting", starting: "启动中 Starting", disabled: "停用 Disabled", stopped: "已停止 Stopped",
  ended: "已结束 Ended", unassigned: "未分配 Unassigned",
};
const PROBLEM = new Set(["backing_off", "failed", "stalled", "unassigned"]);

const $ = (id) => document.getElementById(id);
const tiles = new Map(); // camera id -> {root, img, parts, camera}
const visible = new Set(); // ids of tiles on screen
let cameras = [];
let timer = null;
let observer = null;
let generation = 0;
let onOpenIncident = () => {};
export const wallStats = { loads: 0, lastLoadMs: null, tiles: 0, thumbsRequested: 0 };

function thumbUrl(id) {
  return `/api/v1/sources/${encodeURIComponent(id)}/snapshot?width=${THUMB_WIDTH}&t=${Date.now()}`;
}

function loadThumb(tile) {
  wallStats.thumbsRequested += 1;
  tile.img.src = thumbUrl(tile.camera.id);
}

function makeTile(camera) {
  const root = el("article", "tile");
  root.dataset.id = camera.id;
  const thumb = el("div", "thumb");
  const img = el("img");
  img.alt = camera.id;
  img.decoding = "async";
  img.hidden = true;
  const placeholder = el("span", "placeholder", "暂无画面 · No frame yet");
  img.addEventListener("load", () => { img.hidden = false; placeholder.hidden = true; });
  img.addEventListener("error", () => { img.hidden = true; placeholder.hidden = false; }); // 404: no frame yet
  thumb.append(img, placeholder);
  const parts = { title: el("div", "title"), state: el("span", "state"), reason: el("div", "reason"),
    meta: el("div", "muted"), place: el("div", "muted"), last: el("div"), flags: el("div") };
  const body = el("div", "body");
  const line = el("div");
  line.append(parts.state);
  body.append(parts.title, line, parts.reason, parts.meta, parts.place, parts.last, parts.flags);
  root.append(thumb, body);
  const tile = { root, img, parts, camera };
  observer.observe(root);
  return tile;
}

function fill(tile, c) {
  tile.camera = c;
  const p = tile.parts;
  p.title.textContent = c.name ? `${c.name} · ${c.id}` : c.id;
  p.title.title = p.title.textContent;
  p.state.textContent = STATE_LABELS[c.state] ?? c.state;
  const known = ["streaming", "backing_off", "failed", "stalled", "connecting"].includes(c.state);
  p.state.className = `state state-${known ? c.state : "other"}`;
  tile.root.dataset.state = c.state;
  p.reason.textContent = c.reason ?? "";
  p.reason.title = c.reason ?? "";
  p.reason.hidden = !c.reason;
  const fps = c.analysed_fps === null || c.analysed_fps === undefined ? "–" : c.analysed_fps.toFixed(1);
  p.meta.textContent = `解码 ${c.decoder ?? "–"} · ${fps} fps · ${c.worker ? `节点 ${c.worker}` : "本机 local"}`;
  p.place.textContent = [c.area, c.grid && `网格 ${c.grid}`].filter(Boolean).join(" · ") || "–";
  p.last.replaceChildren();
  if (c.last_incident) {
    const link = el("a", "last", `${eventLabel(c.last_incident.type).zh} · ${wallTime(c.last_incident.detected_wall)}`);
    link.href = `#incident/${encodeURIComponent(c.last_incident.id)}`;
    link.addEventListener("click", (e) => { e.preventDefault(); onOpenIncident(c.last_incident.id); });
    p.last.append(el("span", "muted", "最近事件 Last: "), link);
  } else {
    p.last.append(el("span", "muted", "最近事件 Last: –"));
  }
  p.flags.replaceChildren(...c.flags.map((f) => {
    const badge = el("span", "flag", `⚠ 确认率低 ${eventLabel(f.type).zh} ${(100 * f.confirm_rate).toFixed(0)}% (${f.reviewed})`);
    badge.title = `confirm rate of ${f.type} below the floor: retune or retrain`;
    return badge;
  }));
  tile.root.classList.toggle("flagged", c.flags.length > 0);
}

function matches(c, f) {
  if (f.area && c.area !== f.area) return false;
  if (f.grid && c.grid !== f.grid) return false;
  if (f.state === "problem" && !PROBLEM.has(c.state)) return false;
  if (f.state === "flagged" && !c.flags.length) return false;
  if (f.state && !["problem", "flagged"].includes(f.state) && c.state !== f.state) return false;
  if (f.search && !`${c.id} ${c.name ?? ""}`.toLowerCase().includes(f.search)) return false;
  return true;
}

function filters() {
  return { area: $("wall-area").value, grid: $("wall-grid").value, state: $("wall-state").value,
    search: $("wall-search").value.trim().toLowerCase() };
}

function setOptions(select, values) {
  const current = select.value;
  const known = new Set([...select.options].map((o) => o.value));
  for (const v of [...new Set(values)].filter(Boolean).sort()) if (!known.has(v)) select.append(new Option(v, v));
  select.value = current;
}

/** Applies the filters to the tiles (no request). */
export function applyFilters() {
  const f = filters();
  let shown = 0;
  for (const tile of tiles.values()) {
    const on = matches(tile.camera, f);
    tile.root.hidden = !on;
    shown += on;
  }
  $("wall-count").textContent = `${shown} / ${cameras.length} 路 cameras`;
  $("wall-empty").hidden = shown > 0 || cameras.length === 0;
}

function render(summary) {
  cameras = summary.cameras;
  const seen = new Set();
  const box = $("wall-grid-tiles");
  for (const c of cameras) {
    seen.add(c.id);
    let tile = tiles.get(c.id);
    if (!tile) {
      tile = makeTile(c);
      tiles.set(c.id, tile);
      box.append(tile.root);
    }
    fill(tile, c);
  }
  for (const [id, tile] of tiles) {
    if (!seen.has(id)) {
      observer.unobserve(tile.root);
      tile.root.remove();
      tiles.delete(id);
      visible.delete(id);
    }
  }
  setOptions($("wall-area"), cameras.map((c) => c.area));
  setOptions($("wall-grid"), cameras.map((c) => c.grid));
  $("wall-states").textContent = Object.entries(summary.states).map(([s, n]) => `${STATE_LABELS[s] ?? s}: ${n}`).join(" · ");
  wallStats.tiles = tiles.size;
  applyFilters();
}

async function refresh() {
  const mine = ++generation;
  const started = performance.now();
  const summary = await fetchWall();
  if (mine !== generation) return;
  render(summary);
  wallStats.loads += 1;
  wallStats.lastLoadMs = performance.now() - started;
  document.body.dataset.wallLoads = String(wallStats.loads); // for tests and measurements
  for (const id of visible) {
    const tile = tiles.get(id);
    if (tile && wallStats.loads > 1) loadThumb(tile); // on screen: a fresh frame with each summary
  }
}

function onIntersect(entries) {
  for (const entry of entries) {
    const id = entry.target.dataset.id;
    if (entry.isIntersecting) {
      if (!visible.has(id)) {
        visible.add(id);
        const tile = tiles.get(id);
        if (tile) loadThumb(tile);
      }
    } else {
      visible.delete(id);
    }
  }
}

/** Shows (polls) or hides (stops polling) the wall. */
export function showWall(on) {
  clearInterval(timer);
  timer = null;
  if (!on) return;
  refresh().catch((err) => console.warn("wall refresh failed", err));
  timer = setInterval(() => refresh().catch((err) => console.warn("wall refresh failed", err)), REFRESH_MS);
}

export function initWall({ openIncident }) {
  onOpenIncident = openIncident;
  observer = new IntersectionObserver(onIntersect, { rootMargin: "100px" });
  $("wall-filters").addEventListener("input", applyFilters);
  $("wall-filters").addEventListener("change", applyFilters);
  $("wall-filters").addEventListener("submit", (e) => e.preventDefault());
  window.streetsightWall = wallStats;
}
