// Teach a camera by example: draw a box on its latest snapshot (the box is cut from that picture), name the type and the label, save;
// list and delete the camera's examples. The running camera uses a saved example within seconds.
import { EVENT_LABELS, eventLabel, exampleLabels } from "./labels.js";

const MIN_BOX = 0.005; // as the API: a smaller box is a slip of the mouse

const $ = (id) => document.getElementById(id);
const typeText = (type) => {
  const { zh, en } = eventLabel(type);
  return en ? `${zh} ${en}` : zh;
};
const state = { source: "", box: null, drag: null, frame: null, url: null, loading: null };

async function call(path, { method = "GET", body } = {}) {
  const init = { method, cache: "no-store", credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  if (!res.ok) {
    let detail = `HTTP ${res.status}`;
    try {
      const d = (await res.json()).detail;
      detail = Array.isArray(d) ? d.map((e) => `${(e.loc ?? []).filter((p) => p !== "body").join(".")}: ${e.msg}`).join("; ") : d ?? detail;
    } catch { /* not JSON */ }
    const err = new Error(detail);
    err.status = res.status;
    throw err;
  }
  return res.status === 204 ? null : res.json();
}

function status(text, error = false) {
  $("t-status").textContent = text;
  $("t-status").classList.toggle("error", error);
}

// -- the snapshot and the box --------------------------------------------------------------------

// Fetched rather than set as the image's src: its X-Frame-Id names the picture, and the saved box is cut from
// that very picture (the camera's live frame may show the object covered by the time the box is saved).
async function loadSnapshot() {
  const img = $("t-snapshot");
  const source = state.source;
  const load = (state.loading = {});
  state.frame = null;
  setBox(null);
  img.removeAttribute("src"); // nothing to draw on until the new picture is in
  $("t-missing").hidden = true;
  img.hidden = false;
  let res = null;
  try {
    res = await fetch(`/api/v1/sources/${encodeURIComponent(source)}/snapshot`,
                      { cache: "no-store", credentials: "same-origin" });
  } catch { /* offline: shown as missing */ }
  const blob = res?.ok ? await res.blob() : null;
  if (state.loading !== load) return; // another camera or a reload was asked for meanwhile
  if (!blob) {
    img.hidden = true;
    $("t-missing").hidden = false;
    return;
  }
  if (state.url) URL.revokeObjectURL(state.url);
  state.url = URL.createObjectURL(blob);
  state.frame = res.headers.get("X-Frame-Id");
  img.src = state.url;
}

function setBox(box, saved = false) {
  state.box = box;
  const el = $("t-box");
  el.hidden = !box;
  el.classList.toggle("saved", saved);
  if (box) {
    const [x1, y1, x2, y2] = box;
    Object.assign(el.style, { left: `${x1 * 100}%`, top: `${y1 * 100}%`, width: `${(x2 - x1) * 100}%`,
                              height: `${(y2 - y1) * 100}%` });
  }
  $("t-save").disabled = !box || saved || box[2] - box[0] < MIN_BOX || box[3] - box[1] < MIN_BOX;
}

function pointer(event) {
  const r = $("t-snapshot").getBoundingClientRect();
  const clamp = (v) => Math.min(1, Math.max(0, v));
  return [clamp((event.clientX - r.left) / r.width), clamp((event.clientY - r.top) / r.height)];
}

function dragTo(event) {
  const [x, y] = pointer(event);
  const [x0, y0] = state.drag;
  setBox([Math.min(x0, x), Math.min(y0, y), Math.max(x0, x), Math.max(y0, y)]);
}

function initDrawing() {
  const canvas = $("t-canvas");
  canvas.addEventListener("mousedown", (event) => {
    if (event.button !== 0 || $("t-snapshot").hidden) return;
    event.preventDefault();
    state.drag = pointer(event);
    setBox(null);
  });
  window.addEventListener("mousemove", (event) => state.drag && dragTo(event));
  window.addEventListener("mouseup", (event) => {
    if (!state.drag) return;
    dragTo(event);
    state.drag = null;
  });
  $("t-snapshot").addEventListener("error", () => {
    $("t-snapshot").hidden = true;
    $("t-missing").hidden = false;
  });
}

// -- the form and the list -----------------------------------------------------------------------

function labelTexts() {
  const [pos, neg] = exampleLabels($("t-type").value);
  $("t-pos-text").textContent = pos;
  $("t-neg-text").textContent = neg;
}

async function save(event) {
  event.preventDefault();
  if (!state.box) return;
  const label = document.querySelector("input[name=label]:checked").value;
  const body = { event_type: $("t-type").value, box: state.box.map((v) => Number(v.toFixed(4))), label };
  if (state.frame) body.frame = state.frame; // cut from the picture the box was drawn on
  status("保存中 Saving…");
  try {
    await call(`/api/v1/sources/${encodeURIComponent(state.source)}/examples`, { method: "POST", body });
    setBox(state.box, true);
    status("已保存，摄像头数秒内生效 Saved: the camera uses it within seconds");
    await refreshList();
  } catch (err) {
    status(`未保存 Not saved: ${err.message}`, true);
  }
}

function labelOf(example) {
  const [pos, neg] = exampleLabels(example.event_type);
  return example.label === "positive" ? pos : neg;
}

async function refreshList() {
  const items = await call(`/api/v1/sources/${encodeURIComponent(state.source)}/examples`);
  const list = $("t-examples");
  list.replaceChildren();
  for (const ex of items) {
    const li = document.createElement("li");
    li.className = "t-item";
    li.dataset.id = ex.id;
    // an example made from an incident keeps only its crop's vectors: no picture of its own
    const img = document.createElement(ex.thumbnail_url ? "img" : "div");
    if (ex.thumbnail_url) {
      img.src = ex.thumbnail_url;
      img.alt = "example crop";
    } else {
      img.className = "t-no-thumb";
      img.textContent = "来自事件 from an incident";
    }
    const meta = document.createElement("div");
    meta.className = "t-meta";
    const type = document.createElement("div");
    type.textContent = typeText(ex.event_type);
    const lab = document.createElement("div");
    lab.className = ex.label;
    lab.textContent = labelOf(ex);
    const who = document.createElement("div");
    who.className = "mono";
    who.textContent = `${ex.created_by ?? ""} · ${new Date(ex.created_at).toLocaleString()}`;
    meta.append(type, lab, who);
    const del = document.createElement("button");
    del.type = "button";
    del.className = "reject small";
    del.textContent = "删除 Delete";
    del.addEventListener("click", async () => {
      try {
        await call(`/api/v1/sources/${encodeURIComponent(state.source)}/examples/${encodeURIComponent(ex.id)}`,
                   { method: "DELETE" });
        status("已删除 Deleted");
        await refreshList();
      } catch (err) {
        status(`未删除 Not deleted: ${err.message}`, true);
      }
    });
    li.addEventListener("mouseenter", () => setBox(ex.box, true));
    li.append(img, meta, del);
    list.append(li);
  }
  $("t-count").textContent = String(items.length);
  $("t-empty").hidden = items.length > 0;
}

async function selectSource() {
  state.source = $("t-source").value;
  loadSnapshot();
  await refreshList();
}

async function start() {
  try {
    await call("/api/v1/auth/me");
  } catch (err) {
    $("signed-out").hidden = false;
    return;
  }
  const sources = await call("/api/v1/sources");
  for (const s of sources) {
    const opt = document.createElement("option");
    opt.value = s.id;
    opt.textContent = s.name ? `${s.name} (${s.id})` : s.id;
    $("t-source").append(opt);
  }
  for (const type of Object.keys(EVENT_LABELS)) {
    const opt = document.createElement("option");
    opt.value = type;
    opt.textContent = typeText(type);
    $("t-type").append(opt);
  }
  $("t-type").value = "non_motor_parking";
  labelTexts();
  $("t-type").addEventListener("change", labelTexts);
  $("t-source").addEventListener("change", selectSource);
  $("t-reload").addEventListener("click", loadSnapshot);
  $("teach-form").addEventListener("submit", save);
  initDrawing();
  $("teach").hidden = false;
  if (sources.length) await selectSource();
}

start();
