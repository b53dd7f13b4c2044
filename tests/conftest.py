"""Shared fixtures: real servers on 127.0.0.1, started by the tests and stopped by PID."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from tests.support.action_runner import apptainer_bin
from tests.support.github_fixture import github_server
from tests.support.static_fixture import serve

__all__ = ["github_server", "serve"]

# The tests build with a real Apptainer: make the project's copy visible to every test.
with contextlib.suppress(RuntimeError):
    os.environ["PATH"] = f"{apptainer_bin()}:{os.environ.get('PATH', '')}"

ROOT = Path(__file__).resolve().parents[1]
