"""The course data sets, shipped in the package or generated; never downloaded in tests.

load_banknote / banknote_frame   UCI banknote authentication (shipped CSV, CC BY 4.0)
toy_2d                           circle, xor, gauss, spiral, moons (generated, seeded)
blood_pressure                   31 women, systolic pressure vs age (synthetic, shipped CSV)
load_mnist                       MNIST via Keras' cache, else a shipped 5,000-image sample
stratified_split, minibatches    seeded splitting and batching

Every shipped file is checked against its SHA-256 when it is read
(``DataIntegrityError`` if not). Sources and licences: README.md in this folder.
"""
from __future__ import annotations

from ._files import DataIntegrityError
from .banknote import CLASS_NAMES, FEATURE_NAMES, TWO_FEATURES, banknote_frame, load_banknote
from .blood_pressure import blood_pressure
from .mnist import load_mnist
from .split import minibatches, stratified_split
from .toy import toy_2d

__all__ = [
    "DataIntegrityError", "CLASS_NAMES", "FEATURE_NAMES", "TWO_FEATURES", "banknote_frame",
    "load_banknote", "blood_pressure", "load_mnist", "minibatches", "stratified_split", "toy_2d",
]
