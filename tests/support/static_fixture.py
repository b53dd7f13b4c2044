"""A static file server in a separate process, for storage URLs and rendered sites."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.registry.helpers import StaticServer


@pytest.fixture
def serve() -> Iterator[Callable[[Path], StaticServer]]:
    """``serve(folder)`` → a started ``python -m http.server`` on 127.0.0.1; stopped at teardown."""
    servers: list[StaticServer] = []

    def start(folder: Path) -> StaticServer:
        server = StaticServer(folder).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
