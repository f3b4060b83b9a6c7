"""Cameras as records: the YAML's source entries as JSON rows, changed by the API and the CLI while analysis
runs, each change audited (who, before, after) and announced to listeners (the wiring that applies it to the
running pipeline).

Secrets are write-only. A row keeps its URL as given (a camera password, or a ``${ENV}`` reference resolved
at use): the database is the secret store, as the YAML file was. Everything that leaves this module for a
person (routes, audit rows) carries the URL masked (``rtsp://admin:***@cam/1``); a URL written back with its
password still masked keeps the stored one (``keep_stored_secret``).

The API imports no analysis code: the body's validation (the config's pydantic ``SourceConfig``) is handed in
by the wiring as a ``SourceValidator``.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from streams.urls import ENV_REF, MASK, mask_url, replace_password, url_password  # stdlib only: the one masking, as FFmpeg parses URLs

from .audit import record_audit
from .db import SourceCatalogRecord, SourceRecord

log = logging.getLogger(__name__)

SourceBody = dict[str, Any]
SourceValidator = Callable[[SourceBody], SourceBody]
"""Checks a body (raises ``pydantic.ValidationError`` or `SourceInvalid`, naming the field) and returns it
normalised: only the fields given, as JSON."""
ChangeListener = Callable[[str, "SourceBody | None", "SourceBody | None"], None]
"""``(source_id, before, after)`` with the stored bodies (secrets included): None before = added, None after
= deleted. Called after the change committed."""



class SourceInvalid(ValueError):
    """A body that the validator cannot express as a pydantic error: ``loc`` names the field."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


class SourceNotFound(LookupError):
    pass


class SourceExists(ValueError):
    pass


def masked_source_url(url: str) -> str:
    """The URL as people may see it: its password and any ``${ENV}`` reference replaced by ``***``."""
    return ENV_REF.sub(MASK, mask_url(url))


def masked_body(body: SourceBody) -> SourceBody:
    out = dict(body)
    if isinstance(out.get("url"), str):
        out["url"] = masked_source_url(out["url"])
    return out


def keep_stored_secret(new_url: str, stored_url: str | None) -> str:
    """``new_url`` with a masked password (``user:***@``) replaced by the stored one; the UI sends the URL it
    was shown unless a new password was typed. Raises SourceInvalid when a masked part cannot be restored."""
    if MASK not in new_url:
        return new_url
    if stored_url is not None and new_url == masked_source_url(stored_url):
        return stored_url
    stored_password = url_password(stored_url) if stored_url is not None else None
    if stored_password is not None and url_password(new_url) == MASK:
        new_url = replace_password(new_url, stored_password)
        if MASK not in new_url.replace(stored_password, ""):
            return new_url
    raise SourceInvalid(("url",), "the URL holds a masked part (***) that cannot be kept from the stored URL: "
                                  "type the password (or the whole URL) again")


class SourceCatalog:
    """The camera records. ``validator`` checks every body written; listeners see every committed change."""

    def __init__(self, session_factory: sessionmaker[Session], validator: SourceValidator) -> None:
        self._sessions = session_factory
        self.validate = validator
        self._listeners: list[ChangeListener] = []

    def on_change(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    # --- reading -----------------------------------------------------------------------------------------

    def list(self) -> list[SourceBody]:
        """Every stored body (secrets included: for the wiring, never for a response), in creation order."""
        with self._sessions() as s:
            rows = s.scalars(select(SourceRecord).order_by(SourceRecord.created_at, SourceRecord.id))
            return [dict(r.body) for r in rows]

    def get(self, source_id: str) -> SourceBody | None:
        with self._sessions() as s:
            row = s.get(SourceRecord, source_id)
            return None if row is None else dict(row.body)

    def version(self) -> int:
        """Grows with every change (a cheap check for 'anything new?')."""
        with self._sessions() as s:
            row = s.get(SourceCatalogRecord, 1)
            return 0 if row is None else row.version

    def seeded(self) -> bool:
        with self._sessions() as s:
            row = s.get(SourceCatalogRecord, 1)
            return row is not None and row.seeded_at is not None

    # --- writing -----------------------------------------------------------------------------------------

    def seed(self, bodies: Iterable[SourceBody], actor: str = "system:config") -> int:
        """On the first start only: the YAML's sources become records (later starts keep the records as
        they were changed, deleted cameras included). Returns how many were imported."""
        bodies = [self.validate(b) for b in bodies]
        try:
            with self._sessions() as s:
                catalog = self._catalog(s)
                if catalog.seeded_at is not None:
                    return 0
                now = datetime.now(timezone.utc)
                catalog.seeded_at = now
                added = 0
                for i, body in enumerate(bodies):
                    if s.get(SourceRecord, body["id"]) is None:
                        self._insert(s, body, actor, now + timedelta(microseconds=i), action="source.imported")
                        added += 1
                catalog.version += 1
                s.commit()
        except IntegrityError:  # another process seeded at the same moment
            log.info("sources: another process imported the configured sources first")
            return 0
        if added:
            log.info("sources: imported %d configured source(s) into the records", added)
        return added

    def create(self, body: SourceBody, actor: str) -> SourceBody:
        if isinstance(body.get("url"), str):
            keep_stored_secret(body["url"], None)  # a new camera has no stored password to keep
        body = self.validate(body)
        exists = SourceExists(f"source {body['id']!r} exists; change it with PUT")
        with self._sessions() as s:
            if s.get(SourceRecord, body["id"]) is not None:
                raise exists
            self._insert(s, body, actor, datetime.now(timezone.utc))
            self._catalog(s).version += 1
            try:
                s.commit()
            except IntegrityError:  # added by another request at the same moment
                raise exists from None
        self._notify(body["id"], None, body)
        return body

    def replace(self, source_id: str, body: SourceBody, actor: str) -> SourceBody:
        """The whole body is the new source (the id is the path's); a masked URL keeps the stored secret."""
        with self._sessions() as s:
            row = s.get(SourceRecord, source_id)
            if row is None:
                raise SourceNotFound(source_id)
            before = dict(row.body)
            body = dict(body, id=source_id)
            if isinstance(body.get("url"), str):
                body["url"] = keep_stored_secret(body["url"], before.get("url"))
            body = self.validate(body)
            if body == before:
                return before
            row.body, row.enabled, row.updated_at = body, bool(body.get("enabled", True)), datetime.now(timezone.utc)
            record_audit(s, actor, "source.updated", source_id=source_id, before=masked_body(before),
                         after=masked_body(body))
            self._catalog(s).version += 1
            s.commit()
        self._notify(source_id, before, body)
        return body

    def delete(self, source_id: str, actor: str) -> SourceBody:
        with self._sessions() as s:
            row = s.get(SourceRecord, source_id)
            if row is None:
                raise SourceNotFound(source_id)
            before = dict(row.body)
            s.delete(row)
            record_audit(s, actor, "source.deleted", source_id=source_id, before=masked_body(before))
            self._catalog(s).version += 1
            s.commit()
        self._notify(source_id, before, None)
        return before

    def upsert_many(self, bodies: Iterable[SourceBody], actor: str) -> tuple[int, int, int]:
        """Bulk load (a platform's catalogue): new ids are added, known ones replaced (fields not given keep
        their stored value, so a catalogue of places does not drop a camera's zones). All or nothing: every
        body is checked before anything is written; the first bad one raises SourceInvalid with ``loc``
        starting at its index. Returns (added, updated, unchanged)."""
        incoming = list(bodies)
        current = {b["id"]: b for b in self.list() if "id" in b}
        merged: list[tuple[SourceBody | None, SourceBody]] = []
        seen: set[str] = set()
        for i, body in enumerate(incoming):
            before = current.get(body.get("id"))  # type: ignore[arg-type]
            after = dict(before or {}, **body)
            try:
                if isinstance(after.get("url"), str):
                    after["url"] = keep_stored_secret(after["url"], (before or {}).get("url"))
                after = self.validate(after)
            except SourceInvalid as exc:
                raise SourceInvalid((i, *exc.loc), exc.message) from None
            except ValidationError as exc:
                first = exc.errors()[0]
                raise SourceInvalid((i, *first["loc"]), first["msg"].removeprefix("Value error, ")) from None
            if after["id"] in seen:
                raise SourceInvalid((i, "id"), f"{after['id']!r} appears twice")
            seen.add(after["id"])
            merged.append((before, after))
        added = updated = unchanged = 0
        now = datetime.now(timezone.utc)
        changes: list[tuple[str, SourceBody | None, SourceBody]] = []
        with self._sessions() as s:
            for i, (before, after) in enumerate(merged):
                if before is None:
                    self._insert(s, after, actor, now + timedelta(microseconds=i), action="source.imported")
                    added += 1
                elif before == after:
                    unchanged += 1
                    continue
                else:
                    row = s.get(SourceRecord, after["id"])
                    row.body, row.enabled, row.updated_at = after, bool(after.get("enabled", True)), now
                    record_audit(s, actor, "source.updated", source_id=after["id"], before=masked_body(before),
                                 after=masked_body(after))
                    updated += 1
                changes.append((after["id"], before, after))
            if changes:
                self._catalog(s).version += 1
            s.commit()
        for source_id, before, after in changes:
            self._notify(source_id, before, after)
        return added, updated, unchanged

    # --- internals ---------------------------------------------------------------------------------------

    def _insert(self, s: Session, body: SourceBody, actor: str, at: datetime, action: str = "source.created") -> None:
        s.add(SourceRecord(id=body["id"], body=body, enabled=bool(body.get("enabled", True)), created_at=at,
                           updated_at=at))
        record_audit(s, actor, action, source_id=body["id"], after=masked_body(body))

    @staticmethod
    def _catalog(s: Session) -> SourceCatalogRecord:
        row = s.get(SourceCatalogRecord, 1)
        if row is None:
            row = SourceCatalogRecord(id=1, seeded_at=None, version=0)
            s.add(row)
            s.flush()
        return row

    def _notify(self, source_id: str, before: SourceBody | None, after: SourceBody | None) -> None:
        for listener in self._listeners:
            try:
                listener(source_id, before, after)
            except Exception:  # the record is stored; applying it is the listener's job (and its log)
                log.exception("source %s: a change listener failed", source_id)
