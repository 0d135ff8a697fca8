"""Step 3: what the sandbox runs: every code cell, tests split into segments."""
from __future__ import annotations

from typing import Any

from ..master import MasterNotebook


def execution_plan(nb: Any, master: MasterNotebook) -> list[dict]:
    """The runner's cell list for ``nb`` (a restored submission or the source itself).

    Test cells are run from the master's code (never the notebook's own copy),
    split into visible and hidden segments; other code cells run as written.

    Returns
    -------
    [{"index": i, "grade_id": str | None, "segments": [{"code", "hidden", "test"}]}]
    with ``index`` the cell's position in ``nb``.
    """
    plan = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        test = master.test(grade_id) if grade_id else None
        if test is not None:
            segments = [{"code": s.code, "hidden": s.hidden, "test": True} for s in test.segments]
        elif cell.source.strip():
            segments = [{"code": cell.source, "hidden": False, "test": False}]
        else:
            continue
        plan.append({"index": index, "grade_id": test.grade_id if test else None, "segments": segments})
    return plan
