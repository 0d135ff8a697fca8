"""Start a private JupyterLab server and drive its notebooks with Playwright.

Everything the server could write (settings, workspaces, kernels' runtime
files, caches) goes to a temporary home, so a test run never touches the
user's own Jupyter set-up, and the lessons are served from a copy of
``release/`` so that running them changes nothing in the repository.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RELEASE = ROOT / "release"
ARTIFACTS = ROOT / "tests" / "artifacts" / "browser"
STUDENT_CONFIG = ROOT / "jupyter-config" / "student"   # what `make lab` puts on JUPYTER_CONFIG_PATH

# Chromium flags: no sandbox (containers, root), no GPU, and nothing that phones
# home (the closed network refuses such connections, which would show up as noise).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

# JupyterLab user settings for the test server: every cell stays in the page
# (no virtual scrolling, so cell N is the N-th .jp-Cell), no news or update
# checks (no network), no autosave racing with nbgrader's own save.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/extensionmanager-extension/plugin.jupyterlab-settings": {"enabled": False},
}

SERVER_START_TIMEOUT = 180  # seconds; a loaded 2-core machine imports nbgrader slowly


def release_notebooks() -> list[Path]:
    """Every ``release/NN_slug/NN_slug.ipynb``, in lesson order (new lessons are picked up)."""
    return sorted(p / f"{p.name}.ipynb" for p in RELEASE.iterdir()
                  if p.is_dir() and re.fullmatch(r"\d\d_\w+", p.name) and (p / f"{p.name}.ipynb").exists())


def chromium_path() -> str | None:
    """Debian's Chromium (Playwright cannot download its own browsers here)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LabServer:
    """A JupyterLab server on 127.0.0.1 serving ``root`` with a random token.

    ``config_path`` (e.g. ``jupyter-config/student``) goes on ``JUPYTER_CONFIG_PATH``,
    as ``make lab`` does; None serves the instructor's Lab with every extension.
    """

    root: Path
    home: Path
    config_path: Path | None = None
    port: int = field(default_factory=_free_port)
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}/{path.lstrip('/')}{sep}token={self.token}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        jupyter = self.home / "jupyter"
        env.update(
            HOME=str(self.home),
            JUPYTER_CONFIG_DIR=str(jupyter / "config"),
            JUPYTER_DATA_DIR=str(jupyter / "data"),
            JUPYTER_RUNTIME_DIR=str(jupyter / "runtime"),
            JUPYTERLAB_SETTINGS_DIR=str(jupyter / "lab-settings"),
            JUPYTERLAB_WORKSPACES_DIR=str(jupyter / "workspaces"),
            IPYTHONDIR=str(self.home / "ipython"),
            MPLCONFIGDIR=str(self.home / "matplotlib"),
            DLBRICKS_QUICK="1", TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0",
            # nbgrader's validate runs Jupyter tools by name: the venv's bin comes first
            PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        )
        env.pop("DLBRICKS_CHECK_RECORD", None)
        env.pop("JUPYTER_PATH", None)
        env.pop("JUPYTER_CONFIG_PATH", None)
        if self.config_path is not None:
            env["JUPYTER_CONFIG_PATH"] = str(self.config_path)
        return env

    def write_settings(self) -> None:
        settings = self.home / "jupyter" / "lab-settings"
        for rel, content in LAB_SETTINGS.items():
            path = settings / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(content, indent=2))

    def start(self) -> None:
        self.write_settings()
        jupyter = Path(sys.executable).with_name("jupyter")
        cmd = [str(jupyter), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
               "--LabApp.news_url=None",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--LabApp.extension_manager=readonly"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")  # CI containers run as root
        self.log_path = self.home / "jupyter-lab.log"
        log = open(self.log_path, "wb")
        # its own process group, so that the kernels it starts can be ended with it
        self.process = subprocess.Popen(cmd, cwd=self.root, env=self.env(), stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self._wait_until_up()

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with code {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"JupyterLab did not answer on {self.base_url}/api within "
                           f"{SERVER_START_TIMEOUT} s:\n{self.log_tail()}")

    def api(self, path: str, method: str = "GET") -> object:
        request = urllib.request.Request(self.url(f"api/{path}"), method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Stop every running kernel (one test's kernel must not slow down the next)."""
        for kernel in self.api("kernels"):
            try:
                self.api(f"kernels/{kernel['id']}", method="DELETE")
            except urllib.error.HTTPError:
                pass  # already gone

    def stop(self) -> None:
        """End the server, its process group and every kernel it started."""
        if self.process is not None and self.process.poll() is None:
            pgid = os.getpgid(self.process.pid)
            os.killpg(pgid, signal.SIGTERM)  # the server shuts its kernels down on SIGTERM
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=30)
        # Kernels run in sessions of their own; they are found by their connection
        # file, which lives in this server's private runtime directory.
        for pid in self._kernel_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _kernel_pids(self) -> list[int]:
        runtime = str(self.home / "jupyter" / "runtime")
        pids = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if runtime in cmdline:
                pids.append(int(proc.name))
        return pids

    def log_tail(self, chars: int = 4000) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-chars:]


# ----------------------------------------------------------------------------------------
# Driving a notebook in the page
# ----------------------------------------------------------------------------------------
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"           # the notebook in front
WIDGET_ROOT = ".jp-OutputArea-output > .jupyter-widgets"  # a rendered widget view
KERNEL_START_TIMEOUT = 180_000   # ms; TensorFlow-heavy kernels start slowly on 2 busy cores
CELL_TIMEOUT = 600_000           # ms per cell; training cells in quick mode take well under this
UPDATE_TIMEOUT = 60_000          # ms for a widget to redraw after a control moved
# An input prompt reads "[ ]:" before a run, "[*]:" while queued or running, "[7]:" when done.
PROMPT_STARTED_JS = r"p => /^\[(\*|\d+)\]/.test(p.textContent.trim())"
PROMPT_DONE_JS = r"p => /^\[\d+\]/.test(p.textContent.trim())"
ACTIVE_CELL_JS = """panel => panel.contains(document.activeElement)
  ? Array.from(panel.querySelectorAll('.jp-Notebook .jp-Cell')).findIndex(c => c.classList.contains('jp-mod-active'))
  : -1"""


def widget_class_names() -> list[str]:
    """The widget classes ``dlbricks.widgets`` offers (new widgets are picked up)."""
    import dlbricks.widgets as widgets

    names = []
    for name in dir(widgets):
        obj = getattr(widgets, name)
        if isinstance(obj, type) and obj.__module__.startswith("dlbricks.widgets."):
            names.append(name)
    return names


def widget_cells(notebook: dict) -> list[int]:
    """Indices of code cells that construct a ``dlbricks.widgets`` view (import lines aside).

    Outputs of release notebooks are cleared, so this reads the sources: a cell
    calling ``GraphView(...)`` or ``NeuronPlayground()`` is expected to show a widget.
    """
    call = re.compile(r"(?<![\w.])(?:%s)\(" % "|".join(map(re.escape, widget_class_names())))
    found = []
    for i, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "code":
            continue
        lines = "".join(cell["source"]).splitlines()
        code = [ln for ln in lines if not re.match(r"\s*(from|import)\s", ln) and not ln.lstrip().startswith("#")]
        if any(call.search(ln) for ln in code):
            found.append(i)
    return found


class NotebookDriver:
    """One notebook open in JupyterLab: run its cells, find its outputs."""

    def __init__(self, page, server: LabServer, rel_path: str):
        self.page = page
        self.server = server
        self.rel_path = rel_path
        self.notebook = json.loads((server.root / rel_path).read_text())
        self.panel = page.locator(PANEL)
        self.cells = self.panel.locator(".jp-Notebook .jp-Cell")
        self._code = set(self.code_cells())

    def open(self) -> None:
        from playwright.sync_api import expect

        # ?reset: a fresh workspace, so no notebook of an earlier test reopens with it
        self.page.goto(self.server.url(f"lab/tree/{self.rel_path}?reset"))
        expect(self.cells).to_have_count(len(self.notebook["cells"]), timeout=KERNEL_START_TIMEOUT)
        # fold the file browser away: wide views (graphs) then fit in the notebook
        self.page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current").click()
        expect(self.page.locator("#jp-left-stack")).to_be_hidden()

    def code_cells(self) -> list[int]:
        return [i for i, c in enumerate(self.notebook["cells"])
                if c["cell_type"] == "code" and "".join(c["source"]).strip()]

    def prompt(self, i: int):
        return self.cells.nth(i).locator(".jp-InputPrompt")

    def active_cell(self) -> int:
        """Index of the selected cell, or -1 when the notebook has lost the keyboard focus."""
        return self.panel.evaluate(ACTIVE_CELL_JS)

    def run_cell(self, i: int) -> None:
        """Run cell ``i`` with Shift+Enter (Ctrl+Enter for the last cell) and wait until it finished.

        The keys go to the selected cell; it is clicked first only when the
        selection is elsewhere (a click waits for the page to settle, which on a
        busy machine costs seconds per cell).
        """
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        prompt = self.prompt(i)
        handle = prompt.element_handle()
        keys = "Control+Enter" if i == len(self.notebook["cells"]) - 1 else "Shift+Enter"
        # Until the kernel is connected, JupyterLab drops a run request silently
        # (the prompt stays "[ ]"), so the request is repeated until it is taken.
        deadline = time.monotonic() + KERNEL_START_TIMEOUT / 1000
        while True:
            if self.active_cell() != i:
                prompt.click()
            self.page.keyboard.press(keys)
            if i not in self._code:
                return  # Markdown is rendered at once, an empty cell has nothing to run
            try:
                self.page.wait_for_function(PROMPT_STARTED_JS, arg=handle, polling=100, timeout=10_000)
                break
            except PlaywrightTimeout:
                if time.monotonic() > deadline:
                    raise AssertionError(f"cell {i} of {self.rel_path} never started: is the kernel up?") from None
        try:
            self.page.wait_for_function(PROMPT_DONE_JS, arg=handle, polling=100, timeout=CELL_TIMEOUT)
        except PlaywrightTimeout:
            raise AssertionError(f"cell {i} of {self.rel_path} still runs after {CELL_TIMEOUT // 1000} s") from None

    def run_every_cell(self) -> None:
        """Run the notebook top to bottom, one cell at a time, whatever the cells raise.

        An exercise left unsolved raises NotImplementedError, and JupyterLab's
        Run All stops at the first error; running cell by cell goes on.
        """
        for i in range(min(self._code), max(self._code) + 1):
            self.run_cell(i)

    def error_names(self, i: int) -> list[str]:
        """Exception names shown by cell ``i`` (``NotImplementedError``, ...)."""
        errors = self.cells.nth(i).locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
        names = []
        for k in range(errors.count()):
            text = errors.nth(k).inner_text()
            match = re.search(r"^(\w+(?:Error|Exception|Interrupt))\b", text, re.M)
            if match and "Traceback" in text:
                names.append(match.group(1))
        return names

    def widgets(self, i: int | None = None):
        """Rendered widget views, in cell ``i`` or in the whole notebook."""
        scope = self.panel if i is None else self.cells.nth(i)
        return scope.locator(WIDGET_ROOT)

    # -- the page's width, saving ------------------------------------------------------------
    def fit_output_width(self, width: int = 1000) -> float:
        """Resize the window so that a cell's output area is ``width`` px wide; return that width.

        An output area is as wide as a code cell's editor (both start right of the prompt).
        """
        editor = self.panel.locator(".jp-CodeCell .jp-InputArea-editor").first
        measured = 0.0
        for _ in range(3):
            measured = editor.bounding_box()["width"]
            if abs(measured - width) <= 2:
                break
            size = self.page.viewport_size
            self.page.set_viewport_size({"width": int(size["width"] - (measured - width)),
                                         "height": size["height"]})
            self.page.wait_for_timeout(300)
        return measured

    def save(self) -> None:
        """Save with Ctrl+S and wait until the document is no longer marked modified."""
        from playwright.sync_api import expect

        self.panel.locator(".jp-Notebook").first.click(position={"x": 5, "y": 5})
        self.page.keyboard.press("Escape")
        self.page.keyboard.press("Control+s")
        expect(self.page.locator(".lm-TabBar-tab.jp-mod-current.jp-mod-dirty")).to_have_count(0, timeout=60_000)

    def is_dirty(self) -> bool:
        """True when JupyterLab marks the open notebook as modified (unsaved changes)."""
        return self.page.locator(".lm-TabBar-tab.jp-mod-current.jp-mod-dirty").count() > 0
