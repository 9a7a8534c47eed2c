"""Loggers: the stderr Logger, ILogger subclasses as TensorRT's, severities."""

import numpy as np

import kiln
from conftest import Collect, build_digits_plan


def test_severities_as_tensorrt():
    assert [int(s) for s in (kiln.Logger.INTERNAL_ERROR, kiln.Logger.ERROR, kiln.Logger.WARNING,
                             kiln.Logger.INFO, kiln.Logger.VERBOSE)] == [0, 1, 2, 3, 4]
    assert kiln.ILogger.Severity.WARNING is kiln.Logger.WARNING is kiln.Severity.WARNING


def test_fp16_on_cpu_logs_a_warning():
    logger = Collect(kiln.Logger.WARNING)
    build_digits_plan(logger, flags=[kiln.BuilderFlag.FP16])
    warnings = logger.at(kiln.Logger.WARNING)
    assert any("FP16" in m and "CPU" in m for m in warnings), logger.messages
    assert all(isinstance(s, kiln.Severity) for s, _ in logger.messages)
    # Nothing below the threshold arrives
    assert not logger.at(kiln.Logger.INFO) and not logger.at(kiln.Logger.VERBOSE)


def test_ilogger_receives_every_severity_by_default():
    logger = Collect()  # kiln.ILogger.__init__(self): VERBOSE, as TensorRT's ILogger
    assert logger.min_severity == kiln.Logger.VERBOSE
    build_digits_plan(logger)
    assert logger.at(kiln.Logger.INFO), logger.messages  # the build reports at INFO
    logger.send(kiln.Logger.ERROR, "hello")
    assert logger.messages[-1] == (kiln.Logger.ERROR, "hello")


def test_min_severity_setter():
    logger = Collect()
    logger.min_severity = kiln.Logger.ERROR
    assert logger.min_severity == kiln.Logger.ERROR
    logger.send(kiln.Logger.WARNING, "dropped")
    logger.send(kiln.Logger.INTERNAL_ERROR, "kept")
    assert logger.messages == [(kiln.Logger.INTERNAL_ERROR, "kept")]


def test_default_logger_prints_to_stderr(capsys):
    logger = kiln.Logger(kiln.Logger.WARNING)
    build_digits_plan(logger, flags=[kiln.BuilderFlag.FP16])
    err = capsys.readouterr().err
    assert "[kiln] W: the FP16 flag is set" in err
    logger.send(kiln.Logger.INFO, "not shown")
    assert capsys.readouterr().err == ""


def test_subclass_without_super_init_and_duck_typed_logger():
    class Lazy(kiln.ILogger):  # forgot kiln.ILogger.__init__: still works
        def __init__(self):
            self.seen = []

        def log(self, severity, msg):
            self.seen.append(msg)

    class Duck:  # not an ILogger at all, but has log()
        def __init__(self):
            self.seen = []

        def log(self, severity, msg):
            self.seen.append((severity, msg))

    for logger in (Lazy(), Duck()):
        build_digits_plan(logger, flags=[kiln.BuilderFlag.BF16])
        assert any("BF16" in str(m) for m in logger.seen)


def test_exception_in_log_does_not_escape(capsys):
    class Broken(kiln.ILogger):
        def log(self, severity, msg):
            raise RuntimeError("boom")

    logger = Broken(kiln.Logger.WARNING)
    plan = build_digits_plan(logger, flags=[kiln.BuilderFlag.FP16])
    assert bytes(plan)[:8] == b"KILNPLAN"
    assert "RuntimeError: boom" in capsys.readouterr().err


def test_parser_errors_reach_the_logger():
    logger = Collect(kiln.Logger.ERROR)
    parser = kiln.OnnxParser(kiln.Builder(logger).create_network(), logger)
    assert not parser.parse(b"\x08")
    assert logger.at(kiln.Logger.ERROR) == [parser.get_error(0).desc()]


def test_logger_outlives_python_reference(samples):
    """The engine keeps its logger's C object (and the Python callback) alive."""
    logger = Collect(kiln.Logger.VERBOSE)
    plan = build_digits_plan(logger)
    engine = kiln.Runtime(logger).deserialize_engine(plan)
    del logger
    import gc
    gc.collect()
    got = engine.create_execution_context().infer({"image": samples["batch"][:2]})
    np.testing.assert_allclose(got["probabilities"], samples["probabilities"][:2], atol=1e-5)
