// Review page: session, state, live updates, decisions, batch actions and keyboard shortcuts.
import * as api from "./api.js";
import { focusCase, initCases, refreshCases } from "./cases.js";
import { CONSOLE_PAGES, initConsole } from "./console.js";
import { initDetail, renderDetail } from "./detail.js";
import { applyJobEvent, refreshJobs } from "./jobs.js";
import { EVENT_LABELS, eventLabel, REJECT_REASONS, reviewable } from "./labels.js";
import { LiveUpdates } from "./live.js";
import { initPicker, isPickerOpen, pick, pickerKey } from "./picker.js";
import { renderQueue } from "./queue.js";
import { hideZoneEditor, showZoneEditor } from "./zone_editor.js";

const PAGE = 100;
const EVIDENCE_WAIT_MS = 5000; // re-read while the shown incident's clip is still being written
const EMPTY_TEXT = {
  pending: ["暂无待审核事件", "No pending incidents: new ones appear here automatically."],
  "": ["暂无事件", "No incidents match the filters."],
};
const LIVE_TEXT = {
  sse: ["● 实时 Live", "server-sent events"],
  polling: ["◐ 轮询 Polling", "the event stream is down: polling until it is back"],
  off: ["○ 离线 Offline", ""],
};

const state = {
  user: null,
  casesAllowed: true,
  jobsAllowed: true,
  view: "review",
  items: [],
  total: 0,
  limit: PAGE,
  currentId: null,
  checked: new Set(), // ids selected for a batch
  showRaw: false,
  busy: false,
  generation: 0, // bumped when the list changes under a request: older answers are dropped
  requests: 0, // list requests sent ...
  applied: 0, // ... and the latest one whose answer is shown
  filters: { status: "pending", type: "", source: "", area: "", plate: "", since: "", until: "" },
};

const $ = (id) => document.getElementById(id);
// pages beyond review and cases: a tab with data-view=NAME, a <section id="NAME-view" class="view">, and here
// what opens and closes it
const PAGES = {
  ...CONSOLE_PAGES,
  zones: { show: showZoneEditor, hide: hideZoneEditor },
};
const currentIndex = () => state.items.findIndex((it) => it.id === state.currentId);
const current = () => state.items[currentIndex()] ?? null;
const live = new LiveUpdates({ onEvent: onLiveEvent, onResync: resync, onMode: showLiveMode });

// -- rendering ----------------------------------------------------------------------------------

function render() {
  if (!current()) state.currentId = state.items[0]?.id ?? null;
  const onPage = new Set(state.items.map((it) => it.id));
  for (const id of state.checked) if (!onPage.has(id)) state.checked.delete(id);
  renderQueue(state.items, {
    currentId: state.currentId,
    checked: state.checked,
    statusFilter: state.filters.status,
    onSelect: select,
    onCheck: setChecked,
  });
  renderDetail(current(), { showRaw: state.showRaw, emptyText: EMPTY_TEXT[state.filters.status] ?? EMPTY_TEXT[""] });
  renderBatchBar();
  const pending = state.filters.status === "pending";
  $("count").textContent = pending ? `${state.total} 待审核 pending` : `${state.total} 条 incidents`;
  $("btn-more").hidden = state.items.length >= state.total;
  document.title = `${pending && state.total ? `(${state.total}) ` : ""}StreetSight · 事件审核 Review`;
  addOptions($("filter-type"), state.items.map((it) => it.type), (t) => {
    const label = eventLabel(t);
    return label.en ? `${label.zh} ${label.en}` : t;
  });
  addOptions($("filter-source"), state.items.map((it) => it.source));
  addOptions($("area-options"), state.items.map((it) => it.area).filter(Boolean));
}

function renderBatchBar() {
  const n = state.checked.size;
  const pendingChecked = [...state.checked].filter((id) => reviewable(itemById(id))).length;
  $("batch-count").textContent = n ? `已选 ${n} / ${state.items.length} selected` : "";
  $("count").hidden = n > 0; // the bar shows either the queue's size or the selection
  $("btn-batch-confirm").disabled = pendingChecked === 0 || state.busy;
  $("btn-batch-reject").disabled = pendingChecked === 0 || state.busy;
  const all = $("select-all");
  all.checked = n > 0 && n === state.items.length;
  all.indeterminate = n > 0 && n < state.items.length;
}

function addOptions(select, values, text = (v) => v) {
  const known = new Set([...select.options].map((o) => o.value));
  for (const value of values) {
    if (!value || known.has(value)) continue;
    known.add(value);
    select.append(new Option(text(value), value));
  }
}

function showLiveMode(mode) {
  const [label, title] = LIVE_TEXT[mode];
  $("live").textContent = label;
  $("live").title = title;
  $("live").dataset.mode = mode;
}

function toast(message, kind = "info") {
  const box = $("toast");
  box.textContent = message;
  box.className = `toast ${kind}`;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (box.hidden = true), 2500);
}

const itemById = (id) => state.items.find((it) => it.id === id);

// -- loading ------------------------------------------------------------------------------------

async function refresh() {
  if (!state.user) return;
  const generation = state.generation;
  const request = ++state.requests;
  try {
    const { items, total } = await api.listIncidents(apiFilters(), { limit: state.limit });
    // drop the answer if the list changed meanwhile, or a later request has answered already
    if (generation !== state.generation || request < state.applied) return;
    state.applied = request;
    const index = currentIndex();
    state.items = items;
    state.total = total;
    if (state.currentId && !itemById(state.currentId)) {
      // reviewed elsewhere: keep the reviewer's place rather than jumping to the top
      state.currentId = items[Math.min(Math.max(index, 0), items.length - 1)]?.id ?? null;
      state.showRaw = false;
    }
    $("offline").hidden = true;
    render();
  } catch (err) {
    if (err.status !== 401) {
      $("offline").textContent = err.status === 403
        ? "无权查看事件 · This account may not view incidents"
        : "连接中断，正在重试 · Connection lost, retrying…";
      $("offline").hidden = false;
    }
    console.warn("refresh failed", err);
  }
}

function apiFilters() {
  const f = state.filters;
  const iso = (local) => (local ? new Date(local).toISOString() : "");
  // plate: what the API searches (letters, digits, the province character); other characters are dropped
  const plate = f.plate.replace(/[^\p{L}\p{N}]/gu, "");
  return { status: f.status, type: f.type, source: f.source, area: f.area.trim(), plate, since: iso(f.since), until: iso(f.until) };
}

let refreshTimer = null;
/** Coalesces a burst of live events into one reload. */
function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, 150);
}

function resync() {
  scheduleRefresh();
  refreshCasesQuietly();
  if (state.view === "jobs") refreshJobsQuietly();
}

function refreshJobsQuietly() {
  if (!state.jobsAllowed) return;
  refreshJobs().catch((err) => {
    if (err.status === 403 || err.status === 404) {
      state.jobsAllowed = false; // this role sees no footage (e.g. trainer), or this server takes none
      $("tab-jobs").hidden = true;
    } else {
      console.warn("footage jobs refresh failed", err);
    }
  });
}

function refreshCasesQuietly() {
  if (!state.casesAllowed) return;
  refreshCases(toast).catch((err) => {
    if (err.status === 403) {
      state.casesAllowed = false; // this role sees no cases (e.g. trainer)
      $("tab-cases").hidden = true;
    } else {
      console.warn("cases refresh failed", err);
    }
  });
}

/** The clip lands seconds after the incident (post-roll), its H.264 preview (a clip that is not H.264)
 * after that, before the manifest; attaching evidence sends no event: while the shown incident waits for
 * them, re-read now and then (polling mode re-reads anyway). */
function awaitEvidence() {
  const shown = current();
  const ev = shown?.evidence ?? {};
  const waiting = !ev.clip || (!ev.clip_preview && !ev.manifest);
  if (live.mode === "sse" && shown?.status === "pending" && waiting) scheduleRefresh();
}

function onLiveEvent(type, data) {
  if (type === "case_updated") refreshCasesQuietly();
  else if (type === "footage_job") applyJobEvent(data);
  else scheduleRefresh();
}

// -- selection ----------------------------------------------------------------------------------

function select(id) {
  if (id === state.currentId) return;
  state.currentId = id;
  state.showRaw = false;
  render();
}

function move(step) {
  const i = currentIndex();
  const next = state.items[Math.min(state.items.length - 1, Math.max(0, i + step))];
  if (next) select(next.id);
}

function setChecked(id, on) {
  if (on) state.checked.add(id);
  else state.checked.delete(id);
  render();
}

function toggleChecked() {
  if (state.currentId) setChecked(state.currentId, !state.checked.has(state.currentId));
}

// -- decisions ----------------------------------------------------------------------------------

const TOASTS = { confirm: "已确认 Confirmed", reject: "已驳回 Rejected" };
const STATUS_OF = { confirm: "confirmed", reject: "rejected" };

/** Reviews the current incident; it leaves a queue filtered by status, and the next one is current. */
async function decide(decision, { reason = null, correctedType = null } = {}) {
  const incident = current();
  if (!incident || state.busy || !reviewable(incident)) return;
  state.busy = true;
  try {
    const updated = await api.review(incident.id, { decision, note: $("d-note").value.trim(), reason, correctedType });
    applyReviewed([updated]);
    toast(correctedType ? `${TOASTS.confirm} · ${eventLabel(correctedType).zh}` : TOASTS[decision], decision);
  } catch (err) {
    toast(`操作失败 Failed: ${err.message}`, "error");
    scheduleRefresh();
  } finally {
    state.busy = false;
    renderBatchBar();
  }
}

function applyReviewed(updatedItems) {
  state.generation += 1; // a list answered before the review would bring the items back
  let index = currentIndex();
  for (const updated of updatedItems) {
    const i = state.items.findIndex((it) => it.id === updated.id);
    if (i < 0) continue;
    state.checked.delete(updated.id);
    if (!state.filters.status || state.filters.status === updated.status) {
      state.items[i] = updated;
    } else {
      state.items.splice(i, 1);
      state.total = Math.max(0, state.total - 1);
      if (i < index) index -= 1;
    }
  }
  if (!current()) {
    state.currentId = state.items[Math.min(Math.max(index, 0), state.items.length - 1)]?.id ?? null;
    state.showRaw = false;
  }
  render();
}

/** Puts a suppressed incident back in the review queue. */
async function unsuppressCurrent() {
  const incident = current();
  if (!incident || incident.status !== "suppressed" || state.busy) return;
  state.busy = true;
  try {
    applyReviewed([await api.unsuppress(incident.id)]);
    toast("已恢复待审核 Back in the queue", "confirm");
  } catch (err) {
    toast(`操作失败 Failed: ${err.message}`, "error");
    scheduleRefresh();
  } finally {
    state.busy = false;
    renderBatchBar();
  }
}

/** Makes the current incident's crop an example of its type for its camera (label "positive" | "negative"):
 * the camera uses it within seconds. */
async function teachCurrent(label) {
  const incident = current();
  if (!incident) return;
  try {
    await api.teachFromIncident(incident, label);
    const text = `已教给 ${incident.source} Taught: ${$(`btn-teach-${label}`).textContent}`;
    if (current()?.id === incident.id) $("d-taught").textContent = text;
    toast(text, "confirm");
  } catch (err) {
    toast(`未能教学 Not taught: ${err.message}`, "error");
  }
}

async function rejectCurrent() {
  const incident = current();
  if (!incident || !reviewable(incident) || state.busy) return;
  const reason = await pick("驳回原因 Reject: why?", REJECT_REASONS);
  if (reason) await decide("reject", { reason: reason.code });
}

async function correctType() {
  const incident = current();
  if (!incident || !reviewable(incident) || state.busy) return;
  const types = typeChoices().filter((t) => t.code !== incident.type);
  const choice = await pick("改为类型并确认 Correct the type and confirm", types);
  if (choice) await decide("confirm", { correctedType: choice.code });
}

function typeChoices() {
  const codes = new Set([...Object.keys(EVENT_LABELS), ...[...$("filter-type").options].map((o) => o.value)]);
  codes.delete("");
  return [...codes].map((code) => ({ code, ...eventLabel(code) }));
}

async function batchDecide(decision) {
  const ids = [...state.checked].filter((id) => reviewable(itemById(id)));
  if (!ids.length || state.busy) return;
  let reason = null;
  if (decision === "reject") {
    const choice = await pick(`批量驳回 ${ids.length} 条 Reject ${ids.length}: why?`, REJECT_REASONS);
    if (!choice) return;
    reason = choice.code;
  }
  state.busy = true;
  renderBatchBar();
  try {
    const answer = await api.reviewBatch(ids, { decision, reason });
    const updated = batchItems(answer);
    // an answer without the records: take the decision as applied; the refresh below corrects it
    applyReviewed(updated.length ? updated : ids.map((id) => ({ ...itemById(id), status: STATUS_OF[decision] })));
    const failed = batchFailures(answer);
    toast(`${TOASTS[decision]} × ${ids.length - failed}${failed ? ` · ${failed} 失败 failed` : ""}`, failed ? "error" : decision);
  } catch (err) {
    toast(`批量操作失败 Batch failed: ${err.message}`, "error");
  } finally {
    state.busy = false;
    renderBatchBar();
    scheduleRefresh();
  }
}

/** The incidents in a batch answer ({results: [{id, status_code, detail, incident}]}). */
function batchItems(answer) {
  const list = Array.isArray(answer) ? answer : answer?.items ?? answer?.results ?? answer?.incidents ?? [];
  return list.map((r) => r?.incident ?? r).filter((r) => r && r.id && r.status);
}

function batchFailures(answer) {
  const results = Array.isArray(answer?.results) ? answer.results : [];
  return results.filter((r) => r.status_code !== undefined && r.status_code !== 200).length;
}

// -- keyboard -----------------------------------------------------------------------------------

const KEYS = {
  c: () => decide("confirm"),
  r: () => rejectCurrent(),
  t: () => correctType(),
  C: () => batchDecide("confirm"),
  R: () => batchDecide("reject"),
  x: () => toggleChecked(),
  j: () => move(1),
  ArrowDown: () => move(1),
  k: () => move(-1),
  ArrowUp: () => move(-1),
  v: () => toggleRaw(),
  Escape: () => clearChecked(),
};

function onKey(event) {
  if (isPickerOpen()) {
    if (pickerKey(event)) event.preventDefault();
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey || !state.user || state.view !== "review") return;
  const tag = event.target.tagName;
  if (tag === "TEXTAREA" || tag === "INPUT" || tag === "SELECT") {
    if (event.key === "Escape") event.target.blur();
    return;
  }
  const action = KEYS[event.key];
  if (action) {
    event.preventDefault();
    action();
  }
}

function toggleRaw() {
  state.showRaw = !state.showRaw;
  render();
}

function clearChecked() {
  state.checked.clear();
  render();
}

// -- filters ------------------------------------------------------------------------------------

function onFilterChange(event) {
  if (event.target.tagName === "SELECT") event.target.blur(); // give the keys back to the shortcuts
  state.filters = {
    status: $("filter-status").value,
    type: $("filter-type").value,
    source: $("filter-source").value,
    area: $("filter-area").value,
    plate: $("filter-plate").value,
    since: $("filter-since").value,
    until: $("filter-until").value,
  };
  state.generation += 1;
  state.limit = PAGE;
  state.currentId = null;
  state.checked.clear();
  refresh();
}

function clearFilters() {
  for (const id of ["filter-type", "filter-source", "filter-area", "filter-plate", "filter-since", "filter-until"]) $(id).value = "";
  $("filter-status").value = "pending";
  onFilterChange({ target: $("filters") });
}

// -- session and views --------------------------------------------------------------------------

function showLogin(message = "") {
  state.user = null;
  live.stop();
  for (const id of ["nav", "user", "btn-logout", "live", "offline"]) $(id).hidden = true;
  for (const view of document.querySelectorAll(".view")) view.hidden = true;
  for (const page of Object.values(PAGES)) page.hide();
  $("login-view").hidden = false;
  $("login-error").hidden = !message;
  $("login-error").textContent = message;
  $("login-password").value = "";
  $("login-username").focus();
}

/** user: {username, role}, or null when the server has no authentication. */
function showApp(user) {
  state.user = user ?? { username: "", role: "" };
  $("login-view").hidden = true;
  $("nav").hidden = false;
  $("live").hidden = false;
  $("user").hidden = !user;
  $("user").textContent = user ? `${user.username} · ${user.role}` : "";
  $("btn-logout").hidden = !user;
  state.casesAllowed = true;
  state.jobsAllowed = true;
  $("tab-cases").hidden = false;
  $("tab-jobs").hidden = false;
  const wanted = location.hash.slice(1);
  showView(wanted === "cases" || wanted === "jobs" || wanted in PAGES ? wanted : "review");
  live.start();
  refresh();
  refreshCasesQuietly(); // footage jobs load when their tab opens (live events keep them current after)
  api.listSources().then((sources) => addOptions($("filter-source"), sources.map((s) => s.id)), () => {});
}

function showView(view) {
  state.view = view;
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== `${view}-view`;
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.view === view);
  if (view === "cases") refreshCasesQuietly();
  if (view === "jobs") refreshJobsQuietly();
  for (const [name, page] of Object.entries(PAGES)) {
    if (name === view) page.show().catch((err) => console.warn(`${name} page failed`, err));
    else page.hide();
  }
}

/** Opens one incident in the review view (from the wall or the map): all statuses, its camera's. */
async function openIncident(id) {
  history.replaceState(null, "", "#");
  showView("review");
  const incident = await api.getIncident(id);
  $("filter-status").value = "";
  for (const key of ["filter-type", "filter-area", "filter-since", "filter-until"]) $(key).value = "";
  addOptions($("filter-source"), [incident.source]);
  $("filter-source").value = incident.source;
  onFilterChange({ target: $("filters") });
  state.currentId = id;
  await refresh();
  if (!itemById(id)) { // older than the first page of its camera: show it alone on top
    state.items = [incident, ...state.items];
    state.currentId = id;
    render();
  }
}

async function openCase(id) {
  history.replaceState(null, "", "#cases");
  showView("cases");
  await focusCase(id, toast);
}

async function onLogin(event) {
  event.preventDefault();
  $("login-submit").disabled = true;
  try {
    const session = await api.login($("login-username").value.trim(), $("login-password").value);
    document.activeElement?.blur();
    showApp({ username: session.username, role: session.role });
  } catch (err) {
    const message = err.status === 401 ? "用户名或密码错误 Wrong username or password"
      : err.status === 429 ? "失败次数过多，请稍后再试 Too many failed sign-ins, try again later"
      : `登录失败 Sign-in failed: ${err.message}`;
    $("login-error").textContent = message;
    $("login-error").hidden = false;
  } finally {
    $("login-submit").disabled = false;
  }
}

async function onLogout() {
  try {
    await api.logout();
  } finally {
    showLogin();
  }
}

async function boot() {
  try {
    showApp(await api.me());
  } catch (err) {
    if (err.status === 404) {
      showApp(null); // a server without authentication (embedded single-user mode)
      return;
    }
    showLogin(err.status === 401 || err.status === 403 ? "" : `服务不可用 Server unreachable: ${err.message}`);
  }
}

function start() {
  addOptions($("filter-type"), Object.keys(EVENT_LABELS), (t) => `${EVENT_LABELS[t].zh} ${EVENT_LABELS[t].en}`);
  initDetail();
  initPicker();
  initCases(toast);
  initConsole({ openIncident: (id) => openIncident(id).catch((err) => toast(`打开失败 Open failed: ${err.message}`, "error")),
    openCase: (id) => openCase(id).catch((err) => toast(`打开失败 Open failed: ${err.message}`, "error")),
    cameras: () => api.listSources().then((sources) => sources.map((s) => s.id)) });
  api.setUnauthorizedHandler(() => {
    if (state.user) showLogin("会话已过期，请重新登录 Session expired: please sign in again");
  });
  $("filters").addEventListener("change", onFilterChange);
  $("filters").addEventListener("submit", (e) => e.preventDefault());
  $("btn-clear-filters").addEventListener("click", clearFilters);
  $("btn-confirm").addEventListener("click", () => decide("confirm"));
  $("btn-reject").addEventListener("click", rejectCurrent);
  $("btn-unsuppress").addEventListener("click", unsuppressCurrent);
  $("btn-teach-positive").addEventListener("click", () => teachCurrent("positive"));
  $("btn-teach-negative").addEventListener("click", () => teachCurrent("negative"));
  $("btn-correct").addEventListener("click", correctType);
  $("btn-raw").addEventListener("click", toggleRaw);
  $("btn-batch-confirm").addEventListener("click", () => batchDecide("confirm"));
  $("btn-batch-reject").addEventListener("click", () => batchDecide("reject"));
  $("select-all").addEventListener("change", (e) => {
    state.checked = e.target.checked ? new Set(state.items.map((it) => it.id)) : new Set();
    render();
  });
  $("btn-more").addEventListener("click", () => {
    state.limit += PAGE;
    refresh();
  });
  $("login-form").addEventListener("submit", onLogin);
  $("btn-logout").addEventListener("click", onLogout);
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => {
      history.replaceState(null, "", tab.dataset.view === "review" ? "#" : `#${tab.dataset.view}`);
      showView(tab.dataset.view);
    });
  }
  document.addEventListener("keydown", onKey);
  setInterval(awaitEvidence, EVIDENCE_WAIT_MS);
  boot();
}

start();
