"""Fixtures for the packaged action: the Dockerfile built with podman (once per content
hash), podman's Docker-compatible API socket, and running the image the way the Actions
runner runs a container action (reference-actions §4.1)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from static_registry.sibling import DockerAPI

REPO = Path(__file__).resolve().parents[2]
BASE_IMAGE = "localhost/debian-bookworm-min"
IMAGE_REPO = "localhost/static-registry-action"
TEST_LABEL = "org.static-registry.test"
WORKSPACE_UID = 1001

TINY_RECIPE = """\
Bootstrap: scratch

%files
    busybox /bin/busybox
    busybox /bin/sh

%post
    /bin/busybox mkdir -p /usr/bin /usr/sbin /sbin /tmp /etc
    /bin/busybox --install -s
    echo "made by %post as uid $(id -u)" > /etc/post-marker

%environment
    export PATH=/bin:/usr/bin

%runscript
    cat /etc/post-marker
    echo "hello from the sibling-built image, args: $*"

%labels
    org.example.name tiny-post
"""


def podman() -> str | None:
    return shutil.which("podman")


def _context_files() -> list[Path]:
    """What .dockerignore lets into the build context (kept in step with it)."""
    files = [
        REPO / "Dockerfile",
        REPO / ".dockerignore",
        REPO / "scripts/install-apptainer",
        REPO / "requirements/action.txt",
    ]
    files += [REPO / n for n in ("pyproject.toml", "README.md", "entrypoint.py")]
    files += sorted(p for p in (REPO / "static_registry").rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return files


def context_hash() -> str:
    h = hashlib.sha256()
    for f in _context_files():
        h.update(str(f.relative_to(REPO)).encode() + b"\0")
        h.update(f.read_bytes() if f.exists() else b"<missing>")
        h.update(b"\0")
    return h.hexdigest()


@pytest.fixture(scope="session")
def action_image(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The project's Dockerfile built FROM the local debootstrapped bookworm (scripts/setup-podman),
    tagged by a hash of the build context so reruns with unchanged sources skip the build.
    ``STATIC_REGISTRY_ACTION_IMAGE`` names an already built image instead."""
    if podman() is None:
        pytest.fail("podman is not installed: run scripts/setup-podman", pytrace=False)
    given = os.environ.get("STATIC_REGISTRY_ACTION_IMAGE")
    if given:
        return given
    if subprocess.run(["podman", "image", "exists", BASE_IMAGE], check=False).returncode != 0:
        pytest.fail(f"{BASE_IMAGE} is missing: run scripts/setup-podman", pytrace=False)
    tag = f"{IMAGE_REPO}:{context_hash()[:16]}"
    if subprocess.run(["podman", "image", "exists", tag], check=False).returncode == 0:
        return tag
    folder = tmp_path_factory.mktemp("image")
    log = folder / "build.log"
    context = folder / "context"
    for f in _context_files():
        target = context / f.relative_to(REPO)
        target.parent.mkdir(parents=True, exist_ok=True)
        if f.exists():
            shutil.copy2(f, target)
        elif f.name == "README.md":
            target.write_text("static-registry\n")  # pyproject's readme; not part of what is tested
    started = time.monotonic()
    with log.open("wb") as out:
        done = subprocess.run(
            ["podman", "build", "--build-arg", f"BASE={BASE_IMAGE}", "-t", tag, str(context)],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0:
        pytest.fail(f"podman build of the Dockerfile failed:\n{log.read_text()[-4000:]}")
    print(f"built {tag} in {time.monotonic() - started:.1f} s")
    # drop older builds of the same Dockerfile
    old = subprocess.run(
        ["podman", "images", "--format", "{{.Repository}}:{{.Tag}}", IMAGE_REPO],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    for name in old:
        if name != tag:
            subprocess.run(["podman", "rmi", name], capture_output=True, check=False)
    return tag


@pytest.fixture(scope="session")
def podman_socket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """podman's Docker-compatible Engine API on a Unix socket, stopped by PID afterwards."""
    if podman() is None:
        pytest.fail("podman is not installed: run scripts/setup-podman", pytrace=False)
    folder = tmp_path_factory.mktemp("podman-api")
    sock = folder / "podman.sock"
    with (folder / "service.log").open("wb") as out:
        proc = subprocess.Popen(
            ["podman", "system", "service", "--time=0", f"unix://{sock}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        api = DockerAPI(str(sock), timeout=5)
        deadline = time.monotonic() + 30
        while not (sock.exists() and api.ping()):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"podman system service did not start:\n{(folder / 'service.log').read_text()}")
            time.sleep(0.1)
        yield sock
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def host_apptainer() -> str | None:
    for candidate in (
        os.environ.get("APPTAINER"),
        str(REPO / ".cache/apptainer/usr/bin/apptainer"),
        shutil.which("apptainer"),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@dataclass
class RunnerDirs:
    """The runner's folders that a container action gets mounted (host side)."""

    root: Path
    workspace: Path
    runner_temp: Path
    home: Path
    workflow: Path
    file_commands: Path

    @classmethod
    def create(cls, root: Path) -> RunnerDirs:
        dirs = cls(
            root,
            root / "work/repo/repo",
            root / "work/_temp",
            root / "work/_temp/_github_home",
            root / "work/_temp/_github_workflow",
            root / "work/_temp/_runner_file_commands",
        )
        for d in (dirs.workspace, dirs.runner_temp, dirs.home, dirs.workflow, dirs.file_commands):
            d.mkdir(parents=True, exist_ok=True)
        return dirs

    def chown_to_runner_user(self) -> None:
        """The workspace and the runner's folders belong to the runner's user (uid 1001)."""
        for path in [self.root / "work", *(self.root / "work").rglob("*")]:
            os.lchown(path, WORKSPACE_UID, WORKSPACE_UID)

    def write_event(self, event: Mapping[str, object]) -> None:
        (self.workflow / "event.json").write_text(json.dumps(event))


def runner_env(dirs: RunnerDirs, inputs: Mapping[str, str], extra: Mapping[str, str] = ()) -> dict[str, str]:  # type: ignore[assignment]
    """What the runner exports into a container action, translated to /github/... paths."""
    env = {
        "HOME": "/github/home",
        "PATH": "utter-nonsense",
        "GITHUB_WORKSPACE": "/github/workspace",
        "GITHUB_EVENT_PATH": "/github/workflow/event.json",
        "GITHUB_OUTPUT": "/github/file_commands/set_output_1",
        "GITHUB_ENV": "/github/file_commands/set_env_1",
        "GITHUB_STEP_SUMMARY": "/github/file_commands/step_summary_1",
        "GITHUB_STATE": "/github/file_commands/save_state_1",
        "GITHUB_PATH": "/github/file_commands/add_path_1",
        "RUNNER_TEMP": "/github/runner_temp",
        "RUNNER_OS": "Linux",
        "RUNNER_ARCH": "X64",
        "LD_LIBRARY_PATH": "/opt/hostedtoolcache/Python/3.12.0/x64/lib",
    }
    for name in ("set_output_1", "set_env_1", "step_summary_1", "save_state_1", "add_path_1"):
        (dirs.file_commands / name).touch()
    env.update(extra)
    env.update({f"INPUT_{k.upper().replace(' ', '_')}": v for k, v in inputs.items()})
    return env


@dataclass
class ActionRun:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def run_like_the_runner(
    image: str,
    dirs: RunnerDirs,
    env: Mapping[str, str],
    docker_sock: Path | None,
    args: Sequence[str] = (),
    entrypoint: str | None = None,
    timeout: float = 600,
) -> ActionRun:
    """``docker run`` exactly as actions/runner's DockerCommandManager does it (no
    --privileged, default seccomp and capabilities), with podman; ``--network host`` so the
    action reaches test servers on 127.0.0.1. Variable values travel through podman's own
    environment (``-e NAME``), as the runner passes them."""
    name = f"static-registry-test-{uuid.uuid4().hex[:12]}"
    argv = ["podman", "run", "--name", name, "--label", TEST_LABEL, "--workdir", "/github/workspace", "--rm"]
    for key in env:
        argv += ["-e", key]
    argv += ["-e", "GITHUB_ACTIONS=true", "-e", "CI=true"]
    if entrypoint is not None:
        argv += ["--entrypoint", entrypoint]
    argv += ["--network", "host"]
    if docker_sock is not None:
        argv += ["-v", f"{docker_sock}:/var/run/docker.sock"]
    argv += [
        "-v",
        f"{dirs.runner_temp}:/github/runner_temp",
        "-v",
        f"{dirs.home}:/github/home",
        "-v",
        f"{dirs.workflow}:/github/workflow",
        "-v",
        f"{dirs.file_commands}:/github/file_commands",
        "-v",
        f"{dirs.workspace}:/github/workspace",
        image,
        *args,
    ]
    podman_env = {k: v for k, v in os.environ.items() if k not in env}
    podman_env.update(env)
    podman_path = shutil.which("podman") or "podman"
    started = time.monotonic()
    done = subprocess.run(
        [podman_path, *argv[1:]], env=podman_env, capture_output=True, text=True, timeout=timeout, check=False
    )
    return ActionRun(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


def leftover_builders() -> list[str]:
    out = subprocess.run(
        ["podman", "ps", "-a", "--filter", "label=org.static-registry.builder", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return out.split()


def busybox() -> Path | None:
    for candidate in ("/usr/bin/busybox", "/bin/busybox"):
        p = Path(candidate)
        if p.is_file():
            return p
    return None
