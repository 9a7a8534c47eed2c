"""kiln.cuda: without the CUDA backend or a GPU every call raises a clear KilnError; with
one, buffers, streams, events and copies work and infer() runs CUDA engines."""

import numpy as np
import pytest

import kiln
from conftest import DIGITS_ONNX

CALLS = [
    lambda: kiln.cuda.mem_alloc(16),
    lambda: kiln.cuda.pagelocked_empty((2, 3), np.float32),
    lambda: kiln.cuda.Stream(),
    lambda: kiln.cuda.Event(),
    lambda: kiln.cuda.memcpy_htod_async(0, np.zeros(4, np.float32)),
    lambda: kiln.cuda.memcpy_dtoh_async(np.zeros(4, np.float32), 0),
    lambda: kiln.cuda.memcpy_htod(0, np.zeros(4, np.float32)),
    lambda: kiln.cuda.memcpy_dtoh(np.zeros(4, np.float32), 0),
    lambda: kiln.cuda.device_name(0),
    lambda: kiln.cuda.set_device(0),
    lambda: kiln.cuda.memset(0, 0, 4),
    lambda: kiln.cuda.memcpy_dtod_async(0, 0, 4),
]


def test_module_exists():
    assert callable(kiln.cuda.is_available)
    assert isinstance(kiln.cuda.is_available(), bool)
    assert kiln.cuda.device_count() >= 0
    for name in ("pagelocked_empty", "mem_alloc", "Stream", "Event", "memcpy_htod_async",
                 "memcpy_dtoh_async"):
        assert hasattr(kiln.cuda, name)


@pytest.mark.parametrize("call", range(len(CALLS)))
def test_unavailable_raises_clear_error(call):
    if kiln.cuda.is_available():
        pytest.skip("a GPU is available: test_gpu_round_trip covers kiln.cuda")
    with pytest.raises(kiln.KilnError, match="^CUDA is not available"):
        CALLS[call]()


def test_gpu_round_trip():
    if not kiln.cuda.is_available():
        pytest.skip("no CUDA backend or GPU: test_unavailable_raises_clear_error covers it")
    assert kiln.cuda.device_count() >= 1 and kiln.cuda.device_name(0)
    stream = kiln.cuda.Stream()
    host = kiln.cuda.pagelocked_empty((4, 5), np.float32)
    host[...] = np.arange(20, dtype=np.float32).reshape(4, 5)
    dev = kiln.cuda.mem_alloc(host.nbytes)
    start, end = kiln.cuda.Event(), kiln.cuda.Event()
    start.record(stream)
    kiln.cuda.memcpy_htod_async(dev, host, stream)
    back = np.zeros_like(host)
    kiln.cuda.memcpy_dtoh_async(back, dev, stream)
    end.record(stream)
    stream.synchronize()
    assert end.time_since(start) >= 0
    np.testing.assert_array_equal(back, host)
    kiln.cuda.set_device(0)
    copy = kiln.cuda.mem_alloc(host.nbytes)
    kiln.cuda.memcpy_dtod_async(copy, dev, host.nbytes, stream)
    stream.synchronize()
    kiln.cuda.memset(dev, 0, host.nbytes)
    kiln.cuda.memcpy_dtoh(back, dev)
    assert not back.any()
    kiln.cuda.memcpy_dtoh(back, copy)
    np.testing.assert_array_equal(back, host)
    kiln.cuda.memcpy_htod(dev, host)
    dev.free()


def test_gpu_engine_infer(samples):
    if not kiln.cuda.is_available():
        pytest.skip("no CUDA backend or GPU")
    builder = kiln.Builder(kiln.Logger(kiln.Logger.ERROR))
    network = builder.create_network()
    parser = kiln.OnnxParser(network)
    assert parser.parse_from_file(DIGITS_ONNX)
    config = builder.create_builder_config()
    config.set_device(kiln.DeviceType.CUDA)
    config.max_batch_size = 64
    engine = kiln.Runtime().deserialize_engine(builder.build_serialized_network(network, config))
    assert engine.device == kiln.DeviceType.CUDA
    context = engine.create_execution_context()
    got = context.infer({"image": samples["batch"]})["probabilities"]
    np.testing.assert_allclose(got, samples["probabilities"], atol=1e-3)
    # The TensorRT way: device buffers, a stream, async copies
    x = samples["batch"][:8]
    stream = kiln.cuda.Stream()
    d_in, d_out = kiln.cuda.mem_alloc(x.nbytes), kiln.cuda.mem_alloc(8 * 10 * 4)
    out = kiln.cuda.pagelocked_empty((8, 10), np.float32)
    kiln.cuda.memcpy_htod_async(d_in, np.ascontiguousarray(x), stream)
    context.set_input_shape("image", x.shape)
    context.set_tensor_address("image", int(d_in))
    context.set_tensor_address("probabilities", int(d_out))
    context.execute_async_v3(stream.handle)
    kiln.cuda.memcpy_dtoh_async(out, d_out, stream)
    stream.synchronize()
    np.testing.assert_allclose(out, samples["probabilities"][:8], atol=1e-3)


def test_gpu_engine_with_torch_buffers(samples):
    """Device buffers from PyTorch (__cuda_array_interface__), bound without copies, and
    the run queued on PyTorch's current stream."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed here")
    if not kiln.cuda.is_available() or not torch.cuda.is_available():
        pytest.skip("no CUDA backend or GPU")
    builder = kiln.Builder(kiln.Logger(kiln.Logger.ERROR))
    network = builder.create_network()
    parser = kiln.OnnxParser(network)
    assert parser.parse_from_file(DIGITS_ONNX)
    config = builder.create_builder_config()
    config.set_device(kiln.DeviceType.CUDA)
    profile = builder.create_optimization_profile()
    profile.set_shape("image", (1, 1, 8, 8), (16, 1, 8, 8), (64, 1, 8, 8))
    config.add_optimization_profile(profile)
    engine = kiln.Runtime().deserialize_engine(builder.build_serialized_network(network, config))
    context = engine.create_execution_context()
    x = torch.from_numpy(samples["batch"][:16]).cuda()
    y = torch.empty((16, 10), dtype=torch.float32, device="cuda")
    context.set_input_shape("image", tuple(x.shape))
    context.set_tensor_address("image", x)
    context.set_tensor_address("probabilities", y)
    stream = torch.cuda.current_stream()
    context.execute_async_v3(stream.cuda_stream)
    stream.synchronize()
    np.testing.assert_allclose(y.cpu().numpy(), samples["probabilities"][:16], atol=1e-3)
    # infer() takes numpy in, numpy out, whatever the engine's device
    got = context.infer({"image": samples["batch"][:4]})["probabilities"]
    np.testing.assert_allclose(got, samples["probabilities"][:4], atol=1e-3)
