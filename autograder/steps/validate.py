"""Step 1, in the trusted parent: is the submitted file a notebook we can grade?"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat

MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
MAX_CELLS = 2000


class InvalidSubmission(ValueError):
    """The file cannot be graded; the message says why, in words a student can act on."""


def load_submission(path: Path, max_bytes: int = MAX_NOTEBOOK_BYTES) -> Any:
    """Read and check a submitted notebook.

    Parameters
    ----------
    path : the submitted ``.ipynb`` file.
    max_bytes : larger files are refused before being read.

    Returns
    -------
    The notebook (nbformat 4 ``NotebookNode``), outputs still in place.

    Raises
    ------
    InvalidSubmission
        Empty, too large, not JSON, not a notebook, or too many cells.
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InvalidSubmission(f"the file could not be read ({exc.strerror}).") from exc
    if size == 0:
        raise InvalidSubmission("the file is empty: save the notebook in Jupyter and submit it again.")
    if size > max_bytes:
        raise InvalidSubmission(
            f"the file is {size / 2**20:.1f} MB, over the {max_bytes / 2**20:.0f} MB limit: "
            "clear the outputs (Edit > Clear All Outputs) and submit again.")
    raw = path.read_bytes()
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
