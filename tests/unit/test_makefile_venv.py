"""A copied or moved checkout rebuilds its .venv instead of running the old checkout's code.

`make -n` (dry run) shows what `make setup` would do, without pip or the network.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _checkout(where: Path, built_for: str | None, pip_shebang: str | None = None) -> Path:
    """A checkout with the kit's Makefile and a .venv built (as its stamp says) for ``built_for``."""
    where.mkdir(parents=True)
    for name in ("Makefile", "pyproject.toml", "constraints.txt"):
        shutil.copy(ROOT / name, where / name)
    bin_dir = where / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text("")
    (bin_dir / "python").chmod(0o755)
    if pip_shebang is not None:
        (bin_dir / "pip").write_text(f"#!{pip_shebang}\nimport sys\n")
    stamp = where / ".venv" / ".installed"
    stamp.write_text("" if built_for is None else built_for + "\n")
    later = (where / "pyproject.toml").stat().st_mtime + 10
    os.utime(stamp, (later, later))  # newer than its prerequisites: only the path can make it stale
    return where


def _dry_setup(checkout: Path) -> str:
    proc = subprocess.run(["make", "-n", "setup"], cwd=checkout, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_a_venv_built_here_is_left_alone(tmp_path):
    here = tmp_path / "course"
    out = _dry_setup(_checkout(here, str(here)))
    assert "pip install" not in out and "rm -rf" not in out, out


def test_a_copied_checkout_rebuilds_its_venv(tmp_path):
    original = tmp_path / "kit"
    copy = _checkout(tmp_path / "my-course", str(original))  # as `cp -a kit my-course` leaves it
    out = _dry_setup(copy)
    assert "rm -rf .venv" in out, out
    assert "pip install" in out and f'echo "{copy}" > .venv/.installed' in out, out


def test_an_old_stamp_without_a_path_is_judged_by_the_venvs_own_scripts(tmp_path):
    here = tmp_path / "course"
    moved = _dry_setup(_checkout(tmp_path / "moved", None, pip_shebang=f"{tmp_path}/elsewhere/.venv/bin/python"))
    assert "rm -rf .venv" in moved, moved
    same = _dry_setup(_checkout(here, None, pip_shebang=f"{here}/.venv/bin/python"))
    assert "pip install" not in same, same
