// Display names of event types and statuses (中文 + English). Unknown types show their code.

export const EVENT_LABELS = {
  street_vending: { zh: "占道经营", en: "Street vending" },
  illegal_parking: { zh: "机动车乱停放", en: "Illegal parking" },
  non_motor_parking: { zh: "非机动车乱停放", en: "Non-motor vehicle parking" },
  overflowing_bin: { zh: "垃圾箱满溢", en: "Overflowing bin" },
  debris_spill: { zh: "道路遗撒", en: "Debris spill" },
};

export const STATUS_LABELS = {
  pending: "待审核 Pending",
  confirmed: "已确认 Confirmed",
  rejected: "已驳回 Rejected",
};

export function eventLabel(type) {
  return EVENT_LABELS[type] ?? { zh: type, en: "" };
}
