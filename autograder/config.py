"""The course configuration: one ``nbgrader_config.py`` read by every ``autograder`` command.

A course keeps its settings where nbgrader and Jupyter keep theirs: a traitlets
file, ``COURSE/nbgrader_config.py``. Besides nbgrader's own sections
(``CourseDirectory.course_id``, ``CourseDirectory.db_url``,
``AssignLatePenalties.plugin_class``, ...) it holds three of the kit's:

- ``Publishing``: the public repository students open the notebooks from
  (Colab badges) and install the course library from (the install cell);
- ``Deadlines``: due dates per assignment, their time zone, and where a
  submission's time comes from;
- ``Grading``: the limits every submission runs under and how the batch fans out.

Each setting has one default, the trait's own; the file overrides it and a
command-line flag overrides the file (:func:`resolve`). The flags are made
from the traits (:func:`add_flags`), so a new setting gets its flag, its help
text and its place in the precedence tests by being declared here.
"""
from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from traitlets import Dict, Enum, Float, Int, TraitError, Unicode, validate
from traitlets.config import Config, Configurable
from traitlets.config.loader import PyFileConfigLoader

from .sandbox import Limits, RunSettings

CONFIG_FILE = "nbgrader_config.py"
REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
GIT_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./-]*$")


class ConfigError(ValueError):
    """The course configuration cannot be used as written; the message says what to change."""


class Publishing(Configurable):
    """Where students get the notebooks and the course library from."""

    repository = Unicode(
        "dlbricks/dlbricks",
        help="GitHub repository OWNER/NAME that holds release/: Colab badges open the notebooks "
             "from it and the install cell installs the course library from it.",
    ).tag(config=True)
    branch = Unicode(
        "main", help="Branch of the repository the Colab badges open the notebooks from.",
    ).tag(config=True)
    library_ref = Unicode(
        "",
        help="Tag or commit the install cell installs the course library at, so that students "
             "and the grader use the same version (empty: the branch).",
    ).tag(config=True)

    @validate("repository")
    def _repository(self, proposal: dict) -> str:
        value = proposal["value"].strip().removeprefix("https://github.com/").removesuffix(".git").strip("/")
        if not REPOSITORY.match(value):
            raise TraitError(f"Publishing.repository must be OWNER/NAME (as on GitHub), not {proposal['value']!r}.")
        return value

    @validate("branch", "library_ref")
    def _ref(self, proposal: dict) -> str:
        value = proposal["value"].strip()
        if value and (not GIT_REF.match(value) or ".." in value):
            raise TraitError(f"{proposal['trait'].name} {proposal['value']!r} is not a git branch, tag or commit.")
        if proposal["trait"].name == "branch" and not value:
            raise TraitError("Publishing.branch must name a branch, e.g. 'main'.")
        return value

    @property
    def install_ref(self) -> str:
        """What the install cell installs: the tag or commit, else the branch."""
        return self.library_ref or self.branch


class Deadlines(Configurable):
    """Due dates and how a submission's time is found."""

    due_dates = Dict(
        {},
        help="Due date per assignment, e.g. {'03_losses_and_descent': '2027-01-15 23:59 Europe/Berlin'}: "
             "ISO 8601 with an offset, or a date and time followed by an IANA time zone; without "
             "either, Deadlines.timezone.",
    ).tag(config=True)
    timezone = Unicode(
        "UTC", help="IANA time zone of due dates (and archive file times) that do not name one.",
    ).tag(config=True)
    submission_time = Enum(
        ["received", "nbgrader"], "received",
        help="Where a submission's time comes from. 'received': the notebook file's modification "
             "time as it arrived (an LMS export's file time; in a .zip the archive's own entry time). "
             "'nbgrader': the timestamp.txt that `nbgrader collect` wrote beside it; choose this only "
             "when the folder is nbgrader's collect output, since elsewhere a student can write that file.",
    ).tag(config=True)

    @validate("timezone")
    def _timezone(self, proposal: dict) -> str:
        zone_info(proposal["value"])
        return proposal["value"]

    @validate("due_dates")
    def _due_dates(self, proposal: dict) -> dict:
        for name, value in proposal["value"].items():
            parse_due_date(str(value), "UTC", what=f"the due date of {name}")
        return proposal["value"]

    def due_date(self, assignment: str) -> datetime | None:
        """The due date of ``assignment`` in UTC, or None when it has none."""
        value = self.due_dates.get(assignment)
        if value in (None, ""):
            return None
        return parse_due_date(str(value), self.timezone, what=f"the due date of {assignment}")


class Grading(Configurable):
    """The limits each submission runs under and how the batch is spread over processes."""

    timeout = Float(RunSettings.timeout, help="Seconds one cell may run.").tag(config=True)
    deadline = Float(RunSettings.deadline, help="Seconds the whole notebook may run.").tag(config=True)
    memory_mb = Int(Limits.memory_mb, help="Memory limit of one submission, in MB.").tag(config=True)
    cpu_seconds = Int(Limits.cpu_seconds, help="CPU seconds one submission may use.").tag(config=True)
    workers = Int(0, help="Submissions graded at once (0: one per core).").tag(config=True)
    executor = Enum(["local", "dask"], "local",
                    help="'local' process pool or a 'dask' distributed cluster.").tag(config=True)
    scheduler = Unicode("", help="Dask scheduler address, e.g. tcp://host:8786 (empty: a local "
                                 "cluster of `workers` processes).").tag(config=True)

    @validate("timeout", "deadline", "memory_mb", "cpu_seconds")
    def _positive(self, proposal: dict) -> Any:
        if proposal["value"] <= 0:
            raise TraitError(f"Grading.{proposal['trait'].name} must be positive, not {proposal['value']}.")
        return proposal["value"]

    @validate("workers")
    def _workers(self, proposal: dict) -> int:
        if proposal["value"] < 0:
            raise TraitError(f"Grading.workers must be 0 (one per core) or more, not {proposal['value']}.")
        return proposal["value"]

    def run_settings(self, unsafe: bool = False) -> RunSettings:
        limits = Limits(memory_mb=self.memory_mb, cpu_seconds=self.cpu_seconds)
        return RunSettings(timeout=self.timeout, deadline=self.deadline, unsafe=unsafe, limits=limits)


SECTIONS: dict[str, type[Configurable]] = {cls.__name__: cls for cls in (Publishing, Deadlines, Grading)}
# Settings of nbgrader's own sections the kit reads, with the kit's flag for each.
NBGRADER_SETTINGS = {"course_id": ("CourseDirectory", "course_id"), "db": ("CourseDirectory", "db_url")}


@dataclass
class CourseConfig:
    """Every setting of one command, resolved (flag, else file, else default)."""

    config: Config  # the merged traitlets config (nbgrader's sections included)
    path: Path | None  # the file read, None when the course has none
    publishing: Publishing
    deadlines: Deadlines
    grading: Grading

    @property
    def course_id(self) -> str:
        """``CourseDirectory.course_id``; unset, the id nbgrader's Gradebook itself defaults to."""
        configured = str(self.config.CourseDirectory.get("course_id", "") or "")
        if configured:
            return configured
        import inspect

        from nbgrader.api import Gradebook

        return str(inspect.signature(Gradebook).parameters["course_id"].default)

    @property
    def db_url(self) -> str | None:
        """The gradebook URL the course configures (``CourseDirectory.db_url``), if any."""
        return self.config.CourseDirectory.get("db_url") or None

    def late_penalty_plugin(self) -> Any:
        """nbgrader's late-submission plugin as configured (``AssignLatePenalties.plugin_class``).

        The default, nbgrader's ``LateSubmissionPlugin`` with ``penalty_method='none'``,
        gives no penalty.
        """
        from nbgrader.preprocessors import AssignLatePenalties

        assigner = AssignLatePenalties(config=self.config)
        assigner.init_plugin()
        return assigner.plugin_inst


def load_file(course_root: Path) -> tuple[Config, Path | None]:
    """The traitlets config of ``course_root/nbgrader_config.py`` (empty when there is none)."""
    path = course_root / CONFIG_FILE
    if not path.is_file():
        return Config(), None
    loader = PyFileConfigLoader(CONFIG_FILE, path=str(course_root))
    try:
        return loader.load_config(), path
    except Exception as exc:  # the instructor's Python: say where it broke
        raise ConfigError(f"{path} could not be read: {type(exc).__name__}: {exc}. "
                          f"Fix the file (it is Python, run by traitlets as nbgrader does).") from exc


def resolve(course_root: Path, overrides: dict[str, Any] | None = None) -> CourseConfig:
    """Read the course's file and apply command-line ``overrides``.

    ``overrides`` maps ``"Section.trait"`` to a value; None values (flags not
    given) are ignored, so the file's value or the default stays.
    """
    config, path = load_file(course_root)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        section, trait = key.split(".", 1)
        if isinstance(value, dict):
            merged = dict(config[section].get(trait, {}))
            merged.update(value)
            value = merged
        config[section][trait] = value
    return from_config(config, path)


def from_config(config: Config | None = None, path: Path | None = None) -> CourseConfig:
    """The settings a traitlets ``config`` gives (an empty one: every default)."""
    config = config if config is not None else Config()
    try:
        return CourseConfig(config, path, Publishing(config=config), Deadlines(config=config),
                            Grading(config=config))
    except TraitError as exc:
        where = f"{path}" if path else "the command line"
        raise ConfigError(f"Setting rejected ({where} or a flag): {exc}") from exc


# --- command-line flags made from the traits --------------------------------------------

# Older spellings kept working beside the flag made from the trait's name.
FLAG_ALIASES = {"Grading.memory_mb": ("--memory",)}


def flag_name(trait: str) -> str:
    return "--" + trait.replace("_", "-")


def add_flags(parser: argparse.ArgumentParser, *sections: str) -> None:
    """Add one flag per configurable trait of ``sections`` (``--memory-mb``, ``--due``...).

    The help text shows the trait's default; the flag's own default is None,
    meaning "not given", so the file's value stays.
    """
    for section in sections:
        cls = SECTIONS[section]
        group = parser.add_argument_group(f"{section} (c.{section}.* in nbgrader_config.py)")
        for name, trait in sorted(cls.class_traits(config=True).items()):
            dest = f"{section}.{name}"
            default = trait.default()
            helptext = f"{trait.help} [c.{section}.{name}; default: {default!r}]"
            if isinstance(trait, Dict):
                group.add_argument(flag_name(name.rstrip("s")), dest=dest, action=_KeyValue, metavar="KEY=VALUE",
                                   help=helptext + " (repeatable)")
            elif isinstance(trait, Enum):
                group.add_argument(flag_name(name), dest=dest, choices=list(trait.values), help=helptext)
            else:
                kind = {Float: float, Int: int}.get(type(trait), str)
                group.add_argument(flag_name(name), *FLAG_ALIASES.get(dest, ()), dest=dest, type=kind,
                                   metavar=name.upper(), help=helptext)


def add_nbgrader_flags(parser: argparse.ArgumentParser, *names: str) -> None:
    helps = {"course_id": "course id in the gradebook [c.CourseDirectory.course_id; default: nbgrader's "
                          "'default_course']",
             "db": "gradebook SQLAlchemy URL, e.g. postgresql://user@host/db "
                   "[c.CourseDirectory.db_url; default: sqlite:///OUT/gradebook.db]"}
    for name in names:
        section, trait = NBGRADER_SETTINGS[name]
        parser.add_argument(flag_name(name), dest=f"{section}.{trait}", metavar=name.upper(),
                            help=helps[name])


class _KeyValue(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        key, sep, value = str(values).partition("=")
        if not sep or not key:
            parser.error(f"{option_string} takes KEY=VALUE, e.g. {option_string} 03_losses_and_descent="
                         f"'2027-01-15 23:59 Europe/Berlin'; got {values!r}")
        current = dict(getattr(namespace, self.dest, None) or {})
        current[key] = value
        setattr(namespace, self.dest, current)


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The ``Section.trait`` values the command line gave (flags not given are left out)."""
    return {k: v for k, v in vars(args).items() if "." in k and v is not None}


def resolve_args(course_root: Path, args: argparse.Namespace) -> CourseConfig:
    return resolve(course_root, overrides_from_args(args))


# --- dates ------------------------------------------------------------------------------

def zone_info(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TraitError(f"{name!r} is not an IANA time zone (e.g. 'Europe/Berlin', 'UTC').") from exc


def parse_due_date(text: str, default_zone: str, what: str = "the due date") -> datetime:
    """``text`` as an aware UTC datetime.

    Accepts ISO 8601 with an offset (``2027-01-15T23:59:00+01:00``), a date and
    time followed by an IANA zone (``2027-01-15 23:59 Europe/Berlin``), or a
    naive date and time, read in ``default_zone``. A date alone means the end
    of that day (23:59:59).
    """
    text = text.strip()
    zone_name = default_zone
    head, _, last = text.rpartition(" ")
    if head and re.search(r"[A-Za-z]", last):  # a trailing zone name
        text, zone_name = head.strip(), last
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise TraitError(f"{what} {text!r} is not a date: write e.g. '2027-01-15 23:59 Europe/Berlin' "
                         f"or '2027-01-15T23:59:00+01:00'.") from None
    if len(text) <= 10:  # a date without a time: the whole day counts
        when = when.replace(hour=23, minute=59, second=59)
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone_info(zone_name))
    return when.astimezone(timezone.utc)


def format_delay(seconds: float) -> str:
    """``seconds`` late, in words a reader takes in at once: ``2 d 3 h``, ``1 h 05 min``, ``42 s``."""
    delta = timedelta(seconds=round(seconds))
    days, rest = delta.days, delta.seconds
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"
