from __future__ import annotations

from pathlib import Path

import pytest

from entrypoint import inputs, sanitize
from static_registry.errors import UserError
from static_registry.options import PublishOptions


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"GITHUB_WORKSPACE": str(tmp_path), "GITHUB_REPOSITORY": "Org/Repo", **extra}


def test_inputs_keep_hyphens_and_accept_underscores() -> None:
    raw = inputs(
        {"INPUT_BUILD-OPTIONS": "--fakeroot", "INPUT_STORAGE_PATH": "x", "INPUT_REGISTRY": "o/r", "PATH": "/bin"}
    )
    assert raw == {"build-options": "--fakeroot", "storage-path": "x", "registry": "o/r"}
    both = inputs({"INPUT_BRANCH_PREFIX": "old/", "INPUT_BRANCH-PREFIX": "new/"})
    assert both == {"branch-prefix": "new/"}


def test_hostile_environment_is_reset(tmp_path: Path) -> None:
    e = {
        "PATH": "utter-nonsense:/nonexistent",
        "HOME": "/nonexistent",
        "LD_LIBRARY_PATH": "/evil",
        "PYTHONPATH": "/evil",
    }
    sanitize(e)
    assert e["PATH"].split(":")[:1] != ["utter-nonsense"]
    assert "utter-nonsense" not in e["PATH"] and "/usr/bin" in e["PATH"].split(":")
    assert "LD_LIBRARY_PATH" not in e and "PYTHONPATH" not in e
    assert e["HOME"] in ("/root", "/github/home")


def test_defaults_and_derived_values(tmp_path: Path) -> None:
    o = PublishOptions.from_inputs(
        {"registry": "org/registry"}, env(tmp_path, GITHUB_API_URL="https://ghe.example/api/v3/")
    )
    assert o.repository == "Org/Repo"
    assert o.api_url == "https://ghe.example/api/v3"
    assert o.builder == "auto" and o.storage == "file" and o.branch_prefix == "update/"
    assert o.build_all is False and o.draft is False


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "Input 'registry' is required"),
        (
            {"registry": "o/r", "builder": "magic"},
            "Input 'builder' is 'magic'; use one of auto, in-place, docker, none.",
        ),
        ({"registry": "o/r", "draft": "maybe"}, "Input 'draft' is 'maybe'; write true or false."),
        ({"registry": "o/r", "path": "/nonexistent/x"}, "Input 'path' is /nonexistent/x, which is not a folder"),
    ],
)
def test_bad_inputs_get_one_sentence(tmp_path: Path, raw: dict[str, str], message: str) -> None:
    with pytest.raises(UserError) as e:
        PublishOptions.from_inputs(raw, env(tmp_path))
    assert str(e.value).startswith(message)
