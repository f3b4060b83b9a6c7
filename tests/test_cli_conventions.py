"""One CLI convention, checked over the whole parser (`streetsight` and the training CLI behind
`streetsight train`): every command lives in streetsight/commands/, ``--json`` means one thing, DEST is
positional, forcing is ``--force``, no command repeats its parent's name, and old spellings still work
with one deprecation line on stderr."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Iterator

import pytest

from streetsight.cli import build_parser, main
from streetsight.commands import JSON_HELP, _DeprecatedSpelling, deprecated
from tests.test_datasets import box, make_dataset
from training.cli import build_parser as build_training_parser

# leaf commands whose output is not a result document: long-running servers, the training pass-through
# (its own commands are checked below), and commands whose output is itself a file format (YAML)
NO_JSON = {("serve",), ("demo",), ("train",), ("sources", "export"), ("config", "defaults")}


def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[
        tuple[tuple[str, ...], argparse.ArgumentParser]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, child in subs[0].choices.items():
        yield from leaves(child, (*path, name))


def visible_options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and a.help is not argparse.SUPPRESS]


ALL = [*(("streetsight", p, c) for p, c in leaves(build_parser())),
       *(("streetsight train", p, c) for p, c in leaves(build_training_parser()))]


def test_the_walk_sees_every_command() -> None:
    paths = {(prog, path) for prog, path, _ in ALL}
    assert ("streetsight", ("detect",)) in paths and ("streetsight", ("sources", "check")) in paths
    assert ("streetsight", ("datasets", "merge")) in paths and ("streetsight train", ("run",)) in paths
    assert len(paths) > 40


@pytest.mark.parametrize("prog, path, parser", ALL, ids=[f"{p} {' '.join(c)}" for p, c, _ in ALL])
def test_command_follows_the_conventions(prog: str, path: tuple[str, ...],
                                         parser: argparse.ArgumentParser) -> None:
    func = parser.get_default("func")
    assert func is not None, "a leaf command without func"
    is_deprecated = hasattr(func, "deprecated")
    # every command of `streetsight` lives in streetsight/commands/ (cli.py only builds the parser)
    if prog == "streetsight":
        assert func.__module__.startswith("streetsight.commands."), func.__module__
    # no command repeats its parent's name, except an old spelling kept for one release
    if not is_deprecated:
        words = [*prog.split()[1:], *path]
        assert all(a != b for a, b in zip(words, words[1:])), words
    options = visible_options(parser)
    flags = {s for a in options for s in a.option_strings}
    # --json: one meaning, one help text, one action
    json_actions = [a for a in options if "--json" in a.option_strings]
    for action in json_actions:
        assert action.help == JSON_HELP and action.const is True and action.nargs == 0
    if prog == "streetsight" and path not in NO_JSON:
        assert json_actions, f"{' '.join(path)} takes no --json"
    # DEST is positional; forcing is --force
    assert not any(a.dest == "dest" for a in options), f"{' '.join(path)}: DEST as an option"
    assert not any("force" in s and s != "--force" for s in flags), flags
    # what --help hides is an old spelling, and it prints its deprecation line
    hidden = [a for a in parser._actions if a.option_strings and a.help is argparse.SUPPRESS]
    assert all(isinstance(a, _DeprecatedSpelling) for a in hidden), hidden


def test_no_json_exemptions_are_real_commands() -> None:
    paths = {path for prog, path, _ in ALL if prog == "streetsight"}
    assert NO_JSON <= paths


def test_merge_takes_dest_positionally_and_the_old_dest_still_works(tmp_path: Path, capsys) -> None:
    a = make_dataset(tmp_path / "a", ["bin"], {"train": [("img1", [box(0)])]})
    b = make_dataset(tmp_path / "b", ["bin"], {"train": [("img2", [box(0)])]})
    assert main(["datasets", "merge", str(a), str(b), str(tmp_path / "new"), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["classes"] == ["bin"] and "deprecated" not in err
    assert (tmp_path / "new" / "data.yaml").is_file()

    assert main(["datasets", "merge", str(a), str(b), "--dest", str(tmp_path / "old")]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["classes"] == ["bin"] and (tmp_path / "old" / "data.yaml").is_file()
    assert err.count("\n") == 1 and "--dest is deprecated" in err and "DEST" in err


def test_merge_without_dest_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    a = make_dataset(tmp_path / "a", ["bin"], {"train": [("img1", [box(0)])]})
    assert main(["datasets", "merge", str(a)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "DEST" in err and err.count("\n") == 1


def test_training_old_spellings_parse_to_the_new_ones(capsys) -> None:
    parser = build_training_parser()
    new = parser.parse_args(["run", "data", "--name", "m", "--force"])
    assert capsys.readouterr().err == ""
    old = parser.parse_args(["train", "data", "--name", "m", "--force-promote"])
    err = capsys.readouterr().err
    assert "--force-promote is deprecated" in err and "use --force" in err
    assert vars(old).keys() == vars(new).keys() and old.force is True
    assert old.func.deprecated == ("streetsight train train", "streetsight train run")
    assert "--force-promote" not in parser._subparsers._group_actions[0].choices["run"].format_help()
    assert "{run,evaluate," in parser.format_usage() and ",train" not in parser.format_help()  # out of --help
    with pytest.raises(SystemExit):  # --force and --no-promote exclude each other, in either spelling
        parser.parse_args(["run", "data", "--name", "m", "--no-promote", "--force-promote"])


def test_a_deprecated_command_runs_after_one_stderr_line(capsys) -> None:
    def command(args: argparse.Namespace) -> int:
        print("result")
        return 7

    run = deprecated(command, "streetsight old", "streetsight new")
    assert run(argparse.Namespace()) == 7
    out, err = capsys.readouterr()
    assert out == "result\n"
    assert err == "streetsight: streetsight old is deprecated and goes in the next release; use streetsight new\n"


def test_json_output_is_one_document_on_stdout(tmp_path: Path, capsys) -> None:
    """--json turns a text result into JSON (validate), and leaves JSON results JSON (config schema)."""
    data = make_dataset(tmp_path / "d", ["bin"], {"train": [("img1", [box(0)])], "val": [("img2", [box(0)])]})
    assert main(["datasets", "validate", str(data)]) == 0
    assert capsys.readouterr().out.startswith("OK")
    assert main(["datasets", "validate", str(data), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    assert main(["config", "schema"]) == 0
    plain = capsys.readouterr().out
    assert main(["config", "schema", "--json"]) == 0
    assert capsys.readouterr().out == plain and json.loads(plain)["title"]
