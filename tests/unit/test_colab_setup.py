"""Colab: each lesson opens from the repository and installs the library offline-safely.

The install cell is executed with the real pip stubbed out (it would need the
internet); everything else about it runs for real.
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.config import resolve
from autograder.release import colab_url, install_spec

ROOT = Path(__file__).resolve().parents[2]
PUBLISHING = resolve(ROOT).publishing  # the kit's own nbgrader_config.py
REPO_URL = f"https://github.com/{PUBLISHING.repository}"
NOTEBOOKS = sorted((ROOT / "release").glob("*/*.ipynb")) + sorted((ROOT / "source").glob("*/*.ipynb"))


def _install_cell(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return next(c.source for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_first_code_cell_installs_only_when_missing(path, monkeypatch):
    code = _install_cell(path)
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append((cmd, kw)))

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)   # as in a fresh Colab
    exec(compile(code, str(path), "exec"), {})
    assert len(calls) == 1, "the set-up cell must run pip exactly once when dlbricks is missing"
    cmd, kw = calls[0]
    assert cmd[:4] == [sys.executable, "-m", "pip", "install"], cmd
    spec = next((part for part in cmd if part.startswith("dlbricks @ git+")), None)
    assert spec is not None, cmd
    if path.parent.parent.name == "release":  # stamped by `autograder release` from the configuration
        assert spec == install_spec(PUBLISHING), (spec, install_spec(PUBLISHING))
    else:
        assert spec.startswith(f"dlbricks @ git+{REPO_URL}"), spec
    assert not any("tensorflow" in part or "[" in part for part in cmd), \
        "the install must not pull TensorFlow or extras: Colab's own TensorFlow stays"
    assert kw.get("check") is True

    calls.clear()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())  # kit's environment
    exec(compile(code, str(path), "exec"), {})
    assert calls == [], "with dlbricks installed the set-up cell must do nothing"


@pytest.mark.parametrize("path", sorted((ROOT / "release").glob("*/*.ipynb")), ids=lambda p: p.name)
def test_release_notebook_has_an_open_in_colab_badge(path):
    rel = path.relative_to(ROOT).as_posix()
    url = colab_url(PUBLISHING, rel)
    nb = nbformat.read(path, as_version=4)
    first_markdown = next(c.source for c in nb.cells if c.cell_type == "markdown")
    assert url in first_markdown, f"{rel}: the first markdown cell should link {url}"
    assert url in (ROOT / "README.md").read_text(), \
        f"README should carry the Colab badge for {rel}: run `autograder release` (it regenerates the lesson table)"


def test_pip_install_leaves_tensorflow_alone():
    # Colab already has TensorFlow: the core dependencies must not name it.
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any("tensorflow" in dep or "keras" in dep for dep in project["dependencies"])
