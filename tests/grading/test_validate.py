"""Unit tests: which submitted files are gradable notebooks."""
from __future__ import annotations

import json

import nbformat
import pytest

from autograder.steps.validate import InvalidSubmission, load_submission


def _write(tmp_path, content: bytes):
    path = tmp_path / "nb.ipynb"
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("content, words", [
    (b"", "empty"),
    (b'{"cells": [', "not valid notebook JSON"),
    (b'{"hello": 1}', "not a Jupyter notebook"),
    (b"\xff\xfe\x00garbage", "not text"),
    (json.dumps({"nbformat": 3, "cells": []}).encode(), "format is version 3"),
    (b"[" * 100000 + b"]" * 100000, "not valid notebook JSON"),
])
def test_unusable_files_are_invalid_with_a_reason(tmp_path, content, words):
    with pytest.raises(InvalidSubmission, match=words):
        load_submission(_write(tmp_path, content))


def test_too_large_is_refused_before_reading(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x" * 5000)])
    with pytest.raises(InvalidSubmission, match="over the"):
        load_submission(_write(tmp_path, nbformat.writes(nb).encode()), max_bytes=1000)


def test_a_sloppy_but_real_notebook_is_accepted_and_cleaned(tmp_path):
    data = {"nbformat": 4, "nbformat_minor": 2, "metadata": {}, "cells": [
        {"cell_type": "code", "source": ["x = ", "1"], "metadata": {}, "outputs": [{"junk": True}],
         "execution_count": 3},
        {"cell_type": "weird", "source": "?"},
        {"cell_type": "markdown", "source": "# hi", "metadata": {"nbgrader": {"grade": "yes please"}}},
    ]}
    nb = load_submission(_write(tmp_path, json.dumps(data).encode()))
    assert [c.cell_type for c in nb.cells] == ["code", "markdown"]
    assert nb.cells[0].source == "x = 1" and nb.cells[0].outputs == []
    assert "nbgrader" not in nb.cells[1].metadata  # malformed nbgrader metadata is forgotten
    nbformat.validate(nb)


def test_a_symbolic_link_is_refused_with_the_reason(tmp_path):
    """Issue 13, case 6: the grader must not read a linked file with its own rights."""
    real = _write(tmp_path, b'{"cells": []}')
    (tmp_path / "subs" / "ann").mkdir(parents=True)
    link = tmp_path / "subs" / "ann" / "link.ipynb"
    link.symlink_to(real)
    with pytest.raises(InvalidSubmission, match="symbolic link"):
        load_submission(link)
    with pytest.raises(InvalidSubmission, match="symbolic link"):
        load_submission(link, root=tmp_path / "subs")
    (tmp_path / "subs" / "ben").symlink_to(tmp_path / "subs" / "ann", target_is_directory=True)
    (tmp_path / "subs" / "ann" / "real.ipynb").write_text("{}")
    with pytest.raises(InvalidSubmission, match="ben is a symbolic link"):
        load_submission(tmp_path / "subs" / "ben" / "real.ipynb", root=tmp_path / "subs")


def test_special_files_and_paths_outside_the_submissions_are_refused(tmp_path):
    import os

    os.mkfifo(tmp_path / "pipe.ipynb")
    with pytest.raises(InvalidSubmission, match="not a regular file"):
        load_submission(tmp_path / "pipe.ipynb")  # returns at once instead of waiting for a writer
    (tmp_path / "dir.ipynb").mkdir()
    with pytest.raises(InvalidSubmission, match="not a regular file"):
        load_submission(tmp_path / "dir.ipynb")
    inside = tmp_path / "subs"
    inside.mkdir()
    with pytest.raises(InvalidSubmission, match="outside the submissions folder"):
        load_submission(_write(tmp_path, b"{}"), root=inside)
