"""The action's commands (input ``command``), behind entrypoint.py's translation."""

from __future__ import annotations

from collections.abc import Mapping

from . import commands
from .cli import fail
from .errors import UserError
from .options import COMMAND_INPUT
from .pipeline import Event
from .runner import Runner


def run(raw: Mapping[str, str], env: Mapping[str, str]) -> int:
    runner = Runner.from_environment()
    command = (raw.get("command") or "publish").strip()
    inputs = {k: v for k, v in raw.items() if k != "command"}
    try:
        if command == "publish":
            commands.publish(inputs, Event.from_environment(env), runner, env)
        elif command == "verify":
            return 0 if commands.verify(inputs, Event.from_environment(env), runner, env) else 1
        elif command == "render":
            commands.render_site(inputs, runner, env)
        else:
            raise UserError(f"Input 'command' is '{command}'; use one of {', '.join(COMMAND_INPUT.choices)}.")
        return 0
    except UserError as e:
        return fail(runner, e)
