from __future__ import annotations

import io
from pathlib import Path

from static_registry.runner import Runner, escape_data, escape_property, heredoc, workflow_command
from tests.support.action_runner import parse_output_file


def test_escaping_follows_the_runner() -> None:
    assert escape_data("100%\r\nnext") == "100%25%0D%0Anext"
    assert escape_property("a:b,c%") == "a%3Ab%2Cc%25"
    assert (
        workflow_command("error", "bad: x,y", file="dir/a,b:c", line=3, title=None)
        == "::error file=dir/a%2Cb%3Ac,line=3::bad: x,y"
    )


def test_outputs_survive_newlines_and_delimiter_lookalikes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    runner = Runner(github=True, log=io.StringIO(), output_file=out)
    tricky = 'line1\nEOF\nghadelimiter_x\n[{"a": 1}]'
    runner.set_output("images", tricky)
    runner.set_output("branch", "update/a/b")
    assert parse_output_file(out.read_text()) == {"images": tricky, "branch": "update/a/b"}
    assert heredoc("x", "v").endswith("\n")


def test_annotations_are_relative_to_the_workspace(tmp_path: Path) -> None:
    log = io.StringIO()
    runner = Runner(github=True, log=log, workspace=tmp_path)
    runner.error("broken", file=tmp_path / "sub" / "Singularity", line=2)
    assert log.getvalue() == "::error file=sub/Singularity,line=2::broken\n"


def test_outside_github_messages_are_plain() -> None:
    log, err = io.StringIO(), io.StringIO()
    runner = Runner(github=False, log=log, err=err)
    with runner.group("Build x"):
        runner.info("inside")
    runner.error("broken", file="Singularity", line=2)
    assert "::" not in log.getvalue() + err.getvalue()
    assert err.getvalue() == "error: Singularity:2: broken\n"
