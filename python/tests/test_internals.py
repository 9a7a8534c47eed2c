"""The binding's own machinery: library lookup, status -> exception mapping, stubs for
calls a library lacks, argument conversions."""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import kiln
from kiln import _lib
from conftest import SOURCE_DIR

STATUSES = {
    1: kiln.KilnArgumentError, 2: kiln.KilnMemoryError, 3: kiln.KilnIOError,
    4: kiln.KilnParseError, 5: kiln.KilnUnsupportedError, 6: kiln.KilnNotImplementedError,
    7: kiln.KilnShapeError, 8: kiln.KilnPlanError, 9: kiln.KilnVersionError,
    10: kiln.KilnDeviceError, 11: kiln.KilnInternalError,
}


@pytest.mark.parametrize("status", sorted(STATUSES))
def test_every_status_has_its_exception(status):
    err = _lib.error_for(status, "the message")
    assert type(err) is STATUSES[status]
    assert err.status == _lib.text(_lib.C.status_string(status)) == STATUSES[status].status
    assert str(err) == "the message"
    with pytest.raises(STATUSES[status]):
        _lib.check(status)
    _lib.check(0)  # KILN_OK raises nothing


def test_not_implemented_is_a_not_implemented_error():
    assert isinstance(_lib.error_for(6, "kiln_network_add_foo: names the call"),
                      NotImplementedError)
    stub = _lib._missing("kiln_network_add_foo", _lib._st)
    with pytest.raises(kiln.KilnNotImplementedError, match="kiln_network_add_foo"):
        stub(None)
    assert _lib.missing_symbols == []  # the library built here has every kiln.h call


def _python(code, **env):
    full = dict(os.environ)
    full.pop("KILN_LIBRARY", None)
    full.update(env)
    full["PYTHONPATH"] = os.path.join(SOURCE_DIR, "python")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=full, cwd="/")


def test_library_lookup():
    here = kiln.library_path
    # KILN_LIBRARY as a file, and as the folder holding it
    for value in (here, os.path.dirname(here)):
        r = _python("import kiln; print(kiln.library_path)", KILN_LIBRARY=value)
        assert r.returncode == 0, r.stderr
        assert os.path.samefile(r.stdout.strip(), here)
    r = _python("import kiln", KILN_LIBRARY="/nonexistent/libkiln.so")
    assert r.returncode != 0 and "KILN_LIBRARY" in r.stderr and "ImportError" in r.stderr


def test_dims_and_enum_conversions():
    d = _lib.to_dims((1, 2, 3))
    assert _lib.dims_to_tuple(d) == (1, 2, 3)
    assert _lib.dims_to_tuple(_lib.to_dims(np.zeros((4, 5)).shape)) == (4, 5)
    assert _lib.dims_to_tuple(_lib.to_dims(7)) == (7,)
    with pytest.raises(kiln.KilnTypeError):
        _lib.to_dims("1x2")
    with pytest.raises(kiln.KilnArgumentError, match="at most 8"):
        _lib.to_dims(range(9))
    assert kiln._enums.to_dtype("float16") is kiln.float16
    assert kiln._enums.to_dtype(np.dtype("int32")) is kiln.int32
    assert kiln._enums.to_enum(kiln.BuilderFlag, "fp16", "flag") is kiln.BuilderFlag.FP16
    assert kiln.ReduceOperation.AVG is kiln.ReduceOperation.MEAN
    assert kiln.DeviceType.GPU is kiln.DeviceType.CUDA


def test_contexts_on_threads(digits_engine, samples):
    """kiln.h: several threads may each run their own context of one engine at once."""
    errors, results = [], {}

    def work(i):
        try:
            context = digits_engine.create_execution_context()
            n = 1 + i % 8
            for _ in range(5):
                results[i] = (n, context.infer({"image": samples["batch"][:n]})["probabilities"])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for n, probs in results.values():
        np.testing.assert_allclose(probs, samples["probabilities"][:n], atol=1e-5)
