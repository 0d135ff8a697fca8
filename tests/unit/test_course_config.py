"""One course configuration: every setting's default, the course's nbgrader_config.py, then the flag.

Each setting is checked three ways through the real command line parser: left
out everywhere (the trait's default), set in the course's file, and set in the
file and overridden by the flag. The table of sample values must name every
setting, so a new one cannot be added without its precedence test.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from autograder.cli import build_parser
from autograder.config import SECTIONS, ConfigError, Grading, resolve, resolve_args
from autograder.grade import options_from_args

# (section, trait): (command, flag, value written in the file, flag text, value the flag gives)
SAMPLES = {
    ("Publishing", "repository"): ("release", "--repository", "alice/dl-course", "bob/dl2027", "bob/dl2027"),
    ("Publishing", "branch"): ("release", "--branch", "spring", "autumn", "autumn"),
    ("Publishing", "library_ref"): ("release", "--library-ref", "v1.0", "0123abc", "0123abc"),
    ("Deadlines", "due_dates"): ("grade", "--due-date", {"01_a": "2027-01-01 12:00", "02_b": "2027-03-01"},
                                 "01_a=2027-02-01 08:00 Europe/Paris",
                                 {"01_a": "2027-02-01 08:00 Europe/Paris", "02_b": "2027-03-01"}),
    ("Deadlines", "timezone"): ("grade", "--timezone", "Europe/Berlin", "America/New_York", "America/New_York"),
    ("Deadlines", "submission_time"): ("grade", "--submission-time", "nbgrader", "received", "received"),
    ("Grading", "timeout"): ("grade", "--timeout", 30.0, "45", 45.0),
    ("Grading", "deadline"): ("grade", "--deadline", 300.0, "600.5", 600.5),
    ("Grading", "memory_mb"): ("grade", "--memory-mb", 1000, "2000", 2000),
    ("Grading", "cpu_seconds"): ("grade", "--cpu-seconds", 100, "200", 200),
    ("Grading", "workers"): ("grade", "--workers", 3, "5", 5),
    ("Grading", "executor"): ("grade", "--executor", "dask", "local", "local"),
    ("Grading", "scheduler"): ("grade", "--scheduler", "tcp://a:8786", "tcp://b:8786", "tcp://b:8786"),
}


def _argv(root: Path, command: str, *flags: str) -> list[str]:
    base = ["--course-dir", str(root), command]
    return base + (["SUBMITTED", "--out", "OUT"] if command == "grade" else []) + list(flags)


def _value(root: Path, section: str, trait: str, *flags: str):
    command = SAMPLES[(section, trait)][0]
    args = build_parser().parse_args(_argv(root, command, *flags))
    return getattr(getattr(resolve_args(root, args), section.lower()), trait)


def _write_config(root: Path, body: str) -> None:
    (root / "nbgrader_config.py").write_text("c = get_config()\n" + textwrap.dedent(body))


def test_every_setting_has_a_precedence_sample():
    declared = {(s, t) for s, cls in SECTIONS.items() for t in cls.class_traits(config=True)}
    assert declared == set(SAMPLES)


@pytest.mark.parametrize("key", sorted(SAMPLES), ids=lambda k: ".".join(k))
def test_default_then_file_then_flag(key, tmp_path):
    section, trait = key
    _, flag, in_file, flag_text, from_flag = SAMPLES[key]
    default = SECTIONS[section].class_traits()[trait].default()
    assert _value(tmp_path, section, trait) == default, "no file, no flag: the trait's default"
    assert in_file != default and from_flag != in_file, "the samples must be told apart"

    _write_config(tmp_path, f"c.{section}.{trait} = {in_file!r}\n")
    assert _value(tmp_path, section, trait) == in_file, "the course's file overrides the default"
    assert _value(tmp_path, section, trait, flag, flag_text) == from_flag, "a flag overrides the file"


def test_gradebook_url_default_file_flag(tmp_path):
    def options(*flags):
        args = build_parser().parse_args(_argv(tmp_path, "grade", *flags))
        return options_from_args(args, resolve_args(tmp_path, args))

    assert options().gradebook_url == f"sqlite:///{(Path('OUT') / 'gradebook.db').resolve()}"
    _write_config(tmp_path, "c.CourseDirectory.db_url = 'postgresql://grader@db/course'\n")
    assert options().gradebook_url == "postgresql://grader@db/course"
    assert options("--db", "sqlite:////tmp/x.db").gradebook_url == "sqlite:////tmp/x.db"


def test_course_id_default_file_flag(tmp_path):
    def course_id(*flags):
        args = build_parser().parse_args(_argv(tmp_path, "grade", *flags))
        return resolve_args(tmp_path, args).course_id

    assert course_id() == "default_course", "unset: nbgrader's Gradebook default"
    _write_config(tmp_path, "c.CourseDirectory.course_id = 'dl2027'\n")
    assert course_id() == "dl2027"
    assert course_id("--course-id", "dl2028") == "dl2028"


def test_grading_settings_reach_the_sandbox_limits(tmp_path):
    _write_config(tmp_path, "c.Grading.memory_mb = 1500\nc.Grading.cpu_seconds = 99\n")
    args = build_parser().parse_args(_argv(tmp_path, "grade", "--timeout", "7", "--workers", "2"))
    options = options_from_args(args, resolve_args(tmp_path, args))
    assert (options.settings.timeout, options.settings.deadline) == (7.0, Grading().deadline)
    assert (options.settings.limits.memory_mb, options.settings.limits.cpu_seconds) == (1500, 99)
    assert options.workers == 2 and options.settings.unsafe is False


def test_the_old_memory_flag_still_works(tmp_path):
    assert _value(tmp_path, "Grading", "memory_mb", "--memory", "512") == 512


def test_the_kits_own_configuration_is_read(tmp_path):
    root = Path(__file__).resolve().parents[2]
    config = resolve(root)
    assert config.path == root / "nbgrader_config.py"
    assert config.course_id == "dlbricks" and config.publishing.repository == "dlbricks/dlbricks"
    # nbgrader's layout comes from the kit's file the course loads
    assert config.config.ClearHiddenTests.begin_test_delimeter == "BEGIN HIDDEN TESTS"
    assert config.config.CourseDirectory.root == str(root)


@pytest.mark.parametrize("body, words", [
    ("c.Publishing.repository = 'not a repo'\n", "OWNER/NAME"),
    ("c.Grading.timeout = -1.0\n", "positive"),
    ("c.Deadlines.timezone = 'Mars/Olympus'\n", "IANA time zone"),
    ("c.Deadlines.due_dates = {'01_a': 'next friday'}\n", "not a date"),
    ("c.Grading.workers = \n", "could not be read"),
])
def test_a_bad_setting_is_a_clear_error(tmp_path, body, words):
    _write_config(tmp_path, body)
    with pytest.raises(ConfigError, match=words):
        resolve(tmp_path)


def test_a_bad_setting_stops_the_command_with_exit_code_2(tmp_path, capsys):
    from autograder.cli import main

    _write_config(tmp_path, "c.Grading.timeout = 0.0\n")
    (tmp_path / "sub").mkdir()
    assert main(["--course-dir", str(tmp_path), "grade", str(tmp_path / "sub"), "--out", str(tmp_path / "o")]) == 2
    assert "Grading.timeout must be positive" in capsys.readouterr().err
