"""Shared fixtures of kiln's Python tests.

Run from CMake (ctest -L python) or by hand from the checkout:
    PYTHONPATH=python python3 -m pytest -q python/tests
KILN_LIBRARY (the library to test) and KILN_SOURCE_DIR (the checkout) are optional.
"""

import os
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("KILN_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
# Import the package of this checkout unless PYTHONPATH already says where it is.
if not any(os.path.isdir(os.path.join(p, "kiln")) for p in sys.path if p):
    sys.path.insert(0, os.path.join(SOURCE_DIR, "python"))

import kiln  # noqa: E402

DIGITS_DIR = os.path.join(SOURCE_DIR, "models", "digits")
DIGITS_ONNX = os.path.join(DIGITS_DIR, "digits.onnx")
SAMPLES = os.path.join(DIGITS_DIR, "samples")


class Collect(kiln.ILogger):
    """A logger that keeps every message."""

    def __init__(self, min_severity=kiln.Logger.VERBOSE):
        kiln.ILogger.__init__(self, min_severity)
        self.messages = []

    def log(self, severity, msg):
        self.messages.append((severity, msg))

    def at(self, severity):
        return [m for s, m in self.messages if s == severity]


@pytest.fixture
def logger():
    return Collect(kiln.Logger.WARNING)


@pytest.fixture(scope="session")
def digits_onnx():
    assert os.path.isfile(DIGITS_ONNX), DIGITS_ONNX
    return DIGITS_ONNX


@pytest.fixture(scope="session")
def samples():
    load = lambda name: np.load(os.path.join(SAMPLES, name + ".npy"))
    return {"batch": load("batch"), "labels": load("batch_labels"),
            "probabilities": load("expected_probabilities")}


def build_digits_plan(logger, min_batch=1, opt_batch=8, max_batch=64, flags=()):
    builder = kiln.Builder(logger)
    network = builder.create_network()
    parser = kiln.OnnxParser(network, logger)
    with open(DIGITS_ONNX, "rb") as f:
        assert parser.parse(f.read()), [str(e) for e in parser.errors]
    config = builder.create_builder_config()
    for flag in flags:
        config.set_flag(flag)
    profile = builder.create_optimization_profile()
    profile.set_shape("image", (min_batch, 1, 8, 8), (opt_batch, 1, 8, 8), (max_batch, 1, 8, 8))
    config.add_optimization_profile(profile)
    return builder.build_serialized_network(network, config)


@pytest.fixture(scope="session")
def digits_plan():
    """A plan of the digits model, batch 1..64 (bytes)."""
    return bytes(build_digits_plan(kiln.Logger(kiln.Logger.ERROR)))


@pytest.fixture
def digits_engine(digits_plan):
    return kiln.Runtime(kiln.Logger(kiln.Logger.ERROR)).deserialize_engine(digits_plan)
