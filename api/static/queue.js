// The queue (left column): one row per incident, the selected one highlighted.
import { eventLabel, STATUS_LABELS } from "./labels.js";
import { mediaTime, score, wallClock } from "./format.js";

const EMPTY_TEXT = {
  pending: ["暂无待审核事件", "No pending incidents"],
  confirmed: ["暂无已确认事件", "No confirmed incidents"],
  rejected: ["暂无已驳回事件", "No rejected incidents"],
  "": ["暂无事件", "No incidents"],
};

let lastScrolled = null;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function row(incident, selected, onSelect) {
  const li = el("li", "item" + (selected ? " selected" : ""));
  li.dataset.id = incident.id;
  li.setAttribute("aria-selected", String(selected));
  const label = eventLabel(incident.type);

  const head = el("div", "item-head");
  head.append(el("span", "item-type", label.zh), el("span", "item-type-en", label.en));
  head.append(el("span", "badge", score(incident.score)));
  const where = el("div", "item-where", [incident.source, incident.zone, incident.class].filter(Boolean).join(" · "));
  const when = el("div", "item-when",
    `t=${mediaTime(incident.started_at)} · ${wallClock(incident.detected_wall)}`);
  li.append(head, where, when);
  if (incident.status !== "pending") li.append(el("div", `status ${incident.status}`, STATUS_LABELS[incident.status]));
  li.addEventListener("click", () => onSelect(incident.id));
  return li;
}

export function renderQueue(items, selectedId, statusFilter, onSelect) {
  const list = document.getElementById("queue-list");
  list.replaceChildren(...items.map((it) => row(it, it.id === selectedId, onSelect)));
  const empty = document.getElementById("queue-empty");
  empty.hidden = items.length > 0;
  const [zh, en] = EMPTY_TEXT[statusFilter] ?? EMPTY_TEXT[""];
  document.getElementById("queue-empty-title").textContent = zh;
  document.getElementById("queue-empty-sub").textContent = en;
  if (selectedId !== lastScrolled) {
    // only when the selection moves: a poll must not yank the list the reviewer is scrolling
    list.querySelector(".selected")?.scrollIntoView({ block: "nearest" });
    lastScrolled = selectedId;
  }
}
