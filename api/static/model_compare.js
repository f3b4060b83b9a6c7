// Candidate model in shadow (issue 19): GET /api/v1/models/compare, per type and camera the serving and the
// candidate model's precision and recall judged by review decisions, with each model's time per frame.
import { compareModels } from "./api.js";
import { eventLabel } from "./labels.js";
import { el } from "./queue.js";

const $ = (id) => document.getElementById(id);
const pct = (v) => (v === null || v === undefined ? "–" : `${(100 * v).toFixed(1)}%`);
const ms = (cost) => (cost && cost.ms_per_frame != null ? `${cost.ms_per_frame} ms/frame × ${cost.frames}` : "–");

function row(r, label) {
  const tr = el("tr", r.candidate.precision !== null && r.serving.precision !== null && r.candidate.precision < r.serving.precision ? "flagged" : "");
  const cells = [label, r.source ?? "", String(r.matched), pct(r.serving.precision), pct(r.candidate.precision),
    pct(r.serving.recall), pct(r.candidate.recall), String(r.extra_unjudged + r.serving_unjudged)];
  tr.append(...cells.map((c) => el("td", "", c)));
  return tr;
}

export async function refreshComparison() {
  const model = $("compare-model").value.trim();
  let report;
  try {
    report = await compareModels(model);
  } catch (err) {
    $("compare-summary").textContent = `无对比 No comparison: ${err.message}`;
    $("compare-body").replaceChildren();
    return;
  }
  if (!report.candidate) {
    $("compare-summary").textContent = `无候选模型 ${report.summary}`;
    $("compare-body").replaceChildren();
    return;
  }
  const lat = report.latency ?? {};
  $("compare-summary").textContent = `${report.summary}. 耗时 Cost: candidate ${ms(lat.candidate_cost)}, serving ${ms(lat.serving_cost)}.`
    + (report.worse ? ` 候选较差 Worse: ${report.worse}` : "");
  $("compare-body").replaceChildren(...report.rows.map((r) => row(r, `${eventLabel(r.type).zh} ${r.type}`)),
    row({ ...report.total, source: "" }, "合计 All"));
  $("models-compare").dataset.ready = report.candidate;
}

export function initComparison() {
  $("compare-form").addEventListener("submit", (e) => {
    e.preventDefault();
    refreshComparison();
  });
}
