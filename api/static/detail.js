// The selected incident (right column): facts, snapshot with box and zone overlay, evidence clip.
import { eventCodes, eventLabel, exampleLabels, reasonLabel, reviewable, STATUS_LABELS } from "./labels.js";
import { mediaRange, mediaTime, score, wallTime } from "./format.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

let shownMedia = ""; // the clip shown now: reloading the video on every update would restart it
let shownId = null;

function text(id, value) {
  $(id).textContent = value === null || value === undefined || value === "" ? "–" : String(value);
}

function svg(tag, attrs, content) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (content !== undefined) node.textContent = content;
  return node;
}

/** Zone polygon (normalised) and detection box (pixels of frame_size), drawn over the raw snapshot. */
export function drawOverlay(target, incident) {
  const [w, h] = incident.frame_size;
  target.setAttribute("viewBox", `0 0 ${w} ${h}`);
  const shapes = [];
  if (incident.zone_polygon?.length) {
    const points = incident.zone_polygon.map(([x, y]) => `${x * w},${y * h}`).join(" ");
    shapes.push(svg("polygon", { points, class: "zone" }));
  }
  const [x1, y1, x2, y2] = incident.box;
  shapes.push(svg("rect", { x: x1, y: y1, width: x2 - x1, height: y2 - y1, class: "box" }));
  const fontSize = Math.max(12, Math.round(h / 20));
  const labelY = y1 - fontSize * 0.4 > fontSize ? y1 - fontSize * 0.4 : y2 + fontSize;
  const nearRightEdge = x1 > w * 0.7; // anchor the label at the box's right side so it stays in the frame
  shapes.push(svg("text", {
    x: nearRightEdge ? x2 : x1, y: labelY, class: "box-label", "font-size": fontSize,
    "text-anchor": nearRightEdge ? "end" : "start",
  }, `${incident.class} ${score(incident.score)}`));
  target.replaceChildren(...shapes);
}

function renderSnapshot(incident, showRaw) {
  const ev = incident.evidence ?? {};
  const raw = showRaw || !ev.snapshot ? ev.snapshot_raw : null;
  const item = raw ?? ev.snapshot ?? null;
  const img = $("d-snapshot");
  const overlay = $("d-overlay");
  $("d-snapshot-missing").hidden = Boolean(item);
  img.hidden = !item;
  if (item) {
    const url = versioned(item);
    if (img.getAttribute("src") !== url) img.src = url;
  } else {
    img.removeAttribute("src");
  }
  overlay.toggleAttribute("hidden", !raw); // an SVGElement has no .hidden property
  if (raw) drawOverlay(overlay, incident);
  $("d-snapshot-caption").textContent = raw ? "原图 + 目标框 + 区域 Raw snapshot + box + zone" : "标注截图 Annotated snapshot";
  const btn = $("btn-raw");
  btn.hidden = !(ev.snapshot && ev.snapshot_raw);
  btn.firstChild.textContent = showRaw ? "标注图 Annotated " : "原图 Raw ";
}

/** A replaced file gets a new URL; presigned URLs (with a query) are used as they are. */
function versioned(item) {
  if (item.url.includes("?") || !item.sha256) return item.url;
  return `${item.url}?v=${item.sha256.slice(0, 12)}`;
}

/** The clip of record is the camera's own packets (H.265, MJPEG, MS-MPEG4 in Matroska... that browsers
 * cannot play); when an H.264 `clip_preview` exists the page plays that and offers the original for download. */
function renderClip(incident) {
  const clip = incident.evidence?.clip;
  const preview = incident.evidence?.clip_preview;
  const playable = preview ?? clip;
  const video = $("d-clip");
  $("d-clip-missing").hidden = Boolean(playable);
  const lost = incident.evidence_missing?.clip; // e.g. its process died before the post-roll
  $("d-clip-missing").textContent = lost
    ? `无视频片段 · No clip: ${lost}`
    : "视频片段生成中 · Clip not available yet";
  $("d-clip-error").hidden = true;
  $("d-clip-span").textContent = "";
  video.hidden = !playable;
  video.dataset.kind = preview ? "clip_preview" : "clip";
  const original = $("d-clip-original");
  original.hidden = !(clip && preview);
  if (clip) original.href = versioned(clip);
  $("d-clip-caption").textContent = preview
    ? "预览视频（H.264，原始视频见下载）Preview, H.264 copy of the evidence clip"
    : "证据视频（含前后预录）Evidence clip, pre- and post-roll";
  if (playable) {
    video.src = versioned(playable);
  } else {
    video.removeAttribute("src");
    video.load(); // stop and release the previous clip
  }
}

/** The plate read; an uncertain one (low confidence or no plate format) is shown, marked for a person to check. */
function renderVehicle(incident) {
  const v = incident.vehicle;
  const row = $("d-plate-row");
  row.hidden = !v;
  if (v) {
    const plate = $("d-plate");
    const conf = v.plate_confidence === null || v.plate_confidence === undefined ? "" : ` (${score(v.plate_confidence)})`;
    plate.textContent = v.plate ? `${v.plate}${conf}` : "未识别 not read";
    const uncertain = Boolean(v.plate && v.plate_uncertain);
    plate.classList.toggle("uncertain", uncertain);
    $("d-plate-uncertain").hidden = !uncertain;
    plate.title = uncertain ? "识别置信度低或格式不符，请对照特写核实 · Low confidence or not a plate format: check the close-up" : "";
  }
  const crop = $("d-vehicle");
  crop.hidden = !v?.crop;
  if (v?.crop) {
    const url = v.crop;
    if ($("d-vehicle-crop").getAttribute("src") !== url) $("d-vehicle-crop").src = url;
    $("d-vehicle-link").href = url;
  }
}

/** The shop responsible for a shop front (门前三包): named by the zone, or read from its sign (then it may be
 * uncertain, or not read at all: shown so, for a person to check). */
function renderShop(incident) {
  const shop = incident.shop;
  $("d-shop-row").hidden = !shop;
  if (!shop) return;
  const from = shop.source === "zone" ? "区域设定 set on the zone" : "招牌识别 read from the sign";
  $("d-shop").textContent = `${shop.name ?? "未识别 not read"} · ${from}`;
  $("d-shop-uncertain").hidden = !(shop.name && shop.uncertain);
}

/** The buttons that make this incident's crop an example of its type for its camera (texts of the type). */
function renderTeach(incident, changed) {
  const [positive, negative] = exampleLabels(incident.type);
  $("btn-teach-positive").textContent = positive;
  $("btn-teach-negative").textContent = negative;
  if (changed) $("d-taught").textContent = ""; // "taught" belongs to one incident
}

/** Timed pictures of the dwell, first sighting to confirmation, with their time after the first. */
function renderTimed(incident) {
  const shots = incident.snapshots ?? [];
  const first = shots.length ? shots[0].at : 0;
  const figures = shots.map((s, i) => {
    const fig = document.createElement("figure");
    fig.className = "thumb";
    const link = document.createElement("a");
    link.href = s.snapshot;
    link.target = "_blank";
    link.rel = "noopener";
    const img = document.createElement("img");
    img.src = s.snapshot;
    img.alt = `snapshot ${i + 1}`;
    link.append(img);
    const cap = document.createElement("figcaption");
    const when = s.taken_at ? ` · ${wallTime(s.taken_at)}` : "";
    cap.textContent = `${i + 1}/${shots.length} +${mediaTime(s.at - first)}${when}`;
    fig.append(link, cap);
    return fig;
  });
  $("d-timed").replaceChildren(...figures);
}

/** The re-check's (核查) picture of a handled case: the camera's frame of the spot once the deadline passed. */
function renderRecheck(incident) {
  const item = incident.evidence?.recheck_snapshot;
  $("d-recheck").hidden = !item;
  if (item) {
    const url = versioned(item);
    if ($("d-recheck-img").getAttribute("src") !== url) $("d-recheck-img").src = url;
    $("d-recheck-link").href = url;
  }
}

export function initDetail() {
  const video = $("d-clip");
  video.addEventListener("error", () => {
    if (!video.getAttribute("src")) return;
    $("d-clip-error").hidden = false;
    $("d-clip-original").hidden = false; // what cannot play here may play in a desktop player
  });
  video.addEventListener("loadedmetadata", () => {
    if (Number.isFinite(video.duration)) $("d-clip-span").textContent = `· ${mediaTime(video.duration)}`;
  });
}

function reviewText(incident) {
  const r = incident.review;
  const parts = [STATUS_LABELS[incident.status] ?? incident.status, wallTime(r.reviewed_at)];
  if (r.reviewer) parts.push(r.reviewer);
  if (r.reason) parts.push(`原因 reason: ${reasonLabel(r.reason)}`);
  const corrected = r.corrected_type ?? incident.corrected_type;
  if (corrected) {
    const label = eventLabel(corrected);
    parts.push(`改为 corrected to: ${label.zh} ${label.en}`.trim());
  }
  if (r.note) parts.push(`“${r.note}”`);
  return parts.join(" · ");
}

/** A repeat offence: the same object at the same place was confirmed and closed before (oldest first). */
function historyText(history) {
  const earlier = history.previous.map((p) => `${p.case_number ?? p.incident_id} (${wallTime(p.detected_wall)})`);
  return `重复违规：此前 ${history.count} 次 · Repeat offence, ${history.count} earlier: ${earlier.join(" · ")}`;
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
  const label = eventLabel(incident.type, incident.labels);
  text("d-type-zh", label.zh);
  text("d-type-en", label.en ? `${label.en} · ${incident.type}` : incident.type);
  $("d-codes").textContent = eventCodes(incident.labels);
  const status = $("d-status");
  status.textContent = STATUS_LABELS[incident.status] ?? incident.status;
  status.className = `status ${incident.status}`;
  text("d-source", incident.area ? `${incident.source} · ${incident.area}` : incident.source);
  text("d-zone", incident.zone);
  text("d-class", incident.class);
  text("d-score", score(incident.score));
  text("d-media", mediaRange(incident));
  text("d-detected", wallTime(incident.detected_wall));
  const at = incident.position;
  $("d-position-row").hidden = !at;
  text("d-position", at ? `${at.lng.toFixed(6)}, ${at.lat.toFixed(6)}` : "");
  text("d-track", incident.track_id);
  text("d-id", incident.id);

  renderSnapshot(incident, showRaw);
  const recheck = incident.evidence?.recheck_snapshot;
  const stripKey = JSON.stringify([incident.id, incident.vehicle, incident.snapshots, recheck?.sha256]);
  if ($("d-evidence-strip").dataset.key !== stripKey) { // images reload only when they change
    renderVehicle(incident);
    renderTimed(incident);
    renderRecheck(incident);
    $("d-evidence-strip").hidden = !incident.snapshots?.length && !incident.vehicle?.crop && !recheck;
    $("d-evidence-strip").dataset.key = stripKey;
  }
  renderShop(incident);
  renderTeach(incident, incident.id !== shownId);
  if (incident.id !== shownId) $("d-note").value = ""; // the note belongs to one incident
  shownId = incident.id;
  const ev = incident.evidence ?? {};
  const clipKey = `${incident.id}/${ev.clip?.sha256 ?? incident.evidence_missing?.clip ?? "-"}/${ev.clip_preview?.sha256 ?? "-"}`;
  if (clipKey !== shownMedia) {
    renderClip(incident);
    shownMedia = clipKey;
  }

  const info = $("d-review");
  info.hidden = !incident.review;
  if (incident.review) info.textContent = reviewText(incident);
  const pending = reviewable(incident);
  for (const id of ["btn-confirm", "btn-correct", "btn-reject"]) $(id).disabled = !pending;
  const history = $("d-history");
  history.hidden = !incident.history;
  history.textContent = incident.history ? historyText(incident.history) : "";
  // the verifier kept it out of the queue: it looked like a rejected incident at the same place
  const suppressed = incident.status === "suppressed";
  $("d-suppressed").hidden = !suppressed;
  if (suppressed) {
    $("d-suppressed-text").textContent =
      `与已驳回的 ${incident.suppressed_by} 同一位置、外观相同 · Matched rejected incident ${incident.suppressed_by} at the same place`;
  }
}
