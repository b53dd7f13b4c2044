"""Object-storage servers for tests: real server processes on 127.0.0.1.

* ``s3_server``: ``moto_server`` (S3 API, no auth), one per session;
* ``s3_auth_server``: a second ``moto_server`` that enforces IAM (``INITIAL_NO_AUTH_ACTION_COUNT``),
  with a bucket and the keys of a user that may do nothing (→ ``AccessDenied``);
* ``gcs_server``: ``gcp-storage-emulator`` with a data folder, one per session;
* ``s3_stub``: a tiny HTTP server on 127.0.0.1 that answers every request with a status and
  an S3 error document you choose (for what moto cannot produce: region redirects, expired
  tokens). It runs in a thread of the test process but speaks real HTTP on a real socket.
* ``closed_port``: a port on 127.0.0.1 nothing listens on.

Processes are started with a free port, waited for until they accept connections, and killed
by PID at teardown. Their output goes to a log file whose lines are the request log.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

BIN = Path(sys.executable).parent
ACCESS_KEY = "AKIDTESTSTATICREG0001"
SECRET_KEY = "secretTESTstaticRegistry/0123456789abcd"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"server did not listen on 127.0.0.1:{port} in {timeout}s:\n{log.read_text()}")


def _find(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed", pytrace=False)
    return found


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def start_process(argv: list[str], port: int, log: Path, env: dict[str, str] | None = None) -> ServerProcess:
    full_env = dict(os.environ)
    full_env.update(env or {})
    out = log.open("wb")
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=full_env)
    out.close()
    _wait_for_port(port, proc, log)
    return ServerProcess(proc, port, log)


def start_moto(log: Path, env: dict[str, str] | None = None) -> ServerProcess:
    port = free_port()
    return start_process([_find("moto_server"), "-H", "127.0.0.1", "-p", str(port)], port, log, env)


@dataclass
class S3Server:
    server: ServerProcess
    endpoint_url: str
    region: str = REGION
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    env: dict[str, str] = field(default_factory=dict)

    def client(self, **kw: Any) -> Any:
        import boto3

        args: dict[str, Any] = {
            "endpoint_url": self.endpoint_url,
            "region_name": self.region,
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
        }
        args.update(kw)
        return boto3.client("s3", **args)

    def create_bucket(self, name: str, public_read: bool = True) -> str:
        """A bucket; with ``public_read`` a bucket policy lets anyone GET its objects (moto,
        like S3, refuses anonymous reads of private objects)."""
        import json

        client = self.client()
        client.create_bucket(Bucket=name)
        if public_read:
            policy = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "PublicRead",
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{name}/*",
                    }
                ],
            }
            client.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
        return name

    def requests(self) -> list[str]:
        """Request lines the server logged (``"PUT /bucket/key HTTP/1.1" 200``)."""
        return [line for line in self.server.log_lines() if '"' in line and "HTTP/1" in line]


def _aws_env(access: str, secret: str) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": access,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto_server on 127.0.0.1; ``env`` holds the AWS_* variables a client needs."""
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    proc = start_moto(log)
    try:
        yield S3Server(proc, proc.url, env=_aws_env(ACCESS_KEY, SECRET_KEY))
    finally:
        proc.stop()


@dataclass
class S3AuthServer(S3Server):
    bucket: str = ""
    denied_access_key: str = ""
    denied_secret_key: str = ""


@pytest.fixture(scope="session")
def s3_auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3AuthServer]:
    """moto_server enforcing IAM after its first three requests, which make a bucket and a
    user without any policy. ``env`` has the root's unknown keys (→ InvalidAccessKeyId)."""
    import boto3

    log = tmp_path_factory.mktemp("moto-auth") / "moto.log"
    proc = start_moto(log, {"INITIAL_NO_AUTH_ACTION_COUNT": "3"})
    try:
        kw: dict[str, Any] = {
            "endpoint_url": proc.url,
            "region_name": REGION,
            "aws_access_key_id": ACCESS_KEY,
            "aws_secret_access_key": SECRET_KEY,
        }
        boto3.client("s3", **kw).create_bucket(Bucket="auth-bucket")
        iam = boto3.client("iam", **kw)
        iam.create_user(UserName="nobody")
        key = iam.create_access_key(UserName="nobody")["AccessKey"]
        yield S3AuthServer(
            proc,
            proc.url,
            env=_aws_env(ACCESS_KEY, SECRET_KEY),
            bucket="auth-bucket",
            denied_access_key=key["AccessKeyId"],
            denied_secret_key=key["SecretAccessKey"],
        )
    finally:
        proc.stop()


@dataclass
class GCSServer:
    server: ServerProcess
    endpoint_url: str
    data: Path
    project: str = "test-project"

    @property
    def env(self) -> dict[str, str]:
        return {"STORAGE_EMULATOR_HOST": self.endpoint_url}

    def client(self) -> Any:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage  # type: ignore[import-untyped]

        saved = os.environ.get("STORAGE_EMULATOR_HOST")
        os.environ["STORAGE_EMULATOR_HOST"] = self.endpoint_url
        try:
            return storage.Client(project=self.project, credentials=AnonymousCredentials())
        finally:
            if saved is None:
                del os.environ["STORAGE_EMULATOR_HOST"]
            else:
                os.environ["STORAGE_EMULATOR_HOST"] = saved

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(name)
        return name

    def requests(self) -> list[str]:
        return [line for line in self.server.log_lines() if "HTTP/1" in line]


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GCSServer]:
    """gcp-storage-emulator on 127.0.0.1 keeping objects in a folder (not in memory)."""
    base = tmp_path_factory.mktemp("gcs")
    data = base / "data"
    data.mkdir()
    port = free_port()
    proc = start_process(
        [_find("gcp-storage-emulator"), "-d", str(data), "start", "-H", "127.0.0.1", "--port", str(port)],
        port,
        base / "gcs.log",
    )
    try:
        yield GCSServer(proc, proc.url, data)
    finally:
        proc.stop()


# -- a stub that answers what moto cannot ---------------------------------------------------


@dataclass
class StubResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class StubServer:
    """Answers every request with ``self.response``; records ``(method, path, headers)``."""

    def __init__(self) -> None:
        self.response = StubResponse(500, b"")
        self.routes: dict[str, StubResponse] = {}
        """Path prefix → answer, before ``response``."""
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                remaining = length
                while remaining > 0:
                    chunk = self.rfile.read(min(remaining, 1 << 20))
                    if not chunk:
                        break
                    remaining -= len(chunk)
                stub.seen.append((self.command, self.path, dict(self.headers.items())))
                r = next((v for k, v in stub.routes.items() if self.path.startswith(k)), stub.response)
                self.send_response(r.status)
                for k, v in r.headers.items():
                    self.send_header(k, v)
                if "Content-Type" not in r.headers:
                    self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(r.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(r.body)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.httpd.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def answer_s3_error(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: str
    ) -> None:
        fields = "".join(f"<{k}>{v}</{k}>" for k, v in extra.items())
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>{fields}"
            "<RequestId>4442587FB7D0A2F9</RequestId></Error>"
        ).encode()
        self.response = StubResponse(status, body, headers or {})
        self.seen.clear()

    def answer_json(self, status: int, document: Any, path: str = "") -> None:
        """Answer with a JSON document (Google APIs' ``{"error": {...}}`` bodies), to every
        request or, with ``path``, to those whose path starts with it."""
        import json

        response = StubResponse(status, json.dumps(document).encode(), {"Content-Type": "application/json"})
        if path:
            self.routes[path] = response
        else:
            self.response = response
        self.seen.clear()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def s3_stub() -> Iterator[StubServer]:
    stub = StubServer()
    try:
        yield stub
    finally:
        stub.close()


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where connections are refused."""
    return free_port()
