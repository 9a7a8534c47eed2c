"""Object lifetimes: wrappers keep what the C side still needs; `with` and close() drop
a Python object's hold, never something another object depends on."""

import gc
import weakref

import numpy as np
import pytest

import kiln
from conftest import DIGITS_ONNX


def _digits_network(logger):
    builder = kiln.Builder(logger)
    network = builder.create_network()
    parser = kiln.OnnxParser(network, logger)
    assert parser.parse_from_file(DIGITS_ONNX)
    return builder, network, parser


def test_context_keeps_its_engine(digits_plan, samples):
    runtime = kiln.Runtime(kiln.Logger())
    engine = runtime.deserialize_engine(digits_plan)
    context = engine.create_execution_context()
    assert context.engine is engine
    del engine, runtime
    gc.collect()
    got = context.infer({"image": samples["batch"][:3]})["probabilities"]
    np.testing.assert_allclose(got, samples["probabilities"][:3], atol=1e-5)


def test_network_keeps_builder_and_parser_weights(samples):
    """The network borrows the model's weights from the parser until the build: dropping
    the parser (and the builder) before building must work."""
    logger = kiln.Logger()
    builder, network, parser = _digits_network(logger)
    parser_ref = weakref.ref(parser)
    del parser, builder
    gc.collect()
    assert parser_ref() is None  # the Python object is gone; the C parser stays with the network
    config = network.builder.create_builder_config()
    config.max_batch_size = 8
    engine = network.builder.build_engine(network, config)
    del network, config
    gc.collect()
    got = engine.create_execution_context().infer({"image": samples["batch"][:8]})
    np.testing.assert_allclose(got["probabilities"], samples["probabilities"][:8], atol=1e-5)


def test_parse_twice_into_two_networks_then_drop_everything(samples):
    logger = kiln.Logger()
    engines = []
    for _ in range(2):
        builder, network, parser = _digits_network(logger)
        config = builder.create_builder_config()
        config.max_batch_size = 2
        engines.append(builder.build_engine(network, config))
        del builder, network, parser, config
    gc.collect()
    for engine in engines:
        got = engine.create_execution_context().infer({"image": samples["batch"][:2]})
        np.testing.assert_allclose(got["probabilities"], samples["probabilities"][:2], atol=1e-5)


def test_with_statements(digits_plan, samples):
    with kiln.Runtime(kiln.Logger()) as runtime:
        with runtime.deserialize_engine(digits_plan) as engine:
            with engine.create_execution_context() as context:
                got = context.infer({"image": samples["batch"][:1]})
            ctx2 = engine.create_execution_context()
    with pytest.raises(kiln.KilnError, match="closed"):
        engine.num_layers
    with pytest.raises(kiln.KilnError, match="closed"):
        context.infer({"image": samples["batch"][:1]})
    # A context made inside the block keeps the engine's C object alive after it
    again = ctx2.infer({"image": samples["batch"][:1]})["probabilities"]
    np.testing.assert_array_equal(again, got["probabilities"])
    ctx2.close()
    with kiln.Builder(kiln.Logger()) as builder:
        with builder.create_network() as network:
            x = network.add_input("x", kiln.float32, (2,))
    with pytest.raises(kiln.KilnError, match="network was closed"):
        x.name


def test_tensors_and_layers_keep_their_network():
    builder = kiln.Builder(kiln.Logger())
    network = builder.create_network()
    x = network.add_input("x", kiln.float32, (2, 2))
    layer = network.add_unary(x, kiln.UnaryOperation.ABS)
    del network, builder
    gc.collect()
    assert layer.get_output(0).shape == (2, 2)
    assert x.name == "x"
    assert layer.network.num_layers == 1


def test_many_objects_are_freed():
    """Creating and dropping objects in a loop does not leak C objects through cycles."""
    logger = kiln.Logger()
    refs = []
    for _ in range(20):
        builder = kiln.Builder(logger)
        network = builder.create_network()
        parser = kiln.OnnxParser(network, logger)
        refs.append(weakref.ref(network._h))
        refs.append(weakref.ref(parser._h))
        del builder, network, parser
    gc.collect()
    assert all(r() is None for r in refs)
