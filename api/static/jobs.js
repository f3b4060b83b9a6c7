// The footage jobs view: uploaded recordings of enforcement devices and their analysis, with a progress bar
// each; live `footage_job` events move the bars, a full reload happens when the view opens or the stream
// reconnects.
import { listFootageJobs } from "./api.js";
import { mediaTime, wallTime } from "./format.js";
import { el } from "./queue.js";

const $ = (id) => document.getElementById(id);
const STATUS_TEXT = {
  queued: "排队 Queued",
  running: "分析中 Running",
  done: "完成 Done",
  failed: "失败 Failed",
};
const jobs = new Map(); // id -> job, in the order the server listed them (newest first)

function eta(job) {
  if (job.status !== "running" || job.eta_s === null || job.eta_s === undefined) return "";
  return ` · ETA ${mediaTime(job.eta_s)}`;
}

function progressCell(job) {
  const cell = el("td", "job-progress");
  const bar = el("progress");
  bar.max = 1;
  bar.value = job.progress;
  bar.setAttribute("aria-label", `progress of ${job.filename}`);
  const pct = `${(job.progress * 100).toFixed(0)}%`;
  cell.append(bar, el("span", "muted", ` ${pct} · ${mediaTime(job.done_s)} / ${mediaTime(job.duration_s)}${eta(job)}`));
  return cell;
}

// where a job's positions came from when no track was uploaded (see track_from)
const ORIGIN = { embedded: "内嵌 NMEA embedded", "live reports": "实时上报 live reports" };

function row(job) {
  const tr = el("tr");
  tr.dataset.id = job.id;
  const status = el("td", job.status === "failed" ? "job-failed" : "", STATUS_TEXT[job.status] ?? job.status);
  if (job.error) status.append(el("div", "job-failed", job.error));
  const positioned = job.track_format
    ? `${job.track_format.toUpperCase()} · ${job.track_points} 点 points`
    : ORIGIN[job.track_from]
      ? `${ORIGIN[job.track_from]} · ${job.track_points} 点 points`
      : "无轨迹 no track";
  const file = el("td", "", job.filename);
  file.append(el("div", "muted", positioned));
  tr.append(file, el("td", "", job.source), el("td", "", wallTime(job.started_at)), progressCell(job), status,
    el("td", "", String(job.incidents)), el("td", "mono", job.id));
  return tr;
}

function render() {
  const body = $("jobs-body");
  body.replaceChildren(...[...jobs.values()].map(row));
  $("jobs-empty").hidden = jobs.size > 0;
  const running = [...jobs.values()].filter((j) => j.status === "running" || j.status === "queued").length;
  $("jobs-total").textContent = `${jobs.size} 个任务 jobs`;
  $("jobs-count").textContent = running ? String(running) : "";
}

/** Reload the list (the view opened, or the live stream reconnected). */
export async function refreshJobs() {
  const list = await listFootageJobs();
  jobs.clear();
  for (const job of list) jobs.set(job.id, job);
  render();
}

/** One `footage_job` event: a new job goes on top, a known one is updated in place. */
export function applyJobEvent(job) {
  if (!jobs.has(job.id)) {
    const rest = [...jobs.entries()];
    jobs.clear();
    jobs.set(job.id, job);
    for (const [id, j] of rest) jobs.set(id, j);
  } else {
    jobs.set(job.id, job);
  }
  render();
}
