// Review page: state, polling, decisions and keyboard shortcuts.
import { listIncidents, review } from "./api.js";
import { initDetail, renderDetail } from "./detail.js";
import { EVENT_LABELS, eventLabel } from "./labels.js";
import { renderQueue } from "./queue.js";

const POLL_MS = 4000;
const EMPTY_TEXT = {
  pending: ["暂无待审核事件", "No pending incidents: new ones appear here automatically."],
  "": ["暂无事件", "No incidents match the filters."],
};

const state = {
  items: [],
  total: 0,
  selectedId: null,
  showRaw: false,
  busy: false,
  generation: 0, // bumped on filter change: answers to older requests are dropped
  filters: { status: "pending", type: "" },
};

const $ = (id) => document.getElementById(id);
const selectedIndex = () => state.items.findIndex((it) => it.id === state.selectedId);
const selected = () => state.items[selectedIndex()] ?? null;

function render() {
  if (!selected()) state.selectedId = state.items[0]?.id ?? null;
  renderQueue(state.items, state.selectedId, state.filters.status, select);
  renderDetail(selected(), {
    showRaw: state.showRaw,
    emptyText: EMPTY_TEXT[state.filters.status] ?? EMPTY_TEXT[""],
  });
  const pending = state.filters.status === "pending";
  $("count").textContent = pending ? `${state.total} 待审核 pending` : `${state.total} 条 incidents`;
  document.title = `${pending && state.total ? `(${state.total}) ` : ""}StreetSight · 事件审核 Review`;
  addTypeOptions(state.items.map((it) => it.type));
}

function addTypeOptions(types) {
  const select = $("filter-type");
  const known = new Set([...select.options].map((o) => o.value));
  for (const type of types) {
    if (known.has(type)) continue;
    known.add(type);
    const label = eventLabel(type);
    select.add(new Option(label.en ? `${label.zh} ${label.en}` : type, type));
  }
}

function toast(message, kind = "info") {
  const box = $("toast");
  box.textContent = message;
  box.className = `toast ${kind}`;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (box.hidden = true), 2500);
}

async function refresh() {
  const generation = state.generation;
  try {
    const { items, total } = await listIncidents(state.filters);
    if (generation !== state.generation) return;
    state.items = items;
    state.total = total;
    $("offline").hidden = true;
    render();
  } catch (err) {
    $("offline").hidden = false;
    console.warn("refresh failed", err);
  }
}

function select(id) {
  if (id === state.selectedId) return;
  state.selectedId = id;
  state.showRaw = false;
  render();
}

function move(step) {
  const i = selectedIndex();
  const next = state.items[Math.min(state.items.length - 1, Math.max(0, i + step))];
  if (next) select(next.id);
}

async function decide(decision) {
  const incident = selected();
  if (!incident || state.busy || incident.status !== "pending") return;
  state.busy = true;
  const index = selectedIndex();
  try {
    const updated = await review(incident.id, decision, $("d-note").value.trim());
    state.generation += 1; // a poll answered before the review would bring the item back
    const keep = !state.filters.status || state.filters.status === updated.status;
    if (keep) {
      state.items[index] = updated;
    } else {
      // it leaves the queue; the next one (same position) is selected
      state.items.splice(index, 1);
      state.total = Math.max(0, state.total - 1);
      state.selectedId = state.items[Math.min(index, state.items.length - 1)]?.id ?? null;
      state.showRaw = false;
    }
    toast(decision === "confirm" ? "已确认 Confirmed" : "已驳回 Rejected", decision);
    render();
  } catch (err) {
    toast(`操作失败 Failed: ${err.message}`, "error");
    refresh();
  } finally {
    state.busy = false;
  }
}

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const tag = event.target.tagName;
  if (tag === "TEXTAREA" || tag === "INPUT" || tag === "SELECT") {
    if (event.key === "Escape") event.target.blur();
    return;
  }
  const actions = {
    c: () => decide("confirm"),
    r: () => decide("reject"),
    j: () => move(1),
    ArrowDown: () => move(1),
    k: () => move(-1),
    ArrowUp: () => move(-1),
    v: () => toggleRaw(),
  };
  const action = actions[event.key];
  if (action) {
    event.preventDefault();
    action();
  }
}

function toggleRaw() {
  state.showRaw = !state.showRaw;
  render();
}

function onFilterChange(event) {
  event.target.blur(); // give the keys back to the shortcuts
  state.filters = { status: $("filter-status").value, type: $("filter-type").value };
  state.generation += 1;
  state.selectedId = null;
  refresh();
}

function start() {
  addTypeOptions(Object.keys(EVENT_LABELS));
  initDetail();
  $("filter-status").addEventListener("change", onFilterChange);
  $("filter-type").addEventListener("change", onFilterChange);
  $("btn-confirm").addEventListener("click", () => decide("confirm"));
  $("btn-reject").addEventListener("click", () => decide("reject"));
  $("btn-raw").addEventListener("click", toggleRaw);
  document.addEventListener("keydown", onKey);
  refresh();
  setInterval(() => {
    if (!state.busy) refresh();
  }, POLL_MS);
}

start();
