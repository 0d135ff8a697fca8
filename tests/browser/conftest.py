"""Fixtures for the browser tests: one private JupyterLab server and one headless Chromium.

Both are module-scoped (the tests of a module share them; ``--dist loadscope``
keeps a module on one worker) and are always stopped, whatever the tests did.
"""
from __future__ import annotations

import contextlib
import re
import shutil

import pytest

from .lab import ARTIFACTS, CHROMIUM_ARGS, RELEASE, ROOT, STUDENT_CONFIG, LabServer, chromium_path


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    """JupyterLab on 127.0.0.1 serving a copy of release/ (plus the sources under _solutions/).

    It is the instructor's Lab (``make lab-instructor``): every nbgrader extension is on.
    """
    yield from _serve(tmp_path_factory, "lab", config_path=None)


@pytest.fixture(scope="module")
def student_server(tmp_path_factory):
    """The student's Lab (``make lab``: jupyter-config/student on JUPYTER_CONFIG_PATH)."""
    yield from _serve(tmp_path_factory, "student-lab", config_path=STUDENT_CONFIG)


def _serve(tmp_path_factory, name: str, config_path):
    base = tmp_path_factory.mktemp(name)
    root = base / "root"
    shutil.copytree(RELEASE, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    # nbgrader's Validate on a solved notebook must pass: the sources serve as solved copies.
    shutil.copytree(ROOT / "source", root / "_solutions",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    home = base / "home"
    home.mkdir()
    server = LabServer(root=root, home=home, config_path=config_path)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / f"jupyter-{name}.log").write_text(server.log_tail(200_000))


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium driven by Playwright, headless."""
    try:
        from playwright import sync_api
    except ImportError:
        pytest.fail("Playwright is missing: install the test extra (pip install -e '.[test]').")
    executable = chromium_path()
    if executable is None:
        pytest.fail("Chromium is not installed: run `apt-get install chromium` as root (make setup does).")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class PageLog:
    """What a page reported: JavaScript errors, console errors, and stubbed outside requests."""

    def __init__(self):
        self.page_errors: list[str] = []
        self.console_errors: list[str] = []
        self.outside_requests: list[str] = []

    def problems(self) -> list[str]:
        return [f"uncaught: {e}" for e in self.page_errors] + [f"console.error: {e}" for e in self.console_errors]


@pytest.fixture
def lab_page(chromium, lab_server):
    """A fresh page on the instructor's Lab (see :func:`_page`)."""
    with _page(chromium, lab_server) as page_and_log:
        yield page_and_log


@pytest.fixture
def student_page(chromium, student_server):
    """A fresh page on the student's Lab (see :func:`_page`)."""
    with _page(chromium, student_server) as page_and_log:
        yield page_and_log


@contextlib.contextmanager
def _page(chromium, server):
    """A fresh browser context and page, logged in to the server by its token.

    The network here reaches only 127.0.0.1. Requests elsewhere (an outside image
    that a Markdown cell might link; the lessons link none) are answered
    with an empty SVG instead of failing, so that an unreachable image in a
    Markdown cell does not pass for a console error; the URLs are kept in
    ``log.outside_requests``. Nothing else is filtered.
    """
    context = chromium.new_context(viewport={"width": 1920, "height": 1080})
    log = PageLog()

    def stub(route):
        log.outside_requests.append(route.request.url)
        route.fulfill(status=200, content_type="image/svg+xml",
                      body='<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>')

    # a regular expression is matched inside the browser driver: local requests never wait on Python
    context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), stub)
    page = context.new_page()
    page.on("pageerror", lambda error: log.page_errors.append(str(error)))
    page.on("console", lambda msg: msg.type == "error" and log.console_errors.append(
        f"{msg.text} (at {msg.location.get('url', '?')}:{msg.location.get('lineNumber', '?')})"))
    try:
        yield page, log
    finally:
        context.close()
        server.shutdown_kernels()  # the next notebook gets the CPU to itself
