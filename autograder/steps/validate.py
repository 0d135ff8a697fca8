"""Step 1, in the trusted parent: is the submitted file a notebook we can grade?"""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import nbformat

MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
MAX_CELLS = 2000


class InvalidSubmission(ValueError):
    """The file cannot be graded; the message says why, in words a student can act on."""


def load_submission(path: Path, max_bytes: int = MAX_NOTEBOOK_BYTES, root: Path | None = None) -> Any:
    """Read and check a submitted notebook.

    Parameters
    ----------
    path : the submitted ``.ipynb`` file.
    max_bytes : larger files are refused before being read.
    root : the submissions folder; ``path`` must lie under it with no symbolic
        link on the way (a link would be read with the grader's rights).

    Returns
    -------
    The notebook (nbformat 4 ``NotebookNode``), outputs still in place.

    Raises
    ------
    InvalidSubmission
        A symbolic link or special file, outside ``root``, empty, too large, not
        JSON, not a notebook, or too many cells.
    """
    if root is not None:
        _check_under(path, root)
    raw = _read_regular_file(path, max_bytes)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidSubmission("the file is not text (UTF-8): submit the .ipynb file itself.") from exc
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidSubmission(
            f"the file is not valid notebook JSON ({str(exc)[:120]}); it may have been edited "
            "outside Jupyter or cut short: download the notebook again and resubmit.") from exc
    return _as_notebook(data)


def _check_under(path: Path, root: Path) -> None:
    """Refuse ``path`` unless it is below ``root`` and no part of it below ``root`` is a link."""
    try:
        relative = Path(os.path.abspath(path)).relative_to(os.path.abspath(root))
    except ValueError:
        raise InvalidSubmission(f"the file is outside the submissions folder {root}.") from None
    if ".." in relative.parts:
        raise InvalidSubmission("the file's path leaves the submissions folder.")
    current = Path(os.path.abspath(root))
    for part in relative.parts:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except OSError as exc:
            raise InvalidSubmission(f"the file could not be read ({exc.strerror}).") from exc
        if stat.S_ISLNK(mode):
            raise InvalidSubmission(
                f"{part} is a symbolic link, which is not graded: submit the notebook file itself.")


def _read_regular_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of ``path``, opened without following a link and only if it is a regular file.

    Opening first and checking the open file (fstat) leaves no window in which
    the name could be swapped for a link or a pipe.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if os.path.islink(path):
            raise InvalidSubmission(
                "the notebook is a symbolic link, which is not graded: submit the notebook file itself.") from exc
        raise InvalidSubmission(f"the file could not be read ({exc.strerror}).") from exc
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise InvalidSubmission("the notebook is not a regular file (a folder, pipe or device): "
                                "submit the .ipynb file itself.")
    with os.fdopen(fd, "rb") as fh:
        size = info.st_size
        if size == 0:
            raise InvalidSubmission("the file is empty: save the notebook in Jupyter and submit it again.")
        if size > max_bytes:
            raise InvalidSubmission(
                f"the file is {size / 2**20:.1f} MB, over the {max_bytes / 2**20:.0f} MB limit: "
                "clear the outputs (Edit > Clear All Outputs) and submit again.")
        raw = fh.read(max_bytes + 1)
    if len(raw) > max_bytes:  # it grew after fstat
        raise InvalidSubmission(f"the file is over the {max_bytes / 2**20:.0f} MB limit.")
    return raw


def _as_notebook(data: Any) -> Any:
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise InvalidSubmission("the file is JSON but not a Jupyter notebook (it has no cells).")
    if len(data["cells"]) > MAX_CELLS:
        raise InvalidSubmission(f"the notebook has {len(data['cells'])} cells, more than {MAX_CELLS}.")
    if data.get("nbformat") != 4:
        raise InvalidSubmission(
            f"the notebook format is version {data.get('nbformat')!r}; save it with a current Jupyter (format 4).")
    cells = []
    for cell in data["cells"]:
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            continue  # unknown cell types carry nothing gradable
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(s for s in source if isinstance(s, str))
        if not isinstance(source, str):
            source = ""
        metadata = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
        clean = {"cell_type": cell["cell_type"], "metadata": metadata, "source": source}
        if isinstance(cell.get("id"), str):
            clean["id"] = cell["id"][:64]
        if cell["cell_type"] == "code":
            clean.update(outputs=[], execution_count=None)
        cells.append(clean)
    metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    nb = nbformat.from_dict({"nbformat": 4, "nbformat_minor": 5, "metadata": metadata, "cells": cells})
    _drop_malformed_nbgrader_metadata(nb)
    for i, cell in enumerate(nb.cells):
        if not isinstance(cell.get("id"), str) or not cell.id:
            cell.id = f"cell-{i}"
    return nb


def _drop_malformed_nbgrader_metadata(nb: Any) -> None:
    """Forget nbgrader metadata that does not validate; the restore step puts tests back.

    A student (or a broken editor) may leave metadata nbgrader's validator
    rejects; such a cell is then treated as an ordinary cell rather than making
    the whole submission ungradable.
    """
    from nbgrader.nbgraderformat import MetadataValidator, ValidationError

    validator = MetadataValidator()
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if meta is None:
            continue
        try:
            if not isinstance(meta, dict):
                raise ValidationError("not a dict")
            validator.validate_cell(validator.upgrade_cell_metadata(cell))
        except Exception:
            cell.metadata.pop("nbgrader", None)
