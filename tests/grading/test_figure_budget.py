"""Figures are kept in the outputs, each under caps of its own (per figure, per cell, per notebook)."""
from __future__ import annotations

from autograder.sandbox_runner import CellOutputs, OutputBudget


def figure(n: int) -> dict:
    return {"data": {"image/png": "A" * n, "text/plain": "<Figure size 640x480 with 1 Axes>"}}


def test_figures_are_kept_without_eating_the_cells_text_budget():
    budget = OutputBudget(cell_bytes=1000, total_bytes=5000, image_cell_bytes=100_000, image_total_bytes=300_000,
                          image_bytes=60_000)
    out = CellOutputs(budget)
    out.data("display_data", figure(50_000))
    out.stream("stdout", "x" * 900)  # the cell's text budget is still whole
    outputs = out.finish()
    assert outputs[0]["data"]["image/png"] == "A" * 50_000
    assert outputs[1]["text"] == "x" * 900 and not out.truncated


def test_a_figure_over_a_cap_is_replaced_by_a_note_that_says_which_and_what_to_do():
    budget = OutputBudget(cell_bytes=10_000, total_bytes=50_000, image_cell_bytes=100_000,
                          image_total_bytes=150_000, image_bytes=60_000)
    out = CellOutputs(budget)
    out.data("display_data", figure(70_000))  # over the per-figure cap
    out.data("display_data", figure(55_000))
    out.data("display_data", figure(55_000))  # the cell's figures would pass 100 000 bytes
    outputs = out.finish()
    kept = [o for o in outputs if "image/png" in o.get("data", {})]
    notes = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
    assert len(kept) == 1 and out.truncated
    assert "69 KB, over its limit of 58 KB per figure" in notes
    assert "for the figures of one cell" in notes and "figsize, dpi" in notes
    assert all(o["data"].get("text/plain") for o in outputs if o["output_type"] == "display_data")
    budget.new_cell()
    second = CellOutputs(budget)
    second.data("display_data", figure(55_000))  # 110 000 of the notebook's 150 000 used
    third = CellOutputs(budget)
    budget.new_cell()
    third.data("display_data", figure(55_000))
    assert "image/png" in second.finish()[0]["data"]
    assert "for the figures of the whole notebook" in "".join(o.get("text", "") for o in third.finish())
