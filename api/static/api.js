// Thin client of the HTTP API (/api/v1). The session lives in an HttpOnly cookie that the server sets
// at login, so no token is kept in page storage; a 401 from any call asks the page to sign in again.

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : `HTTP ${status}`);
    this.status = status;
  }
}

let onUnauthorized = () => {};

/** Called (once per 401 answer) when the session is missing or expired. */
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

function detailText(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    // FastAPI validation errors: name the field and the problem
    return detail.map((d) => `${(d.loc ?? []).filter((p) => p !== "body").join(".")}: ${d.msg}`).join("; ");
  }
  return null;
}

async function request(path, { method = "GET", body, quiet401 = false } = {}) {
  const init = { method, cache: "no-store", credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  if (res.ok) return res;
  let detail = `HTTP ${res.status}`;
  try {
    detail = detailText((await res.json()).detail) ?? detail;
  } catch {
    /* not JSON */
  }
  if (res.status === 401 && !quiet401) onUnauthorized();
  throw new ApiError(res.status, detail);
}

const json = async (promise) => (await promise).json();

// -- session ------------------------------------------------------------------------------------

export const login = (username, password) =>
  json(request("/api/v1/auth/login", { method: "POST", body: { username, password }, quiet401: true }));
export const logout = () => request("/api/v1/auth/logout", { method: "POST", quiet401: true });
export const me = () => json(request("/api/v1/auth/me", { quiet401: true }));

// -- incidents ----------------------------------------------------------------------------------

/** Incidents matching the filters, newest first, and the total matching count. */
export async function listIncidents(filters, { limit = 100, offset = 0 } = {}) {
  const q = new URLSearchParams({ limit: String(limit), offset: String(offset) });
  for (const key of ["status", "type", "source", "area", "plate", "since", "until"]) {
    if (filters[key]) q.set(key, filters[key]);
  }
  const res = await request(`/api/v1/incidents?${q}`);
  const total = Number(res.headers.get("X-Total-Count"));
  const items = await res.json();
  return { items, total: Number.isFinite(total) ? total : items.length };
}

/** decision "confirm" | "reject"; reason: a reject reason code; correctedType: confirm as this type. */
export function review(id, { decision, note = "", reason = null, correctedType = null }) {
  const body = { decision, note };
  if (reason) body.reason = reason;
  if (correctedType) body.corrected_type = correctedType;
  return json(request(`/api/v1/incidents/${encodeURIComponent(id)}/review`, { method: "POST", body }));
}

export function unsuppress(id) {
  return json(request(`/api/v1/incidents/${encodeURIComponent(id)}/unsuppress`, { method: "POST" }));
}

/** The incident's stored crop as a taught example of its camera: label "positive" | "negative". */
export function teachFromIncident(incident, label) {
  const body = { event_type: incident.type, incident_id: incident.id, label };
  return json(request(`/api/v1/sources/${encodeURIComponent(incident.source)}/examples`, { method: "POST", body }));
}

export function reviewBatch(ids, { decision, note = "", reason = null }) {
  const body = { ids, decision, note };
  if (reason) body.reason = reason;
  return json(request("/api/v1/incidents/review-batch", { method: "POST", body }));
}

export const listSources = () => json(request("/api/v1/sources"));

// -- cases --------------------------------------------------------------------------------------

export async function listCases({ queue = "manual", limit = 200 } = {}) {
  const q = new URLSearchParams({ limit: String(limit) });
  if (queue === "overdue") q.set("overdue", "true");
  else if (queue) q.set("queue", queue);
  const res = await request(`/api/v1/cases?${q}`);
  const total = Number(res.headers.get("X-Total-Count"));
  const items = await res.json();
  return { items, total: Number.isFinite(total) ? total : items.length };
}

/** Department performance over the last ``days``; the CSV link for the same period. */
export async function departmentStats(days) {
  const until = new Date();
  const since = new Date(until.getTime() - days * 86400e3);
  const q = new URLSearchParams({ since: since.toISOString(), until: until.toISOString() });
  const report = await (await request(`/api/v1/stats/departments?${q}`)).json();
  q.set("format", "csv");
  return { report, csv: `/api/v1/stats/departments?${q}` };
}

export const assignCase = (id, department) =>
  json(request(`/api/v1/cases/${encodeURIComponent(id)}/assign`, { method: "POST", body: { department } }));

// -- operator console ---------------------------------------------------------------------------

export const getIncident = (id) => json(request(`/api/v1/incidents/${encodeURIComponent(id)}`));
/** Every camera with its state and last incident, in one answer (the camera wall). */
export const wall = () => json(request("/api/v1/wall"));
/** Cameras, open incidents and open cases by lng/lat, and the tile layer (一张图). */
export const cityMap = () => json(request("/api/v1/map"));
export const incidentStats = (query) => json(request(`/api/v1/stats?${new URLSearchParams(query)}`));
/** A candidate model in shadow against the serving one (precision, recall by review decisions; cost). */
export const compareModels = (model) =>
  json(request(`/api/v1/models/compare${model ? `?${new URLSearchParams({ model })}` : ""}`));
/** The registered detectors, the model in service everywhere and per camera, the latest promotions. */
export const listModels = () => json(request("/api/v1/models"));
/** Promote a model (admins, trainers): {camera?, force, reason?}; a refusal is a 409 with the measured reason. */
export const promoteModel = (name, body) =>
  json(request(`/api/v1/models/${encodeURIComponent(name)}/promote`, { method: "POST", body }));
export const rollbackModel = (body) => json(request("/api/v1/models/rollback", { method: "POST", body }));
/** Retraining (admins, trainers): whether it can run here, the datasets, the latest jobs. */
export const trainingOverview = () => json(request("/api/v1/training"));
export const startTraining = (body) => json(request("/api/v1/training/jobs", { method: "POST", body }));
export const cancelTraining = (id) =>
  json(request(`/api/v1/training/jobs/${encodeURIComponent(id)}/cancel`, { method: "POST" }));
export const statsCsvUrl = (query) => `/api/v1/stats?${new URLSearchParams({ ...query, format: "csv" })}`;

/** Analysis jobs of uploaded footage, newest first. */
export const listFootageJobs = (limit = 200) => json(request(`/api/v1/footage?limit=${limit}`));
