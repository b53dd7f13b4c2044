"""The action's commands (input ``command``), behind entrypoint.py's translation."""

from __future__ import annotations

from collections.abc import Mapping

from .cli import fail, publish
from .errors import UserError
from .pipeline import Event
from .runner import Runner

COMMANDS = ("publish",)


def run(raw: Mapping[str, str], env: Mapping[str, str]) -> int:
    runner = Runner.from_environment()
    command = (raw.get("command") or "publish").strip()
    try:
        if command not in COMMANDS:
            raise UserError(f"Input 'command' is '{command}'; use one of {', '.join(COMMANDS)}.")
        if command == "publish":
            publish({k: v for k, v in raw.items() if k != "command"}, Event.from_environment(env), runner, env)
        return 0
    except UserError as e:
        return fail(runner, e)
