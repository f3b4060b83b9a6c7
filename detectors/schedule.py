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

    def complement(self) -> "AllowedHours":
        """The hours outside these windows (opening hours -> the hours a rule sleeps)."""
        return AllowedHours(_windows_of(~self._minute_mask()))

    def union(self, other: "AllowedHours") -> "AllowedHours":
        return AllowedHours(_windows_of(self._minute_mask() | other._minute_mask()))

    def _minute_mask(self) -> "_Mask":
        mask = [False] * _DAY
        for start, end in self.windows:
            for m in (range(start, end) if start <= end else (*range(start, _DAY), *range(0, end))):
                mask[m] = True
        return _Mask(mask)


_DAY = 24 * 60


class _Mask(list):
    """Minutes of a day; ``~`` and ``|`` as on sets of minutes."""

    def __invert__(self) -> "_Mask":
        return _Mask(not v for v in self)

    def __or__(self, other: list) -> "_Mask":  # type: ignore[override]
        return _Mask(a or b for a, b in zip(self, other))


def _windows_of(mask: list[bool]) -> tuple[tuple[int, int], ...]:
    """Runs of True minutes as (start, end) windows; a run through midnight is one crossing window."""
    if all(mask):
        return ((0, _DAY),)
    runs, m = [], 0
    while m < _DAY:
        if mask[m]:
            start = m
            while m < _DAY and mask[m]:
                m += 1
            runs.append((start, m % _DAY))
        m += 1
    if len(runs) > 1 and runs[0][0] == 0 and runs[-1][1] == 0:  # joined across midnight
        runs = [(runs[-1][0], runs[0][1]), *runs[1:-1]]
    return tuple(runs)
