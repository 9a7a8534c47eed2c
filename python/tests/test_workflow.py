"""The TensorRT-style workflow on the CPU, end to end, on models/digits."""

import gc
import json
import os

import numpy as np
import pytest

import kiln
from conftest import DIGITS_ONNX, build_digits_plan

ATOL = 1e-5


def test_version_and_library():
    assert kiln.__version__ == "%d.%d.%d" % (kiln.get_version() // 10000,
                                             kiln.get_version() // 100 % 100,
                                             kiln.get_version() % 100)
    assert os.path.isfile(kiln.library_path)
    if os.environ.get("KILN_LIBRARY"):
        assert os.path.samefile(kiln.library_path, os.environ["KILN_LIBRARY"])


def test_full_onnx_workflow(tmp_path, logger, samples):
    builder = kiln.Builder(logger)
    network = builder.create_network(1 << int(kiln.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    assert network.get_flag(kiln.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    parser = kiln.OnnxParser(network, logger)
    with open(DIGITS_ONNX, "rb") as f:
        ok = parser.parse(f.read())
    assert ok, [str(parser.get_error(i)) for i in range(parser.num_errors)]
    assert parser.num_errors == 0

    # The network as parsed
    assert network.num_inputs == 1 and network.num_outputs == 1
    assert network.num_layers == 11 == len(network)
    image = network.get_input(0)
    assert image.name == "image" and image.dtype == kiln.DataType.FLOAT32
    assert image.shape == (-1, 1, 8, 8)
    assert image.is_network_input and not image.is_network_output
    assert network.get_output(0).name == "probabilities"
    assert network.get_output(0).is_network_output
    assert [layer.name for layer in network][:3] == ["conv1", "relu1", "pool1"]
    assert network.get_layer(0).get_output(0).name == "conv1_out"
    assert network.get_layer(-1).name == "softmax"

    config = builder.create_builder_config()
    config.set_memory_pool_limit(kiln.MemoryPoolType.WORKSPACE, 1 << 30)
    assert config.get_memory_pool_limit(kiln.MemoryPoolType.WORKSPACE) == 1 << 30
    config.num_threads = 2
    assert config.num_threads == 2
    config.set_device(kiln.DeviceType.CPU)
    assert config.default_device_type == kiln.DeviceType.CPU
    profile = builder.create_optimization_profile()
    profile.set_shape("image", (1, 1, 8, 8), (8, 1, 8, 8), (64, 1, 8, 8))
    assert profile.get_shape("image") == [(1, 1, 8, 8), (8, 1, 8, 8), (64, 1, 8, 8)]
    assert config.add_optimization_profile(profile) == 0
    assert config.num_optimization_profiles == 1

    plan = builder.build_serialized_network(network, config)
    assert isinstance(plan, kiln.HostMemory)
    assert plan.nbytes == len(plan) > 0 and plan.dtype == kiln.DataType.UINT8
    assert bytes(plan)[:8] == b"KILNPLAN" and memoryview(plan).nbytes == plan.nbytes
    path = tmp_path / "digits.plan"
    with open(path, "wb") as f:
        f.write(plan)
    assert path.read_bytes() == bytes(plan)

    runtime = kiln.Runtime(logger)
    with open(path, "rb") as f:
        engine = runtime.deserialize_cuda_engine(f.read())
    assert engine.device == kiln.DeviceType.CPU
    assert engine.num_io_tensors == 2
    assert [engine.get_tensor_name(i) for i in range(2)] == ["image", "probabilities"]
    assert engine.get_tensor_mode("image") == kiln.TensorIOMode.INPUT
    assert engine.get_tensor_mode("probabilities") == kiln.TensorIOMode.OUTPUT
    assert engine.get_tensor_mode("nope") == kiln.TensorIOMode.NONE
    assert engine.get_tensor_dtype("image") == kiln.DataType.FLOAT32
    assert engine.get_tensor_dtype("image").numpy == np.float32
    assert kiln.nptype(engine.get_tensor_dtype("probabilities")) is np.float32
    assert engine.get_tensor_shape("image") == (-1, 1, 8, 8)
    assert engine.get_tensor_shape("probabilities") == (-1, 10)
    assert engine.get_tensor_profile_shape("image", 0) == [(1, 1, 8, 8), (8, 1, 8, 8),
                                                           (64, 1, 8, 8)]
    assert engine.num_optimization_profiles == 1
    assert engine.num_layers >= 1

    context = engine.create_execution_context()
    x = samples["batch"]
    context.set_input_shape("image", x.shape)
    assert context.get_tensor_shape("image") == x.shape
    outputs = context.infer({"image": x})
    assert set(outputs) == {"probabilities"}
    probs = outputs["probabilities"]
    assert probs.shape == (64, 10) and probs.dtype == np.float32
    np.testing.assert_allclose(probs, samples["probabilities"], atol=ATOL)
    assert (probs.argmax(1) == samples["labels"]).mean() > 0.9
    assert context.get_tensor_shape("probabilities") == (64, 10)
    # Only the FP16 flag's absence: no warnings on this build.
    assert logger.at(kiln.Logger.WARNING) == []


def test_bindings_execute_v2_and_async_v3(digits_engine, samples):
    engine = digits_engine
    context = engine.create_execution_context()
    x = np.ascontiguousarray(samples["batch"][:8])
    out = np.zeros((8, 10), np.float32)
    assert context.set_input_shape("image", (8, 1, 8, 8))
    # Raw addresses, as TensorRT's device pointers
    assert context.set_tensor_address("image", x.ctypes.data)
    assert context.set_tensor_address("probabilities", out.ctypes.data)
    assert context.get_tensor_address("image") == x.ctypes.data
    assert context.execute_async_v3(0)  # the stream is ignored on the CPU
    np.testing.assert_allclose(out, samples["probabilities"][:8], atol=ATOL)
    # execute_v2 binds in engine order
    out[:] = 0
    assert context.execute_v2([x.ctypes.data, out.ctypes.data])
    np.testing.assert_allclose(out, samples["probabilities"][:8], atol=ATOL)
    # numpy arrays work as bindings too (kept alive while bound)
    out2 = np.zeros((8, 10), np.float32)
    assert context.execute_v2([x, out2])
    np.testing.assert_allclose(out2, out, atol=0)
    np.testing.assert_allclose(context.get_output("probabilities"), out, atol=0)
    assert context.execute()
    with pytest.raises(kiln.KilnArgumentError, match="2 I/O tensors"):
        context.execute_v2([x])
    # infer restores the bindings made before it
    context.infer({"image": x[:2]})
    assert context.get_tensor_address("probabilities") == out2.ctypes.data


def test_infer_accepts_non_contiguous_and_lists(digits_engine, samples):
    context = digits_engine.create_execution_context()
    x = samples["batch"][:6]
    strided = np.asfortranarray(x)
    assert not strided.flags.c_contiguous
    got = context.infer({"image": strided})["probabilities"]
    np.testing.assert_allclose(got, samples["probabilities"][:6], atol=ATOL)
    got = context.infer(image=x[:1].tolist())["probabilities"]  # keyword form, a list
    np.testing.assert_allclose(got, samples["probabilities"][:1], atol=ATOL)


def test_batches_inside_the_profile(digits_engine, samples):
    context = digits_engine.create_execution_context()
    for n in (1, 3, 64):
        got = context.infer({"image": samples["batch"][:n]})["probabilities"]
        np.testing.assert_allclose(got, samples["probabilities"][:n], atol=ATOL)


def test_serialization_round_trip_through_a_file(tmp_path, digits_engine, samples):
    plan = digits_engine.serialize()
    assert isinstance(plan, kiln.HostMemory) and bytes(plan)[:8] == b"KILNPLAN"
    path = str(tmp_path / "again.plan")
    digits_engine.serialize_to_file(path)
    runtime = kiln.Runtime(kiln.Logger())
    from_file = runtime.deserialize_engine_from_file(path)
    from_bytes = runtime.deserialize_engine(plan)
    from_view = runtime.deserialize_engine(memoryview(bytes(plan)))
    from_numpy = runtime.deserialize_engine(np.frombuffer(plan, np.uint8))
    x = samples["batch"][:5]
    for engine in (from_file, from_bytes, from_view, from_numpy):
        got = engine.create_execution_context().infer({"image": x})["probabilities"]
        np.testing.assert_allclose(got, samples["probabilities"][:5], atol=ATOL)
    with open(path, "rb") as f:
        assert f.read() == bytes(plan)


def test_build_engine_directly(logger, samples):
    builder = kiln.Builder(logger)
    network = builder.create_network()
    parser = kiln.OnnxParser(network, logger)
    assert parser.parse_from_file(DIGITS_ONNX)
    config = builder.create_builder_config()
    config.max_batch_size = 16
    assert config.max_batch_size == 16
    engine = builder.build_engine(network, config)
    assert engine.get_tensor_profile_shape("image", 0)[2] == (16, 1, 8, 8)
    got = engine.create_execution_context().infer({"image": samples["batch"][:16]})
    np.testing.assert_allclose(got["probabilities"], samples["probabilities"][:16], atol=ATOL)


def test_engine_layers_and_inspector(digits_engine):
    e = digits_engine
    names = [e.get_layer_name(i) for i in range(e.num_layers)]
    ops = [e.get_layer_op(i) for i in range(e.num_layers)]
    kernels = [e.get_layer_kernel(i) for i in range(e.num_layers)]
    assert "Conv" in ops and "Softmax" in ops
    assert all(isinstance(k, str) and k for k in kernels)
    assert names[ops.index("Softmax")] == "softmax"
    with pytest.raises(IndexError):
        e.get_layer_name(e.num_layers)
    assert e.planned_arena_bytes > 0
    assert e.naive_activation_bytes >= e.planned_arena_bytes
    assert e.weight_bytes >= 13706 * 4
    inspector = e.create_engine_inspector()
    assert inspector.get_layer_information(0).startswith(names[0] + ": " + ops[0])
    info = json.loads(inspector.get_engine_information(kiln.LayerInformationFormat.JSON))
    assert [l["Name"] for l in info["Layers"]] == names
    assert info["Bindings"][0] == {"Name": "image", "Mode": "INPUT", "DataType": "float32",
                                   "Shape": [-1, 1, 8, 8]}
    assert info["PlannedArenaBytes"] == e.planned_arena_bytes
    assert len(inspector.get_engine_information().splitlines()) == e.num_layers


def test_profiling(digits_engine, samples):
    context = digits_engine.create_execution_context()
    with pytest.raises(kiln.KilnArgumentError, match="profiling is off"):
        context.get_layer_time(0)
    context.set_profiling(True)
    assert context.profiling
    context.infer({"image": samples["batch"][:4]})
    times = context.get_layer_times()
    assert len(times) == digits_engine.num_layers
    assert all(t >= 0 for _, t in times) and sum(t for _, t in times) > 0
    assert times[0] == (digits_engine.get_layer_name(0), context.get_layer_time(0))

    class Collect(kiln.IProfiler):
        def __init__(self):
            self.reports = []

        def report_layer_time(self, layer_name, ms):
            self.reports.append((layer_name, ms))

    profiler = Collect()
    context.profiler = profiler
    assert context.profiler is profiler
    context.infer({"image": samples["batch"][:4]})
    assert [n for n, _ in profiler.reports] == [n for n, _ in times]
    inspector = digits_engine.create_engine_inspector()
    inspector.execution_context = context
    assert "ms" in inspector.get_layer_information(0)
    context.profiler = None
    assert not context.profiling


def test_printing_profiler(digits_engine, samples, capsys):
    context = digits_engine.create_execution_context()
    context.profiler = kiln.Profiler()
    context.infer({"image": samples["batch"][:1]})
    out = capsys.readouterr().out
    assert "%s: " % digits_engine.get_layer_name(0) in out and " ms" in out
    with pytest.raises(kiln.KilnTypeError, match="report_layer_time"):
        context.profiler = object()


def test_two_contexts_share_an_engine(digits_engine, samples):
    a = digits_engine.create_execution_context()
    b = digits_engine.create_execution_context()
    a.set_input_shape("image", (2, 1, 8, 8))
    b.set_input_shape("image", (5, 1, 8, 8))
    ra = a.infer({"image": samples["batch"][:2]})["probabilities"]
    rb = b.infer({"image": samples["batch"][:5]})["probabilities"]
    np.testing.assert_allclose(ra, samples["probabilities"][:2], atol=ATOL)
    np.testing.assert_allclose(rb, samples["probabilities"][:5], atol=ATOL)


def test_fp16_flag_and_config_flags(logger):
    builder = kiln.Builder(logger)
    config = builder.create_builder_config()
    assert not config.get_flag(kiln.BuilderFlag.FP16)
    config.set_flag(kiln.BuilderFlag.FP16)
    assert config.get_flag(kiln.BuilderFlag.FP16)
    assert config.flags == 1 << int(kiln.BuilderFlag.FP16)
    config.clear_flag(kiln.BuilderFlag.FP16)
    assert config.flags == 0
    config.flags = (1 << int(kiln.BuilderFlag.BF16)) | (1 << int(kiln.BuilderFlag.NO_OPTIMIZE))
    assert config.get_flag(kiln.BuilderFlag.BF16) and config.get_flag("NO_OPTIMIZE")
    assert "BF16" in repr(config)


def test_no_optimize_builds_the_same_results(samples):
    plan = build_digits_plan(kiln.Logger(kiln.Logger.ERROR), flags=[kiln.BuilderFlag.NO_OPTIMIZE])
    engine = kiln.Runtime().deserialize_engine(plan)
    got = engine.create_execution_context().infer({"image": samples["batch"]})
    np.testing.assert_allclose(got["probabilities"], samples["probabilities"], atol=ATOL)


def test_datatype_numpy_mapping():
    assert kiln.DataType.FLOAT is kiln.DataType.FLOAT32 and kiln.float32 is kiln.DataType.FLOAT32
    assert kiln.DataType.HALF.numpy == np.float16
    for dt, np_dt in [(kiln.float32, np.float32), (kiln.float16, np.float16),
                      (kiln.int8, np.int8), (kiln.uint8, np.uint8), (kiln.int32, np.int32),
                      (kiln.int64, np.int64), (kiln.bool, np.bool_), (kiln.float64, np.float64)]:
        assert dt.numpy == np.dtype(np_dt)
        assert kiln.DataType.from_numpy(np_dt) is dt
        assert kiln.nptype(dt) is np.dtype(np_dt).type
        assert dt.itemsize == np.dtype(np_dt).itemsize
    assert kiln.DataType.INT4.bits == 4 and kiln.DataType.INT4.itemsize == 0.5
    assert kiln.DataType.FLOAT32.kiln_name == "float32"
    assert str(kiln.DataType.FLOAT32) == "DataType.FLOAT32"
    with pytest.raises(TypeError):
        kiln.DataType.STRING.numpy


def test_host_memory_outlives_its_builder():
    plan = build_digits_plan(kiln.Logger(kiln.Logger.ERROR))
    gc.collect()
    view = memoryview(plan)
    del plan
    gc.collect()
    assert bytes(view[:8]) == b"KILNPLAN"
