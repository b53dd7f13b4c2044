"""Shared fixtures: real servers on 127.0.0.1, started by the tests and stopped by PID."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.action_runner import apptainer_bin
from tests.support.github_fixture import github_server

__all__ = ["github_server"]

# The tests build with a real Apptainer: make the project's copy visible to every test.
try:
    os.environ["PATH"] = f"{apptainer_bin()}:{os.environ.get('PATH', '')}"
except RuntimeError:
    pass

ROOT = Path(__file__).resolve().parents[1]
