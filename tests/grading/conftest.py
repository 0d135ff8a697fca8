"""Shared fixtures of the grading tests: the fixture course and copies of it."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .lesson_class import lesson_class  # noqa: F401 (the shared graded class of the real lessons: one definition)

FIXTURE_COURSE = Path(__file__).resolve().parent / "fixtures" / "course"
FIXTURE_ASSIGNMENT = "00_fixture"


@pytest.fixture
def fixture_course(tmp_path: Path) -> Path:
    """A private copy of the fixture course (source/ and release/) in tmp_path."""
    root = tmp_path / "course"
    shutil.copytree(FIXTURE_COURSE, root)
    return root


def processes_matching(marker: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmdline:
            found.append(f"{pid}: {cmdline}")
    return found
