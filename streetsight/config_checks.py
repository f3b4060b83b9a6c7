"""Checks across sections of the config, run by ``parse_config`` once every section is valid on its own.

Each problem names its field as the YAML spells it (``dispatch.rules[1].event_types``): a value that
passes the sections' own validation but could never take effect (an event type nobody reports, a link
the dispatch system cannot open) is an error at load time, not a silent no-op in production.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from streetsight import event_types

if TYPE_CHECKING:
    from streetsight.config import Config


def _unknown_types(field: str, given: Iterable[str]) -> list[str]:
    problem = event_types.unknown_types_problem(list(given))
    return [f"{field}: {problem}"] if problem else []


def cross_section_problems(cfg: "Config") -> list[str]:
    """``field.path: problem`` for each problem; empty when the config holds together."""
    problems: list[str] = []
    for i, rule in enumerate(cfg.dispatch.rules):
        problems += _unknown_types(f"dispatch.rules[{i}].event_types", rule.event_types)
    problems += _unknown_types("cases.auto_case_min_confidence", cfg.cases.auto_case_min_confidence)
    problems += _evidence_links(cfg)
    problems += _database_password(cfg.storage.database_url)
    return problems


def _database_password(url: str | None) -> list[str]:
    """SQLAlchemy splits a URL's userinfo at the first "@" (FFmpeg and redis-py at the last): a password
    holding a raw "@" fails to connect, and the error quotes the rest of it as the host name."""
    if not url or "://" not in url:
        return []
    authority = url.split("://", 1)[1].split("/", 1)[0]
    if authority.count("@") > 1:
        return ["storage.database_url: the password holds '@': write it as %40 (the URL is not shown here)"]
    return []


def _evidence_links(cfg: "Config") -> list[str]:
    """Dispatch gets evidence links it must open from another system: presigned S3 URLs are absolute;
    links to this server need its public address. The listen address (often 0.0.0.0 or a private IP
    behind a proxy) is not guessed: the operator names the address dispatch reaches."""
    if not cfg.dispatch.url or cfg.storage.backend == "s3":
        return []
    if cfg.cases.public_base_url or cfg.storage.public_url:
        return []
    return ["cases.public_base_url: required when dispatch.url is set and evidence is on the local disk: "
            "the dispatch system gets links to this server and cannot use relative ones (set the address it "
            "reaches, e.g. https://streetsight.city.gov; with storage.backend s3 links are presigned)"]
