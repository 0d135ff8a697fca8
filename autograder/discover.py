"""Finding submissions: nbgrader's ``STUDENT/ASSIGNMENT/NOTEBOOK.ipynb`` layout,
a flat folder of notebooks as an LMS exports it, or a .zip of either.

Submission times come from the intake, never from what the student wrote
(``c.Deadlines.submission_time``): by default the notebook file's modification
time as it was received (an LMS export's file time; for a .zip, the time the
archive records for that entry); with ``nbgrader``, the ``timestamp.txt`` that
``nbgrader collect`` writes beside the notebook, which only the instructor's
collect step produces in that layout. A time that cannot be read is reported
on the submission (``timestamp_problem``), never silently dropped.
"""
from __future__ import annotations

import os
import re
import shutil
import struct
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from .course import Course

SAFE_ID = re.compile(r"[^A-Za-z0-9._@+-]+")
MAX_ARCHIVE_BYTES = 2 * 1024**3
MAX_ARCHIVE_MEMBERS = 20000


class SubmissionLayoutError(ValueError):
    """The SUBMITTED argument is not a layout the grader understands."""


@dataclass(frozen=True)
class Submission:
    """One expected notebook of one student's assignment (``path`` None: missing)."""

    student: str
    assignment: str
    notebook: str
    path: Path | None
    known_assignment: bool = True
    renamed_from: str = ""
    timestamp: datetime | None = None  # aware, UTC; from the intake (see the module's docstring)
    timestamp_problem: str = ""  # why the submission time could not be read, when it could not

    @property
    def key(self) -> str:
        return f"{self.student}/{self.assignment}/{self.notebook}"


def safe_id(name: str) -> str:
    """A student id usable as a folder name (what LMS exports put in file names is not)."""
    cleaned = SAFE_ID.sub("_", name).strip("._")
    return cleaned[:80] or "unknown"


def extract_archive(archive: Path, into: Path, zone: str = "UTC") -> Path:
    """Unpack a .zip safely (no paths outside ``into``, bounded size); return ``into``.

    Each file keeps the time the archive records for it as its modification time
    (the received time of that submission); ``zone`` is the time zone of entries
    that carry only the zip format's local date and time.
    """
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        if len(members) > MAX_ARCHIVE_MEMBERS:
            raise SubmissionLayoutError(f"{archive} has {len(members)} files, more than {MAX_ARCHIVE_MEMBERS}.")
        if sum(m.file_size for m in members) > MAX_ARCHIVE_BYTES:
            raise SubmissionLayoutError(f"{archive} unpacks to more than {MAX_ARCHIVE_BYTES >> 30} GB.")
        root = into.resolve()
        for m in members:
            target = (into / m.filename).resolve()
            if not str(target).startswith(str(root) + "/") or m.is_dir():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(m) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            when = zip_entry_time(m, zone)
            os.utime(target, (when.timestamp(), when.timestamp()))
    # An archive of one top folder holding the students: use that folder.
    entries = [p for p in into.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    if len(entries) == 1 and entries[0].is_dir() and not any(entries[0].glob("*.ipynb")):
        return entries[0]
    return into


def zip_entry_time(info: zipfile.ZipInfo, zone: str = "UTC") -> datetime:
    """When the archive says ``info`` was last modified, as an aware UTC datetime.

    The extended-timestamp field (0x5455, written by Info-ZIP and most LMS
    exports) holds a UTC time; without it only the zip format's local date and
    time remain, read in ``zone``.
    """
    extra = info.extra
    while len(extra) >= 4:
        tag, size = struct.unpack("<HH", extra[:4])
        body = extra[4:4 + size]
        if tag == 0x5455 and size >= 5 and body[0] & 1:
            return datetime.fromtimestamp(struct.unpack("<I", body[1:5])[0], tz=timezone.utc)
        extra = extra[4 + size:]
    return datetime(*info.date_time, tzinfo=ZoneInfo(zone)).astimezone(timezone.utc)


def received_time(path: Path) -> datetime:
    """The modification time of ``path`` itself (a symlink is not followed), UTC."""
    return datetime.fromtimestamp(path.lstat().st_mtime, tz=timezone.utc)


def collected_time(folder: Path) -> tuple[datetime | None, str]:
    """The time in ``folder/timestamp.txt`` written by ``nbgrader collect``, or why there is none."""
    stamp = folder / "timestamp.txt"
    if stamp.is_symlink() or not stamp.is_file():
        return None, f"no timestamp.txt from nbgrader collect in {folder.name}/"
    try:
        from nbgrader.utils import parse_utc

        text = stamp.read_bytes()[:200].decode("utf-8", "replace").strip()
        return parse_utc(text).replace(tzinfo=timezone.utc), ""
    except Exception as exc:
        return None, f"timestamp.txt in {folder.name}/ could not be read ({type(exc).__name__}: {str(exc)[:80]})"


def submission_time(folder: Path, path: Path | None, source: str) -> tuple[datetime | None, str]:
    """A submission's time from the intake ``source`` (``received`` or ``nbgrader``), or why not."""
    if path is None:
        return None, ""
    if source == "nbgrader":
        return collected_time(folder)
    try:
        return received_time(path), ""
    except OSError as exc:
        return None, f"the file's time could not be read ({exc.strerror})"


def _pick_notebook(folder: Path, name: str, n_expected: int) -> tuple[Path | None, str]:
    exact = folder / f"{name}.ipynb"
    if os.path.lexists(exact) and not exact.is_dir():
        return exact, ""  # a link or a special file too: validation refuses it with the reason
    found = sorted(p for p in folder.glob("*.ipynb") if not p.is_dir() or p.is_symlink())
    if n_expected == 1 and len(found) == 1:
        return found[0], found[0].name  # renamed by the student or the LMS ("Copy of ...")
    return None, ""


def discover(submitted: Path, course: Course, assignment: str | None = None,
             notes: list[str] | None = None, time_source: str = "received") -> list[Submission]:
    """Every (student, assignment, notebook) to grade under ``submitted``.

    Layout ``STUDENT/ASSIGNMENT/*.ipynb``: every student folder gets an entry
    for each assignment of the course found anywhere (or for ``assignment``
    only), marked missing when the student has no notebook for it. A folder
    that is not an assignment of the course (``03_losses_OLD``, ``tmp``) gives
    one entry for that student only, outside the course (``known_assignment``
    False: graded as invalid, never recorded in the gradebook). A flat folder
    of ``*.ipynb`` files needs ``assignment``; each file is one student (its
    name, minus the notebook's name, is the student id).

    ``notes`` (when given) receives one sentence per stray entry for the summary.
    ``time_source``: where each submission's time comes from (``received`` or
    ``nbgrader``, see the module's docstring).
    """
    notes = notes if notes is not None else []
    if not submitted.is_dir():
        raise SubmissionLayoutError(f"{submitted} is not a folder or a .zip archive of submissions.")
    known = set(course.lessons())
    if assignment and assignment not in known:
        raise SubmissionLayoutError(
            f"There is no assignment named {assignment!r} in {course.source_dir} "
            f"(known: {', '.join(sorted(known)) or 'none'}).")
    flat = sorted(p for p in submitted.glob("*.ipynb") if p.is_file())
    students = sorted(p for p in submitted.iterdir() if p.is_dir() and not p.name.startswith("."))
    if flat and not students:
        return _discover_flat(flat, course, assignment, time_source)
    for entry in sorted(p for p in submitted.iterdir() if not p.is_dir() and not p.name.startswith(".")):
        notes.append(f"{entry.name} in {submitted} is not a student folder: ignored.")
    found = {a.name for s in students for a in s.iterdir() if a.is_dir() and not a.name.startswith(".")}
    assignments = [assignment] if assignment else sorted(found & known)
    out: list[Submission] = []
    for student_dir in students:
        for name in assignments:
            folder = student_dir / name
            masters = [p.stem for p in course.source_notebooks(name)]
            for nb_name in masters:
                path, renamed = (_pick_notebook(folder, nb_name, len(masters)) if folder.is_dir()
                                 else (None, ""))
                when, problem = submission_time(folder, path, time_source)
                out.append(Submission(student_dir.name, name, nb_name, path, True, renamed, when, problem))
        if assignment:
            continue
        for stray in sorted(a for a in student_dir.iterdir() if a.is_dir() and not a.name.startswith(".")
                            and a.name not in known):
            notes.append(f"{student_dir.name}/{stray.name} is not an assignment of this course: "
                         "listed for that student only, not graded.")
            notebooks = sorted(stray.glob("*.ipynb"))
            out.append(Submission(student_dir.name, stray.name, notebooks[0].stem if notebooks else stray.name,
                                  notebooks[0] if notebooks else None, False))
    return out


def _discover_flat(files: list[Path], course: Course, assignment: str | None,
                   time_source: str = "received") -> list[Submission]:
    if not assignment:
        raise SubmissionLayoutError(
            "These submissions are a flat folder of notebooks: say which assignment they are "
            "with --assignment NAME.")
    masters = [p.stem for p in course.source_notebooks(assignment)] or [assignment]
    known = assignment in set(course.lessons())
    out = []
    for path in files:
        stem = path.stem
        nb_name = next((m for m in masters if stem.endswith(m)), masters[0])
        student = stem[: -len(nb_name)] if stem.endswith(nb_name) and stem != nb_name else stem
        # A flat export has no collect folder: its time is always the file's as received.
        when, problem = submission_time(path.parent, path, "received")
        out.append(Submission(safe_id(student.rstrip("_- ")), assignment, nb_name, path, known,
                              "" if stem.endswith(nb_name) else path.name, when, problem))
    return out
