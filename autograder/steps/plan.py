"""Step 3: what the sandbox runs: the student's cells in their kernel, the tests in the judge."""
from __future__ import annotations

from typing import Any

from ..master import MasterNotebook


def execution_plan(nb: Any, master: MasterNotebook) -> list[dict]:
    """The runner's cell list for ``nb`` (a restored submission or the source itself).

    Test cells are run from the master's code (never the notebook's own copy),
    split into visible and hidden segments. A test runs in the judge process
    (``"where": "judge"``), after the master's state cells it needs that have
    not run there yet; a test marked "judged in the student's kernel" runs in
    the student's kernel instead. Other code cells run in the student's kernel
    as written.

    Returns
    -------
    [{"index": i, "grade_id": str | None, "where": "student" | "judge",
      "setup": [{"code", "reads"}], "segments": [{"code", "hidden", "test", "reads"}]}]
    with ``index`` the cell's position in ``nb``.
    """
    plan = []
    state_done: set[int] = set()
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        test = master.test(grade_id) if grade_id else None
        if test is not None:
            segments = [{"code": s.code, "hidden": s.hidden, "test": True, "reads": list(s.reads)}
                        for s in test.segments]
            entry = {"index": index, "grade_id": test.grade_id, "where": "student", "segments": segments}
            if test.judged_in == "judge":
                setup = [k for k in test.setup if k not in state_done and k < len(master.state_cells)]
                state_done.update(setup)
                entry["where"] = "judge"
                entry["setup"] = [{"code": master.state_cells[k].code, "reads": list(master.state_cells[k].reads)}
                                  for k in setup]
            plan.append(entry)
        elif cell.source.strip():
            plan.append({"index": index, "grade_id": None, "where": "student",
                         "segments": [{"code": cell.source, "hidden": False, "test": False}]})
    return plan
