"""How long `import dlbricks` takes in a fresh interpreter, and that it stays TensorFlow-free.

Runs each import in a new Python process five times and reports the median.
The light submodules (graph, nn, check, data) must not pull in TensorFlow, and
neither may importing dlbricks.keras_tools (it imports TensorFlow lazily).
The last line printed is one JSON object:
{"import_s": .., "import_all_light_s": .., "tensorflow_imported": false, "target_s": 0.3}
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile

RUNS = 5
TARGET_S = 0.3
LIGHT_SUBMODULES = ("graph", "nn", "check", "data")

# Time only the import itself (interpreter start-up is not ours), and report
# whether TensorFlow ended up in sys.modules.
_PROBE = """
import json, sys, time
start = time.perf_counter()
import dlbricks
for name in {modules!r}:
    __import__("dlbricks." + name)
elapsed = time.perf_counter() - start
print(json.dumps({{"seconds": elapsed, "tensorflow": "tensorflow" in sys.modules}}))
"""


def _run(modules: tuple[str, ...], env: dict[str, str]) -> dict:
    result = subprocess.run([sys.executable, "-c", _PROBE.format(modules=modules)],
                            capture_output=True, text=True, check=True, env=env)
    return json.loads(result.stdout.strip().splitlines()[-1])


def _measure(modules: tuple[str, ...], env: dict[str, str]) -> tuple[float, bool]:
    """Median import time over RUNS fresh interpreters, and whether TensorFlow was imported."""
    _run(modules, env)  # warm-up: compiles the bytecode cache, as a student's second import finds it
    samples = [_run(modules, env) for _ in range(RUNS)]
    return (statistics.median(s["seconds"] for s in samples),
            any(s["tensorflow"] for s in samples))


def main() -> None:
    with tempfile.TemporaryDirectory() as cache:
        # Cached bytecode goes to a temporary folder, not into the source tree.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        import_s, tf_bare = _measure((), env)
        all_light_s, tf_light = _measure(LIGHT_SUBMODULES, env)
        tf_tools = _run(("keras_tools",), env)["tensorflow"]
    print(f"import dlbricks: {import_s:.3f} s (median of {RUNS}); "
          f"with {', '.join(LIGHT_SUBMODULES)}: {all_light_s:.3f} s; target {TARGET_S} s; "
          f"TensorFlow imported: {tf_bare or tf_light} (keras_tools: {tf_tools})")
    print(json.dumps({"import_s": round(import_s, 4), "import_all_light_s": round(all_light_s, 4),
                      "tensorflow_imported": tf_bare or tf_light or tf_tools,
                      "target_s": TARGET_S}))


if __name__ == "__main__":
    main()
