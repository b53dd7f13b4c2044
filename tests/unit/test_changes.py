from __future__ import annotations

from pathlib import Path

from static_registry.changes import ZERO_SHA, from_event, since
from static_registry.recipes import discover
from tests.support.action_runner import ContainerRepo


def test_push_builds_changed_recipes_and_removes_deleted_tags(tmp_path: Path) -> None:
    repo = ContainerRepo.create(tmp_path / "r", {"old/Singularity.old": "Bootstrap: scratch\n"})
    before, after = repo.commit(
        {"tools/Singularity.tools": "Bootstrap: scratch\n# changed\n", "old/Singularity.old": None}
    )
    changes = from_event("push", {"before": before, "after": after}, repo.path)
    recipes = discover(repo.path)
    assert changes.publish and not changes.build_all
    assert [r.tag for r in changes.selected(recipes)] == ["tools"]
    assert changes.removed_tags(recipes) == ["old"]
    assert changes.revision == after


def test_a_moved_recipe_keeps_its_tag(tmp_path: Path) -> None:
    repo = ContainerRepo.create(tmp_path / "r")
    text = (repo.path / "tools/Singularity.tools").read_text()
    before, after = repo.commit({"tools/Singularity.tools": None, "moved/Singularity.tools": text})
    changes = from_event("push", {"before": before, "after": after}, repo.path)
    recipes = discover(repo.path)
    assert [r.path.as_posix() for r in changes.selected(recipes)] == ["moved/Singularity.tools"]
    assert changes.removed_tags(recipes) == []


def test_events_that_build_everything(tmp_path: Path) -> None:
    repo = ContainerRepo.create(tmp_path / "r")
    head = repo.head()
    cases = [
        ("push", {"before": ZERO_SHA, "after": head, "created": True}),
        ("push", {"before": "1" * 40, "after": head, "forced": True}),
        ("push", {"before": "1" * 40, "after": head}),  # before not in a shallow checkout
        ("workflow_dispatch", {}),
        ("schedule", {}),
    ]
    for name, event in cases:
        changes = from_event(name, event, repo.path)
        assert changes.build_all and changes.publish, (name, event)
        assert len(changes.selected(discover(repo.path))) == 2


def test_pull_request_builds_but_never_publishes(tmp_path: Path) -> None:
    repo = ContainerRepo.create(tmp_path / "r")
    base = repo.head()
    _, head = repo.commit({"Singularity": "Bootstrap: scratch\n# pr\n"})
    changes = from_event("pull_request", {"pull_request": {"base": {"sha": base}, "head": {"sha": head}}}, repo.path)
    assert not changes.publish
    assert [r.tag for r in changes.selected(discover(repo.path))] == ["latest"]


def test_since_for_the_command_line(tmp_path: Path) -> None:
    repo = ContainerRepo.create(tmp_path / "r")
    base = repo.head()
    repo.commit({"Singularity": "Bootstrap: scratch\n# x\n"})
    assert [r.tag for r in since(repo.path, base).selected(discover(repo.path))] == ["latest"]
