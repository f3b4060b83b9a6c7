// Statistics (绩效考核): per type, camera, area and day from GET /api/v1/stats, a table, two charts (uPlot,
// vendored, imported when the page is first shown), the low-confirm-rate flags and the CSV export link.
import { incidentStats, statsCsvUrl } from "./api.js";
import { EVENT_LABELS, eventLabel, reasonLabel } from "./labels.js";
import { el } from "./queue.js";
import { initComparison, refreshComparison } from "./model_compare.js";
import { initModels, refreshModels } from "./model_promote.js";
import { initTraining, refreshTraining } from "./model_retrain.js";

const $ = (id) => document.getElementById(id);
let uPlot = null;
let charts = [];
let generation = 0;

const pct = (v) => (v === null || v === undefined ? "–" : `${(100 * v).toFixed(1)}%`);
const dur = (s) => (s === null || s === undefined ? "–" : s >= 3600 ? `${(s / 3600).toFixed(1)} h` : `${Math.round(s / 60)} min`);
const counts = (m) => Object.entries(m ?? {}).map(([k, n]) => `${k} ${n}`).join(", ") || "–";

function query() {
  const q = { group_by: $("stats-group").value };
  for (const [key, id] of [["from", "stats-from"], ["to", "stats-to"], ["type", "stats-type"], ["camera", "stats-camera"], ["area", "stats-area"]]) {
    const v = $(id).value.trim();
    if (v) q[key] = v;
  }
  return q;
}

const COLUMNS = [
  ["incidents", "事件 Incidents", (r) => String(r.incidents)],
  ["reviewed", "已审 Reviewed", (r) => String(r.reviewed)],
  ["confirm_rate", "确认率 Confirm rate", (r) => pct(r.confirm_rate)],
  ["rejected", "驳回 Rejected", (r) => String(r.rejected)],
  ["reject_reasons", "驳回原因 Reasons", (r) => Object.entries(r.reject_reasons).map(([k, n]) => `${reasonLabel(k).split(" ")[0]} ${n}`).join(", ") || "–"],
  ["median_review_s", "审核用时 To review", (r) => dur(r.median_review_s)],
  ["cases", "案件 Cases", (r) => (r.cases === null || r.cases === undefined ? "–" : String(r.cases))],
  ["cases_by_status", "案件状态 By status", (r) => counts(r.cases_by_status)],
  ["cases_by_department", "部门 Departments", (r) => counts(r.cases_by_department)],
  ["median_close_s", "结案用时 To close", (r) => dur(r.median_close_s)],
];

function keyText(r, dim) {
  if (dim === "type") return `${eventLabel(r.type).zh} ${r.type}`;
  return r[dim] ?? "–";
}

function renderTable(report) {
  const dims = report.group_by;
  const head = el("tr");
  for (const d of dims) head.append(el("th", "", { type: "类型 Type", camera: "点位 Camera", area: "区域 Area", day: "日期 Day" }[d]));
  for (const [, title] of COLUMNS) head.append(el("th", "", title));
  $("stats-head").replaceChildren(head);
  const flagged = new Set(report.flags.map((f) => `${f.camera}|${f.type}`));
  $("stats-body").replaceChildren(...report.rows.map((r) => {
    const tr = el("tr", r.camera && r.type && flagged.has(`${r.camera}|${r.type}`) ? "flagged" : "");
    tr.dataset.key = dims.map((d) => r[d]).join("|");
    for (const d of dims) tr.append(el("td", "", keyText(r, d)));
    for (const [, , cell] of COLUMNS) tr.append(el("td", "", cell(r)));
    return tr;
  }));
}

function renderSummary(report) {
  const t = report.total;
  const tiles = [["事件 Incidents", t.incidents], ["已审 Reviewed", t.reviewed], ["确认率 Confirm rate", pct(t.confirm_rate)],
    ["审核用时 To review", dur(t.median_review_s)], ["案件 Cases", t.cases ?? "–"], ["结案用时 To close", dur(t.median_close_s)]];
  $("stats-summary").replaceChildren(...tiles.map(([label, value]) => {
    const box = el("div");
    box.append(el("b", "", String(value)), el("span", "muted", label));
    return box;
  }));
  const flags = $("stats-flags");
  flags.hidden = report.flags.length === 0;
  const list = el("ul");
  list.append(...report.flags.map((f) => el("li", "", `${f.camera} · ${eventLabel(f.type).zh} ${f.type}: ${pct(f.confirm_rate)} (${f.confirmed}/${f.reviewed})`)));
  flags.replaceChildren(el("strong", "", `确认率低于 ${pct(report.confirm_rate_floor)} · Confirm rate below the floor: retune or retrain`), list);
}

function chart(target, series, data, width) {
  const count = { range: (u, min, max) => [0, Math.max(1, Math.ceil((max ?? 0) * 1.15))] };
  const x = data.time
    ? { time: true, range: (u, min, max) => [min - 43200, max + 43200] } // half a day each side of the bars
    : { time: false, range: (u, min, max) => [min - 0.6, max + 0.6] };
  const xAxis = data.time
    ? { incrs: [86400, 2 * 86400, 7 * 86400, 30 * 86400], values: (u, vals) => vals.map((v) => new Date(v * 1000).toLocaleDateString()) }
    : { incrs: [1], values: (u, vals) => vals.map((v) => data.labels[v] ?? "") };
  const opts = { width, height: 220, series: [{}, ...series], scales: { x, n: count, rate: { range: [0, 1] } },
    axes: [xAxis, { scale: "n" }, { scale: "rate", side: 1, grid: { show: false }, values: (u, vals) => vals.map((v) => `${Math.round(v * 100)}%`) }] };
  charts.push(new uPlot(opts, data.columns, target));
}

function renderCharts(report, daily) {
  for (const c of charts) c.destroy();
  charts = [];
  const width = Math.max(320, Math.min(620, ($("stats-view").clientWidth - 60) / 2));
  const bars = uPlot.paths.bars({ size: [0.6, 40] });
  const days = daily.rows.map((r) => Date.parse(`${r.day}T00:00:00`) / 1000);
  chart($("stats-chart-days"), [
    { label: "事件 Incidents", scale: "n", stroke: "#2563eb", fill: "rgba(37,99,235,0.25)", paths: bars },
    { label: "确认率 Confirm rate", scale: "rate", stroke: "#15803d", width: 2, spanGaps: true },
  ], { time: true, columns: [days, daily.rows.map((r) => r.incidents), daily.rows.map((r) => r.confirm_rate)] }, width);
  const rows = report.rows.slice(0, 40);
  const labels = rows.map((r) => report.group_by.map((d) => (d === "type" ? eventLabel(r.type).zh : r[d])).join(" "));
  $("stats-chart-groups-title").textContent = `分组 Per ${report.group_by.join(" + ")}${report.rows.length > 40 ? " (前 40 first 40)" : ""}`;
  chart($("stats-chart-groups"), [
    { label: "事件 Incidents", scale: "n", stroke: "#7c3aed", fill: "rgba(124,58,237,0.25)", paths: bars },
    { label: "确认率 Confirm rate", scale: "rate", stroke: "#15803d", width: 0, points: { show: true, size: 8 } },
  ], { labels, columns: [rows.map((_, i) => i), rows.map((r) => r.incidents), rows.map((r) => r.confirm_rate)] }, width);
}

export async function refreshStats() {
  const mine = ++generation;
  const q = query();
  if (!uPlot) uPlot = (await import("./vendor/uplot/uPlot.esm.js")).default;
  const [report, daily] = await Promise.all([incidentStats(q), incidentStats({ ...q, group_by: "day" })]);
  if (mine !== generation) return;
  $("stats-export").href = statsCsvUrl(q);
  if (!$("stats-from").value) $("stats-from").value = report.from;
  if (!$("stats-to").value) $("stats-to").value = report.to;
  renderSummary(report);
  renderTable(report);
  renderCharts(report, daily);
  $("stats-view").dataset.ready = String(mine);
}

export function showStats(on) {
  if (on) {
    refreshStats().catch((err) => console.warn("stats failed", err));
    refreshComparison();
    refreshModels();
    refreshTraining();
  }
}

export function initStats({ cameras }) {
  initComparison();
  initModels();
  initTraining();
  for (const [code, label] of Object.entries(EVENT_LABELS)) $("stats-type").append(new Option(`${label.zh} ${label.en}`, code));
  $("stats-filters").addEventListener("change", () => refreshStats().catch((err) => console.warn("stats failed", err)));
  $("stats-filters").addEventListener("submit", (e) => e.preventDefault());
  cameras().then((ids) => $("stats-camera-options").replaceChildren(...ids.map((id) => new Option(id, id))), () => {});
}
