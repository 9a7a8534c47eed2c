"""Values that are not plain tensors through the Python API: sequences (lists of arrays),
empty optionals (None) and strings (arrays of str), in and out of context.infer."""

import numpy as np
import pytest
from onnx import TensorProto, helper

import kiln


def _engine(graph, opset=18):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    logger = kiln.Logger(kiln.Logger.ERROR)
    builder = kiln.Builder(logger)
    network = builder.create_network()
    parser = kiln.OnnxParser(network, logger)
    assert parser.parse(model.SerializeToString()), [str(e) for e in parser.errors]
    plan = builder.build_serialized_network(network, builder.create_builder_config())
    return kiln.Runtime(logger).deserialize_engine(plan)


def _seq(elem=TensorProto.FLOAT):
    return helper.make_sequence_type_proto(helper.make_tensor_type_proto(elem, None))


def test_sequence_in_and_out():
    graph = helper.make_graph(
        [helper.make_node("SequenceLength", ["s"], ["n"]),
         helper.make_node("SequenceInsert", ["s", "x"], ["s2"]),
         helper.make_node("ConcatFromSequence", ["s2"], ["cat"], axis=0)],
        "seq",
        [helper.make_value_info("s", _seq()),
         helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("n", TensorProto.INT64, []),
         helper.make_value_info("s2", _seq()),
         helper.make_tensor_value_info("cat", TensorProto.FLOAT, None)])
    engine = _engine(graph)
    assert engine.get_tensor_kind("s") == kiln.ValueKind.SEQUENCE
    assert engine.get_tensor_kind("x") == kiln.ValueKind.TENSOR
    assert engine.get_tensor_kind("s2") == kiln.ValueKind.SEQUENCE
    assert engine.get_tensor_dtype("s") == kiln.DataType.FLOAT32
    # the plan keeps the kinds
    again = kiln.Runtime(kiln.Logger(kiln.Logger.ERROR)).deserialize_engine(engine.serialize())
    assert again.get_tensor_kind("s2") == kiln.ValueKind.SEQUENCE
    ctx = engine.create_execution_context()
    a = np.arange(3, dtype=np.float32)
    b = np.ones((1,), dtype=np.float32)
    x = np.array([7, 8], dtype=np.float32)
    out = ctx.infer(s=[a, b], x=x)
    assert int(out["n"]) == 2
    assert isinstance(out["s2"], list) and len(out["s2"]) == 3
    for got, want in zip(out["s2"], [a, b, x]):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(out["cat"], np.concatenate([a, b, x]))
    # an empty sequence, and again with other shapes on the same context
    out = ctx.infer(s=[], x=x)
    assert int(out["n"]) == 0 and len(out["s2"]) == 1
    out = ctx.infer(s=[np.zeros((0,), np.float32), [1.5]], x=x)
    np.testing.assert_array_equal(out["cat"], np.array([1.5, 7, 8], np.float32))


def test_sequence_input_errors():
    graph = helper.make_graph(
        [helper.make_node("SequenceLength", ["s"], ["n"])], "seq",
        [helper.make_value_info("s", _seq())],
        [helper.make_tensor_value_info("n", TensorProto.INT64, [])])
    ctx = _engine(graph).create_execution_context()
    with pytest.raises(kiln.KilnTypeError):
        ctx.infer(s=np.zeros(3, np.float32))
    with pytest.raises(kiln.KilnTypeError):
        ctx.set_input_sequence("s", [np.zeros(3, np.int32)])
    with pytest.raises(kiln.KilnArgumentError, match="set_input_sequence"):
        ctx.set_input_shape("s", (3,))
    with pytest.raises(kiln.KilnArgumentError, match="bind it with"):
        ctx.execute()  # nothing bound yet


def test_optional_none_and_value():
    opt = helper.make_optional_type_proto(helper.make_tensor_type_proto(TensorProto.FLOAT, [3]))
    graph = helper.make_graph(
        [helper.make_node("OptionalHasElement", ["o"], ["has"]),
         helper.make_node("Identity", ["o"], ["same"])],
        "opt", [helper.make_value_info("o", opt)],
        [helper.make_tensor_value_info("has", TensorProto.BOOL, []),
         helper.make_value_info("same", opt)])
    engine = _engine(graph)
    assert engine.get_tensor_kind("o") == kiln.ValueKind.OPTIONAL
    ctx = engine.create_execution_context()
    out = ctx.infer(o=None)
    assert not bool(out["has"]) and out["same"] is None
    assert ctx.get_output_kind("same") == kiln.ValueKind.NONE
    v = np.array([1, 2, 3], np.float32)
    out = ctx.infer(o=v)
    assert bool(out["has"])
    np.testing.assert_array_equal(out["same"], v)


def test_strings():
    graph = helper.make_graph(
        [helper.make_node("StringConcat", ["x", "y"], ["xy"]),
         helper.make_node("RegexFullMatch", ["xy"], ["match"], pattern=r"[a-z]+\d"),
         helper.make_node("StringSplit", ["x"], ["parts", "count"], delimiter="-")],
        "strings",
        [helper.make_tensor_value_info("x", TensorProto.STRING, [3]),
         helper.make_tensor_value_info("y", TensorProto.STRING, [1])],
        [helper.make_tensor_value_info("xy", TensorProto.STRING, [3]),
         helper.make_tensor_value_info("match", TensorProto.BOOL, [3]),
         helper.make_tensor_value_info("parts", TensorProto.STRING, None),
         helper.make_tensor_value_info("count", TensorProto.INT64, [3])], )
    engine = _engine(graph, opset=20)
    assert engine.get_tensor_dtype("x") == kiln.DataType.STRING
    ctx = engine.create_execution_context()
    out = ctx.infer(x=np.array(["ab", "c-d", "é"], dtype=object), y=["1"])
    assert out["xy"].dtype == object and list(out["xy"]) == ["ab1", "c-d1", "é1"]
    assert list(out["match"]) == [True, False, False]
    assert out["parts"].shape == (3, 2)
    assert out["parts"].tolist() == [["ab", ""], ["c", "d"], ["é", ""]]
    assert list(out["count"]) == [1, 2, 1]
    with pytest.raises(kiln.KilnArgumentError, match="set_input_strings"):
        ctx.set_tensor_address("x", np.zeros(3, np.int64))


def test_outputs_survive_a_replan():
    """A run whose data-dependent values outgrow the arena planned from the run before
    replans it: the outputs already in the old arena stay readable after the run."""
    then = helper.make_graph([helper.make_node("Identity", ["x"], ["t"])], "then", [],
                             [helper.make_tensor_value_info("t", TensorProto.STRING, None)])
    other = helper.make_graph([helper.make_node("StringConcat", ["x", "x"], ["e"])], "else", [],
                              [helper.make_tensor_value_info("e", TensorProto.STRING, None)])
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"]),
         helper.make_node("If", ["c"], ["z"], then_branch=then, else_branch=other),
         helper.make_node("NonZero", ["n"], ["nz"])],
        "replan",
        [helper.make_tensor_value_info("x", TensorProto.STRING, [2]),
         helper.make_tensor_value_info("c", TensorProto.BOOL, []),
         helper.make_tensor_value_info("n", TensorProto.INT64, [4])],
        [helper.make_tensor_value_info("y", TensorProto.STRING, [2]),
         helper.make_tensor_value_info("z", TensorProto.STRING, None),
         helper.make_tensor_value_info("nz", TensorProto.INT64, None)])
    ctx = _engine(graph).create_execution_context()
    x = np.array(["ab", "c"], dtype=object)
    out = ctx.infer(x=x, c=np.array(True), n=np.array([0, 0, 0, 1]))
    assert list(out["z"]) == ["ab", "c"] and out["nz"].tolist() == [[3]]
    for _ in range(2):
        out = ctx.infer(x=x, c=np.array(False), n=np.array([1, 2, 3, 4]))
        assert list(out["y"]) == ["ab", "c"] and list(out["z"]) == ["abab", "cc"]
        assert out["nz"].tolist() == [[0, 1, 2, 3]]
