"""Where a course lives: the ``source/``, ``release/`` layout and lesson names."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# Lessons are folders named ``NN_slug`` holding one notebook named like the folder.
LESSON_NAME = re.compile(r"^\d{2}_[A-Za-z0-9][A-Za-z0-9_\-]*$")


@dataclass(frozen=True)
class Course:
    """A course directory: ``root/source/NAME/NAME.ipynb`` and ``root/release/...``."""

    root: Path

    @property
    def source_dir(self) -> Path:
        return self.root / "source"

    @property
    def release_dir(self) -> Path:
        return self.root / "release"

    def lessons(self) -> list[str]:
        """Names of the assignments found in ``source/`` (folders holding a notebook), sorted."""
        if not self.source_dir.is_dir():
            return []
        return sorted(
            d.name
            for d in self.source_dir.iterdir()
            if d.is_dir() and not d.name.startswith(".") and any(d.glob("*.ipynb"))
        )

    def source_notebooks(self, name: str) -> list[Path]:
        """The source notebooks of assignment ``name``, sorted by file name."""
        return sorted(p for p in (self.source_dir / name).glob("*.ipynb"))


def default_course_root() -> Path:
    """The course directory to use when none is given.

    The current directory when it has a ``source/`` folder, otherwise the
    repository this package was installed from (editable install).
    """
    cwd = Path.cwd()
    if (cwd / "source").is_dir():
        return cwd
    return Path(__file__).resolve().parent.parent
