"""Local-time windows during which an event type is permitted (e.g. a night market allows vending)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Sequence


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


@dataclass(frozen=True)
class AllowedHours:
    windows: tuple[tuple[int, int], ...]  # (start, end) in minutes after midnight; end < start crosses midnight

    @classmethod
    def parse(cls, windows: Sequence[str]) -> "AllowedHours":
        """``["18:00-23:30", "22:00-02:00"]``; a malformed window raises ValueError."""
        out = []
        for w in windows:
            try:
                start, end = w.split("-")
                out.append((_minutes(start), _minutes(end)))
            except ValueError:
                raise ValueError(f'time window {w!r} must be "HH:MM-HH:MM"') from None
        return cls(tuple(out))

    def __bool__(self) -> bool:
        return bool(self.windows)

    def allows(self, when: datetime | None) -> bool:
        """True when ``when`` lies in a window. Without a clock nothing is allowed (the rule judges)."""
        if when is None or not self.windows:
            return False
        m = when.hour * 60 + when.minute
        for start, end in self.windows:
            if (start <= m < end) if start <= end else (m >= start or m < end):
                return True
        return False
