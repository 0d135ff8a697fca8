"""autograder: the instructor-facing side of the teaching kit.

``autograder release`` regenerates student notebooks from the nbgrader sources;
``autograder grade`` grades a folder of untrusted submissions in a sandbox, judges
the values the checks exported outside the student's kernel, and writes grades,
the nbgrader gradebook and per-student feedback; ``autograder demo`` shows both on
the sample submissions in ``examples/``.
"""
from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
