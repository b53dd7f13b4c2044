"""The ``docker`` build mode: ``apptainer build`` in a privileged sibling container.

A GitHub Docker container action runs without ``--privileged``, extra capabilities, seccomp
changes or ``/dev/fuse``, so Apptainer cannot create the namespaces a recipe's ``%post``
needs. The runner does mount ``/var/run/docker.sock``. Through it we start a sibling
container of the action's own image with ``--privileged``, bind-mount the recipe's
workspace and an output folder at the *same* paths they have here (their host paths come
from this container's own mounts), run ``apptainer build`` in it, stream its log, and
remove it afterwards.

The Docker Engine API is spoken with plain ``http.client`` over the Unix socket; podman's
Docker-compatible API service answers the same requests. Paths are unversioned (``/_ping``,
``/containers/create``) so that any engine version accepts them.
"""

from __future__ import annotations

import codecs
import http.client
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import FrameType
from typing import Any, TextIO
from urllib.parse import quote, urlencode

from .build import check_built
from .errors import BuildError, UserError
from .model import Recipe

DOCKER_SOCKET = "/var/run/docker.sock"

NO_BUILDER_ADVICE = (
    "run on a runner with Docker (the action's container needs /var/run/docker.sock), "
    "use a privileged self-hosted runner, or build in an earlier step and pass 'images' "
    "with 'builder: none'"
)

# Where the action's image has Apptainer (Dockerfile: scripts/install-apptainer /opt/apptainer),
# searched after PATH: the runner passes the workflow's PATH into the container.
ENGINE_DIRS = ("/opt/apptainer/usr/bin", "/usr/local/bin", "/usr/bin", "/bin")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Environment passed on to the builder container (registry credentials for docker://
# bootstraps, proxies). Names only: values never appear in the log.
PASSED_ENV = re.compile(r"^(APPTAINER_|SINGULARITY_|(?:HTTPS?|NO|ALL)_PROXY$|(?:https?|no|all)_proxy$)")

_HEX64 = re.compile(r"(?<![0-9a-f])([0-9a-f]{64})(?![0-9a-f])")


class EngineAPIError(Exception):
    """The container engine refused a request or could not be reached."""


# --------------------------------------------------------------------------------------
# The Engine API over a Unix socket


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: str, timeout: float | None) -> None:
        super().__init__("localhost", timeout=timeout)
        self._socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def default_socket() -> str:
    """``DOCKER_HOST`` when it names a Unix socket that exists here, else the runner's mount."""
    host = os.environ.get("DOCKER_HOST", "")
    if host.startswith("unix://") and os.path.exists(host[len("unix://") :]):
        return host[len("unix://") :]
    return DOCKER_SOCKET


@dataclass
class DockerAPI:
    """The few Docker Engine API calls the sibling builder needs."""

    socket_path: str = field(default_factory=default_socket)
    timeout: float = 60.0

    def _send(
        self, method: str, path: str, body: object = None, timeout: float | None = -1.0
    ) -> tuple[_UnixHTTPConnection, http.client.HTTPResponse]:
        conn = _UnixHTTPConnection(self.socket_path, self.timeout if timeout == -1.0 else timeout)
        headers = {"Host": "docker"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=headers)
            return conn, conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise EngineAPIError(
                f"the container engine at {self.socket_path} did not answer {method} {path}: {e}"
            ) from e

    def call(self, method: str, path: str, body: object = None, ok: Sequence[int] = (200, 201, 204, 304)) -> Any:
        """One request; the decoded JSON answer (or None when empty)."""
        conn, resp = self._send(method, path, body)
        try:
            raw = resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise EngineAPIError(f"the container engine at {self.socket_path} broke off {method} {path}: {e}") from e
        finally:
            conn.close()
        if resp.status not in ok:
            message = raw.decode("utf-8", "replace").strip()
            try:
                decoded = json.loads(raw)
                if isinstance(decoded, dict) and decoded.get("message"):
                    message = str(decoded["message"])
            except ValueError:
                pass
            raise EngineAPIError(f"{method} {path} answered {resp.status}: {message}")
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", "replace")

    def ping(self) -> bool:
        try:
            return str(self.call("GET", "/_ping")).strip() == "OK"
        except EngineAPIError:
            return False

    def inspect_container(self, ident: str) -> dict[str, Any] | None:
        try:
            info = self.call("GET", f"/containers/{quote(ident, safe='')}/json")
        except EngineAPIError as e:
            if " answered 404" in str(e):
                return None
            raise
        return info if isinstance(info, dict) else None

    def create_container(self, name: str, config: Mapping[str, Any]) -> str:
        created = self.call("POST", "/containers/create?" + urlencode({"name": name}), dict(config))
        if not isinstance(created, dict) or not created.get("Id"):
            raise EngineAPIError(f"POST /containers/create answered {created!r}, which has no container Id")
        return str(created["Id"])

    def start(self, ident: str) -> None:
        self.call("POST", f"/containers/{ident}/start")

    def wait(self, ident: str) -> int:
        conn, resp = self._send("POST", f"/containers/{ident}/wait", timeout=None)
        try:
            raw = resp.read()
        finally:
            conn.close()
        if resp.status != 200:
            raise EngineAPIError(f"POST /containers/{ident}/wait answered {resp.status}: {raw!r}")
        result = json.loads(raw)
        return int(result.get("StatusCode", -1)) if isinstance(result, dict) else -1

    def remove(self, ident: str) -> None:
        self.call("DELETE", f"/containers/{ident}?force=1&v=1", ok=(200, 204, 404))

    def logs(self, ident: str) -> Iterator[tuple[int, bytes]]:
        """Follow a container's stdout and stderr until it exits: (stream, bytes) pairs."""
        conn, resp = self._send("GET", f"/containers/{ident}/logs?follow=1&stdout=1&stderr=1", timeout=None)
        try:
            if resp.status != 200:
                raise EngineAPIError(f"GET /containers/{ident}/logs answered {resp.status}: {resp.read()!r}")
            yield from demultiplex(resp.read)
        finally:
            conn.close()


def _read_exact(read: Callable[[int], bytes], n: int) -> bytes:
    chunks = []
    while n > 0:
        chunk = read(n)
        if not chunk:
            break
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def demultiplex(read: Callable[[int], bytes]) -> Iterator[tuple[int, bytes]]:
    """Split Docker's multiplexed stream (no TTY): 8-byte headers ``[stream, 0, 0, 0, size
    (big-endian uint32)]`` each followed by ``size`` bytes. A stream that does not start
    with such a header (a TTY, or an engine that sends raw output) is passed through as
    stream 1."""
    while True:
        header = _read_exact(read, 8)
        if not header:
            return
        if len(header) == 8 and header[0] in (0, 1, 2) and header[1:4] == b"\0\0\0":
            (size,) = struct.unpack(">I", header[4:8])
            payload = _read_exact(read, size)
            yield header[0], payload
            if len(payload) < size:
                return
            continue
        # raw stream from here on
        yield 1, header
        while chunk := read(65536):
            yield 1, chunk
        return


# --------------------------------------------------------------------------------------
# Who are we? This container's id, mounts and image


def container_id_candidates(
    mountinfo: str = "", cgroup: str = "", hostname: str = "", containerenv: str = ""
) -> list[str]:
    """Possible ids of the container we run in, best first, from what it can see of itself:

    * podman's ``/run/.containerenv`` (``id="<64 hex>"``, rootful podman);
    * ``/proc/self/mountinfo``: Docker bind-mounts ``/var/lib/docker/containers/<id>/{hostname,
      hosts,resolv.conf}`` and podman ``.../overlay-containers/<id>/userdata/...`` onto
      ``/etc/{hostname,hosts,resolv.conf}``;
    * ``/proc/self/cgroup``: cgroup v1 ``.../docker/<id>``, systemd ``docker-<id>.scope``,
      ``libpod-<id>.scope`` (cgroup v2 with a private namespace shows only ``0::/``);
    * the hostname, which both engines set to the short id unless ``--hostname`` or
      ``--network host`` is given.
    """
    found: list[str] = []

    def add(ident: str) -> None:
        if ident and ident not in found:
            found.append(ident)

    m = re.search(r'^id="?([0-9a-f]{64})"?\s*$', containerenv, re.MULTILINE)
    if m:
        add(m.group(1))
    preferred: list[str] = []
    others: list[str] = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) < 5 or "containers/" not in fields[3]:
            continue
        m = re.search(r"containers/([0-9a-f]{64})(?:/|$)", fields[3])
        if not m:
            continue
        (preferred if fields[4] in ("/etc/hostname", "/etc/hosts", "/etc/resolv.conf") else others).append(m.group(1))
    for ident in preferred + others:
        add(ident)
    for line in cgroup.splitlines():
        for m in _HEX64.finditer(line.rpartition(":")[2]):
            add(m.group(1))
    name = hostname.strip()
    if re.fullmatch(r"[0-9a-f]{12}", name):
        add(name)
    return found


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def own_container_candidates() -> list[str]:
    explicit = os.environ.get("STATIC_REGISTRY_CONTAINER_ID", "").strip()
    found = container_id_candidates(
        _read_text("/proc/self/mountinfo"),
        _read_text("/proc/self/cgroup"),
        socket.gethostname(),
        _read_text("/run/.containerenv"),
    )
    return ([explicit] if explicit else []) + [c for c in found if c != explicit]


@dataclass(frozen=True)
class Mount:
    source: str
    """Path on the engine's host."""
    destination: str
    """Path in the container."""
    type: str = "bind"
    rw: bool = True


def mounts_from_inspect(info: Mapping[str, Any]) -> list[Mount]:
    """Bind mounts (and volumes, which also have a host path) of ``GET /containers/<id>/json``."""
    mounts = []
    for m in info.get("Mounts") or []:
        if not isinstance(m, dict):
            continue
        source, dest = m.get("Source"), m.get("Destination")
        kind = str(m.get("Type") or "bind")
        if not source or not dest or kind not in ("bind", "volume"):
            continue
        mounts.append(Mount(str(source), str(dest), kind, bool(m.get("RW", True))))
    return mounts


def host_path(mounts: Sequence[Mount], container_path: str | Path) -> str | None:
    """The engine host's path of a path in this container: the mount whose destination is
    the longest prefix of it (whole path components), or None when no mount holds it."""
    path = PurePosixPath(os.path.normpath(str(container_path)))
    best: Mount | None = None
    for m in mounts:
        dest = PurePosixPath(os.path.normpath(m.destination))
        if (path == dest or dest in path.parents) and (
            best is None or len(dest.parts) > len(PurePosixPath(best.destination).parts)
        ):
            best = m
    if best is None:
        return None
    rest = path.relative_to(PurePosixPath(os.path.normpath(best.destination)))
    return str(PurePosixPath(best.source) / rest) if rest.parts else best.source


@dataclass(frozen=True)
class OwnContainer:
    id: str
    image: str
    """Image id (``sha256:...``) from the container's ``Image`` field."""
    mounts: tuple[Mount, ...]
    network_mode: str


def own_container(api: DockerAPI) -> tuple[OwnContainer | None, str]:
    """This container as the engine sees it, or None and why not."""
    candidates = own_container_candidates()
    if not candidates:
        return None, (
            "this process does not appear to run in a container "
            "(no container id in /proc/self/mountinfo, /proc/self/cgroup or the hostname)"
        )
    for ident in candidates:
        info = api.inspect_container(ident)
        if info is None:
            continue
        image = info.get("Image") or (info.get("Config") or {}).get("Image")
        if not image:
            continue
        return (
            OwnContainer(
                id=str(info.get("Id") or ident),
                image=str(image),
                mounts=tuple(mounts_from_inspect(info)),
                network_mode=str((info.get("HostConfig") or {}).get("NetworkMode") or ""),
            ),
            "",
        )
    tried = ", ".join(c[:12] for c in candidates)
    return None, f"the container engine knows none of this container's possible ids ({tried})"


# --------------------------------------------------------------------------------------
# The builder


def find_engine_here() -> str | None:
    """Apptainer/singularity on PATH, else in the action image's known folders."""
    from .build import find_engine

    return find_engine() or find_engine(os.pathsep.join(ENGINE_DIRS))


@dataclass
class SiblingBuilder:
    """``apptainer build`` in a privileged sibling container of this container's image."""

    api: DockerAPI
    container: OwnContainer
    engine: str
    """Absolute path of apptainer in the image (the sibling runs the same image)."""
    options: Sequence[str] = ()
    staging_roots: Sequence[str] = ()
    """Mounted folders for the build output when ``output`` itself is not on a mount."""
    mode: str = "docker"

    def _staging(self, output: Path) -> tuple[Path, bool]:
        if host_path(self.container.mounts, output.parent) is not None:
            return output.parent, False
        roots = [*self.staging_roots, os.environ.get("RUNNER_TEMP", ""), "/github/runner_temp", "/github/home"]
        for root in roots:
            if root and os.path.isdir(root) and host_path(self.container.mounts, root) is not None:
                return Path(tempfile.mkdtemp(prefix="static-registry-build-", dir=root)), True
        raise BuildError(
            f"No folder mounted from the host can hold the built image (tried {output.parent} and "
            f"{', '.join(r for r in roots if r)}); run the action as a step of a GitHub job, "
            "which mounts /github/runner_temp."
        )

    def build(self, recipe: Recipe, workspace: Path, output: Path, log: TextIO) -> None:
        workspace = workspace.resolve()
        source = workspace / recipe.path
        ws_host = host_path(self.container.mounts, workspace)
        if ws_host is None:
            raise BuildError(
                f"The workspace {workspace} is not a folder mounted from the host, so a builder "
                f"container cannot see recipe {recipe.path}; check the repository out under "
                "$GITHUB_WORKSPACE.",
                file=recipe.path,
            )
        staging, temporary = self._staging(output)
        target = staging / output.name
        mounts = [{"Type": "bind", "Source": ws_host, "Target": str(workspace), "ReadOnly": False}]
        if staging != workspace and workspace not in staging.parents:
            staging_host = host_path(self.container.mounts, staging)
            assert staging_host is not None
            mounts.append({"Type": "bind", "Source": staging_host, "Target": str(staging), "ReadOnly": False})
        argv = ["build", "--force", *self.options, str(target), source.name]
        env = [f"PATH={os.path.dirname(self.engine)}:{SYSTEM_PATH}", "HOME=/root"]
        env += [f"{k}={v}" for k, v in sorted(os.environ.items()) if PASSED_ENV.match(k)]
        config: dict[str, Any] = {
            "Image": self.container.image,
            "Entrypoint": [self.engine],
            "Cmd": argv,
            "WorkingDir": str(source.parent),
            "Env": env,
            "Tty": False,
            "OpenStdin": False,
            "AttachStdout": True,
            "AttachStderr": True,
            "Labels": {"org.static-registry.builder": "1", "org.static-registry.parent": self.container.id},
            "HostConfig": {"Privileged": True, "Mounts": mounts, "AutoRemove": False},
        }
        if self.container.network_mode:
            config["HostConfig"]["NetworkMode"] = self.container.network_mode
        name = f"static-registry-build-{self.container.id[:12]}-{uuid.uuid4().hex[:8]}"
        log.write(
            f"$ {self.engine} {' '.join(argv)}  (in {source.parent}, in privileged container {name} "
            f"of image {self.container.image[:19]})\n"
        )
        log.flush()
        ident: str | None = None
        restore = _raise_on_sigterm()
        try:
            try:
                ident = self.api.create_container(name, config)
                self.api.start(ident)
                decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
                for _, chunk in self.api.logs(ident):  # stdout and stderr, interleaved as they came
                    log.write(decoder.decode(chunk))
                    log.flush()
                log.write(decoder.decode(b"", final=True))
                status = self.api.wait(ident)
            except EngineAPIError as e:
                raise BuildError(
                    f"Could not run the builder container for {recipe.path}: {e}; "
                    "check that the Docker socket mounted into the action works.",
                    file=recipe.path,
                ) from e
            check_built(recipe, target, status, " in the builder container")
            if target != output:
                shutil.move(str(target), str(output))
        finally:
            if ident is not None:
                try:
                    self.api.remove(ident)
                except EngineAPIError as e:
                    log.write(f"warning: could not remove builder container {name}: {e}\n")
            if temporary:
                shutil.rmtree(staging, ignore_errors=True)
            restore()


def _raise_on_sigterm() -> Callable[[], None]:
    """Turn SIGTERM into KeyboardInterrupt while a build runs, so that the builder container
    is removed when the job is cancelled (a container's PID 1 ignores unhandled SIGTERM)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError):
        return lambda: None

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


# --------------------------------------------------------------------------------------
# Choosing: can we build here, or through the socket?


def probe_in_place(engine: str) -> tuple[bool, str]:
    """Can Apptainer create the namespaces a ``%post`` needs here?

    A ``%post`` runs in a container with a fresh ``/proc``, which a default (unprivileged)
    ``docker run`` forbids: ``/proc`` is partly masked there, so the kernel refuses a new proc
    mount. The probe asks Apptainer itself, so that its own privileges count (a setuid
    install, or the AppArmor profile that lets its starter create user namespaces on Ubuntu
    24.04): ``apptainer exec --pid`` (a PID namespace, hence a new ``/proc``) of
    ``/usr/bin/env`` in an empty container skeleton that binds the host's ``/usr``. About
    0.1 s. Measured (Apptainer 1.4.5, podman 4.3 + runc) to agree with a ``%post`` build:
    fails in a default container, works on the host (root and users) and in ``--privileged``
    containers. Returns (works, what was seen).
    """
    with tempfile.TemporaryDirectory(prefix="static-registry-probe-") as root:
        for sub in ("dev", "proc", "sys", "tmp", "etc", "usr", "root", "home", "bin", "lib", "lib64", "var/tmp"):
            os.makedirs(os.path.join(root, sub), exist_ok=True)
        binds = [p for p in ("/usr", "/bin", "/lib", "/lib64") if os.path.isdir(p)]
        argv = [
            engine,
            "-s",
            "exec",
            "--pid",
            "--contain",
            "--no-home",
            "--bind",
            ",".join(binds),
            root,
            "/usr/bin/env",
        ]
        try:
            done = subprocess.run(argv, check=False, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError) as e:
            return False, f"{engine} could not be run to check that it can create namespaces here ({e})"
    if done.returncode == 0:
        return True, "it can create a PID namespace with a fresh /proc here"
    lines = [line.strip() for line in done.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    why = lines[-1] if lines else f"exit status {done.returncode}"
    why = re.sub(r"^(FATAL|ERROR):\s*", "", why)
    return False, f"Apptainer cannot create a PID namespace with a fresh /proc here ({why})"


def sibling_builder(options: Sequence[str], api: DockerAPI | None = None) -> tuple[SiblingBuilder | None, str]:
    """A SiblingBuilder when the Docker socket answers and this container is found in it."""
    api = api or DockerAPI()
    if not os.path.exists(api.socket_path):
        return None, f"there is no Docker socket at {api.socket_path}"
    if not api.ping():
        return None, f"the Docker socket at {api.socket_path} does not answer /_ping"
    try:
        container, why = own_container(api)
    except EngineAPIError as e:
        return None, str(e)
    if container is None:
        return None, why
    engine = find_engine_here() or "/opt/apptainer/usr/bin/apptainer"
    return (
        SiblingBuilder(api, container, engine, tuple(options)),
        f"the Docker socket at {api.socket_path} answers and this is container {container.id[:12]}",
    )


def choose_auto(options: Sequence[str], log: TextIO, api: DockerAPI | None = None) -> tuple[str, SiblingBuilder | None]:
    """``builder: auto``: ``("in-place", None)`` or ``("docker", builder)``; says why in the
    log; raises UserError with what to change when neither works."""
    engine = find_engine_here()
    if engine is None:
        here = "there is no apptainer or singularity on PATH"
    else:
        works, here = probe_in_place(engine)
        if works:
            log.write(f"builder: in-place ({engine}; {here})\n")
            return "in-place", None
    builder, why = sibling_builder(options, api)
    if builder is not None:
        log.write(f"builder: docker (building here is not possible: {here}; {why})\n")
        return "docker", builder
    raise UserError(f"Cannot build recipes here ({here}, and {why}): {NO_BUILDER_ADVICE}.")
