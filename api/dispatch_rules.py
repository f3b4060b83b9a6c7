"""Smart dispatch (智能分派): the responsible department from configurable rules over event type and area.

Rules are tried in order; the first whose event types and areas match (an empty list matches all)
names the department. No matching rule, or a confidence below the rule's or the global minimum,
sends the case to the manual-assignment queue, with the reason.
"""
from __future__ import annotations

from dataclasses import dataclass

from .settings import DispatchRule


@dataclass(frozen=True)
class Routing:
    department: str | None
    reason: str | None  # why it goes to manual assignment; None when routed
    rule_index: int | None = None  # the rule that decided

    @property
    def manual(self) -> bool:
        return self.department is None


def route(
    rules: list[DispatchRule], event_type: str, area: str | None, confidence: float, min_confidence: float = 0.0,
    exclude: frozenset[str] = frozenset(),
) -> Routing:
    """``exclude``: departments never to route to (they returned the case twice); their rules are skipped."""
    for index, rule in enumerate(rules):
        if rule.department in exclude:
            continue
        if rule.event_types and event_type not in rule.event_types:
            continue
        if rule.areas and area not in rule.areas:
            continue
        floor = max(rule.min_confidence, min_confidence)
        if confidence < floor:
            return Routing(None, f"confidence {confidence:.2f} below {floor:.2f} (rule {index}: {rule.department})",
                           index)
        return Routing(rule.department, None, index)
    return Routing(None, f"no dispatch rule for type {event_type!r} in area {area!r}")
