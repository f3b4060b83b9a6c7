// The cases view: the manual-assignment queue (a dispatch rule missed, or the confidence was low),
// where an admin or reviewer picks the responsible department.
import { assignCase, departmentStats, listCases } from "./api.js";
import { CASE_STAGE_LABELS, CASE_STATUS_LABELS, eventCodes, eventLabel } from "./labels.js";
import { el } from "./queue.js";
import { score, wallTime } from "./format.js";

const $ = (id) => document.getElementById(id);
let generation = 0;

const caseNumber = (c) => c.number ?? c.id;

function place(c) {
  const at = c.location ?? {};
  const parts = [at.address, at.grid && `网格 ${at.grid}`, at.area, at.source];
  if (Number.isFinite(at.lng) && Number.isFinite(at.lat)) parts.push(`${at.lng.toFixed(5)}, ${at.lat.toFixed(5)}`);
  return parts.filter(Boolean).join(" · ") || "–";
}

/** The case's event labels (from its `event` block), in the incidents' `labels` shape. */
function caseLabels(c) {
  const e = c.event ?? {};
  return { zh: e.label_zh, en: e.label_en, category: e.national_code, local_code: e.local_code };
}

/** A department field (suggestions from the datalist) and its Assign button; Enter assigns too. */
function assignControls(c, toast, reload) {
  const input = el("input", "department");
  input.setAttribute("list", "department-options");
  input.placeholder = "部门 department";
  input.setAttribute("aria-label", `department for ${caseNumber(c)}`);
  const button = el("button", "primary small assign", "分派 Assign");
  button.type = "button";
  const submit = async () => {
    const name = input.value.trim();
    if (!name) {
      input.focus();
      return;
    }
    button.disabled = true;
    try {
      await assignCase(c.id, name);
      toast(`已分派 Assigned ${caseNumber(c)} → ${name}`, "confirm");
      reload();
    } catch (err) {
      toast(`分派失败 Assign failed: ${err.message}`, "error");
      button.disabled = false;
    }
  };
  button.addEventListener("click", submit);
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") submit();
  });
  return { input, button };
}

/** The stages with their times (and who, and why for a return), oldest first, folded. */
function timeline(c) {
  const stages = c.timeline ?? [];
  const box = el("details", "timeline");
  box.append(el("summary", "muted", `时间线 Timeline (${stages.length})`));
  const list = el("ol");
  for (const t of stages) {
    const why = t.detail?.reason ? ` — ${t.detail.reason}` : t.detail?.verdict ? ` — ${t.detail.verdict}` : "";
    const item = el("li", `stage stage-${t.stage}`);
    item.dataset.stage = t.stage;
    item.append(
      el("span", "", CASE_STAGE_LABELS[t.stage] ?? t.stage),
      el("span", "muted", ` ${wallTime(t.at)}${t.department ? ` · ${t.department}` : ""}${why}`),
    );
    list.append(item);
  }
  box.append(list);
  return box;
}

function statusCell(c) {
  const cell = el("td");
  cell.append(el("div", "", CASE_STATUS_LABELS[c.status] ?? c.status ?? "–"));
  if (c.deadline_at && ["dispatched", "accepted"].includes(c.status)) {
    cell.append(el("div", c.overdue ? "overdue-badge" : "muted", `${c.overdue ? "超期 Overdue · " : "时限 Due "}${wallTime(c.deadline_at)}`));
  }
  if (c.closed_reason) cell.append(el("div", "muted", `无效 Invalid: ${c.closed_reason}`));
  cell.append(timeline(c));
  return cell;
}

function row(c, toast, reload) {
  const tr = el("tr", c.overdue ? "overdue" : "");
  tr.dataset.id = c.id;
  const label = eventLabel(c.event?.type, caseLabels(c));
  const typeCell = el("td");
  typeCell.append(el("div", "", label.zh), el("div", "muted", [label.en, eventCodes(caseLabels(c))].filter(Boolean).join(" · ")));
  if (c.queue_reason) typeCell.append(el("div", "queue-reason", c.queue_reason));
  const depCell = el("td");
  const actCell = el("td");
  if (c.status === "manual") {
    const { input, button } = assignControls(c, toast, reload);
    depCell.append(input);
    actCell.append(button);
  } else {
    depCell.textContent = c.department ?? "–";
  }
  tr.append(
    el("td", "mono", caseNumber(c)),
    typeCell,
    el("td", "", place(c)),
    el("td", "", score(c.confidence)),
    el("td", "", c.occurred_at ? wallTime(c.occurred_at) : "–"),
    statusCell(c),
    depCell,
    actCell,
  );
  return tr;
}

/** Loads and shows the chosen queue; answers to an older load are dropped. */
export async function refreshCases(toast) {
  const mine = ++generation;
  const queue = $("cases-queue").value;
  const { items, total } = await listCases({ queue });
  if (mine !== generation) return;
  const reload = () => refreshCases(toast).catch(() => {});
  $("cases-body").replaceChildren(...items.map((c) => row(c, toast, reload)));
  $("cases-empty").hidden = items.length > 0;
  $("cases-total").textContent =
    queue === "manual" ? `${total} 待分派 to assign` : queue === "overdue" ? `${total} 件超期 overdue` : `${total} 件 cases`;
  if (queue === "manual") $("cases-count").textContent = total ? String(total) : "";
  refreshStats().catch((err) => console.warn("department stats failed", err));
  const known = new Set([...$("department-options").options].map((o) => o.value));
  for (const c of items) {
    if (c.department && !known.has(c.department)) {
      known.add(c.department);
      $("department-options").append(new Option(c.department, c.department));
    }
  }
}

const percent = (v) => (v === null || v === undefined ? "–" : `${(100 * v).toFixed(1)}%`);
const duration = (s) => (s === null || s === undefined ? "–" : s >= 3600 ? `${(s / 3600).toFixed(1)} h` : `${Math.round(s / 60)} min`);

/** Department performance (考核) of the chosen period, and its CSV export link. */
export async function refreshStats() {
  const { report, csv } = await departmentStats(Number($("stats-days").value));
  $("stats-csv").href = csv;
  $("dept-stats-body").replaceChildren(
    ...report.departments.map((d) => {
      const tr = el("tr");
      tr.dataset.department = d.department;
      tr.append(el("td", "", d.department), el("td", "", String(d.received)), el("td", "", percent(d.on_time_rate)),
        el("td", "", duration(d.median_handle_s)), el("td", "", String(d.returns)), el("td", "", percent(d.reopen_rate)));
      return tr;
    }),
  );
}

/** Shows all cases with the case ``id`` marked and scrolled to (the map's click-through). */
export async function focusCase(id, toast) {
  $("cases-queue").value = "";
  await refreshCases(toast);
  const row = $("cases-body").querySelector(`tr[data-id="${CSS.escape(String(id))}"]`);
  if (!row) {
    toast(`案件不在列表中 Case ${id} is not in the list`, "error");
    return;
  }
  row.classList.add("highlight");
  row.scrollIntoView({ block: "center" });
}

export function initCases(toast) {
  $("cases-queue").addEventListener("change", () => refreshCases(toast).catch(() => {}));
  $("stats-days").addEventListener("change", () => refreshStats().catch(() => {}));
}
