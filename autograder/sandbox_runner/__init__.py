"""The in-sandbox side of grading, one job per module.

- :mod:`.limits`: privileges and resource limits of the processes in the sandbox;
- :mod:`.outputs`: the output budget (what is kept of a notebook's output);
- :mod:`.kernel`: the student's kernel, driven by ``jupyter_client``;
- :mod:`.codec`, :mod:`.student_side`, :mod:`.channel`: the proxy channel
  between the judge and the student's kernel (plain data only);
- :mod:`.judge_process`: the judge, which runs the master's tests;
- :mod:`.guard`, :mod:`.records`: for the few tests judged in the student's kernel;
- :mod:`.main`: the runner that puts them together (started by ``__main__``).

Inside the sandbox this folder is the top-level package ``sandbox_runner``; the
grader imports it as ``autograder.sandbox_runner`` (tests, digests). Nothing
here imports the rest of ``autograder``.
"""
from pathlib import Path

from .outputs import CellOutputs, OutputBudget
from .records import RecordReader

PACKAGE_DIR = Path(__file__).resolve().parent

__all__ = ["CellOutputs", "OutputBudget", "RecordReader", "PACKAGE_DIR", "source_files"]


def source_files() -> list[Path]:
    """The runner's source files, in a fixed order (what a cached reference depends on)."""
    return sorted(PACKAGE_DIR.glob("*.py"))
