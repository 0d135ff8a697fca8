"""Print the requirements the Docker image installs, one per line, from pyproject.toml.

The Dockerfile installs these before it copies the course library, so that editing
the library rebuilds only a small layer instead of reinstalling TensorFlow.

    python image_requirements.py PYPROJECT CONSTRAINTS {cpu,cuda}

The image gets the core dependencies, the ``jupyter``, ``grade`` and ``cluster``
extras (so an image can be a Dask worker too), the part of the ``dev`` extra that
runs the tests inside a container (pytest, pytest-xdist, pytest-timeout, nbval:
not Playwright or hadolint, which are developer tools), and
TensorFlow: the ``tf`` extra for ``cpu``; for ``cuda``, ``tensorflow[and-cuda]``
pinned to the version of tensorflow-cpu in the constraints, plus keras and
tensorboard.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10 (e.g. an Ubuntu 22.04 CUDA base): pip vendors tomli
    from pip._vendor import tomli as tomllib  # type: ignore[no-redef]

TEST_TOOLS_IN_IMAGE = {"pytest", "pytest-xdist", "pytest-timeout", "nbval"}
VARIANTS = ("cpu", "cuda")


def canonical(name: str) -> str:
    """Normalise a distribution name the way pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    """The distribution name at the start of a requirement string, normalised."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if match is None:
        raise ValueError(f"cannot read a package name from the requirement {requirement!r}")
    return canonical(match.group(1))


def pinned_version(constraints: str, name: str) -> str:
    """The version pinned as ``name==VERSION`` in a constraints file's text."""
    for line in constraints.splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line and requirement_name(line) == canonical(name):
            return line.split("==", 1)[1].strip()
    raise ValueError(f"the constraints file pins no version of {name}: add '{name}==X.Y.Z' to it")


def image_requirements(pyproject: dict, constraints: str, variant: str) -> list[str]:
    """Requirement strings for the image's virtualenv (the course package itself excluded)."""
    if variant not in VARIANTS:
        raise ValueError(f"TF_VARIANT must be one of {', '.join(VARIANTS)}, not {variant!r}")
    project = pyproject["project"]
    extras = project.get("optional-dependencies", {})
    for needed in ("jupyter", "grade", "cluster", "dev", "tf"):
        if needed not in extras:
            raise ValueError(f"pyproject.toml has no [project.optional-dependencies] {needed}")
    reqs = list(project.get("dependencies", []))
    reqs += extras["jupyter"] + extras["grade"]
    reqs += [r for r in extras["cluster"] if not r.startswith("dlbricks[")]
    reqs += [r for r in extras["dev"] if requirement_name(r) in TEST_TOOLS_IN_IMAGE]
    if variant == "cpu":
        reqs += extras["tf"]
    else:
        version = pinned_version(constraints, "tensorflow-cpu")
        reqs += [f"tensorflow[and-cuda]=={version}"]
        reqs += [r for r in extras["tf"] if requirement_name(r) in {"keras", "tensorboard"}]
    return reqs


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python image_requirements.py PYPROJECT CONSTRAINTS {cpu,cuda}", file=sys.stderr)
        return 2
    pyproject = tomllib.loads(Path(argv[0]).read_text(encoding="utf-8"))
    constraints = Path(argv[1]).read_text(encoding="utf-8")
    try:
        reqs = image_requirements(pyproject, constraints, argv[2])
    except ValueError as err:
        print(err, file=sys.stderr)
        return 1
    print("\n".join(reqs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
