"""The output budget: how much of a notebook's output the grader keeps, in nbformat's shape."""
from __future__ import annotations

from typing import Any

TRUNCATION_MARKER = "\n[... output truncated by the autograder: {n} more bytes not shown ...]\n"
FIGURE_DROPPED = ("[figure not kept by the autograder: {kb} KB, over its limit of {limit} KB "
                  "{per}; make it smaller (figsize, dpi) or show fewer]\n")
KEPT_MIME = ("text/plain", "image/png", "text/html")
# Figures (base64 PNG text) have budgets of their own, so that a plot never crowds out a
# cell's text and a loop of plots cannot bloat every feedback page: a typical matplotlib
# figure is 20-60 KB.
MAX_IMAGE_BYTES = 512 * 1024  # one figure
CELL_IMAGE_BYTES = 1024 * 1024  # the figures of one cell
TOTAL_IMAGE_BYTES = 4 * 1024 * 1024  # the figures of the whole notebook


class OutputBudget:
    """Caps on how much output one cell and the whole notebook may keep."""

    def __init__(self, cell_bytes: int, total_bytes: int, image_cell_bytes: int = CELL_IMAGE_BYTES,
                 image_total_bytes: int = TOTAL_IMAGE_BYTES, image_bytes: int = MAX_IMAGE_BYTES) -> None:
        self.cell_bytes = int(cell_bytes)
        self.total_left = int(total_bytes)
        self.cell_left = self.cell_bytes
        self.image_bytes, self.image_cell_bytes = int(image_bytes), int(image_cell_bytes)
        self.image_total_bytes = int(image_total_bytes)
        self.image_cell_left, self.image_total_left = self.image_cell_bytes, self.image_total_bytes
        self.truncated = False

    def new_cell(self) -> None:
        self.cell_left = self.cell_bytes
        self.image_cell_left = self.image_cell_bytes

    def take_image(self, n: int) -> str:
        """Whether a figure of ``n`` bytes is kept: "" when it is, else the limit it is over
        (as words for the note that replaces it)."""
        for limit, left, per in ((self.image_bytes, self.image_bytes, "per figure"),
                                 (self.image_cell_bytes, self.image_cell_left, "for the figures of one cell"),
                                 (self.image_total_bytes, self.image_total_left, "for the figures of the whole notebook")):
            if n > left:
                self.truncated = True
                return FIGURE_DROPPED.format(kb=-(-n // 1024), per=per, limit=limit // 1024)
        self.image_cell_left -= n
        self.image_total_left -= n
        return ""

    def take(self, n: int) -> int:
        """How many of ``n`` bytes may be kept."""
        allowed = max(0, min(n, self.cell_left, self.total_left))
        self.cell_left -= allowed
        self.total_left -= allowed
        if allowed < n:
            self.truncated = True
        return allowed


class CellOutputs:
    """The outputs of one cell in nbformat's shape, with truncation applied."""

    def __init__(self, budget: OutputBudget) -> None:
        self.budget = budget
        self.outputs: list[dict] = []
        self.omitted = 0
        self.truncated = False

    def _text(self, text: str) -> str:
        data = text.encode("utf-8", "replace")
        keep = self.budget.take(len(data))
        if keep < len(data):
            self.truncated = True
            self.omitted += len(data) - keep
            return data[:keep].decode("utf-8", "ignore")
        return text

    def stream(self, name: str, text: str) -> None:
        kept = self._text(text)
        if not kept:
            return
        if self.outputs and self.outputs[-1].get("output_type") == "stream" \
                and self.outputs[-1].get("name") == name:
            self.outputs[-1]["text"] += kept
        else:
            self.outputs.append({"output_type": "stream", "name": name, "text": kept})

    def data(self, output_type: str, content: dict) -> None:
        bundle: dict[str, Any] = {}
        for mime in KEPT_MIME:
            value = content.get("data", {}).get(mime)
            if not isinstance(value, str):
                continue
            if mime == "image/png":
                refused = self.budget.take_image(len(value))
                if not refused:
                    bundle[mime] = value
                else:
                    self.truncated = True
                    self.stream("stderr", refused)
            else:
                kept = self._text(value)
                if kept:
                    bundle[mime] = kept
        if not bundle:
            return
        out = {"output_type": output_type, "data": bundle, "metadata": {}}
        if output_type == "execute_result":
            count = content.get("execution_count")
            out["execution_count"] = count if isinstance(count, int) else None
        self.outputs.append(out)

    def error(self, content: dict) -> None:
        tb = [str(line) for line in (content.get("traceback") or [])[:60]]
        self.outputs.append({
            "output_type": "error",
            "ename": self._text(str(content.get("ename", "Error"))[:200]),
            "evalue": self._text(str(content.get("evalue", ""))[:4000]),
            "traceback": [self._text(line[:4000]) for line in tb],
        })

    def clear(self) -> None:
        self.outputs = []

    def finish(self) -> list[dict]:
        if self.truncated and self.omitted:
            self.outputs.append({"output_type": "stream", "name": "stderr",
                                 "text": TRUNCATION_MARKER.format(n=self.omitted)})
        return self.outputs
