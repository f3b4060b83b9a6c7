// Display names (中文 + English) of event types, statuses and reject reasons. Unknown codes show as is.
// EVENT_LABELS is not kept here: the API generates it from the event-type registry and the configured taxonomy
// (api/label_routes.py), so the zone editor and the filters offer exactly the types the deployment knows.

import { EVENT_LABELS } from "/ui/event-types.js";

export { EVENT_LABELS };

// What "positive" and "negative" examples mean: a region's two states for state rules, else "is one / is not".
const STATE_EXAMPLE_LABELS = {
  overflowing_bin: ["满溢 Full", "未满 Not full"],
  street_vending: ["有摊 Stall present", "无摊 Absent"],
};
const OBJECT_EXAMPLE_LABELS = ["是 This is one", "不是 Not one"];

/** [positive, negative] texts of a type's taught examples. */
export function exampleLabels(type) {
  return STATE_EXAMPLE_LABELS[type] ?? OBJECT_EXAMPLE_LABELS;
}

export const STATUS_LABELS = {
  pending: "待审核 Pending",
  confirmed: "已确认 Confirmed",
  rejected: "已驳回 Rejected",
  suppressed: "已抑制 Suppressed",
  shadow: "候选模型 Shadow",
  shadow_queue: "候选模型待审 Shadow review",
};

/** Waiting for a decision: the review queue, or the shadow review queue (a candidate model's own findings,
 * whose decisions measure its precision and never make a case). */
export const reviewable = (incident) => incident?.status === "pending" || incident?.status === "shadow_queue";

/** Stages of a case's timeline (记时). */
export const CASE_STAGE_LABELS = {
  filed: "立案 Filed",
  dispatched: "派遣 Dispatched",
  accepted: "签收 Accepted",
  handled: "处置 Handled",
  checked: "核查 Checked",
  closed: "结案 Closed",
  returned: "回退 Returned",
  reopened: "重新打开 Reopened",
};

export const CASE_STATUS_LABELS = {
  new: "新建 New",
  manual: "待分派 Manual",
  queued: "待派遣 Queued",
  assigned: "已分派 Assigned",
  dispatched: "已派遣 Dispatched",
  accepted: "已签收 Accepted",
  handled: "已处置 Handled",
  verified: "已核查 Verified",
  closed: "已结案 Closed",
  reopened: "重新打开 Reopened",
};

// Why a detection is rejected; the number key is the position (1-based).
export const REJECT_REASONS = [
  { code: "false_detection", zh: "误检", en: "False detection" },
  { code: "not_a_violation", zh: "不构成违规", en: "Not a violation" },
  { code: "outside_zone", zh: "不在区域内", en: "Outside the zone" },
  { code: "not_stationary", zh: "未停留/在移动", en: "Moving, not parked" },
  { code: "permitted", zh: "允许/已审批", en: "Permitted" },
  { code: "duplicate", zh: "重复事件", en: "Duplicate" },
  { code: "poor_evidence", zh: "证据不清", en: "Evidence unclear" },
  { code: "other", zh: "其他", en: "Other" },
];

/** The label of an event type: the incident's own labels (from configuration) win over ours. */
export function eventLabel(type, labels) {
  const ours = EVENT_LABELS[type] ?? { zh: type, en: "" };
  if (!labels || typeof labels !== "object") return ours;
  const zh = labels.zh ?? labels.label_zh ?? labels.name_zh ?? ours.zh;
  const en = labels.en ?? labels.label_en ?? labels.name_en ?? ours.en;
  return { zh, en };
}

/** National and local event codes, e.g. "05 · 0501" (empty when the incident carries none). */
export function eventCodes(labels) {
  if (!labels || typeof labels !== "object") return "";
  const national = labels.category ?? labels.national_code ?? labels.national;
  const local = labels.local_code ?? labels.local;
  const category = [labels.category_zh, labels.category_en].filter(Boolean).join(" ");
  return [national && `国标 ${national}${category ? ` ${category}` : ""}`, local && `本地 ${local}`]
    .filter(Boolean)
    .join(" · ");
}

export function reasonLabel(code) {
  const r = REJECT_REASONS.find((x) => x.code === code);
  return r ? `${r.zh} ${r.en}` : code;
}
