// The selected incident (right column): facts, snapshot with zone overlay, evidence clip.
import { eventLabel, STATUS_LABELS } from "./labels.js";
import { mediaRange, score, wallTime } from "./format.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

let shownMedia = ""; // the clip shown now: reloading the video on every poll would restart it
let shownId = null;

function text(id, value) {
  $(id).textContent = value === null || value === undefined || value === "" ? "–" : String(value);
}

/** Zone polygon (normalised) and the detection box (pixels) drawn over the raw snapshot. */
function drawOverlay(svg, incident) {
  const [w, h] = incident.frame_size;
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  const shapes = [];
  if (incident.zone_polygon?.length) {
    const zone = document.createElementNS(SVG_NS, "polygon");
    zone.setAttribute("points", incident.zone_polygon.map(([x, y]) => `${x * w},${y * h}`).join(" "));
    zone.setAttribute("class", "zone");
    shapes.push(zone);
  }
  const [x1, y1, x2, y2] = incident.box;
  const box = document.createElementNS(SVG_NS, "rect");
  Object.entries({ x: x1, y: y1, width: x2 - x1, height: y2 - y1 }).forEach(([k, v]) => box.setAttribute(k, v));
  box.setAttribute("class", "box");
  shapes.push(box);
  svg.replaceChildren(...shapes);
}

function renderSnapshot(incident, showRaw) {
  const ev = incident.evidence;
  const raw = showRaw || !ev.snapshot ? ev.snapshot_raw : null;
  const item = raw ?? ev.snapshot ?? null;
  const img = $("d-snapshot");
  const svg = $("d-overlay");
  $("d-snapshot-missing").hidden = Boolean(item);
  img.hidden = !item;
  if (item) {
    const url = `${item.url}?v=${item.sha256.slice(0, 12)}`; // a replaced file gets a new URL
    if (img.getAttribute("src") !== url) img.src = url;
  } else {
    img.removeAttribute("src");
  }
  svg.toggleAttribute("hidden", !raw); // an SVGElement has no .hidden property
  if (raw) drawOverlay(svg, incident);
  $("d-snapshot-caption").textContent = raw ? "原图 + 区域 Raw snapshot + zone" : "标注截图 Annotated snapshot";
  const btn = $("btn-raw");
  btn.hidden = !(ev.snapshot && ev.snapshot_raw);
  btn.firstChild.textContent = showRaw ? "标注图 Annotated " : "原图 Raw ";
}

function renderClip(incident) {
  const clip = incident.evidence.clip;
  const video = $("d-clip");
  $("d-clip-missing").hidden = Boolean(clip);
  $("d-clip-error").hidden = true;
  video.hidden = !clip;
  if (clip) {
    video.src = `${clip.url}?v=${clip.sha256.slice(0, 12)}`;
  } else {
    video.removeAttribute("src");
    video.load(); // stop and release the previous clip
  }
}

export function initDetail() {
  $("d-clip").addEventListener("error", () => {
    if ($("d-clip").getAttribute("src")) $("d-clip-error").hidden = false;
  });
}

export function renderDetail(incident, { showRaw, emptyText }) {
  $("detail-empty").hidden = Boolean(incident);
  $("detail-body").hidden = !incident;
  if (!incident) {
    const [zh, en] = emptyText;
    $("detail-empty").firstElementChild.textContent = zh;
    $("detail-empty").lastElementChild.textContent = en;
    if (shownMedia) renderClip({ evidence: {} });
    shownMedia = "";
    shownId = null;
    return;
  }
  const label = eventLabel(incident.type);
  text("d-type-zh", label.zh);
  text("d-type-en", label.en ? `${label.en} · ${incident.type}` : "");
  const status = $("d-status");
  status.textContent = STATUS_LABELS[incident.status] ?? incident.status;
  status.className = `status ${incident.status}`;
  text("d-source", incident.source);
  text("d-zone", incident.zone);
  text("d-class", incident.class);
  text("d-score", score(incident.score));
  text("d-media", mediaRange(incident));
  text("d-detected", wallTime(incident.detected_wall));
  text("d-track", incident.track_id);
  text("d-id", incident.id);

  renderSnapshot(incident, showRaw);
  if (incident.id !== shownId) $("d-note").value = ""; // the note belongs to one incident
  shownId = incident.id;
  const clipKey = `${incident.id}/${incident.evidence.clip?.sha256 ?? "-"}`;
  if (clipKey !== shownMedia) {
    renderClip(incident);
    shownMedia = clipKey;
  }

  const reviewed = incident.review;
  const info = $("d-review");
  info.hidden = !reviewed;
  if (reviewed) {
    const who = reviewed.reviewer ? ` · ${reviewed.reviewer}` : "";
    const note = reviewed.note ? ` · “${reviewed.note}”` : "";
    info.textContent = `${STATUS_LABELS[incident.status]} ${wallTime(reviewed.reviewed_at)}${who}${note}`;
  }
  $("btn-confirm").disabled = incident.status !== "pending";
  $("btn-reject").disabled = incident.status !== "pending";
}
