"""Check the grades of the sample class (examples/submitted) for one assignment.

    python check_grades.py GRADES_CSV ASSIGNMENT

Prints the rows as one JSON line ([{"student": .., "score": .., "max_score": ..,
"status": .., "flags": [..]}, ...]) and exits 1, naming each problem on stderr,
when a sample student's row is not what examples/README.md promises:

    ada_right      graded, full marks, not flagged
    ben_partial    graded, partial credit (more than 0, less than full), not flagged
    cy_broken      invalid, 0
    eve_malicious  0, flagged tampering

Runs with the standard library only (inside the image, or on the host).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

STUDENTS = ("ada_right", "ben_partial", "cy_broken", "eve_malicious")


def read_rows(path: Path, assignment: str) -> dict[str, dict]:
    """Rows of grades.csv for ``assignment``, by student, with numbers and flag lists decoded."""
    rows = {}
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["assignment"] != assignment:
                continue
            rows[row["student_id"]] = {
                "student": row["student_id"],
                # the auto-graded part: written answers (manual_max) wait for a person
                "score": float(row.get("auto_score") or row["score"]),
                "max_score": float(row["max_score"]) - float(row.get("manual_max") or 0),
                "status": row["status"],
                "flags": [f for f in row["flags"].split(";") if f],
            }
    return rows


def problems(rows: dict[str, dict]) -> list[str]:
    """What is wrong with the sample class's rows, as sentences (empty when all is right)."""
    found = []
    for student in STUDENTS:
        if student not in rows:
            found.append(f"{student}: no row in grades.csv")
    if found:
        return found

    def expect(student: str, ok: bool, what: str) -> None:
        r = rows[student]
        if not ok:
            found.append(f"{student}: expected {what}, got {r['score']:g}/{r['max_score']:g}, "
                         f"status {r['status']}, flags {r['flags'] or 'none'}")

    ada, ben, cy, eve = (rows[s] for s in STUDENTS)
    expect("ada_right", ada["status"] == "graded" and ada["max_score"] > 0
           and ada["score"] == ada["max_score"] and not ada["flags"], "full marks, graded, no flags")
    expect("ben_partial", ben["status"] == "graded" and 0 < ben["score"] < ben["max_score"]
           and "tampering" not in ben["flags"], "partial credit, graded, not flagged for tampering")
    expect("cy_broken", cy["status"] == "invalid" and cy["score"] == 0, "status invalid and 0 points")
    expect("eve_malicious", eve["score"] == 0 and "tampering" in eve["flags"], "0 points, flagged tampering")
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python check_grades.py GRADES_CSV ASSIGNMENT", file=sys.stderr)
        return 2
    path, assignment = Path(argv[0]), argv[1]
    if not path.is_file():
        print(f"{path} does not exist: the grader wrote no grades", file=sys.stderr)
        return 1
    rows = read_rows(path, assignment)
    print(json.dumps([rows[s] for s in sorted(rows)]))
    found = problems(rows)
    for line in found:
        print(f"wrong grade for {assignment}: {line}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
