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


# A measured figure: a size or a duration in ms, a rate, CPU per stream-minute, a precision/recall/accuracy value,
# a percentage, or a sentence that says it measured, took or timed something.
FIGURE = re.compile(
    r"\d\s?(ms|MB|GB|kB|KB)\b|per stream-minute|(events|images|frames)/s\b|media s per wall s|\d%"
    r"|(?i:\b(measured|took|median|p95)\b.*\d)"
    r"|(?i:(precision|recall|accuracy|\bP\b|\bR\b|F1|mAP\w*)).*\b[01]\.\d\d\b"
    r"|\b[01]\.\d\d\b.*(?i:(precision|recall|accuracy|F1|mAP))")
# What reproduces it: a command in backticks, a test that prints it, or the committed JSON of a bench run.
COMMAND = re.compile(r"`(streetsight |bin/|training/scripts/|python3? |\.venv[\w-]*/bin/python |du )[^`]*`"
                     r"|tests/test_\w+\.py|docs/measurements/[\w.-]+\.jsonl?\b")
REFERENCE = re.compile(r"(docs/measurements/[\w.-]+\.\w+|tests/[\w/]+\.py)|`python3? -m ([\w.]+)")


def readme_blocks(text: str) -> list[tuple[int, str, str, str]]:
    """(line, text, header, introduction) of each paragraph, list item and table row; fenced code (configuration
    examples) and the generated contents list are skipped. A table row's figures are read with its table's header
    row, and its command may stand in the paragraph that introduces the table."""
    blocks: list[tuple[int, str, str, str]] = []
    current: list[str] = []
    start, skipping, previous, header = 0, False, "", ""

    def close() -> None:
        nonlocal current, previous
        if current:
            blocks.append((start, " ".join(current), "", ""))
            previous = " ".join(current)
        current = []

    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```") or line.strip() in (TOC_START, TOC_END):
            close()
            skipping = not skipping
            continue
        if skipping:
            continue
        if line.startswith("|"):
            close()
            if not header:
                header = line
            elif not re.match(r"^\|[-:| ]+\|$", line):
                blocks.append((number, line, header, previous))
            continue
        if header:  # a table ended: neither its header nor its introduction carries over
            header, previous = "", ""
        if not line.strip() or line.startswith("#") or re.match(r"^\s*([-*]|\d+\.) ", line):
            close()
            if line.strip() and not line.startswith("#"):
                current, start = [line.strip()], number
            continue
        if not current:
            start = number
        current.append(line.strip())
    close()
    return blocks


def bare_figures(text: str) -> list[str]:
    """Blocks with a measured figure and no command (in the block, or in its table's introduction); and blocks
    quoting a bench run whose JSON is not named (issue 17: a quoted bench result has its JSON committed)."""
    out = []
    for line, block, header, introduction in readme_blocks(text):
        if not FIGURE.search(f"{header} {block}"):
            continue
        # a row naming its own command answers for itself; otherwise its table's introduction does
        reproduced = block if COMMAND.search(block) else f"{block} {introduction}"
        if not COMMAND.search(reproduced):
            out.append(f"README.md:{line}: {block[:160]}")
        elif BENCH.search(reproduced) and not JSON_FILE.search(reproduced):
            out.append(f"README.md:{line}: a bench figure without its JSON under docs/measurements/: {block[:120]}")
    return out


TOC_START, TOC_END = "<!-- contents: generated by bin/readme-toc -->", "<!-- /contents -->"
BENCH = re.compile(r"`(streetsight bench|python3? -m streetsight\.bench)")
JSON_FILE = re.compile(r"docs/measurements/[\w.-]+\.jsonl?\b")


def test_every_measured_figure_names_the_command_that_reproduces_it() -> None:
    """Issue 17: a figure in the README names the command (or the test printing it, or the committed JSON under
    docs/measurements/) that reproduces it; a table row may take it from the paragraph above its table."""
    bare = bare_figures(README.read_text(encoding="utf-8"))
    assert not bare, "figures without the command that reproduces them:\n" + "\n".join(bare)


def test_every_measurement_file_and_command_the_readme_names_exists() -> None:
    text = README.read_text(encoding="utf-8")
    missing = []
    for path, module in REFERENCE.findall(text):
        target = ROOT / path if path else ROOT / (module.replace(".", "/") + ".py")
        if module and not target.exists():
            target = ROOT / module.replace(".", "/") / "__main__.py"
        if not target.exists():
            missing.append(path or f"python -m {module}")
    assert not missing, missing
    committed = {p.name for p in (ROOT / "docs" / "measurements").glob("*.json*")}
    named = set(re.findall(r"docs/measurements/([\w.-]+\.jsonl?)\b", text))
    assert named <= committed and committed, (named, committed)


def test_the_figure_check_tells_a_bare_figure_from_one_with_its_command() -> None:
    bench = "Publishing ran at 568 events/s (`streetsight bench bus --events 2000 --json`)"
    table = ("Measured with `streetsight bench plates --json` (docs/measurements/plates-by-height.json):\n\n"
             "| height | 16 px |\n|---|---|\n| reads | 25% |\n\nThen 25% again.\n")
    cases = {"Publishing ran at 568 events/s on this machine.\n": 1, bench + ".\n": 1,
             bench + ", docs/measurements/bench-bus.json.\n": 0, table: 1, "Set `max_body_bytes` (1 MiB).\n": 0,
             "| set | P | R |\n|---|---|---|\n| vtest | 1.00 | 0.50 |\n": 1, "- took 3 ms (tests/test_x.py)\n": 0}
    for sample, flagged in cases.items():
        assert len(bare_figures(sample)) == flagged, (sample, bare_figures(sample))
