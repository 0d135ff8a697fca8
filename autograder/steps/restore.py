"""Step 2, in the trusted parent: tests, points and metadata come from the master.

nbgrader's own preprocessors do the work they were written for (clear outputs,
drop duplicated ids, reset the kernelspec, overwrite edited locked cells and
points); one more step puts back test cells a student deleted, at the place
they had in the master. What was restored is reported, so that the instructor
can see it (flag ``tests_restored``).
"""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from typing import Any

from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader.api import Gradebook
from nbgrader.preprocessors import (CheckCellMetadata, ClearOutput, DeduplicateIds,
                                    NbGraderPreprocessor, OverwriteCells, OverwriteKernelspec)

from ..master import MasterNotebook, same_code
from ..nbgrader_env import ensure_alembic_on_path


class RestoreMissingTestCells(NbGraderPreprocessor):
    """Insert the master's test cells that the submission lacks.

    Each missing cell goes right after the nearest cell that precedes it in the
    master and is present in the submission (matched by nbgrader ``grade_id``),
    or at the top when there is none. The master's order of grade ids comes in
    ``resources["master_order"]`` (the gradebook does not keep cell order).
    """

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gb:
            master = gb.find_notebook(info["notebook"], info["assignment"])
            order = list(resources["master_order"])
            by_name = {c.name: c for c in master.source_cells}
            solutions = {c.name for c in master.solution_cells}
            graded = {c.name: c for c in master.grade_cells}
            present = {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells}
            restored = resources.setdefault("restored_cells", [])
            for pos, name in enumerate(order):
                gcell = graded.get(name)
                if gcell is None or name in present or gcell.cell_type != "code" or name in solutions:
                    continue
                source = by_name[name]
                cell = NotebookNode({
                    "cell_type": "code", "execution_count": None, "outputs": [], "id": f"restored-{name}"[:64],
                    "metadata": {"deletable": False, "editable": False, "nbgrader": {
                        "grade": True, "solution": False, "locked": True, "grade_id": name,
                        "points": float(gcell.max_score), "checksum": source.checksum,
                        "schema_version": 3}},
                    "source": source.source})
                nb.cells.insert(_insert_at(nb, order[:pos]), cell)
                present.add(name)
                restored.append(name)
        return nb, resources


class DropEmptyNbgraderMetadata(NbGraderPreprocessor):
    """Remove the empty ``nbgrader`` metadata that DeduplicateIds leaves on duplicates.

    Later steps (and nbgrader's validator) read an empty dict as a cell of an
    outdated schema; without the key the copy is simply an ordinary cell.
    """

    def preprocess_cell(self, cell: NotebookNode, resources: ResourcesDict,
                        index: int) -> tuple[NotebookNode, ResourcesDict]:
        if "nbgrader" in cell.metadata and not cell.metadata["nbgrader"]:
            del cell.metadata["nbgrader"]
        return cell, resources


def _insert_at(nb: NotebookNode, earlier: list[str]) -> int:
    positions = {c.metadata.get("nbgrader", {}).get("grade_id"): i for i, c in enumerate(nb.cells)}
    for name in reversed(earlier):
        if name in positions:
            return positions[name] + 1
    return 0


@dataclass
class Restoration:
    """The restored notebook and what had to be put back."""

    notebook: Any
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.notes)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def restore_from_master(nb: Any, master: MasterNotebook, db_url: str) -> Restoration:
    """Run nbgrader's sanitising preprocessors and put back missing test cells.

    Parameters
    ----------
    nb : the validated submission (see :func:`autograder.steps.validate.load_submission`).
    master : the instructor's notebook (its tests and cell order).
    db_url : gradebook holding the master (``autograder grade`` writes it first).
    """
    ensure_alembic_on_path()
    nb = copy.deepcopy(nb)
    notes = _edits(nb, master)
    resources = ResourcesDict()  # a defaultdict: fill it, do not construct from a dict
    resources["nbgrader"] = {"db_url": db_url, "assignment": master.assignment,
                             "notebook": master.name, "student": ""}
    resources["master_order"] = list(master.order)
    collector = _Collect()
    steps = [ClearOutput(), DeduplicateIds(), DropEmptyNbgraderMetadata(), OverwriteKernelspec(), OverwriteCells(),
             RestoreMissingTestCells(), CheckCellMetadata()]
    for step in steps:
        step.log.addHandler(collector)
        try:
            nb, resources = step.preprocess(nb, resources)
        finally:
            step.log.removeHandler(collector)
    notes += [f"test cell {name} was missing and was put back" for name in resources.get("restored_cells", [])]
    for message in collector.messages:
        # nbgrader's words, e.g. "Attribute 'points' for cell test-x has changed! (should be: 2, got: 9)".
        # A changed checksum is not reported: it differs for every test cell with hidden tests.
        if "has changed" in message and "'checksum'" not in message:
            notes.append("restored " + message.replace("Attribute ", "").replace(" has changed!", ""))
    return Restoration(nb, list(dict.fromkeys(notes)))


def _edits(nb: Any, master: MasterNotebook) -> list[str]:
    """How the submission's test cells differ from the released ones (before restoring)."""
    notes = []
    seen: dict[str, int] = {}
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        test = master.test(gid) if gid else None
        if test is None:
            continue
        seen[gid] = seen.get(gid, 0) + 1
        if cell.cell_type == "code" and not (same_code(cell.source, test.release_code)
                                             or same_code(cell.source, "\n".join(s.code for s in test.segments))):
            notes.append(f"test cell {gid} had been edited")
    notes += [f"test cell {gid} appeared {n} times; the copies were run as ordinary code"
              for gid, n in seen.items() if n > 1]
    return notes
