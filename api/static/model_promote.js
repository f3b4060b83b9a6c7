// Models in service (issue 19): which model serves everywhere and per camera; admins and trainers promote a
// registered model (refused with the measured reason when it is worse; a force needs a reason) or roll back.
// Reviewers see what serves, and no buttons (the server refuses them too).
import { listModels, me, promoteModel, rollbackModel } from "./api.js";
import { el } from "./queue.js";

const $ = (id) => document.getElementById(id);
const MAY_PROMOTE = new Set(["admin", "trainer"]);
let role = null;

function status(text, error = false) {
  $("promote-status").textContent = text;
  $("promote-status").classList.toggle("error", error);
}

function historyLine(h) {
  const where = h.scope === "*" ? "全部 everywhere" : h.scope;
  const what = h.action === "promote" ? `上线 promoted ${h.model}`
    : h.action === "shadow" ? `影子运行 in shadow ${h.model}` : `回退 rolled back to ${h.model ?? "(configured)"}`;
  return `${h.at} · ${h.by} · ${where} · ${what}${h.forced ? " · 强制 forced" : ""}${h.reason ? ` · ${h.reason}` : ""}`;
}

export async function refreshModels() {
  let overview;
  try {
    [overview, role] = await Promise.all([listModels(), role === null ? me().then((u) => u.role, () => "") : role]);
  } catch (err) {
    $("promote-serving").textContent = `无模型信息 No models: ${err.message}`;
    return;
  }
  const cams = Object.entries(overview.cameras).map(([cam, name]) => `${cam}: ${name}`).join(", ");
  $("promote-serving").textContent = `全部 Everywhere: ${overview.default}` + (cams ? ` · 点位 Per camera: ${cams}` : "")
    + (overview.shadow ? ` · 影子运行 In shadow: ${overview.shadow}` : "");
  const select = $("promote-model");
  const chosen = select.value;
  select.replaceChildren(...overview.models.map((m) => new Option(`${m.name} (${m.version})`, m.name)));
  if (chosen) select.value = chosen;
  $("promote-history").replaceChildren(...overview.history.slice().reverse().slice(0, 10).map((h) => el("li", "", historyLine(h))));
  $("promote-form").hidden = !MAY_PROMOTE.has(role);
  $("models-promote").dataset.ready = String(overview.history.length);
}

function body() {
  const camera = $("promote-camera").value.trim();
  const reason = $("promote-reason").value.trim();
  return { ...(camera ? { camera } : {}), ...(reason ? { reason } : {}) };
}

async function act(run, done) {
  status("…");
  try {
    const entry = await run();
    status(done(entry));
  } catch (err) {
    status(`拒绝 Refused: ${err.message}`, true);
  }
  await refreshModels();
}

export function initModels() {
  $("promote-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const name = $("promote-model").value;
    act(() => promoteModel(name, { ...body(), force: $("promote-force").checked }),
      (entry) => `已上线 Promoted ${entry.model} (${entry.scope === "*" ? "everywhere" : entry.scope})`
        + (entry.forced ? ` 强制 forced (${entry.reason}); measured: ${entry.decision}` : `: ${entry.decision}`));
  });
  $("promote-rollback").addEventListener("click", () =>
    act(() => rollbackModel(body()),
      (entry) => `已回退 Rolled back ${entry.scope === "*" ? "everywhere" : entry.scope}: ${entry.model ?? "(configured)"} serves`));
}
