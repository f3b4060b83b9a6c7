"""The README stays navigable for a newcomer: its contents list matches its headings, every in-page link
has a heading to land on, and every other link points at a file inside the repository."""
from __future__ import annotations

import importlib.util
import re
from importlib.machinery import SourceFileLoader
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
LINK = re.compile(r"\]\(([^)\s]+)\)")


def toc_module():
    loader = SourceFileLoader("readme_toc", str(ROOT / "bin" / "readme-toc"))
    spec = importlib.util.spec_from_loader("readme_toc", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_contents_list_matches_the_headings() -> None:
    toc = toc_module()
    text = README.read_text(encoding="utf-8")
    assert toc.START in text and toc.END in text, "README has no generated contents list"
    assert toc.render(text) == text, "README contents are stale: run bin/readme-toc"


def test_every_link_lands_inside_the_repository() -> None:
    toc = toc_module()
    text = README.read_text(encoding="utf-8")
    anchors = {toc.anchor(m.group(2)) for m in re.finditer(r"^(#{1,4}) (.+)$", text, flags=re.M)}
    problems = []
    for target in LINK.findall(text):
        if target.startswith("#"):
            if target[1:] not in anchors:
                problems.append(f"{target}: no such heading")
        elif re.match(r"^[a-z]+:", target):
            problems.append(f"{target}: points outside the repository")
        elif not (ROOT / target.split("#", 1)[0]).exists():
            problems.append(f"{target}: no such file")
    assert not problems, problems


def test_the_anchor_rule_follows_githubs() -> None:
    toc = toc_module()
    assert toc.anchor("Scale-out: several nodes, one API, Redis between") == \
        "scale-out-several-nodes-one-api-redis-between"
    assert toc.anchor("Cases and smart dispatch (智能分派)") == "cases-and-smart-dispatch-智能分派"
    assert toc.anchor("Models a city brings: `streetsight models import`") == \
        "models-a-city-brings-streetsight-models-import"
