"""A small synthetic regression set: systolic blood pressure against age of 31 women.

The course's regression example fits a straight line to the blood pressure
of 31 women against their age. These numbers are **synthetic**, made once by
:func:`generate_blood_pressure` from a documented trend:

    pressure = 87 + 1.1 * age + noise,   noise ~ Normal(0, 12 mmHg)

with ages drawn uniformly from 18 to 80 years (whole years), pressures rounded
to whole mmHg, and the seed 31. They are shipped as ``blood_pressure.csv`` so
that the values never change with a numpy release; the unit tests check that
the file still matches the generator.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ._files import verified_path

INTERCEPT = 87.0  # mmHg
SLOPE = 1.1       # mmHg per year
NOISE_STD = 12.0  # mmHg
N_WOMEN = 31
SEED = 31
FILENAME = "blood_pressure.csv"


def generate_blood_pressure(seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Draw the synthetic set: ``age: (31,)`` years, ``pressure: (31,)`` mmHg, sorted by age."""
    rng = np.random.default_rng(seed)
    age = np.sort(rng.integers(18, 81, size=N_WOMEN)).astype(np.float64)
    pressure = np.round(INTERCEPT + SLOPE * age + rng.normal(0.0, NOISE_STD, size=N_WOMEN))
    return age, pressure


def _write_blood_pressure_csv(path: Path) -> None:
    """Write the shipped CSV (run once; then update its SHA-256 in ``_files.CHECKSUMS``)."""
    age, pressure = generate_blood_pressure()
    rows = "".join(f"{int(a)},{int(p)}\n" for a, p in zip(age, pressure))
    Path(path).write_text("age,systolic_pressure\n" + rows, encoding="utf-8")


def blood_pressure() -> tuple[np.ndarray, np.ndarray]:
    """The shipped synthetic set (see the module docstring).

    Returns
    -------
    age : (31,) float64, years
    pressure : (31,) float64, systolic blood pressure in mmHg
    """
    table = np.loadtxt(verified_path(FILENAME), delimiter=",", skiprows=1, dtype=np.float64)
    return table[:, 0].copy(), table[:, 1].copy()
