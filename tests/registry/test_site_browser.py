"""The rendered site in headless Chromium: collections listed, search filters, tags shown.

Needs Debian's ``chromium`` and ``chromium-driver`` packages and the ``selenium`` package;
the test fails (never skips) when they are missing. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from static_registry.render import render
from tests.registry.helpers import StaticServer, add_collection, manifest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
D = "sha256:" + "c0ffee" * 10 + "abcd"


@pytest.fixture
def browser() -> Iterator[Any]:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} not found: install Debian's chromium and chromium-driver packages "
            "(apt-get install chromium chromium-driver) to run the browser test.",
            pytrace=False,
        )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("The selenium package is missing: pip install selenium to run the browser test.", pytrace=False)
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1280,900",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def site(tmp_path: Path, serve: Callable[[Path], StaticServer]) -> str:
    reg = tmp_path / "registry"
    reg.mkdir()
    entries = {
        "hpc-lab/centos": ("CentOS base images with MPI and compilers for the cluster.", ["7", "8", "latest"]),
        "hpc-lab/ubuntu": ("Ubuntu 22.04 with Python 3 and the lab's analysis stack.", ["22.04", "latest"]),
        "bioinfo/samtools": ("samtools, bcftools and htslib, built from source.", ["1.17", "1.18", "1.19", "latest"]),
        "bioinfo/gatk": ("GATK 4 with Java 17.", ["4.4.0.0"]),
        "vision/pytorch-cuda": ('PyTorch with CUDA 12 — "fast" <GPU> images.', ["2.1", "2.2"]),
        "org/tagsoup": ("A collection whose name contains 'tags'.", []),
    }
    for i, (ns, (description, tags)) in enumerate(entries.items()):
        ms = [
            manifest(
                ns,
                tag,
                50_000_000 + 1_234_567 * (i + j),
                D,
                f"https://storage.example.org/{ns}/{tag}.sif",
                created=f"2024-0{1 + j}-1{i}T10:00:00Z",
                recipe=f"Singularity.{tag}",
                source=f"https://github.com/{ns}",
                revision="0123456789abcdef",
            )
            for j, tag in enumerate(tags)
        ]
        body = (
            f"\n## {ns}\n\n{description}\n\n### Usage\n\n```\napptainer run {ns.split('/')[1]}_latest.sif\n```\n\n"
            "- built by GitHub Actions\n- stored in object storage\n"
        )
        add_collection(reg, ns, ms, description=description, body=body)
    out = tmp_path / "site"
    render(reg, out, "https://hpc-lab.github.io/registry", title="HPC Lab container registry")
    return serve(out).url


def visible_names(driver: Any) -> list[str]:
    from selenium.webdriver.common.by import By

    return [
        li.find_element(By.CSS_SELECTOR, "a.name").text
        for li in driver.find_elements(By.CSS_SELECTOR, "#collections li")
        if li.is_displayed()
    ]


def test_home_search_and_collection_page(browser: Any, site: str) -> None:
    from selenium.webdriver.common.by import By

    ARTIFACTS.mkdir(exist_ok=True)
    browser.get(f"{site}/")
    assert browser.title == "HPC Lab container registry"
    assert visible_names(browser) == [
        "bioinfo/gatk",
        "bioinfo/samtools",
        "hpc-lab/centos",
        "hpc-lab/ubuntu",
        "org/tagsoup",
        "vision/pytorch-cuda",
    ]
    browser.save_screenshot(str(ARTIFACTS / "registry-home.png"))

    box = browser.find_element(By.ID, "search")
    box.send_keys("bioinfo")
    assert visible_names(browser) == ["bioinfo/gatk", "bioinfo/samtools"]
    assert browser.find_element(By.ID, "count").text == "2 of 6 collections"
    box.send_keys(" java")
    assert visible_names(browser) == ["bioinfo/gatk"]
    browser.save_screenshot(str(ARTIFACTS / "registry-search.png"))
    box.clear()
    box.send_keys("no such thing")
    assert visible_names(browser) == []
    assert browser.find_element(By.ID, "none").is_displayed()

    browser.get(f"{site}/?q=centos")
    assert visible_names(browser) == ["hpc-lab/centos"]
    browser.find_element(By.LINK_TEXT, "hpc-lab/centos").click()
    assert browser.current_url == f"{site}/hpc-lab/centos/"
    assert browser.find_element(By.TAG_NAME, "h1").text == "hpc-lab/centos"
    tags = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "table.tags td .tag")]
    assert tags == ["7", "8", "latest"]
    commands = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "table.tags .cmd code")]
    assert "static-registry pull https://hpc-lab.github.io/registry/hpc-lab/centos:latest" in commands
    assert "apptainer run centos_latest.sif" in browser.find_element(By.CSS_SELECTOR, ".readme pre").text
    browser.save_screenshot(str(ARTIFACTS / "registry-collection.png"))

    browser.get(f"{site}/vision/pytorch-cuda/")
    assert browser.find_element(By.CSS_SELECTOR, "p.lead").text == 'PyTorch with CUDA 12 — "fast" <GPU> images.'
    browser.get(f"{site}/org/tagsoup/")
    assert "no tags yet" in browser.find_element(By.TAG_NAME, "main").text
