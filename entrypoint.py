#!/usr/bin/env python3
"""The action's entrypoint: the runner's world → the same API the CLI uses.

Reads ``INPUT_<NAME>`` variables (upper-cased, hyphens kept, as the runner sets them),
runs the command, and reports through ``$GITHUB_OUTPUT``, ``$GITHUB_STEP_SUMMARY`` and
``::error`` annotations. The container may inherit a hostile ``PATH``, ``HOME`` or
``LD_LIBRARY_PATH`` from the job: they are reset before anything runs.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping, MutableMapping

SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
EXTRA_PATHS = ("/opt/apptainer/usr/bin",)


def sanitize(env: MutableMapping[str, str]) -> None:
    """Keep the job's environment from breaking the tools this container ships."""
    extra = [p for p in EXTRA_PATHS if os.path.isdir(p)]
    # Our own tools first, so nothing the job put on PATH can shadow git or apptainer; the
    # job's absolute, existing entries after them (a host-installed apptainer, say).
    inherited = [p for p in env.get("PATH", "").split(":") if os.path.isabs(p) and os.path.isdir(p)]
    env["PATH"] = ":".join(dict.fromkeys([*extra, *SAFE_PATH.split(":"), *inherited]))
    for name in ("LD_LIBRARY_PATH", "LD_PRELOAD", "PYTHONPATH", "PYTHONHOME"):
        env.pop(name, None)
    home = env.get("HOME", "")
    if not home or not os.path.isdir(home) or not os.access(home, os.W_OK):
        env["HOME"] = "/github/home" if os.path.isdir("/github/home") else "/root"


def inputs(env: Mapping[str, str]) -> dict[str, str]:
    """``INPUT_BUILD-OPTIONS`` → ``build-options``; the underscore spelling is accepted too."""
    raw: dict[str, str] = {}
    for key, value in env.items():
        if key.startswith("INPUT_"):
            raw.setdefault(key[len("INPUT_") :].lower().replace("_", "-"), value)
    for key, value in env.items():  # the runner's own spelling wins
        if key.startswith("INPUT_") and "-" in key:
            raw[key[len("INPUT_") :].lower()] = value
    return raw


def main() -> int:
    # PID 1 in the container: Python ignores SIGTERM there unless told; a cancelled job
    # must stop (and clean up builder containers) like any other.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sanitize(os.environ)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from static_registry.action import run

    return run(inputs(os.environ), dict(os.environ))


if __name__ == "__main__":
    sys.exit(main())
