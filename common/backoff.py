"""The one retry backoff: capped exponential with "equal jitter" (a random point in the upper half of
the capped delay), so that many clients that failed together (cameras after a switch reboot, messages
after a dispatch outage) do not retry together, while none waits less than half its step."""
from __future__ import annotations

import random
import time


def backoff_s(attempt: int, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Delay before retry number ``attempt`` (1: the first): ``base_s * 2^(attempt-1)`` capped at ``max_s``,
    then a random point in [0.5, 1] of that."""
    ceiling = min(max_s, base_s * (2 ** max(0, attempt - 1)))
    return ceiling * (0.5 + 0.5 * (rng or random).random())


class Backoff:
    """A retry loop's backoff state: failures so far and when the next try is due (``time.monotonic``)."""

    def __init__(self, base_s: float, max_s: float, rng: random.Random | None = None) -> None:
        self.base_s, self.max_s, self._rng = base_s, max_s, rng
        self.attempt = 0  # failures since the last success
        self.next_try_at = 0.0

    def next_delay(self) -> float:
        """Count a failure; the delay before the next try."""
        self.attempt += 1
        delay = backoff_s(self.attempt, self.base_s, self.max_s, self._rng)
        self.next_try_at = time.monotonic() + delay
        return delay

    def reset(self) -> None:
        """A success: the next failure starts again from ``base_s``."""
        self.attempt = 0
        self.next_try_at = 0.0

    def due(self) -> bool:
        return time.monotonic() >= self.next_try_at
