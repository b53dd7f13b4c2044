"""verify: crafted registry branches, rejected with one clear message each; a good one passes."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from static_registry.documents import Finding
from static_registry.verify import VerifyOptions, VerifyResult, changed_files_git, verify_git
from tests.registry.helpers import StaticServer, add_collection, manifest, put_object

GOOD = b"a SIF image, honest" * 1000
OPTS = VerifyOptions(allow_http=True, retry_delay=0.01, retries=1, timeout=10)


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
    }
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env).stdout


@dataclass
class Env:
    repo: Path
    store: str
    size: int
    digest: str

    def branch(self, name: str, files: dict[str, str | None], base: str = "main") -> str:
        """Create branch ``name`` from ``base`` with ``files`` written (None = deleted), committed."""
        git(self.repo, "checkout", "-q", "-B", name, base)
        for path, text in files.items():
            target = self.repo / path
            if text is None:
                git(self.repo, "rm", "-q", "--", path)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            git(self.repo, "add", "--", path)
        git(self.repo, "commit", "-q", "--allow-empty", "-m", f"update {name}")
        git(self.repo, "checkout", "-q", "main")
        return name

    def manifest_text(
        self, ns: str, tag: str, *, url: str | None = None, size: int | None = None, digest: str | None = None
    ) -> str:
        m = manifest(
            ns,
            tag,
            self.size if size is None else size,
            self.digest if digest is None else digest,
            url or f"{self.store}/good.sif",
        )
        return m.to_markdown()

    def check(self, branch: str, options: VerifyOptions = OPTS, **kw: str) -> VerifyResult:
        return verify_git(self.repo, "main", branch, options=options, **kw)


@pytest.fixture
def env(tmp_path: Path, serve: Callable[[Path], StaticServer]) -> Env:
    storage = tmp_path / "storage"
    size, digest = put_object(storage, "good.sif", GOOD)
    put_object(storage, "bad.sif", GOOD[::-1])
    put_object(storage, "short.sif", GOOD[:-10])
    store = serve(storage).url
    repo = tmp_path / "registry"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("# registry\n")
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "pages.yml").write_text("on: push\n")
    (repo / "_layouts").mkdir()
    (repo / "_layouts" / "default.html").write_text("<html></html>\n")
    add_collection(repo, "lab/other", [manifest("lab/other", "latest", size, digest, f"{store}/good.sif")])
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial")
    return Env(repo, store, size, digest)


def only_error(result: VerifyResult) -> Finding:
    errors = [f for f in result.findings if f.severity == "error"]
    assert len(errors) == 1, errors
    assert not result.ok
    return errors[0]


def new_collection(env: Env, ns: str = "lab/tools", **manifest_kw: str) -> dict[str, str | None]:
    from static_registry.documents import collection_readme, tags_readme

    return {
        f"{ns}/README.md": collection_readme("Tools", "\nSome tools.\n"),
        f"{ns}/tags/README.md": tags_readme(),
        f"{ns}/manifests/1.0/README.md": env.manifest_text(ns, "1.0", **manifest_kw),  # type: ignore[arg-type]
        f"{ns}/manifests/latest/README.md": env.manifest_text(ns, "latest"),
    }


def test_good_pull_request_passes(env: Env) -> None:
    branch = env.branch("update/lab/tools", new_collection(env))
    result = env.check(branch)
    assert result.ok, result.findings
    assert result.collection == "lab/tools"
    assert [(r.tag, r.ok) for r in result.rows] == [("1.0", True), ("latest", True)]
    summary = result.summary_markdown()
    assert "| Collection | Tag | Size | Digest | URL | Result |" in summary
    assert "✅ size and digest match" in summary
    # removing a tag is fine too
    git(env.repo, "checkout", "-q", "-B", "main", branch)
    removal = env.branch("update/lab/tools", {"lab/tools/manifests/1.0/README.md": None})
    result = env.check(removal)
    assert result.ok and [(r.tag, r.result) for r in result.rows] == [("1.0", "tag removed")]


def test_namespace_escape(env: Env) -> None:
    files = new_collection(env)
    files["lab/other/manifests/evil/README.md"] = env.manifest_text("lab/other", "evil")
    finding = only_error(env.check(env.branch("update/lab/tools", files)))
    assert finding.path == "lab/other/manifests/evil/README.md"
    assert finding.message == (
        "'lab/other/manifests/evil/README.md' belongs to collection 'lab/other', "
        "but branch 'update/lab/tools' may only change 'lab/tools/'."
    )


@pytest.mark.parametrize("path", [".github/workflows/pages.yml", "_layouts/default.html", "index.html"])
def test_site_files_may_not_change(env: Env, path: str) -> None:
    files = new_collection(env)
    files[path] = "<script>steal()</script>\n"
    finding = only_error(env.check(env.branch("update/lab/tools", files)))
    assert finding.path == path
    assert "is outside collection 'lab/tools/'" in finding.message
    # allowed when the registry says so
    result = env.check(
        "update/lab/tools", VerifyOptions(**{**OPTS.__dict__, "allow_paths": ["_layouts/", "*.html", ".github/*"]})
    )
    assert result.ok, result.findings


def test_dotdot_and_odd_paths(env: Env) -> None:
    from static_registry.verify import ChangedFile, verify

    for path, phrase in [
        ("lab/tools/../other/README.md", "contains '..'"),
        ("/etc/passwd", "is absolute"),
        ("lab/tools/manifests/a b/README.md", "characters other than"),
        ("lab\\tools/README.md", "backslash"),
    ]:
        result = verify(env.repo, [ChangedFile(path, "added")], head_branch="update/lab/tools", options=OPTS)
        finding = only_error(result)
        assert phrase in finding.message, finding


def test_symlink_is_rejected(env: Env) -> None:
    files = new_collection(env)
    env.branch("update/lab/tools", files)
    git(env.repo, "checkout", "-q", "update/lab/tools")
    os.symlink("/etc/passwd", env.repo / "lab/tools/tags/README.md.x")
    os.remove(env.repo / "lab/tools/tags/README.md")
    os.symlink("/etc/passwd", env.repo / "lab/tools/tags/README.md")
    os.remove(env.repo / "lab/tools/tags/README.md.x")
    git(env.repo, "add", "-A")
    git(env.repo, "commit", "-q", "-m", "link")
    git(env.repo, "checkout", "-q", "main")
    finding = only_error(env.check("update/lab/tools"))
    assert finding.message == "'lab/tools/tags/README.md' is a symbolic link; the registry accepts only regular files."


def test_unknown_files_and_bad_front_matter(env: Env) -> None:
    files = new_collection(env)
    files["lab/tools/manifests/1.0/Singularity"] = "Bootstrap: scratch\n"
    finding = only_error(env.check(env.branch("update/lab/tools", files)))
    assert "is not a registry file" in finding.message
    files = new_collection(env)
    files["lab/tools/manifests/latest/README.md"] = "---\nlayout: manifests/singularity\nsize: 12\ndigest: [oops\n---\n"
    finding = only_error(env.check(env.branch("update/lab/tools", files)))
    assert finding.path == "lab/tools/manifests/latest/README.md" and finding.line is not None and finding.line >= 4
    assert "not valid YAML" in finding.message
    files = new_collection(env)
    files["lab/tools/manifests/latest/README.md"] = env.manifest_text("lab/tools", "latest").replace(
        f"digest: {env.digest}", "digest: md5:abc", 1
    )
    finding = only_error(env.check(env.branch("update/lab/tools", files)))
    assert "'digest' must be 'sha256:'" in finding.message and finding.line == 4


def test_bad_tag(env: Env) -> None:
    files = new_collection(env)
    files["lab/tools/manifests/-x/README.md"] = env.manifest_text("lab/tools", "latest")
    finding = only_error(env.check(env.branch("update/lab/tools", files)))
    assert "'-x' in 'lab/tools/manifests/-x/README.md' is not a valid tag" in finding.message


def test_wrong_digest(env: Env) -> None:
    files = new_collection(env, url=f"{env.store}/bad.sif")
    finding = only_error(env.check(env.branch("update/lab/tools", files)))
    assert finding.path == "lab/tools/manifests/1.0/README.md" and finding.line is not None
    assert finding.message.startswith(f"The object at {env.store}/bad.sif has digest sha256:")
    assert finding.message.endswith(f"but the manifest says {env.digest}.")


def test_wrong_size(env: Env) -> None:
    finding = only_error(env.check(env.branch("update/lab/tools", new_collection(env, url=f"{env.store}/short.sif"))))
    assert (
        finding.message
        == f"The object at {env.store}/short.sif is {env.size - 10} bytes, but the manifest says {env.size}."
    )
    # bigger object than the manifest says: stops early
    files = new_collection(env)
    files["lab/tools/manifests/1.0/README.md"] = env.manifest_text("lab/tools", "1.0", size=100)
    files["lab/tools/manifests/latest/README.md"] = env.manifest_text("lab/tools", "latest", size=100)
    result = env.check(env.branch("update/lab/tools", files))
    assert {f.message for f in result.findings} == {
        f"The object at {env.store}/good.sif is larger than the 100 bytes the manifest says."
    }


def test_unreachable_url(env: Env) -> None:
    finding = only_error(env.check(env.branch("update/lab/tools", new_collection(env, url=f"{env.store}/missing.sif"))))
    assert finding.message == f"Layer URL {env.store}/missing.sif could not be downloaded (HTTP 404 File not found)."
    finding = only_error(env.check(env.branch("update/lab/tools", new_collection(env, url="http://127.0.0.1:9/x.sif"))))
    assert finding.message == "Layer URL http://127.0.0.1:9/x.sif could not be downloaded (connection refused)."


def test_http_needs_allow_http(env: Env) -> None:
    branch = env.branch("update/lab/tools", new_collection(env))
    result = env.check(branch, VerifyOptions(retry_delay=0.01))
    messages = sorted(f.message for f in result.findings)
    assert (
        messages
        == [
            f"Layer URL {env.store}/good.sif uses http; use an https URL (allow-http is only for test registries).",
        ]
        * 2
    )


def test_host_not_allowed(env: Env) -> None:
    branch = env.branch("update/lab/tools", new_collection(env))
    result = env.check(
        branch, VerifyOptions(**{**OPTS.__dict__, "allowed_hosts": ["storage.example.org", "*.s3.amazonaws.com"]})
    )
    assert {f.message for f in result.findings} == {
        "Layer URL host '127.0.0.1' is not in allowed-hosts (storage.example.org, *.s3.amazonaws.com)."
    }
    assert env.check(branch, VerifyOptions(**{**OPTS.__dict__, "allowed_hosts": ["127.0.0.*"]})).ok


def test_branch_must_name_the_collection(env: Env) -> None:
    finding = only_error(env.check(env.branch("my-feature", {"lab/tools/README.md": "---\nlayout: collection\n---\n"})))
    assert finding.message.startswith("Branch 'my-feature' does not name a collection ('update/<owner>/<repo>')")


def test_fork_may_only_touch_its_owner(env: Env) -> None:
    branch = env.branch("update/lab/tools", new_collection(env))
    result = env.check(branch, head_repository="mallory/registry", base_repository="lab/registry")
    finding = only_error(result)
    assert finding.message == (
        "This pull request comes from the fork mallory/registry, so it may only change collections of 'mallory', "
        "not 'lab/tools'."
    )
    assert env.check(branch, head_repository="lab/registry-fork", base_repository="org/registry").ok


def test_changed_files_git(env: Env) -> None:
    branch = env.branch("update/lab/tools", {**new_collection(env), "lab/other/manifests/latest/README.md": None})
    files = {(f.path, f.status) for f in changed_files_git(env.repo, "main", branch)}
    assert ("lab/other/manifests/latest/README.md", "removed") in files
    assert ("lab/tools/manifests/1.0/README.md", "added") in files
