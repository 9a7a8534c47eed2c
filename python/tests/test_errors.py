"""Errors: every failing C call raises a KilnError subclass with kiln_last_error()'s
message, and the classic mistakes get a sentence that says what to do."""

import re
import struct

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import kiln
from conftest import DIGITS_ONNX, build_digits_plan


def _checksum64(data):
    """src/plan/byte_io.c's kiln_checksum64, to forge a plan header."""
    mask = (1 << 64) - 1
    h = 0xCBF29CE484222325
    words = len(data) // 8
    for i in range(words):
        (w,) = struct.unpack_from("<Q", data, 8 * i)
        h = ((h ^ w) * 0x100000001B3) & mask
        h ^= h >> 29
    for b in data[words * 8:]:
        h = ((h ^ b) * 0x100000001B3) & mask
    return h ^ len(data)


def test_exception_hierarchy():
    assert issubclass(kiln.KilnShapeError, kiln.KilnError)
    assert issubclass(kiln.KilnShapeError, ValueError)
    assert issubclass(kiln.KilnNotImplementedError, NotImplementedError)
    assert issubclass(kiln.KilnArgumentError, ValueError)
    assert issubclass(kiln.KilnTypeError, TypeError)
    assert issubclass(kiln.KilnIOError, OSError)
    for cls in (kiln.KilnParseError, kiln.KilnPlanError, kiln.KilnVersionError,
                kiln.KilnUnsupportedError, kiln.KilnDeviceError, kiln.KilnInternalError,
                kiln.KilnMemoryError):
        assert issubclass(cls, kiln.KilnError)


def test_error_carries_status_and_last_error(digits_engine):
    with pytest.raises(kiln.KilnArgumentError) as info:
        digits_engine.get_tensor_shape("nope")
    err = info.value
    assert err.status == "KILN_ERR_INVALID_ARGUMENT"
    assert "no input or output named 'nope'" in str(err)
    assert "'image'" in str(err) and "'probabilities'" in str(err)
    assert kiln.last_error() == err.message


# ---------------------------------------------------------------------------- plans


def test_plan_as_str_says_open_with_rb(digits_plan, tmp_path):
    runtime = kiln.Runtime(kiln.Logger())
    with pytest.raises(kiln.KilnError, match='open the file with "rb"'):
        runtime.deserialize_cuda_engine(digits_plan.decode("latin-1"))
    with pytest.raises(TypeError, match='"rb"'):  # also a TypeError
        runtime.deserialize_engine("model.plan")
    # Read in text mode and encoded back: the bytes are mangled
    path = tmp_path / "digits.plan"
    path.write_bytes(digits_plan)
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    with pytest.raises(kiln.KilnPlanError, match='open the file with "rb"'):
        runtime.deserialize_engine(text.encode("utf-8"))


def test_not_a_plan(digits_onnx):
    runtime = kiln.Runtime(kiln.Logger())
    with open(digits_onnx, "rb") as f:
        with pytest.raises(kiln.KilnPlanError, match="KILNPLAN.*ONNX model"):
            runtime.deserialize_engine(f.read())
    with pytest.raises(kiln.KilnPlanError, match="shorter than"):
        runtime.deserialize_engine(b"")
    with pytest.raises(kiln.KilnTypeError, match="bytes-like"):
        runtime.deserialize_engine(12345)


def test_corrupted_plan(digits_plan, tmp_path):
    runtime = kiln.Runtime(kiln.Logger())
    bad = bytearray(digits_plan)
    bad[len(bad) // 2] ^= 0xFF
    with pytest.raises(kiln.KilnPlanError, match="corrupted plan.*checksum"):
        runtime.deserialize_engine(bad)
    with pytest.raises(kiln.KilnPlanError, match="truncated"):
        runtime.deserialize_engine(digits_plan[:-10])
    path = tmp_path / "bad.plan"
    path.write_bytes(bytes(bad))
    with pytest.raises(kiln.KilnPlanError, match="bad.plan"):
        runtime.deserialize_engine_from_file(str(path))
    with pytest.raises(kiln.KilnIOError):
        runtime.deserialize_engine_from_file(str(tmp_path / "missing.plan"))


def test_plan_from_another_version(digits_plan):
    forged = bytearray(digits_plan)
    struct.pack_into("<I", forged, 12, 10203)  # kiln 1.2.3
    struct.pack_into("<Q", forged, 40, _checksum64(bytes(forged[:40])))
    with pytest.raises(kiln.KilnVersionError) as info:
        kiln.Runtime(kiln.Logger()).deserialize_engine(forged)
    assert "1.2.3" in str(info.value) and kiln.__version__ in str(info.value)
    assert info.value.status == "KILN_ERR_VERSION_MISMATCH"


def _reseal(plan, section_id):
    """Recomputes the checksums of a section, the section table and the header after a
    test edited the section (docs/plan-format.md)."""
    count = struct.unpack_from("<I", plan, 20)[0]
    for i in range(count):
        sid, _, offset, size, _ = struct.unpack_from("<IIQQQ", plan, 48 + 32 * i)
        if sid == section_id:
            struct.pack_into("<Q", plan, 48 + 32 * i + 24,
                             _checksum64(bytes(plan[offset:offset + size])))
    struct.pack_into("<Q", plan, 32, _checksum64(bytes(plan[48:48 + 32 * count])))
    struct.pack_into("<Q", plan, 40, _checksum64(bytes(plan[:40])))


def test_plan_from_another_device(digits_plan):
    forged = bytearray(digits_plan)
    found = re.search(rb"cpu ([A-Za-z0-9_]+)", forged)
    assert found, "no CPU fingerprint in the plan's META section"
    arch = found.group(1)
    other = b"z" * len(arch)
    forged[found.start(1):found.end(1)] = other
    _reseal(forged, 1)  # META
    with pytest.raises(kiln.KilnVersionError) as info:
        kiln.Runtime(kiln.Logger()).deserialize_engine(forged)
    msg = str(info.value)
    assert ("cpu " + other.decode()) in msg and ("cpu " + arch.decode()) in msg
    assert "rebuild the plan" in msg


# ---------------------------------------------------------------------------- shapes


def test_shape_outside_the_profile_gives_the_bounds(samples):
    plan = build_digits_plan(kiln.Logger(kiln.Logger.ERROR), 2, 4, 16)
    engine = kiln.Runtime().deserialize_engine(plan)
    context = engine.create_execution_context()
    with pytest.raises(kiln.KilnShapeError) as info:
        context.set_input_shape("image", (32, 1, 8, 8))
    msg = str(info.value)
    assert "[32, 1, 8, 8]" in msg and "min [2, 1, 8, 8]" in msg and "max [16, 1, 8, 8]" in msg
    with pytest.raises(kiln.KilnShapeError, match="min \\[2, 1, 8, 8\\]"):
        context.infer({"image": samples["batch"][:1]})
    with pytest.raises(kiln.KilnShapeError, match="rank"):
        context.set_input_shape("image", (4, 64))
    with pytest.raises(kiln.KilnArgumentError, match="at most 8"):
        context.set_input_shape("image", (1,) * 9)


def test_infer_wrong_dtype_says_expected_and_given(digits_engine, samples):
    context = digits_engine.create_execution_context()
    with pytest.raises(kiln.KilnTypeError) as info:
        context.infer({"image": samples["batch"][:2].astype(np.float64)})
    msg = str(info.value)
    assert "expects float32" in msg and "float64" in msg and "astype(numpy.float32)" in msg
    with pytest.raises(kiln.KilnTypeError, match="expects float32.*int64"):
        context.infer({"image": np.zeros((2, 1, 8, 8), np.int64)})


def test_infer_wrong_shape_says_expected_and_given(digits_engine):
    context = digits_engine.create_execution_context()
    with pytest.raises(kiln.KilnShapeError) as info:
        context.infer({"image": np.zeros((2, 3, 8, 8), np.float32)})
    assert "(-1, 1, 8, 8)" in str(info.value) and "(2, 3, 8, 8)" in str(info.value)
    with pytest.raises(kiln.KilnShapeError, match="\\(64,\\)"):
        context.infer({"image": np.zeros(64, np.float32)})


def test_infer_wrong_names(digits_engine):
    context = digits_engine.create_execution_context()
    with pytest.raises(kiln.KilnArgumentError, match="no input named 'input'.*'image'"):
        context.infer({"input": np.zeros((1, 1, 8, 8), np.float32)})
    with pytest.raises(kiln.KilnArgumentError, match="no value for input 'image'"):
        context.infer({})


def test_execute_without_shape_or_buffer(digits_engine):
    context = digits_engine.create_execution_context()
    with pytest.raises(kiln.KilnShapeError, match="set its shape"):
        context.execute()
    context.set_input_shape("image", (1, 1, 8, 8))
    with pytest.raises(kiln.KilnArgumentError, match="no buffer"):
        context.execute_async_v3(0)
    with pytest.raises(kiln.KilnArgumentError, match="C-contiguous"):
        context.set_tensor_address("image", np.zeros((8, 8, 1, 1), np.float32).T)
    with pytest.raises(kiln.KilnTypeError, match="address"):
        context.set_tensor_address("image", 3.5)
    with pytest.raises(kiln.KilnArgumentError, match="no input or output named 'x'"):
        context.set_tensor_address("x", 0)


def test_missing_profile_is_a_shape_error(logger):
    builder = kiln.Builder(logger)
    network = builder.create_network()
    assert kiln.OnnxParser(network, logger).parse_from_file(DIGITS_ONNX)
    with pytest.raises(kiln.KilnShapeError, match="optimization profile"):
        builder.build_serialized_network(network, builder.create_builder_config())


def test_profile_errors(logger):
    builder = kiln.Builder(logger)
    profile = builder.create_optimization_profile()
    with pytest.raises(kiln.KilnArgumentError, match="no dimensions for 'x'"):
        profile.get_shape("x")
    with pytest.raises(kiln.KilnArgumentError, match="dimension 0 is -1"):
        profile.set_shape("x", (-1, 2), (1, 2), (1, 2))


def test_cuda_target_without_a_gpu(logger):
    builder = kiln.Builder(logger)
    network = builder.create_network()
    x = network.add_input("x", kiln.float32, (2,))
    network.mark_output(network.add_identity(x).get_output(0))
    config = builder.create_builder_config()
    config.set_device(kiln.DeviceType.CUDA, 0)
    assert config.get_flag(kiln.BuilderFlag.TF32)  # on by default for CUDA targets
    if kiln.cuda.is_available():
        engine = builder.build_engine(network, config)
        assert engine.device == kiln.DeviceType.CUDA
        return
    # No CUDA backend (KILN_ERR_UNSUPPORTED) or no usable GPU (KILN_ERR_DEVICE)
    with pytest.raises((kiln.KilnUnsupportedError, kiln.KilnDeviceError), match="CUDA|cuda"):
        builder.build_serialized_network(network, config)


# ---------------------------------------------------------------------------- parser


def _unsupported_model():
    nodes = [
        helper.make_node("FancyOp", ["x"], ["y"], name="fancy", domain="com.example"),
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("OtherOp", ["r"], ["z"], name="other", domain="com.example"),
    ]
    graph = helper.make_graph(
        nodes, "custom",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4]),
         helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 4])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                   helper.make_opsetid("com.example", 1)])


def test_parser_lists_every_unsupported_node(logger, tmp_path):
    model = _unsupported_model()
    builder = kiln.Builder(logger)
    network = builder.create_network()
    parser = kiln.OnnxParser(network, logger)
    assert parser.parse(model.SerializeToString()) is False
    assert parser.num_errors == 2
    errors = [parser.get_error(i) for i in range(parser.num_errors)]
    assert [e.node() for e in errors] == ["fancy", "other"]
    assert [e.op() for e in errors] == ["com.example::FancyOp", "com.example::OtherOp"]
    assert "com.example" in errors[0].desc() and "fancy" in errors[0].desc()
    assert str(errors[0]) == errors[0].desc()
    assert "fancy" in repr(errors[0])
    assert parser.errors[1].node() == "other"
    with pytest.raises(IndexError):
        parser.get_error(2)
    # The logger saw them as errors too
    assert any("fancy" in m for m in logger.at(kiln.Logger.ERROR))
    # From a file, the same
    path = tmp_path / "custom.onnx"
    onnx.save(model, str(path))
    parser2 = kiln.OnnxParser(builder.create_network(), logger)
    assert not parser2.parse_from_file(str(path))
    assert [parser2.get_error(i).node() for i in range(parser2.num_errors)] == ["fancy", "other"]


def test_parser_malformed_bytes(logger):
    parser = kiln.OnnxParser(kiln.Builder(logger).create_network(), logger)
    assert not parser.parse(b"\x01\x02garbage")
    assert parser.num_errors == 1
    err = parser.get_error(0)
    assert err.node() == "" and err.op() == "" and "byte offset" in err.desc()


def test_parser_str_and_missing_file(logger, digits_onnx):
    parser = kiln.OnnxParser(kiln.Builder(logger).create_network(), logger)
    with pytest.raises(kiln.KilnTypeError, match='open the file with "rb".*parse_from_file'):
        parser.parse(digits_onnx)  # a path passed to parse
    with open(digits_onnx, encoding="latin-1") as f:
        with pytest.raises(kiln.KilnTypeError, match='open the file with "rb"'):
            parser.parse(f.read())  # read in text mode
    assert not parser.parse_from_file("/nonexistent/model.onnx")
    assert "/nonexistent/model.onnx" in parser.get_error(0).desc()


def test_parser_external_data_path(logger, tmp_path, samples):
    model = onnx.load(DIGITS_ONNX)
    path = tmp_path / "ext" / "digits_ext.onnx"
    path.parent.mkdir()
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=0)
    assert (path.parent / "weights.bin").exists()
    builder = kiln.Builder(logger)
    network = builder.create_network()
    parser = kiln.OnnxParser(network, logger)
    data = path.read_bytes()
    assert parser.parse(data, str(path)), [str(e) for e in parser.errors]
    config = builder.create_builder_config()
    config.max_batch_size = 4
    engine = builder.build_engine(network, config)
    got = engine.create_execution_context().infer({"image": samples["batch"][:4]})
    np.testing.assert_allclose(got["probabilities"], samples["probabilities"][:4], atol=1e-5)
    # Without the path the weights file is looked for in the current directory
    parser2 = kiln.OnnxParser(builder.create_network(), logger)
    assert not parser2.parse(data)
    assert "weights.bin" in parser2.get_error(0).desc()


def test_type_errors(logger):
    builder = kiln.Builder(logger)
    with pytest.raises(kiln.KilnTypeError, match="NetworkDefinition"):
        kiln.OnnxParser("network", logger)
    with pytest.raises(kiln.KilnTypeError, match="kiln.ILogger"):
        kiln.Builder(42)
    network = builder.create_network()
    with pytest.raises(kiln.KilnTypeError, match="BuilderConfig"):
        builder.build_serialized_network(network, None)
    with pytest.raises(kiln.KilnArgumentError, match="BuilderFlag"):
        builder.create_builder_config().set_flag("FP64")
