from __future__ import annotations

from pathlib import Path

import pytest

from static_registry.errors import UserError
from static_registry.model import Recipe
from static_registry.recipes import check_recipe, discover, parse_patterns, tag_of


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize(
    ("name", "tag"),
    [
        ("Singularity", "latest"),
        ("Singularity.3.8.1", "3.8.1"),
        ("Singularity.centos.7", "centos.7"),
        ("Apptainer", "latest"),
        ("Apptainer.dev", "dev"),
        ("Singularity.", ""),
        ("README.md", None),
        ("Singularityfile", None),
        ("singularity.x", None),
    ],
)
def test_tag_is_everything_after_the_first_dot(name: str, tag: str | None) -> None:
    assert tag_of(name) == tag


def test_discover_finds_recipes_anywhere_but_git_and_frozen(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "Singularity": "",
            "envs/py/Singularity.3.11": "",
            "Apptainer.dev": "",
            ".git/Singularity.git": "",
            "old/.frozen": "",
            "old/Singularity.old": "",
            "old/deeper/Singularity.older": "",
            "docs/README.md": "",
        },
    )
    found = discover(tmp_path)
    assert [(r.path.as_posix(), r.tag) for r in found] == [
        ("Apptainer.dev", "dev"),
        ("Singularity", "latest"),
        ("envs/py/Singularity.3.11", "3.11"),
    ]


def test_duplicate_tag_names_both_files(tmp_path: Path) -> None:
    write(tmp_path, {"a/Singularity.x": "", "b/Singularity.x": ""})
    with pytest.raises(UserError) as e:
        discover(tmp_path)
    assert "a/Singularity.x" in str(e.value) and "b/Singularity.x" in str(e.value)
    assert "'x'" in str(e.value)


@pytest.mark.parametrize(
    "name", ["Singularity.-x", "Singularity..x", "Singularity.a:b", "Singularity.", "Singularity." + "a" * 129]
)
def test_tags_breaking_the_oci_grammar_are_refused(tmp_path: Path, name: str) -> None:
    write(tmp_path, {name: ""})
    with pytest.raises(UserError, match="not a valid tag"):
        discover(tmp_path)


def test_128_character_tag_is_fine(tmp_path: Path) -> None:
    write(tmp_path, {"Singularity." + "a" * 128: ""})
    assert discover(tmp_path)[0].tag == "a" * 128


def test_patterns_narrow_and_widen(tmp_path: Path) -> None:
    write(tmp_path, {"Singularity": "", "envs/Singularity.a": "", "defs/python.def": "", "defs/skip.def": ""})
    assert [r.tag for r in discover(tmp_path, parse_patterns("envs/**"))] == ["a"]
    widened = discover(tmp_path, parse_patterns("**/*.def, Singularity\n!defs/skip.def"))
    assert sorted((r.path.as_posix(), r.tag) for r in widened) == [
        ("Singularity", "latest"),
        ("defs/python.def", "python"),
    ]


def test_symlink_out_of_the_repository_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_text("Bootstrap: scratch\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "Singularity").symlink_to(outside)
    with pytest.raises(UserError, match="outside the repository"):
        discover(repo)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("Bootstrap: scratch\n\n%post\n  true\n%bogus\n", 5, "unknown section '%bogus'"),
        ("# comment\nBootstrap docker\nFrom: x\n", 2, "not a 'Keyword: value' header line"),
        ("From: ubuntu\n%post\n", 1, "no 'Bootstrap:' line"),
        ("\nBootstrap: dockr\nFrom: ubuntu\n", 2, "'Bootstrap: dockr' is not a bootstrap agent"),
        ("Bootstrap: docker\n%post\n  true\n", 1, "needs a 'From:' line"),
    ],
)
def test_broken_headers_are_reported_with_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    write(tmp_path, {"sub/Singularity.t": text})
    with pytest.raises(UserError) as e:
        check_recipe(tmp_path, Recipe(Path("sub/Singularity.t"), "t"))
    assert e.value.line == line
    assert e.value.file == "sub/Singularity.t"
    assert message in e.value.message
    assert e.value.message.startswith(f"sub/Singularity.t:{line}:")


def test_good_recipes_pass_and_say_their_source(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "Singularity": "Bootstrap: docker\nFrom: ubuntu:24.04 # base\n\n%post\n    apt-get update\n%runscript\n    echo hi\n",
            "Singularity.multi": "Bootstrap: docker\nFrom: golang:1\nStage: build\n%post\n  go build\nBootstrap: scratch\n%files from build\n  /x /x\n",
        },
    )
    info = check_recipe(tmp_path, Recipe(Path("Singularity"), "latest"))
    assert (info.bootstrap, info.source) == ("docker", "ubuntu:24.04")
    assert check_recipe(tmp_path, Recipe(Path("Singularity.multi"), "multi")).bootstrap == "scratch"
