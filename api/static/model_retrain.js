// Retraining from the reviews (issue 19 item 4): a trainer starts the export -> train -> evaluate loop, follows
// its stage and epochs, and may cancel it; the registered result enters shadow mode (see the comparison below).
// Without a training environment on the server the form says why and stays disabled.
import { cancelTraining, startTraining, trainingOverview } from "./api.js";
import { el } from "./queue.js";

const $ = (id) => document.getElementById(id);
const ACTIVE = new Set(["queued", "running"]);
const POLL_MS = 2000;
let timer = null;

function status(text, error = false) {
  $("retrain-status").textContent = text;
  $("retrain-status").classList.toggle("error", error);
}

function progressCell(job) {
  const td = el("td");
  if (job.epochs) {
    const bar = el("progress");
    bar.max = job.epochs;
    bar.value = job.epoch;
    td.append(bar, el("span", "", ` ${job.epoch}/${job.epochs}`));
  }
  return td;
}

function row(job) {
  const tr = el("tr", job.status === "failed" ? "flagged" : "");
  tr.dataset.id = job.id;
  tr.dataset.status = job.status;
  const map = job.result?.evaluation?.map50_95 ?? job.metrics?.map50_95;
  const candidate = job.candidate ? `${job.candidate}${job.status === "succeeded" ? " · 影子运行 in shadow" : ""}` : "";
  const state = el("td", "", job.status);
  if (job.error) state.title = job.error;
  tr.append(el("td", "", job.id), el("td", "", job.dataset), state, el("td", "", job.stage ?? ""), progressCell(job),
    el("td", "", map === null || map === undefined ? "–" : map.toFixed(3)), el("td", "", candidate),
    el("td", "", job.created_by ?? ""));
  const cell = el("td");
  if (ACTIVE.has(job.status)) {
    const cancel = el("button", "retrain-cancel", "取消 Cancel");
    cancel.type = "button";
    cancel.addEventListener("click", () => cancel_(job.id));
    cell.append(cancel);
  }
  tr.append(cell);
  return tr;
}

async function cancel_(id) {
  try {
    await cancelTraining(id);
    status(`已取消 Cancelling ${id}`);
  } catch (err) {
    status(`取消失败 Not cancelled: ${err.message}`, true);
  }
  refreshTraining();
}

export async function refreshTraining() {
  let overview;
  try {
    overview = await trainingOverview();
  } catch (err) {
    $("models-retrain").hidden = true; // not this role's (reviewers), or no retraining on this server
    return;
  }
  $("models-retrain").hidden = false;
  $("retrain-reason").textContent = overview.available ? "" : `无法训练 Training unavailable: ${overview.reason}`;
  $("retrain-start").disabled = !overview.available;
  const select = $("retrain-dataset");
  const chosen = select.value;
  select.replaceChildren(...overview.datasets.map((d) => new Option(d, d)));
  if (chosen) select.value = chosen;
  $("retrain-body").replaceChildren(...overview.jobs.map(row));
  const newest = overview.jobs[0];
  $("retrain-log").hidden = !newest?.log_tail;
  $("retrain-log").textContent = newest?.log_tail ?? "";
  const active = overview.jobs.some((j) => ACTIVE.has(j.status));
  $("models-retrain").dataset.ready = newest ? `${newest.id}:${newest.status}:${newest.epoch}` : "none";
  clearTimeout(timer);
  if (active && !$("stats-view").hidden) timer = setTimeout(refreshTraining, POLL_MS);
}

export function initTraining() {
  $("retrain-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { dataset: $("retrain-dataset").value, name: $("retrain-name").value.trim(),
      epochs: Number($("retrain-epochs").value), imgsz: Number($("retrain-imgsz").value) };
    try {
      const job = await startTraining(body);
      status(`已开始 Started ${job.id}`);
    } catch (err) {
      status(`未开始 Not started: ${err.message}`, true);
    }
    refreshTraining();
  });
}
