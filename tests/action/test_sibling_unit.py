"""The sibling builder's mechanics without a container engine: finding our own container,
translating paths through its mounts, demultiplexing logs, and the Engine API calls (against
a fake Engine API on a Unix socket)."""

from __future__ import annotations

import io
import json
import socketserver
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest

from static_registry import sibling
from static_registry.errors import BuildError, UserError
from static_registry.model import Recipe
from static_registry.sibling import (
    DockerAPI,
    Mount,
    OwnContainer,
    SiblingBuilder,
    container_id_candidates,
    demultiplex,
    host_path,
    mounts_from_inspect,
)

DATA = Path(__file__).parent / "data"
PODMAN_ID = "e9941e146b379104a0ffd70b299fdf16e389708800b2ce0b76cb2298e0900cb1"
DOCKER_ID = "4d2b1b7f0c5e7a3a9f8e6d5c4b3a2918f7e6d5c4b3a29180f7e6d5c4b3a29180"


def test_own_id_from_podman_recorded_mountinfo_and_cgroup() -> None:
    mountinfo = (DATA / "podman-4.3-mountinfo.txt").read_text()
    cgroup = (DATA / "podman-4.3-cgroup.txt").read_text()
    # recorded with --network host: the hostname is the host's, not the short id
    assert container_id_candidates(mountinfo, "", "vm") == [PODMAN_ID]
    assert container_id_candidates("", cgroup, "vm") == [PODMAN_ID]
    # the overlay layer ids in the root mount's options are not taken for the container id
    assert all(len(c) == 64 for c in container_id_candidates(mountinfo, cgroup, "vm"))


def test_own_id_from_docker_mountinfo_cgroup_v2_and_hostname() -> None:
    assert len(DOCKER_ID) == 64
    mountinfo = (DATA / "docker-mountinfo.txt").read_text()
    # cgroup v2 with a private cgroup namespace shows no id; the hostname is the short id
    found = container_id_candidates(mountinfo, "0::/\n", DOCKER_ID[:12])
    assert found == [DOCKER_ID, DOCKER_ID[:12]]
    assert container_id_candidates("", "0::/\n", DOCKER_ID[:12]) == [DOCKER_ID[:12]]
    v1 = f"12:memory:/docker/{DOCKER_ID}\n0::/system.slice/docker-{DOCKER_ID}.scope\n"
    assert container_id_candidates("", v1, "runner-host") == [DOCKER_ID]
    assert container_id_candidates("", "", "", f'engine="podman-4.3.1"\nid="{PODMAN_ID}"\n') == [PODMAN_ID]
    assert container_id_candidates("", "0::/\n", "fv-az123-456") == []


def test_mounts_and_path_translation_docker_runner() -> None:
    info = json.loads((DATA / "docker-runner-container-inspect.json").read_text())
    mounts = mounts_from_inspect(info)
    assert Mount("/home/runner/work/centos/centos", "/github/workspace") in mounts
    assert all(m.type in ("bind", "volume") for m in mounts)  # the tmpfs has no host path
    assert host_path(mounts, "/github/workspace") == "/home/runner/work/centos/centos"
    assert (
        host_path(mounts, "/github/workspace/sub/Singularity.x") == "/home/runner/work/centos/centos/sub/Singularity.x"
    )
    assert host_path(mounts, "/github/runner_temp/x/y.sif") == "/home/runner/work/_temp/x/y.sif"
    assert host_path(mounts, "/github/workspace/../runner_temp") == "/home/runner/work/_temp"
    assert host_path(mounts, "/cache/a") == "/var/lib/docker/volumes/cache/_data/a"
    # whole path components only, and nothing outside the mounts
    assert host_path(mounts, "/github/workspace2/x") is None
    assert host_path(mounts, "/tmp/out.sif") is None
    assert host_path(mounts, "/scratch/x") is None


def test_mounts_and_path_translation_podman_recorded() -> None:
    info = json.loads((DATA / "podman-4.3-container-inspect.json").read_text())
    assert info["Id"] == PODMAN_ID and info["Image"].startswith("sha256:")
    mounts = mounts_from_inspect(info)
    assert host_path(mounts, "/github/workspace/a/b") == "/tmp/pd/ws/a/b"
    assert host_path(mounts, "/github/runner_temp") == "/tmp/pd/rt"
    assert host_path(mounts, "/var/run/docker.sock") == "/tmp/pd/podman.sock"


def test_longest_prefix_wins() -> None:
    mounts = [Mount("/host/ws", "/github/workspace"), Mount("/host/cache", "/github/workspace/.cache")]
    assert host_path(mounts, "/github/workspace/.cache/x") == "/host/cache/x"
    assert host_path(mounts, "/github/workspace/.cachex") == "/host/ws/.cachex"


def frames(*parts: tuple[int, bytes]) -> bytes:
    return b"".join(struct.pack(">BxxxI", s, len(p)) + p for s, p in parts)


def test_demultiplex_frames_and_raw() -> None:
    body = frames((1, b"INFO: Starting build...\n"), (2, b"+ echo hi\n"), (1, b""), (1, b"x" * 70000))
    out = list(demultiplex(io.BytesIO(body).read))
    assert out == [(1, b"INFO: Starting build...\n"), (2, b"+ echo hi\n"), (1, b""), (1, b"x" * 70000)]
    raw = b"INFO: a tty stream has no headers\n"
    assert b"".join(p for _, p in demultiplex(io.BytesIO(raw).read)) == raw
    # a truncated frame ends the stream without an error
    assert list(demultiplex(io.BytesIO(frames((1, b"abcdef"))[:-2]).read)) == [(1, b"abcd")]


# ---------------------------------------------------------------------------------------
# A fake Engine API on a Unix socket


class FakeEngine(BaseHTTPRequestHandler):
    calls: ClassVar[list[tuple[str, str, Any]]] = []
    exit_code: ClassVar[int] = 0
    write_sif: ClassVar[Path | None] = None
    hang_logs: ClassVar[bool] = False

    def log_message(self, fmt: str, *args: Any) -> None:
        pass

    def _body(self) -> Any:
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n)) if n else None

    def _send(self, status: int, body: Any = None, raw: bytes | None = None) -> None:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def do_GET(self) -> None:
        self.calls.append(("GET", self.path, None))
        if self.path == "/_ping":
            self._send(200, raw=b"OK")
        elif self.path.startswith("/containers/c0ffee/logs"):
            if self.hang_logs:
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                data = frames((1, b"started\n"))
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.docker.multiplexed-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in (frames((1, b"INFO:    Starting build...\n")), frames((2, b"+ echo post\n"))):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self._send(404, {"message": "no such container"})

    def do_POST(self) -> None:
        body = self._body()
        self.calls.append(("POST", self.path, body))
        if self.path.startswith("/containers/create"):
            self._send(201, {"Id": "c0ffee", "Warnings": []})
        elif self.path == "/containers/c0ffee/start":
            if self.write_sif is not None:
                self.write_sif.write_bytes(b"SIF")
            self._send(204)
        elif self.path == "/containers/c0ffee/wait":
            self._send(200, {"StatusCode": self.exit_code})
        else:
            self._send(404, {"message": "no such container"})

    def do_DELETE(self) -> None:
        self.calls.append(("DELETE", self.path, None))
        self._send(204)


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[tuple[DockerAPI, type[FakeEngine]]]:
    path = str(tmp_path / "engine.sock")

    class Handler(FakeEngine):
        calls: ClassVar[list[tuple[str, str, Any]]] = []

    server = UnixServer(path, Handler)
    # BaseHTTPRequestHandler wants a (host, port) client address
    server.get_request = lambda: (server.socket.accept()[0], ("local", 0))  # type: ignore[method-assign]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield DockerAPI(path, timeout=5), Handler
    finally:
        server.shutdown()
        server.server_close()


def make_builder(api: DockerAPI, tmp_path: Path) -> tuple[SiblingBuilder, Path, Path]:
    ws, rt = tmp_path / "ws", tmp_path / "rt"
    (ws / "sub").mkdir(parents=True)
    rt.mkdir()
    (ws / "sub" / "Singularity.tiny").write_text("Bootstrap: scratch\n")
    container = OwnContainer(
        id=PODMAN_ID,
        image="sha256:abc",
        mounts=(Mount("/host/ws", str(ws)), Mount("/host/rt", str(rt))),
        network_mode="host",
    )
    return SiblingBuilder(api, container, "/opt/apptainer/usr/bin/apptainer", ("--fakeroot",), (str(rt),)), ws, rt


def test_sibling_build_calls(
    engine: tuple[DockerAPI, type[FakeEngine]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api, handler = engine
    builder, ws, rt = make_builder(api, tmp_path)
    monkeypatch.setenv("APPTAINER_DOCKER_USERNAME", "someone")
    out_dir = tmp_path / "out"  # not a mount: the SIF is built in runner_temp and moved
    out_dir.mkdir()
    output = out_dir / "tiny.sif"

    def start_writes_into_staging(*_: Any) -> None:
        create = next(c for c in handler.calls if c[1].startswith("/containers/create"))
        handler.write_sif = Path(create[2]["Cmd"][-2])

    handler.write_sif = None
    orig = handler.do_POST

    def do_post(self: FakeEngine) -> None:
        if self.path.endswith("/start"):
            start_writes_into_staging()
        orig(self)

    handler.do_POST = do_post  # type: ignore[method-assign]
    log = io.StringIO()
    builder.build(Recipe(Path("sub/Singularity.tiny"), "tiny"), ws, output, log)
    assert output.read_bytes() == b"SIF"
    assert list(rt.iterdir()) == []  # the staging folder is gone
    create = next(c for c in handler.calls if c[1].startswith("/containers/create"))
    assert create[1].startswith("/containers/create?name=static-registry-build-e9941e146b37-")
    config = create[2]
    assert config["Image"] == "sha256:abc"
    assert config["Entrypoint"] == ["/opt/apptainer/usr/bin/apptainer"]
    assert config["Cmd"][:3] == ["build", "--force", "--fakeroot"] and config["Cmd"][-1] == "Singularity.tiny"
    staged = Path(config["Cmd"][-2])
    assert staged.parent.parent == rt and staged.name == "tiny.sif"
    assert config["WorkingDir"] == str(ws / "sub")
    assert config["HostConfig"]["Privileged"] is True
    assert config["HostConfig"]["NetworkMode"] == "host"
    assert {"Type": "bind", "Source": "/host/ws", "Target": str(ws), "ReadOnly": False} in config["HostConfig"][
        "Mounts"
    ]
    assert {
        "Type": "bind",
        "Source": f"/host/rt/{staged.parent.name}",
        "Target": str(staged.parent),
        "ReadOnly": False,
    } in config["HostConfig"]["Mounts"]
    assert "APPTAINER_DOCKER_USERNAME=someone" in config["Env"]
    assert config["Env"][0].startswith("PATH=/opt/apptainer/usr/bin:")
    assert "Starting build" in log.getvalue() and "+ echo post" in log.getvalue()
    assert handler.calls[-1] == ("DELETE", "/containers/c0ffee?force=1&v=1", None)


def test_sibling_build_failure_removes_container(engine: tuple[DockerAPI, type[FakeEngine]], tmp_path: Path) -> None:
    api, handler = engine
    handler.exit_code = 255
    handler.write_sif = None
    builder, ws, _ = make_builder(api, tmp_path)
    with pytest.raises(BuildError, match=r"Recipe sub/Singularity.tiny failed to build \(apptainer exit status 255"):
        builder.build(Recipe(Path("sub/Singularity.tiny"), "tiny"), ws, ws / "tiny.sif", io.StringIO())
    assert handler.calls[-1][0] == "DELETE"
    assert not (ws / "tiny.sif").exists()
    # built straight into the workspace mount: no extra mount for the output
    create = next(c for c in handler.calls if c[1].startswith("/containers/create"))
    assert len(create[2]["HostConfig"]["Mounts"]) == 1


def test_sibling_build_interrupted_removes_container(
    engine: tuple[DockerAPI, type[FakeEngine]], tmp_path: Path
) -> None:
    api, handler = engine
    handler.hang_logs = True
    builder, ws, _ = make_builder(api, tmp_path)

    class Interrupting(io.StringIO):
        def write(self, s: str) -> int:
            if "started" in s:
                raise KeyboardInterrupt
            return super().write(s)

    with pytest.raises(KeyboardInterrupt):
        builder.build(Recipe(Path("sub/Singularity.tiny"), "tiny"), ws, ws / "tiny.sif", Interrupting())
    assert ("DELETE", "/containers/c0ffee?force=1&v=1", None) in handler.calls


def test_workspace_not_mounted_is_a_clear_error(engine: tuple[DockerAPI, type[FakeEngine]], tmp_path: Path) -> None:
    api, _ = engine
    builder, _, _ = make_builder(api, tmp_path)
    other = tmp_path / "elsewhere"
    other.mkdir()
    with pytest.raises(BuildError, match="is not a folder mounted from the host"):
        builder.build(Recipe(Path("Singularity"), "latest"), other, other / "x.sif", io.StringIO())


def test_auto_without_engine_or_socket_says_what_to_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sibling, "find_engine_here", lambda: None)
    with pytest.raises(UserError) as e:
        sibling.choose_auto((), io.StringIO(), DockerAPI(str(tmp_path / "missing.sock")))
    message = str(e.value)
    assert "there is no apptainer or singularity on PATH" in message
    assert f"there is no Docker socket at {tmp_path / 'missing.sock'}" in message
    assert message.endswith(
        "run on a runner with Docker (the action's container needs /var/run/docker.sock), use a "
        "privileged self-hosted runner, or build in an earlier step and pass 'images' with 'builder: none'."
    )


def test_auto_prefers_in_place_when_namespaces_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sibling, "find_engine_here", lambda: "/usr/bin/apptainer")
    monkeypatch.setattr(
        sibling, "probe_in_place", lambda e: (True, "it can create a PID namespace with a fresh /proc here")
    )
    log = io.StringIO()
    assert sibling.choose_auto((), log) == ("in-place", None)
    assert log.getvalue().startswith("builder: in-place (/usr/bin/apptainer; it can create a PID namespace")


def test_auto_falls_back_to_docker(engine: tuple[DockerAPI, type[FakeEngine]], monkeypatch: pytest.MonkeyPatch) -> None:
    api, _ = engine
    monkeypatch.setattr(sibling, "find_engine_here", lambda: "/opt/apptainer/usr/bin/apptainer")
    monkeypatch.setattr(
        sibling,
        "probe_in_place",
        lambda e: (False, "Apptainer cannot create a PID namespace with a fresh /proc here (x)"),
    )
    me = OwnContainer(PODMAN_ID, "sha256:abc", (), "host")
    monkeypatch.setattr(sibling, "own_container", lambda api: (me, ""))
    log = io.StringIO()
    mode, builder = sibling.choose_auto(("--fakeroot",), log, api)
    assert mode == "docker" and builder is not None and builder.container == me
    assert builder.options == ("--fakeroot",)
    assert "builder: docker (building here is not possible: Apptainer cannot create a PID namespace" in log.getvalue()
    assert f"this is container {PODMAN_ID[:12]}" in log.getvalue()


def test_probe_in_place_on_this_host() -> None:
    """Root on the test machine can build in place (with --fakeroot): the probe says so."""
    from tests.action.conftest import host_apptainer

    engine = host_apptainer()
    if engine is None:
        pytest.fail("no apptainer on the host (scripts/install-apptainer)", pytrace=False)
    works, why = sibling.probe_in_place(engine)
    assert works, why
    assert why == "it can create a PID namespace with a fresh /proc here"
    works, why = sibling.probe_in_place("/nonexistent/apptainer")
    assert not works and "could not be run" in why
