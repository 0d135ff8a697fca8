"""``--dist loadgroup`` that works with pytest 9: every test of an ``xdist_group`` on one worker.

pytest-xdist 3.8 implements ``loadgroup`` by appending ``@group`` to each marked
test's node id on the workers. pytest 9.2 no longer lets a plugin rename node
ids, so the suffix never reaches the scheduler and every group is silently
spread over all workers: an expensive module fixture then runs once per worker.

This plugin carries the groups another way. Each worker writes the group of
every marked test it collected to a file in a folder the controller made; the
controller's scheduler (a ``LoadScopeScheduling`` whose scope of a test is its
group, or the test itself when it has none) reads those files when it
schedules, which xdist does only after every worker has finished collecting.

It also checks itself: every test of a group records the worker it ran on, and
the controller fails the session when one group ran on two workers.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

WORKERINPUT_KEY = "dlbricks_xdist_groups"


def _group_of(item: pytest.Item) -> str | None:
    names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                    for m in item.iter_markers("xdist_group")})
    return "_".join(names) if names else None


def _groups_dir(config: pytest.Config) -> Path | None:
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        value = workerinput.get(WORKERINPUT_KEY)
        return Path(value) if value else None
    value = getattr(config, "_dlbricks_groups_dir", None)
    return Path(value) if value else None


def _loadgroup(config: pytest.Config) -> bool:
    try:
        return bool(config.getoption("numprocesses")) and config.getoption("dist") == "loadgroup"
    except ValueError:  # pytest-xdist is not installed
        return False


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if getattr(config, "workerinput", None) is None and _loadgroup(config):
        config._dlbricks_groups_dir = tempfile.mkdtemp(prefix="xdist-groups-")


def pytest_unconfigure(config: pytest.Config) -> None:
    folder = getattr(config, "_dlbricks_groups_dir", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    folder = getattr(node.config, "_dlbricks_groups_dir", None)
    if folder:
        node.workerinput[WORKERINPUT_KEY] = folder


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    folder = _groups_dir(config)
    workerinput = getattr(config, "workerinput", None)
    if folder is None or workerinput is None:
        return
    groups = {item.nodeid: g for item in items if (g := _group_of(item))}
    target = folder / f"collected-{workerinput['workerid']}.json"
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(groups))
    tmp.replace(target)  # the controller never reads half a file


def pytest_runtest_setup(item: pytest.Item) -> None:
    folder = _groups_dir(item.config)
    workerinput = getattr(item.config, "workerinput", None)
    group = _group_of(item)
    if folder is None or workerinput is None or group is None:
        return
    with (folder / f"ran-{workerinput['workerid']}.txt").open("a") as fh:
        fh.write(json.dumps([group, item.nodeid]) + "\n")


def split_groups(folder: Path) -> dict[str, set[str]]:
    """group -> the workers that ran a test of it (from the ``ran-*`` files)."""
    seen: dict[str, set[str]] = {}
    for path in folder.glob("ran-*.txt"):
        worker = path.stem.removeprefix("ran-")
        for line in path.read_text().splitlines():
            group, _ = json.loads(line)
            seen.setdefault(group, set()).add(worker)
    return {g: w for g, w in seen.items() if len(w) > 1}


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    folder = getattr(session.config, "_dlbricks_groups_dir", None)
    if not folder:
        return
    split = split_groups(Path(folder))
    if split:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        for group, workers in sorted(split.items()):
            message = f"xdist_group {group!r} ran on several workers ({', '.join(sorted(workers))}): grouping is broken"
            if reporter is not None:
                reporter.write_line(f"ERROR: {message}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    if not getattr(config, "_dlbricks_groups_dir", None):
        return None
    from xdist.scheduler import LoadScopeScheduling

    folder = Path(config._dlbricks_groups_dir)

    class GroupScheduling(LoadScopeScheduling):
        """Load scheduling in which a work unit is a whole ``xdist_group`` (or one ungrouped test)."""

        _groups: dict[str, str] | None = None

        def _group_map(self) -> dict[str, str]:
            if self._groups is None:
                groups: dict[str, str] = {}
                for path in folder.glob("collected-*.json"):
                    groups.update(json.loads(path.read_text()))
                self._groups = groups
            return self._groups

        def _split_scope(self, nodeid: str) -> str:
            group = self._group_map().get(nodeid)
            return f"group:{group}" if group else nodeid

    return GroupScheduling(config, log)
