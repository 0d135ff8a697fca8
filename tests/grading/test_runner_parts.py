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
