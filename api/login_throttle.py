"""Login throttling: after too many wrong passwords for one username, or from one client address, within a
window, further logins are refused (429 with ``Retry-After``) *before* the password is hashed, so guessing
costs the server no argon2 time and a correct password does not get in either until the refusal ends.

Attempts in flight count as failures until they finish, so a burst of parallel guesses is cut at the limit
too. A success clears its username's failures (not its address's: one account must not launder guesses at
others). Kept in memory per API process; at most ``max_keys`` usernames / addresses are tracked (the least
recently seen are forgotten first).
"""
from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class _Record:
    failures: deque[float] = field(default_factory=deque)
    in_flight: int = 0
    refusals: int = 0  # since the key was last under its limit: the first one is audited


@dataclass(frozen=True)
class Attempt:
    keys: tuple[str, str]


@dataclass(frozen=True)
class Refusal:
    scope: str  # "user" or "address"
    failures: int
    retry_after_s: int
    first: bool  # the first refusal of this lock-out (to audit once, not per request)


class LoginThrottle:
    def __init__(self, max_per_user: int, max_per_address: int, window_s: float, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = {"user": max_per_user, "address": max_per_address}
        self.window_s = window_s
        self.max_keys = max_keys
        self._clock = clock
        self._records: OrderedDict[str, _Record] = OrderedDict()
        self._lock = threading.Lock()

    def begin(self, username: str, address: str) -> Attempt | Refusal:
        """An attempt to check the password of, or the refusal to do so."""
        keys = (f"user:{username.casefold()}", f"address:{address}")
        now = self._clock()
        with self._lock:
            records = [self._record(key, now) for key in keys]
            for scope, key, record in zip(("user", "address"), keys, records):
                used = len(record.failures) + record.in_flight
                if used >= self.limits[scope]:
                    record.refusals += 1
                    oldest = record.failures[0] if record.failures else now
                    retry = max(1, math.ceil(oldest + self.window_s - now))
                    return Refusal(scope, len(record.failures), retry, first=record.refusals == 1)
            for record in records:
                record.in_flight += 1
            return Attempt(keys)

    def end(self, attempt: Attempt, succeeded: bool) -> None:
        now = self._clock()
        with self._lock:
            for key in attempt.keys:
                record = self._record(key, now)
                record.in_flight = max(0, record.in_flight - 1)
                if not succeeded:
                    record.failures.append(now)
            if succeeded:
                user = self._records[attempt.keys[0]]
                user.failures.clear()
                user.refusals = 0

    def _record(self, key: str, now: float) -> _Record:
        record = self._records.get(key)
        if record is None:
            record = self._records[key] = _Record()
            while len(self._records) > self.max_keys:
                self._records.popitem(last=False)
        else:
            self._records.move_to_end(key)
        while record.failures and record.failures[0] <= now - self.window_s:
            record.failures.popleft()
        if not record.failures and record.in_flight == 0:
            record.refusals = 0
        return record
