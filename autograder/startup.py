"""Keep the ``autograder`` command's start-up short.

The grading parent sits on the critical path: until it has loaded nbgrader
and recorded the assignment, no submission can be sent to a worker. The
largest single cost of loading nbformat is one it never uses: jsonschema
imports ``rfc3987_syntax`` when it is installed, to check the "iri" string
formats, and that package compiles a few dozen grammars on import (seconds
of CPU). No schema validated here uses those formats (nbformat and nbgrader
validate without a format checker), so the command tells Python that the
package is absent. Only the command's own process does this: importing the
``autograder`` package elsewhere changes nothing.
"""
from __future__ import annotations

import sys

UNUSED_OPTIONAL_MODULES = ("rfc3987_syntax",)


def skip_unused_optional_imports() -> None:
    """Make ``import rfc3987_syntax`` fail (jsonschema then skips those format checks).

    Has no effect once jsonschema is loaded: its format checkers are then already set up.
    """
    if "jsonschema" in sys.modules:
        return
    for name in UNUSED_OPTIONAL_MODULES:
        sys.modules.setdefault(name, None)  # type: ignore[assignment]  # None: "not installed"
