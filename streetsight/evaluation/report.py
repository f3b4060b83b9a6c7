"""The evaluation report: ``report.json``, ``report.md`` and PNG plots (matplotlib, Agg backend)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from streetsight.evaluation.matching import TypeScore, VideoResult


def _fmt(v: float | None, digits: int = 2) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def plot_scores(scores: dict[str, TypeScore], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    types = [t for t in scores if t != "all"] + ["all"]
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=100)
    width = 0.27
    for k, (name, getter) in enumerate((("precision", lambda s: s.precision), ("recall", lambda s: s.recall),
                                        ("F1", lambda s: s.f1))):
        values = [getter(scores[t]) or 0.0 for t in types]
        ax.bar([i + (k - 1) * width for i in range(len(types))], values, width, label=name)
    ax.set_xticks(range(len(types)), [t.replace("_", "\n") for t in types], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("event level")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("precision / recall / F1 per event type")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_timelines(results: Sequence[VideoResult], path: Path) -> None:
    """Per video: labelled events (grey) against incidents (green matched, red false positive)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    for r in results:
        for ev in [m.event for m in r.matches] + list(r.missed):
            rows.append((r, ev))
    height = max(2.0, 0.35 * (len(rows) + sum(len(r.false_positives) for r in results)) + 1)
    fig, ax = plt.subplots(figsize=(9, height), dpi=100)
    labels, y = [], 0
    for r in results:
        matched = {id(m.event): m for m in r.matches}
        for ev in [m.event for m in r.matches] + list(r.missed):
            end = ev.end_s if ev.end_s is not None else r.duration_s
            ax.barh(y, end - ev.start_s, left=ev.start_s, height=0.7, color="#bbbbbb")
            m = matched.get(id(ev))
            if m is not None:
                inc = m.incident
                inc_end = inc.ended_at if inc.ended_at is not None else r.duration_s
                ax.barh(y, inc_end - inc.confirmed_at, left=inc.confirmed_at, height=0.35, color="#2a9d4b")
                ax.plot([inc.started_at], [y], "k|", markersize=10)
            labels.append(f"{r.video}: {ev.type} {ev.id}" + ("" if m else " (missed)"))
            y += 1
        for inc in r.false_positives:
            inc_end = inc.ended_at if inc.ended_at is not None else r.duration_s
            ax.barh(y, inc_end - inc.confirmed_at, left=inc.confirmed_at, height=0.35, color="#d1495b")
            labels.append(f"{r.video}: {inc.type} false positive")
            y += 1
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("media time (s): grey labelled, green incident from confirmation, red false positive")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_ttd(scores: dict[str, TypeScore], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    types = [t for t in scores if t != "all" and scores[t].ttd]
    fig, ax = plt.subplots(figsize=(7, 3), dpi=100)
    if types:
        ax.boxplot([scores[t].ttd for t in types])
        ax.set_xticks(range(1, len(types) + 1), [t.replace("_", "\n") for t in types], fontsize=8)
    ax.set_ylabel("seconds from labelled start to confirmation")
    ax.set_title("time to detection")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_report(out: Path, scores: dict[str, TypeScore], results: Sequence[VideoResult], meta: dict,
                 plates: dict | None = None) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    data = {
        **meta,
        "scores": {t: s.as_dict() for t, s in scores.items()},
        "plates": plates,
        "videos": [{
            "video": r.video, "duration_s": round(r.duration_s, 2),
            "matches": [{"event": m.event.id, "type": m.event.type, "incident": m.incident.id,
                         "started_at": round(m.incident.started_at, 2),
                         "confirmed_at": round(m.incident.confirmed_at, 2),
                         "ended_at": None if m.incident.ended_at is None else round(m.incident.ended_at, 2),
                         "time_to_detection_s": round(m.time_to_detection, 2),
                         **({"shop": m.incident.shop} if m.incident.shop else {})} for m in r.matches],
            "false_positives": [{"incident": i.id, "type": i.type, "zone": i.zone, "class": i.class_name,
                                 "confirmed_at": round(i.confirmed_at, 2), "box": [round(v) for v in i.box],
                                 "snapshot": i.snapshot} for i in r.false_positives],
            "missed": [{"event": e.id, "type": e.type, "start_s": e.start_s, "end_s": e.end_s} for e in r.missed],
        } for r in results],
    }
    (out / "report.json").write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    plot_scores(scores, out / "scores.png")
    plot_ttd(scores, out / "time_to_detection.png")
    plot_timelines(results, out / "timelines.png")

    lines = ["# StreetSight evaluation", "",
             f"Config `{meta.get('config')}`, annotations `{meta.get('annotations')}`, "
             f"detections: {meta.get('detector')}.", "",
             "An incident matches a labelled event of the same type when their time spans and boxes overlap "
             "(one-to-one; a second incident for one violation is a false positive).", "",
             "| type | TP | FP | FN | precision | recall | F1 | TTD median (s) | TTD max (s) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for t, s in scores.items():
        d = s.as_dict()
        lines.append(f"| {'**all**' if t == 'all' else t} | {s.tp} | {s.fp} | {s.fn} | {_fmt(s.precision)} | "
                     f"{_fmt(s.recall)} | {_fmt(s.f1)} | {_fmt(d['ttd_median_s'], 1)} | {_fmt(d['ttd_max_s'], 1)} |")
    if plates is not None:
        lines += ["", f"Plate reads: {plates['exact']} of {plates['labelled']} labelled plates read exactly "
                      f"({plates['exact_rate']:.0%}); {plates['uncertain']} reads marked uncertain."]
        lines += [f"- `{w['event']}`: labelled {w['truth']}, read {w['read'] or '–'}"
                  f"{' (uncertain)' if w['uncertain'] else ''}" for w in plates["wrong"]]
    lines += ["", "![scores](scores.png)", "", "![time to detection](time_to_detection.png)", "",
              "![timelines](timelines.png)", "", "## Per video", ""]
    for r in results:
        lines.append(f"### {r.video} ({r.duration_s:.1f} s)")
        for m in r.matches:
            lines.append(f"- matched {m.event.type} `{m.event.id}`: confirmed at {m.incident.confirmed_at:.1f} s "
                         f"(labelled from {m.event.start_s:.1f} s, TTD {m.time_to_detection:.1f} s)")
        for e in r.missed:
            lines.append(f"- **missed** {e.type} `{e.id}` ({e.start_s:.1f}–{_fmt(e.end_s, 1)} s)")
        for i in r.false_positives:
            lines.append(f"- **false positive** {i.type} in zone `{i.zone}` ({i.class_name}) at "
                         f"{i.confirmed_at:.1f} s, box {[round(v) for v in i.box]}")
        lines.append("")
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
    return data
