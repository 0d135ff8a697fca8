"""Start the runner (or, with the argument ``judge``, the judge process) inside the sandbox.

The sandbox holds this folder alone (``/opt/autograder/sandbox_runner``), not
the ``autograder`` package: started as a script, it imports its own modules as
the top-level package ``sandbox_runner``.
"""
import os
import sys

if __package__ in (None, ""):
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[0] = os.path.dirname(_here)
    _package = os.path.basename(_here)
else:
    _package = __package__

if __name__ == "__main__":
    import importlib

    if sys.argv[1:2] == ["judge"]:
        sys.exit(importlib.import_module(f"{_package}.judge_process").main())
    sys.exit(importlib.import_module(f"{_package}.main").main())
