"""The data files shipped inside the package, each verified by its SHA-256."""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent

# SHA-256 of every shipped file. A builder function that rewrites a file
# prints its new checksum; paste it here in the same commit.
CHECKSUMS: dict[str, str] = {
    "banknote.csv": "a4e6eb57f00dc0c5696badf6553001e8871644b5b98ab1b2869054af1d255125",
    "blood_pressure.csv": "e91c5d620c9b27c40742dba4beaf0abd350c041436806478f3502696f7dbae48",
    "mnist_sample.npz": "14381cc677b1475506416744860b3a959e57dfc99e4469cf3ede3bed6d250633",
}


class DataIntegrityError(OSError):
    """A shipped data file is missing or does not match its recorded checksum."""


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verified_path(name: str, directory: Path | None = None) -> Path:
    """Path of the shipped file ``name`` after checking its SHA-256.

    Raises
    ------
    DataIntegrityError
        When the file is missing or its content changed (a broken download
        or an edited copy): reinstalling dlbricks restores it.
    """
    path = (DATA_DIR if directory is None else Path(directory)) / name
    if not path.is_file():
        raise DataIntegrityError(
            f"The data file {name} is missing from {path.parent}. Reinstall the course "
            "library (pip install --force-reinstall dlbricks) or restore it from git.")
    stat = path.stat()
    actual = _cached_sha256(str(path), stat.st_mtime_ns, stat.st_size)
    if actual != CHECKSUMS[name]:
        raise DataIntegrityError(
            f"The data file {path} is corrupt: its SHA-256 is {actual}, expected "
            f"{CHECKSUMS[name]}. Reinstall the course library (pip install "
            "--force-reinstall dlbricks) or restore the file from git.")
    return path


@functools.lru_cache(maxsize=32)
def _cached_sha256(path: str, mtime_ns: int, size: int) -> str:
    # Keyed by modification time and size, so an edited file is hashed again.
    return sha256_of(Path(path))
