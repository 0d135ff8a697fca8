"""Reading and writing notebooks in one reproducible form.

Released notebooks are committed, so regenerating them must give the same bytes:
no outputs, no execution counts, no volatile metadata, stable cell ids, sorted
JSON keys, one-space indentation and a trailing newline (what ``nbformat.write``
produces, so Jupyter saving the file unchanged keeps it identical).
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import nbformat

# Cell metadata that records how and when a cell last ran, not what it is.
VOLATILE_CELL_METADATA = ("execution", "ExecuteTime", "collapsed", "scrolled")
# Notebook metadata that editors add per machine or per session.
VOLATILE_NOTEBOOK_METADATA = ("widgets", "toc", "varInspector", "colab", "vscode")


def stable_cell_id(cell: Any, index: int, seen: set[str]) -> str:
    """An id for ``cell`` that does not change between runs.

    The nbgrader ``grade_id`` when the cell has one (unique per notebook), else a
    short hash of the cell's position and source; de-duplicated against ``seen``.
    """
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    if grade_id:
        base = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in grade_id)[:64]
    else:
        digest = hashlib.sha1(f"{index}\0{cell.get('source', '')}".encode()).hexdigest()
        base = f"cell-{digest[:12]}"
    candidate, n = base, 1
    while candidate in seen:
        n += 1
        candidate = f"{base}-{n}"
    seen.add(candidate)
    return candidate


def normalise(nb: Any) -> Any:
    """Strip ``nb`` in place of everything that varies between runs; return it.

    Outputs and execution counts are cleared, volatile metadata dropped, and
    every cell gets a stable id (nbformat 4.5).
    """
    nb.nbformat, nb.nbformat_minor = 4, max(5, int(nb.get("nbformat_minor", 5)))
    for key in VOLATILE_NOTEBOOK_METADATA:
        nb.metadata.pop(key, None)
    seen: set[str] = set()
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        else:
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
        if "attachments" in cell and not cell.attachments:
            del cell["attachments"]
        for key in VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
        cell.id = stable_cell_id(cell, index, seen)
    return nb


def dumps(nb: Any) -> str:
    """The canonical text of ``nb``: sorted keys, indent 1, trailing newline."""
    text = nbformat.writes(nb, version=4)
    return text if text.endswith("\n") else text + "\n"


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
