"""Interactive views for the lessons, drawn as SVG/HTML in Python.

No system binary (no graphviz) is needed, so every view works in JupyterLab,
Notebook 7 and Colab. Each widget lives in its own module and is imported on
first use (ipywidgets and matplotlib load only when a widget is made).
"""
from __future__ import annotations

import importlib
from typing import Any

# public name -> module that defines it
_EXPORTS = {
    "AxisSumExplorer": "tensor_axes",
    "MatmulShapeChecker": "tensor_axes",
    "NeuronPlayground": "neuron",
    "DescentExplorer": "descent",
    "PenaltyExplorer": "descent",
    "GraphView": "graph_view",
    "ConvExplorer": "conv",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dlbricks.widgets' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
