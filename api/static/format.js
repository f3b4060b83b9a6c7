// Formatting of times and numbers for display.

/** Media time in seconds -> "m:ss.s" (or "h:mm:ss.s"). */
export function mediaTime(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "–";
  const s = Math.max(0, seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = (s % 60).toFixed(1).padStart(4, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

export function mediaRange(incident) {
  const end = incident.ended_at === null ? "…" : mediaTime(incident.ended_at);
  const interrupted = incident.ended_reason === "interrupted"
    ? " · 中断 interrupted: ended while the service was down, end unknown" : "";
  const confirmed = `(判定 confirmed ${mediaTime(incident.confirmed_at)})`;
  return `${mediaTime(incident.started_at)} → ${end} ${confirmed}${interrupted}`;
}

/** ISO UTC timestamp -> local date and time. */
export function wallTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function wallClock(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleTimeString();
}

export function score(value) {
  return Number.isFinite(value) ? value.toFixed(2) : "–";
}
