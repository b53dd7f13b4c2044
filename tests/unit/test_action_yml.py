from __future__ import annotations

from pathlib import Path

import yaml

from static_registry.actionyml import render
from static_registry.cli import build_parser
from static_registry.options import ACTION_INPUTS

ROOT = Path(__file__).resolve().parents[2]


def test_action_yml_is_generated_from_the_input_table() -> None:
    assert (ROOT / "action.yml").read_text() == render(), "run: python -m static_registry.actionyml > action.yml"


def test_action_yml_is_a_docker_action_with_every_input() -> None:
    data = yaml.safe_load((ROOT / "action.yml").read_text())
    assert data["runs"]["using"] == "docker"
    assert list(data["inputs"]) == [i.name for i in ACTION_INPUTS]
    assert set(data["outputs"]) == {
        "images",
        "pull-request-number",
        "pull-request-url",
        "pull-request-operation",
        "branch",
        "site",
    }
    for name in data["inputs"]:
        assert name[0].isalpha() and all(c.isalnum() or c in "-_" for c in name)


def test_every_non_secret_input_is_a_cli_option() -> None:
    parser = build_parser()
    subcommands = parser._subparsers._group_actions[0].choices.values()  # type: ignore[union-attr]
    options = {s for sub in subcommands for a in sub._actions for s in a.option_strings}
    for i in ACTION_INPUTS:
        if i.secret or i.name == "command":
            continue
        assert f"--{i.name}" in options, i.name
