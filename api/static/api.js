// Thin client of the incidents API (/api/v1).

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : `HTTP ${status}`);
    this.status = status;
  }
}

async function check(res) {
  if (res.ok) return res;
  let detail = `HTTP ${res.status}`;
  try {
    detail = (await res.json()).detail ?? detail;
  } catch {
    /* not JSON */
  }
  throw new ApiError(res.status, detail);
}

/** Incidents matching the filters, newest first, and the total count. */
export async function listIncidents({ status, type, limit = 200 }) {
  const q = new URLSearchParams({ limit: String(limit) });
  if (status) q.set("status", status);
  if (type) q.set("type", type);
  const res = await check(await fetch(`/api/v1/incidents?${q}`, { cache: "no-store" }));
  const total = Number(res.headers.get("X-Total-Count"));
  const items = await res.json();
  return { items, total: Number.isFinite(total) ? total : items.length };
}

export async function review(id, decision, note) {
  const res = await fetch(`/api/v1/incidents/${encodeURIComponent(id)}/review`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ decision, note }),
  });
  return (await check(res)).json();
}
