"""Shared fixtures: real servers on 127.0.0.1, started by the tests and stopped by PID."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from tests.support.action_runner import apptainer_bin
from tests.support.github_fixture import github_server
from tests.support.static_fixture import serve
from tests.support.storage_servers import closed_port, gcs_server, s3_auth_server, s3_server, s3_stub

__all__ = ["closed_port", "gcs_server", "github_server", "s3_auth_server", "s3_server", "s3_stub", "serve"]

# The tests build with a real Apptainer: make the project's copy visible to every test.
with contextlib.suppress(RuntimeError):
    os.environ["PATH"] = f"{apptainer_bin()}:{os.environ.get('PATH', '')}"

ROOT = Path(__file__).resolve().parents[1]
