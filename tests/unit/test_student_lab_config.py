"""The student's Lab configuration (jupyter-config/student, used by make lab and the image).

The browser tests (tests/browser/test_student_lab.py) show the result in a real Lab; these
fast tests keep the configuration in step with what is installed.
"""
from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "jupyter-config" / "student"
INSTRUCTOR_PLUGINS = {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment"}


def _nbgrader_labextension() -> Path:
    import nbgrader

    candidates = [Path(nbgrader.__file__).parent / "labextension",
                  *Path(nbgrader.__file__).parents[3].glob("share/jupyter/labextensions/@jupyter/nbgrader")]
    for path in candidates:
        if path.is_dir():
            return path
    pytest.fail("nbgrader's JupyterLab extension is not installed")


def test_the_instructor_plugins_are_disabled_and_exist_in_the_installed_nbgrader():
    disabled = json.loads((CONFIG / "labconfig" / "page_config.json").read_text())["disabledExtensions"]
    assert INSTRUCTOR_PLUGINS <= {k for k, v in disabled.items() if v}
    code = "\n".join(p.read_text(errors="replace") for p in _nbgrader_labextension().rglob("*.js"))
    plugin_ids = set(re.findall(r"@jupyter/nbgrader:[\w-]+", code))
    assert set(disabled) <= plugin_ids, f"not plugins of the installed nbgrader: {set(disabled) - plugin_ids}"
    assert "@jupyter/nbgrader:validate-assignment" not in disabled  # students keep Validate


def test_the_formgrader_server_extension_is_off():
    config = json.loads((CONFIG / "jupyter_server_config.json").read_text())
    extensions = config["ServerApp"]["jpserver_extensions"]
    assert extensions["nbgrader.server_extensions.formgrader"] is False
    assert "nbgrader.server_extensions.validate_assignment" not in extensions


def test_widget_state_is_saved_by_default():
    overrides = json.loads((CONFIG / "lab-settings" / "overrides.json").read_text())
    assert overrides["@jupyter-widgets/jupyterlab-manager:plugin"]["saveState"] is True
    from traitlets.config import Config

    config = Config()
    path = CONFIG / "jupyter_server_config.py"
    exec(compile(path.read_text(), str(path), "exec"), {"get_config": lambda: config, "__file__": str(path)})
    assert Path(config.LabApp.app_settings_dir) == CONFIG / "lab-settings"  # where overrides.json is


def test_make_lab_and_the_image_use_it_and_colab_installs_no_nbgrader():
    makefile = (ROOT / "Makefile").read_text()
    assert "JUPYTER_CONFIG_PATH=$(CURDIR)/jupyter-config/student" in makefile
    assert re.search(r"^lab-instructor:", makefile, re.M)
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "ENV JUPYTER_CONFIG_PATH=/opt/dlbricks/jupyter-config/student" in dockerfile
    core = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert not any("nbgrader" in dep for dep in core), "Colab's install (the core package) must not bring nbgrader"
