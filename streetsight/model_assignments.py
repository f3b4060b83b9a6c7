"""Which registered model serves which camera: promotions and rollbacks, audited, read by a running serve.

The audit log (``model-assignments.jsonl`` beside the registry) is the record: every promotion and rollback,
who did it, when, whether it was forced and why. ``model-assignments.json`` is what the log adds up to (the
model everywhere, and per camera), written after each change for the running services to pick up
(``AssignmentWatcher``). A scope (everywhere, or one camera) is a stack: promote pushes, rollback pops.

A promotion is refused unless the candidate is measured at least as good as the model in service on the same
set: the evaluation recorded in both manifests (``source.evaluation``: split, dataset content hash, metrics),
as training registers it. A model without a comparable measurement needs ``force`` with a reason.
"""
from __future__ import annotations

import getpass
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from models.manifest import ModelManifest

log = logging.getLogger(__name__)

STATE_FILE = "model-assignments.json"
AUDIT_FILE = "model-assignments.jsonl"
EVERYWHERE = "*"
METRIC = "map50_95"


@dataclass(frozen=True)
class Measured:
    """The candidate measured in shadow against the model in service, by review decisions
    (api/model_compare.py): ``worse`` says how it is worse, None when it is not."""

    worse: str | None
    summary: str


class PromotionRefused(ValueError):
    """The promotion or rollback is not allowed as asked; the message says why and what would allow it."""


@dataclass(frozen=True)
class Assignments:
    default: str | None = None  # None: the configured model
    cameras: dict[str, str] = field(default_factory=dict)
    shadow: str | None = None  # the candidate in shadow mode put there at run time (a retraining); None: configured

    def model_for(self, camera: str, configured: str) -> str:
        return self.cameras.get(camera, self.default or configured)


def assignments_dir() -> Path:
    """Beside the registry that `models import` writes to: the first of $STREETSIGHT_MODEL_DIRS, else the
    built-in registry."""
    from models.registry import BUILTIN_DIR, ENV_DIRS

    extra = [p for p in os.environ.get(ENV_DIRS, "").split(os.pathsep) if p.strip()]
    return Path(extra[0]).expanduser() if extra else BUILTIN_DIR


def compare(candidate: ModelManifest, current: ModelManifest | None) -> tuple[bool, str]:
    """(allowed?, why) from the evaluations both manifests record."""
    if current is None:
        return True, "no model in service in this scope"
    a, b = candidate.source.get("evaluation") or {}, current.source.get("evaluation") or {}
    same_set = a.get("dataset_content_sha256") and a.get("dataset_content_sha256") == b.get("dataset_content_sha256") \
        and a.get("split") == b.get("split")
    ma, mb = (a.get("metrics") or {}).get(METRIC), (b.get("metrics") or {}).get(METRIC)
    if not same_set or ma is None or mb is None:
        return False, (f"{candidate.name} and {current.name} have no {METRIC} measured on the same dataset split "
                       "(manifests' source.evaluation)")
    if float(ma) < float(mb):
        return False, f"{candidate.name} is worse on the measured set: {METRIC} {float(ma):.4f} < {float(mb):.4f}"
    return True, f"{METRIC} {float(ma):.4f} >= {float(mb):.4f} on the same split"


class AssignmentStore:
    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)
        self.state_path = self.dir / STATE_FILE
        self.audit_path = self.dir / AUDIT_FILE

    def history(self) -> list[dict[str, Any]]:
        if not self.audit_path.is_file():
            return []
        return [json.loads(line) for line in self.audit_path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def stacks(self) -> dict[str, list[str]]:
        """Per scope, the models promoted and not rolled back, oldest first."""
        stacks: dict[str, list[str]] = {}
        for entry in self.history():
            stack = stacks.setdefault(entry["scope"], [])
            if entry["action"] == "promote":
                stack.append(entry["model"])
            elif entry["action"] == "rollback" and stack:
                stack.pop()
        return stacks

    def current(self) -> Assignments:
        stacks = self.stacks()
        default = (stacks.get(EVERYWHERE) or [None])[-1]
        shadow = next((e["model"] for e in reversed(self.history()) if e["action"] == "shadow"), None)
        return Assignments(default, {scope: s[-1] for scope, s in stacks.items() if scope != EVERYWHERE and s},
                           shadow)

    def set_shadow(self, model: str, *, reason: str | None = None, actor: str | None = None) -> dict[str, Any]:
        """Run ``model`` in shadow mode from now on (every serve and worker following this folder; kept across
        restarts), in place of the configured candidate's model."""
        return self._record({"action": "shadow", "scope": EVERYWHERE, "model": model,
                             "previous": self.current().shadow, "reason": reason}, actor)

    def promote(self, candidate: ModelManifest, current: ModelManifest | None, camera: str | None = None, *,
                force: bool = False, reason: str | None = None, measured: Measured | None = None,
                actor: str | None = None) -> dict[str, Any]:
        """``measured``: the shadow-mode measurement, which decides when given; else the manifests' evaluations.
        ``actor``: who asks (a signed-in user of the UI); default: this process's user."""
        if measured is not None:
            allowed = measured.worse is None
            why = measured.summary if allowed else (f"{candidate.name} is worse on the measured set (shadow, "
                                                    f"reviewed): {measured.worse}; {measured.summary}")
        else:
            allowed, why = compare(candidate, current)
        if not allowed and not force:
            raise PromotionRefused(f"promotion of {candidate.name} refused: {why} (--force --reason TEXT to "
                                   "promote it anyway)")
        if force and not (reason and reason.strip()):
            raise PromotionRefused("--force needs --reason: why this model is promoted without a better measurement")
        return self._record({"action": "promote", "scope": camera or EVERYWHERE, "model": candidate.name,
                             "previous": current.name if current else None, "forced": bool(force and not allowed),
                             "decision": why, "reason": reason,
                             "measured": "shadow" if measured is not None else "evaluation"}, actor)

    def rollback(self, camera: str | None = None, *, reason: str | None = None,
                 actor: str | None = None) -> dict[str, Any]:
        scope = camera or EVERYWHERE
        stack = self.stacks().get(scope, [])
        if not stack:
            where = "everywhere" if scope == EVERYWHERE else f"on camera {camera}"
            raise PromotionRefused(f"nothing to roll back {where}: no promotion in force there")
        back_to = stack[-2] if len(stack) > 1 else None
        return self._record({"action": "rollback", "scope": scope, "model": back_to, "previous": stack[-1],
                             "reason": reason}, actor)

    def _record(self, entry: dict[str, Any], actor: str | None = None) -> dict[str, Any]:
        self.dir.mkdir(parents=True, exist_ok=True)
        entry = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "by": actor or _actor(), **entry}
        with open(self.audit_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        state = self.current()
        with tempfile.NamedTemporaryFile("w", dir=self.dir, delete=False, suffix=".tmp", encoding="utf-8") as f:
            json.dump({"default": state.default, "cameras": state.cameras, "shadow": state.shadow}, f, indent=2,
                      ensure_ascii=False)
        os.chmod(f.name, 0o644)
        os.replace(f.name, self.state_path)  # a watcher never reads half a file
        return entry


def _actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a container: the uid still says who
        return f"uid {os.getuid()}"


def read_state(path: Path) -> Assignments:
    data = json.loads(path.read_text(encoding="utf-8"))
    return Assignments(data.get("default"), dict(data.get("cameras") or {}), data.get("shadow"))


class AssignmentWatcher:
    """Polls the assignments file and applies a change to the running pipeline: `apply(assignments)`.

    A change that cannot be applied (a model missing or broken) is logged and the models in service stay."""

    def __init__(self, path: Path, apply: Callable[[Assignments], None], interval_s: float = 1.0) -> None:
        self.path = path
        self.apply = apply
        self.interval_s = interval_s
        self.applied: Assignments | None = None
        self.error: str | None = None
        self._seen: tuple[int, int] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="model-assignments", daemon=True)

    def start(self) -> "AssignmentWatcher":
        self.check()  # what was promoted before this start applies from the first frame
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def check(self) -> None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return
        seen = (st.st_mtime_ns, st.st_size)
        if seen == self._seen:
            return
        self._seen = seen
        try:
            state = read_state(self.path)
            self.apply(state)
        except Exception as exc:  # noqa: BLE001 - a bad promotion must not stop the cameras
            self.error = f"{self.path}: {exc}"
            log.error("model assignments not applied, the models in service stay: %s", self.error)
            return
        self.applied, self.error = state, None
        log.info("models in service: everywhere %s, per camera %s", state.default or "(configured)", state.cameras)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.check()
