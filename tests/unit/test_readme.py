"""The README's library example runs as written and prints what it says."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_example_runs_and_prints_the_partials():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README lost its python example"
    code = blocks[0]
    assert len([l for l in code.splitlines() if l.strip()]) <= 12, "keep the tour example short"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    first = proc.stdout.splitlines()[0].split()
    z = np.exp(1 * 2 - 1 * 3 + 0.5)
    assert np.allclose([float(v) for v in first], [z, 2 * z, -1 * z])
    assert "exp" in proc.stdout and "mul" in proc.stdout
