"""Unit tests of the in-sandbox runner's bookkeeping (no kernel started)."""
from __future__ import annotations

import json

from autograder.sandbox_runner import CellOutputs, OutputBudget, RecordReader


def test_output_budget_truncates_with_a_marker():
    budget = OutputBudget(cell_bytes=100, total_bytes=150)
    out = CellOutputs(budget)
    out.stream("stdout", "a" * 80)
    out.stream("stdout", "b" * 80)
    outputs = out.finish()
    assert outputs[0]["text"] == "a" * 80 + "b" * 20
    assert "60 more bytes" in outputs[-1]["text"] and out.truncated
    budget.new_cell()
    second = CellOutputs(budget)
    second.stream("stdout", "c" * 80)  # only 50 bytes of the whole-notebook budget are left
    assert second.finish()[0]["text"] == "c" * 50


def test_outputs_keep_only_safe_mime_types_and_errors_are_bounded():
    out = CellOutputs(OutputBudget(10_000, 10_000))
    out.data("display_data", {"data": {"application/javascript": "alert(1)", "text/plain": "<Figure>"}})
    out.error({"ename": "ValueError", "evalue": "x" * 10_000, "traceback": ["line"] * 500})
    display, error = out.finish()
    assert display["data"] == {"text/plain": "<Figure>"}
    assert len(error["traceback"]) == 60 and len(error["evalue"]) <= 4000


def test_record_reader_returns_only_new_lines_and_marks_garbage(tmp_path):
    path = tmp_path / "records.jsonl"
    reader = RecordReader(str(path))
    assert reader.new_records() == ([], False)
    path.write_text(json.dumps({"check": "close", "actual": 1}) + "\n")
    assert reader.new_records()[0] == [{"check": "close", "actual": 1}]
    with path.open("a") as fh:
        fh.write("not json\n" + json.dumps({"check": "equal", "actual": 2}) + "\n")
    records, overflow = reader.new_records()
    assert records == [{"garbled": True}, {"check": "equal", "actual": 2}] and not overflow


# ---------------------------------------------------------------------------
# The proxy channel's value format (both ends) and the judge's side of it
# ---------------------------------------------------------------------------
import math  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from autograder.sandbox_runner import codec  # noqa: E402
from autograder.sandbox_runner.judge_process import (Channel, Judge, ProxyError, StudentCodeError,  # noqa: E402
                                                     raise_student_exception)


def roundtrip(value):
    return codec.decode(json.loads(json.dumps(codec.encode(value))))


def test_plain_values_keep_their_types_across_the_channel():
    value = {"t": (1, (2, 3)), "l": [1.5, None, True, "x"], 3: np.float32(2.5), "nan": math.nan,
             "i": np.int64(7), "b": np.bool_(True)}
    back = roundtrip(value)
    assert back["t"] == (1, (2, 3)) and isinstance(back["t"][1], tuple)
    assert back["l"] == [1.5, None, True, "x"] and math.isnan(back["nan"])
    assert type(back[3]) is np.float32 and type(back["i"]) is np.int64 and type(back["b"]) is np.bool_
    for arr in (np.arange(6, dtype=np.int32).reshape(2, 3), np.array([[np.inf, -1.0]]),
                np.zeros((0, 4)), np.array([True, False]), np.arange(4, dtype=">f8")):
        out = roundtrip(arr)
        assert out.shape == arr.shape and np.array_equal(out, arr) and out.flags.writeable


@pytest.mark.parametrize("data, why", [
    ({"$a": "|O", "s": [1], "b": ""}, "garbled array"),
    ({"$a": "<f8", "s": [3], "b": "AAAAAAAAAAA="}, "does not match its shape"),
    ({"$a": "<f8", "s": [-1], "b": ""}, "shape"),
    ({"$q": 1}, "unknown marker"),
    ({"$h": 5, "t": "Model", "c": False}, "handle"),
    (1e400, "non-finite"),
    ({"$d": [[[1], 2]]}, "hashed"),
])
def test_malformed_or_hostile_data_is_refused_with_a_reason(data, why):
    with pytest.raises(codec.CodecError, match=why):
        codec.decode(data)


def test_depth_and_size_are_bounded():
    deep: list = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(codec.CodecError, match="nested"):
        codec.decode(deep)
    with pytest.raises(codec.CodecError, match="numbers"):
        codec.decode({"$a": "|u1", "s": [codec.MAX_ELEMENTS + 1], "b": ""})
    with pytest.raises(codec.CodecError, match="plain data"):
        codec.encode(object())


def test_exceptions_come_back_as_builtin_types_or_subclasses_of_them():
    with pytest.raises(ValueError, match="inner sizes") as caught:
        raise_student_exception(codec.exception_answer(ValueError("inner sizes differ")))
    assert type(caught.value) is ValueError

    class ShapeError(ValueError):
        pass

    with pytest.raises(ValueError) as caught:
        raise_student_exception(codec.exception_answer(ShapeError("bad")))
    assert type(caught.value).__name__ == "ShapeError"
    with pytest.raises(StudentCodeError, match="SystemExit"):
        raise_student_exception(codec.exception_answer(SystemExit(0)))


class FakeChannel(Channel):
    """Answers the judge's requests from a dict, as the student's side would (as JSON text)."""

    def __init__(self, names):
        super().__init__(None, None)
        self.names, self.requests = names, []

    def request(self, request):
        self.requests.append(request)
        value = self.names.get(request["name"], "MISSING") if request["op"] == "get" else None
        text = json.dumps({"missing": True} if value == "MISSING" else {"ok": codec.encode(value)})
        return self.decode_answer(text)


def test_the_judge_decides_with_the_real_check_on_its_own_copy(monkeypatch):
    monkeypatch.delenv("DLBRICKS_CHECK_RECORD", raising=False)
    judge = Judge(FakeChannel({"answer": [0.0, 3.0]}))
    try:
        judge.namespace["np"] = np
        exec("from dlbricks import check", judge.namespace)
        done = judge.run("check.close(answer, np.array([0.0, 3.0]), label='answer')", ["answer"])
        assert done["status"] == "ok" and [r["passed"] for r in done["records"]] == [True]
        judge.channel.names["answer"] = [1.0, 3.0]
        done = judge.run("check.close(answer, np.array([0.0, 3.0]), label='answer')", ["answer"])
        assert done["status"] == "error" and done["error"]["ename"] == "AssertionError"
        assert [r["passed"] for r in done["records"]] == [False]
        del judge.channel.names["answer"]
        done = judge.run("check.close(answer, 1.0)", ["answer"])
        assert done["error"]["ename"] == "NameError"  # a name the student never defined
    finally:
        import os

        os.environ.pop("DLBRICKS_CHECK_RECORD", None)


def test_garbage_from_the_student_side_is_a_proxy_error_not_a_crash():
    channel = Channel(None, None)
    for text in ("not json", "[1]", '{"ok": {"$a": "<f8", "s": [2], "b": "AA=="}}', '{"ok": 1, "x": 2}', None,
                 "[" * 100000 + "]" * 100000):
        with pytest.raises(ProxyError):
            channel.decode_answer(text)
