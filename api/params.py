"""Query parameter types shared by routes, bounded so that no value reaches the database or the clock
arithmetic out of range (the generic handlers in api/error_handlers.py catch what a new route forgets)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

from pydantic import AfterValidator

MAX_OFFSET = 2 ** 31 - 1  # far past any listing; well inside a 64-bit column
PLATE_QUERY = r"^[\w·•.\- ]+$"  # plate search text: letters (incl. the province's Chinese character), digits, separators


def _utc_representable(value: datetime) -> datetime:
    try:
        value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
    except OverflowError:
        raise ValueError("the date is too close to the calendar's ends to be compared in UTC") from None
    return value


UtcDatetime = Annotated[datetime, AfterValidator(_utc_representable)]
