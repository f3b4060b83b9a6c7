// The queue (left column): one row per incident, the current one highlighted, a checkbox for batches.
import { eventLabel, STATUS_LABELS } from "./labels.js";
import { mediaTime, score, wallClock } from "./format.js";

const EMPTY_TEXT = {
  pending: ["暂无待审核事件", "No pending incidents"],
  confirmed: ["暂无已确认事件", "No confirmed incidents"],
  rejected: ["暂无已驳回事件", "No rejected incidents"],
  "": ["暂无事件", "No incidents"],
};

let lastScrolled = null;

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function row(incident, { current, checked, onSelect, onCheck }) {
  const li = el("li", "item" + (current ? " selected" : "") + (checked ? " checked" : ""));
  li.dataset.id = incident.id;
  li.setAttribute("aria-selected", String(current));
  const label = eventLabel(incident.type, incident.labels);

  const box = el("input", "pick");
  box.type = "checkbox";
  box.checked = checked;
  box.title = "选中以批量处理 Select for a batch (x)";
  box.addEventListener("click", (e) => e.stopPropagation());
  box.addEventListener("change", () => onCheck(incident.id, box.checked));

  const body = el("div", "item-body");
  const head = el("div", "item-head");
  head.append(el("span", "item-type", label.zh), el("span", "item-type-en", label.en));
  head.append(el("span", "badge", score(incident.score)));
  const where = [incident.source, incident.area, incident.zone, incident.class].filter(Boolean).join(" · ");
  const when = `t=${mediaTime(incident.started_at)} · ${wallClock(incident.detected_wall)}`;
  body.append(head, el("div", "item-where", where), el("div", "item-when", when));
  const plate = incident.vehicle?.plate;
  if (plate) { // the plate in the row, so a reviewer finds a car at a glance; "?" marks an uncertain read
    const tag = el("span", "plate mono" + (incident.vehicle.plate_uncertain ? " uncertain" : ""),
                   plate + (incident.vehicle.plate_uncertain ? " ?" : ""));
    body.append(tag);
  }
  if (incident.status !== "pending") {
    body.append(el("div", `status ${incident.status}`, STATUS_LABELS[incident.status] ?? incident.status));
  }
  li.append(box, body);
  li.addEventListener("click", () => onSelect(incident.id));
  return li;
}

/** Rows are rebuilt on each render (a page holds at most a few hundred). */
export function renderQueue(items, { currentId, checked, statusFilter, onSelect, onCheck }) {
  const list = document.getElementById("queue-list");
  list.replaceChildren(
    ...items.map((it) => row(it, { current: it.id === currentId, checked: checked.has(it.id), onSelect, onCheck }))
  );
  const empty = document.getElementById("queue-empty");
  empty.hidden = items.length > 0;
  const [zh, en] = EMPTY_TEXT[statusFilter] ?? EMPTY_TEXT[""];
  document.getElementById("queue-empty-title").textContent = zh;
  document.getElementById("queue-empty-sub").textContent = en;
  if (currentId !== lastScrolled) {
    // only when the selection moves: a live update must not yank the list the reviewer is scrolling
    list.querySelector(".selected")?.scrollIntoView({ block: "nearest" });
    lastScrolled = currentId;
  }
}
