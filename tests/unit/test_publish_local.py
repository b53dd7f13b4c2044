"""Publishing to a local git registry: the branch rules without a GitHub API."""

from __future__ import annotations

from pathlib import Path

from static_registry.documents import Layer, Manifest, write_collection
from static_registry.publish import Identity, Publisher, PublishRequest, Registry, TagChanges, Texts
from tests.support.action_runner import git, local_registry

DIGEST = "sha256:" + "cd" * 32
BOT = Identity("bot", "bot@example.invalid")


def registry(tmp_path: Path) -> Registry:
    path = local_registry(tmp_path / "registry")
    return Registry.parse(str(path), "https://github.com", tmp_path)


def publish(reg: Registry, tags: list[str], removed: list[str] = ()) -> tuple[str, TagChanges]:  # type: ignore[assignment]
    seen: list[TagChanges] = []

    def apply(tree: Path) -> None:
        ms = [Manifest("org/repo", t, 1, DIGEST, (Layer(1, DIGEST, f"https://x/{t}.sif"),)) for t in tags]
        write_collection(tree, "org/repo", ms, removed, "d", "")

    def compose(tree: Path, changes: TagChanges) -> Texts:
        seen.append(changes)
        return Texts("msg", "title", "body")

    request = PublishRequest(reg, "org/repo", "update/org/repo", "", "", "", BOT, BOT)
    result = Publisher(request, lambda _: None).publish(apply, compose)
    return result.operation, seen[-1] if seen else TagChanges()


def files(reg: Registry, ref: str) -> set[str]:
    return set(git(Path(reg.url), "ls-tree", "-r", "--name-only", ref).splitlines())


def test_waiting_update_is_kept_until_merged(tmp_path: Path) -> None:
    reg = registry(tmp_path)
    assert publish(reg, ["a"])[0] == "created"
    op, changes = publish(reg, ["b"])
    assert op == "updated"
    assert changes == TagChanges(added=("a", "b"))  # the PR says all it proposes against the base
    assert {"org/repo/manifests/a/README.md", "org/repo/manifests/b/README.md"} <= files(reg, "update/org/repo")
    assert publish(reg, ["b"])[0] == "none"  # nothing new: no commit
    tip = git(Path(reg.url), "rev-parse", "update/org/repo")
    assert publish(reg, ["b"])[0] == "none"
    assert git(Path(reg.url), "rev-parse", "update/org/repo") == tip
    # merged: the next update starts from the new base and carries nothing stale over
    git(Path(reg.url), "merge", "-q", "--ff-only", "update/org/repo")
    op, changes = publish(reg, [], removed=["a"])
    assert op == "updated" and changes == TagChanges(removed=("a",))
    assert "org/repo/manifests/a/README.md" not in files(reg, "update/org/repo")
    assert "org/repo/manifests/b/README.md" in files(reg, "update/org/repo")


def test_base_moved_branch_is_rebuilt_on_it(tmp_path: Path) -> None:
    reg = registry(tmp_path)
    publish(reg, ["a"])
    (Path(reg.url) / "SITE.md").write_text("new site file\n")
    git(Path(reg.url), "add", "-A")
    git(Path(reg.url), "commit", "-q", "-m", "site change")
    assert publish(reg, ["a"])[0] == "updated"  # same content, but rebased on the moved base
    base = git(Path(reg.url), "rev-parse", "main")
    assert git(Path(reg.url), "rev-parse", "update/org/repo^") == base
    assert "SITE.md" in files(reg, "update/org/repo")


def test_nothing_to_propose_against_the_base(tmp_path: Path) -> None:
    reg = registry(tmp_path)
    publish(reg, ["a"])
    git(Path(reg.url), "merge", "-q", "--ff-only", "update/org/repo")
    assert publish(reg, ["a"])[0] == "none"
