"""Every value kiln's ONNX reader decodes, checked against the onnx package.

The ONNX backend test data (node/, simple/, pytorch-operator/) is listed in one file and
handed to pb_to_npy (tests/onnx/pb_to_npy.c), which writes what kiln reads as .npy/.json
files; each is then compared with what onnx.numpy_helper decodes from the same bytes:
dtype, shape and the bytes themselves (bit-exact, so NaNs compare by their bits), for every
dtype. 4- and 2-bit types are compared element by element after unpacking kiln's packed
bytes (onnx unpacks them one element per byte). The initializers and tensor attributes of
every model are compared the same way.

Environment: KILN_PB_TO_NPY (the tool; default build/tests/python/pb_to_npy) and
KILN_BACKEND_TESTS (default ../shared/onnx-backend-tests beside the repository).
numpy and onnx must be installed: without them the test fails, it does not skip.
"""

import json
import math
import os
import pathlib
import subprocess

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

REPO = pathlib.Path(__file__).resolve().parents[2]
BACKEND = pathlib.Path(
    os.environ.get("KILN_BACKEND_TESTS", REPO.parent / "shared" / "onnx-backend-tests")
)
PB_TO_NPY = pathlib.Path(
    os.environ.get("KILN_PB_TO_NPY", REPO / "build" / "tests" / "python" / "pb_to_npy")
)
SUITES = ("node", "simple", "pytorch-operator")
MIN_TENSORS = 6000

TP = onnx.TensorProto
SUB_BYTE_BITS = {TP.INT4: 4, TP.UINT4: 4, TP.FLOAT4E2M1: 4, TP.INT2: 2, TP.UINT2: 2}
# Types without a numpy dtype: kiln writes their stored bit patterns.
BITS_AS_UINT = {
    TP.BFLOAT16: np.uint16,
    TP.FLOAT8E4M3FN: np.uint8,
    TP.FLOAT8E4M3FNUZ: np.uint8,
    TP.FLOAT8E5M2: np.uint8,
    TP.FLOAT8E5M2FNUZ: np.uint8,
    TP.FLOAT8E8M0: np.uint8,
}
# kiln's dtype names (src/core/dtype.c) where they differ from onnx's lower-cased names.
KILN_DTYPE_NAME = {TP.FLOAT: "float32", TP.DOUBLE: "float64"}


def kiln_dtype_name(data_type):
    return KILN_DTYPE_NAME.get(data_type, TP.DataType.Name(data_type).lower())


def latin1(s):
    return s.encode("latin-1")


class Checker:
    """Compares pb_to_npy's files with onnx's decoding; collects mismatches."""

    def __init__(self, out_dir):
        self.out = pathlib.Path(out_dir)
        self.mismatches = []
        self.tensors = 0
        self.by_dtype = {}

    def fail(self, where, what):
        self.mismatches.append(f"{where}: {what}")

    def meta(self, stem, where):
        path = self.out / f"{stem}.json"
        if not path.exists():
            self.fail(where, f"pb_to_npy wrote no {path.name}")
            return None
        with open(path, encoding="ascii") as f:
            return json.load(f)

    # ---- tensors ----

    def tensor(self, stem, t, where, base_dir=""):
        meta = self.meta(stem, where)
        if meta is None:
            return
        dims = list(t.dims)
        if meta.get("dtype") != kiln_dtype_name(t.data_type):
            self.fail(where, f"dtype {meta.get('dtype')}, onnx says {kiln_dtype_name(t.data_type)}")
            return
        if meta.get("shape") != dims:
            self.fail(where, f"shape {meta.get('shape')}, onnx says {dims}")
            return
        if latin1(meta.get("name", "")) != t.name.encode("utf-8"):
            self.fail(where, f"name {meta.get('name')!r}, onnx says {t.name!r}")
        if meta.get("packed") != (t.data_type in SUB_BYTE_BITS):
            self.fail(where, f"packed flag {meta.get('packed')}")

        if t.data_type == TP.STRING:
            got = [latin1(s) for s in meta.get("strings", [])]
            expected = list(t.string_data)
            if got != expected:
                self.fail(where, f"strings {got[:4]}..., onnx has {expected[:4]}...")
            else:
                self.count(t)
            return

        try:
            expected = numpy_helper.to_array(t, base_dir)
        except Exception as e:  # noqa: BLE001 - any onnx failure is a finding to report
            self.fail(where, f"onnx cannot decode it ({e}); kiln did")
            return
        path = self.out / f"{stem}.npy"
        if not path.exists():
            self.fail(where, f"pb_to_npy wrote no {path.name}")
            return
        got = np.load(path)
        if expected.shape != tuple(dims):
            self.fail(where, f"onnx decodes shape {expected.shape} for dims {dims}")
            return

        if t.data_type in SUB_BYTE_BITS:
            bits = SUB_BYTE_BITS[t.data_type]
            n = math.prod(dims)
            nbytes = (n * bits + 7) // 8
            if got.dtype != np.uint8 or got.shape != (nbytes,):
                self.fail(where, f"packed {got.dtype}{got.shape}, expected uint8({nbytes},)")
                return
            mask = (1 << bits) - 1
            per_byte = 8 // bits
            unpacked = np.stack([(got >> (bits * k)) & mask for k in range(per_byte)], axis=1)
            unpacked = unpacked.reshape(-1)[:n]
            want = expected.reshape(-1).view(np.uint8) & mask
            if not np.array_equal(unpacked, want):
                bad = int(np.argmax(unpacked != want))
                self.fail(
                    where,
                    f"{kiln_dtype_name(t.data_type)} element {bad}: kiln {int(unpacked[bad])}, "
                    f"onnx {int(want[bad])} (bits)",
                )
                return
        else:
            if t.data_type in BITS_AS_UINT:
                want_dtype = np.dtype(BITS_AS_UINT[t.data_type])
                if expected.dtype.itemsize != want_dtype.itemsize:
                    self.fail(where, f"onnx dtype {expected.dtype} has the wrong width")
                    return
            else:
                want_dtype = expected.dtype
            if got.dtype != want_dtype:
                self.fail(where, f"npy dtype {got.dtype}, expected {want_dtype}")
                return
            if got.shape != expected.shape:
                self.fail(where, f"npy shape {got.shape}, expected {expected.shape}")
                return
            a = np.ascontiguousarray(got).tobytes()
            b = np.ascontiguousarray(expected).tobytes()
            if a != b:
                bad = -1
                if len(a) == len(b):
                    bad = next(i for i in range(len(a)) if a[i] != b[i])
                w = want_dtype.itemsize
                self.fail(
                    where,
                    f"{kiln_dtype_name(t.data_type)} bytes differ at byte {bad} "
                    f"(element {bad // w if bad >= 0 else '?'}): "
                    f"kiln {a[max(bad, 0):max(bad, 0) + w].hex()} "
                    f"onnx {b[max(bad, 0):max(bad, 0) + w].hex()}",
                )
                return
        self.count(t)

    def count(self, t):
        self.tensors += 1
        name = kiln_dtype_name(t.data_type)
        self.by_dtype[name] = self.by_dtype.get(name, 0) + 1

    # ---- sequences, optionals, maps ----

    def sequence(self, stem, seq, where):
        meta = self.meta(stem, where)
        if meta is None:
            return
        S = onnx.SequenceProto
        fields = {
            S.TENSOR: "tensor_values",
            S.SPARSE_TENSOR: "sparse_tensor_values",
            S.SEQUENCE: "sequence_values",
            S.MAP: "map_values",
            S.OPTIONAL: "optional_values",
        }
        items = []
        for kind, field in fields.items():
            items += [(kind, v) for v in getattr(seq, field)]
        if meta.get("kind") != "sequence" or meta.get("elem_type") != seq.elem_type:
            self.fail(where, f"kind/elem_type {meta.get('kind')}/{meta.get('elem_type')}, "
                             f"onnx says sequence/{seq.elem_type}")
            return
        if meta.get("count") != len(items) or meta.get("empty") != (len(items) == 0):
            self.fail(where, f"count {meta.get('count')}, onnx has {len(items)}")
            return
        if seq.elem_type == S.TENSOR:
            arrays = numpy_helper.to_list(seq)  # as onnx's runner reads the file
            if len(arrays) != len(items):
                self.fail(where, f"onnx to_list gives {len(arrays)} elements")
                return
        for i, (kind, v) in enumerate(items):
            self.element(f"{stem}_{i}", kind, v, f"{where}[{i}]")

    def optional(self, stem, opt, where):
        meta = self.meta(stem, where)
        if meta is None:
            return
        O = onnx.OptionalProto
        fields = {
            O.TENSOR: "tensor_value",
            O.SPARSE_TENSOR: "sparse_tensor_value",
            O.SEQUENCE: "sequence_value",
            O.MAP: "map_value",
            O.OPTIONAL: "optional_value",
        }
        present = [(k, getattr(opt, f)) for k, f in fields.items() if opt.HasField(f)]
        if meta.get("kind") != "optional" or meta.get("elem_type") != opt.elem_type:
            self.fail(where, f"kind/elem_type {meta.get('kind')}/{meta.get('elem_type')}, "
                             f"onnx says optional/{opt.elem_type}")
            return
        if meta.get("count") != len(present) or meta.get("empty") != (not present):
            self.fail(where, f"count {meta.get('count')}, onnx has {len(present)}")
            return
        if (numpy_helper.to_optional(opt) is None) != (not present) and opt.elem_type != O.UNDEFINED:
            self.fail(where, "onnx to_optional disagrees on emptiness")
        for kind, v in present:
            self.element(f"{stem}_0", kind, v, f"{where}.value")

    def map(self, stem, m, where):
        meta = self.meta(stem, where)
        if meta is None:
            return
        if m.key_type == TP.STRING:
            keys = list(m.string_keys)
            got = [latin1(k) for k in meta.get("keys", [])]
        else:
            keys = list(m.keys)
            got = meta.get("keys")
        if meta.get("kind") != "map" or meta.get("key_type") != m.key_type or got != keys:
            self.fail(where, f"map {meta}, onnx keys {keys[:4]}")
            return
        if m.HasField("values"):
            self.sequence(f"{stem}_values", m.values, f"{where}.values")

    def element(self, stem, kind, v, where):
        # SequenceProto.DataType and OptionalProto.DataType share their numbers.
        if kind == onnx.SequenceProto.TENSOR:
            self.tensor(stem, v, where)
        elif kind == onnx.SequenceProto.SEQUENCE:
            self.sequence(stem, v, where)
        elif kind == onnx.SequenceProto.MAP:
            self.map(stem, v, where)
        elif kind == onnx.SequenceProto.OPTIONAL:
            self.optional(stem, v, where)
        else:
            self.fail(where, f"element kind {kind} not compared")

    def value(self, stem, kind, path, where):
        proto = {
            "tensor": onnx.TensorProto,
            "sequence": onnx.SequenceProto,
            "optional": onnx.OptionalProto,
            "map": onnx.MapProto,
        }[kind]()
        proto.ParseFromString(pathlib.Path(path).read_bytes())
        getattr(self, kind)(stem, proto, where)

    # ---- models ----

    def model(self, stem, path, where):
        model = onnx.load(str(path), load_external_data=False)
        base = str(pathlib.Path(path).parent)
        meta = self.meta(stem, where)
        if meta is None:
            return
        inits = list(model.graph.initializer)
        names = [latin1(n) for n in meta.get("initializers", [])]
        if names != [t.name.encode("utf-8") for t in inits]:
            self.fail(where, f"initializer names {names[:4]}...")
            return
        for i, t in enumerate(inits):
            self.tensor(f"{stem}_init_{i}", t, f"{where} initializer '{t.name}'", base)
        others = list(model_tensors(model))
        names = [latin1(n) for n in meta.get("attributes", [])]
        if names != [t.name.encode("utf-8") for t in others]:
            self.fail(where, f"attribute tensor names {names[:4]}..., onnx has "
                             f"{[t.name for t in others[:4]]}")
            return
        for i, t in enumerate(others):
            self.tensor(f"{stem}_attr_{i}", t, f"{where} attribute tensor #{i} '{t.name}'", base)


def model_tensors(model):
    """Tensors of a model besides the main graph's initializers, in pb_to_npy's order."""

    def nodes(ns):
        for n in ns:
            for a in n.attribute:
                if a.HasField("t"):
                    yield a.t
                yield from a.tensors
                if a.HasField("g"):
                    yield from graph(a.g, False)
                for g in a.graphs:
                    yield from graph(g, False)

    def graph(g, main):
        if not main:
            yield from g.initializer
        yield from nodes(g.node)

    yield from graph(model.graph, True)
    for f in model.functions:
        yield from nodes(f.node)


def value_kind(type_proto):
    which = type_proto.WhichOneof("value") if type_proto is not None else None
    return {
        "sequence_type": "sequence",
        "optional_type": "optional",
        "map_type": "map",
    }.get(which, "tensor")


def backend_list():
    """(kind, path) for every model and .pb file of the backend test data."""
    entries = []
    for suite in SUITES:
        folder = BACKEND / suite
        assert folder.is_dir(), f"{folder} is missing (set KILN_BACKEND_TESTS)"
        for test in sorted(p for p in folder.iterdir() if p.is_dir()):
            model_path = test / "model.onnx"
            if not model_path.exists():
                continue
            entries.append(("model", model_path))
            model = onnx.load(str(model_path), load_external_data=False)
            g = model.graph
            inits = {t.name for t in g.initializer}
            fed = [vi for vi in g.input if vi.name not in inits]
            for ds in sorted(test.glob("test_data_set_*")):
                for pb in sorted(ds.glob("*.pb")):
                    role, _, index = pb.stem.partition("_")
                    vis = fed if role == "input" else list(g.output) if role == "output" else []
                    i = int(index) if index.isdigit() else -1
                    vi = vis[i] if 0 <= i < len(vis) else None
                    entries.append((value_kind(vi.type if vi else None), pb))
    return entries


def run_pb_to_npy(entries, out_dir):
    assert PB_TO_NPY.exists(), f"{PB_TO_NPY} is missing (set KILN_PB_TO_NPY)"
    list_file = pathlib.Path(out_dir) / "list.txt"
    with open(list_file, "w", encoding="utf-8") as f:
        for kind, path in entries:
            f.write(f"{kind} {path}\n")
    out = pathlib.Path(out_dir) / "out"
    out.mkdir()
    proc = subprocess.run(
        [str(PB_TO_NPY), str(out), str(list_file)], capture_output=True, text=True, check=False
    )
    return proc, out


def check_entries(entries, out):
    checker = Checker(out)
    for line, (kind, path) in enumerate(entries, start=1):
        where = str(path)
        if kind == "model":
            checker.model(str(line), path, where)
        else:
            checker.value(str(line), kind, path, where)
    return checker


def report(checker):
    if checker.mismatches:
        shown = "\n  ".join(checker.mismatches[:25])
        pytest.fail(
            f"{len(checker.mismatches)} mismatches between kiln and onnx "
            f"({checker.tensors} tensors agreed); first ones:\n  {shown}"
        )


def test_backend_values(tmp_path):
    entries = backend_list()
    proc, out = run_pb_to_npy(entries, tmp_path)
    assert proc.returncode == 0, f"pb_to_npy failed:\n{proc.stderr[-4000:]}"
    checker = check_entries(entries, out)
    print(f"{len(entries)} files, {checker.tensors} tensors compared: {checker.by_dtype}")
    report(checker)
    assert checker.tensors > MIN_TENSORS, f"only {checker.tensors} tensors were compared"


# ---- values made here: every dtype through raw_data and through its typed field ----


def edge_values(data_type, n):
    """n values of the dtype, including its extremes, as onnx's numpy dtype."""
    np_dtype = helper.tensor_dtype_to_np_dtype(data_type)
    if data_type == TP.STRING:
        base = [b"", b"a", b"\x00bin\xff", "\u00e9t\u00e9".encode("utf-8"), b"x" * 300]
        return np.array([base[i % len(base)] for i in range(n)], dtype=object)
    if data_type == TP.BOOL:
        return np.array([i % 3 == 0 for i in range(n)], dtype=bool)
    if data_type in SUB_BYTE_BITS:
        bits = SUB_BYTE_BITS[data_type]
        codes = np.array([(i * 7 + 3) % (1 << bits) for i in range(n)], dtype=np.uint8)
        return codes.view(np_dtype)
    if data_type in BITS_AS_UINT:
        uint = BITS_AS_UINT[data_type]
        codes = np.array([(i * 97 + 0x7F) % (np.iinfo(uint).max + 1) for i in range(n)], dtype=uint)
        return codes.view(np_dtype)
    if np.issubdtype(np_dtype, np.integer):
        info = np.iinfo(np_dtype)
        base = [info.min, info.max, 0, -1 if info.min < 0 else 1, info.min + 1, 5]
        return np.array([base[i % len(base)] for i in range(n)], dtype=np_dtype)
    if np.issubdtype(np_dtype, np.complexfloating):
        return np.array([complex(i - 1.5, -i * 0.25) for i in range(n)], dtype=np_dtype)
    base = [0.0, -0.0, 1.5, -2.25, np.inf, -np.inf, np.nan, 1e-7, 65504.0, 3.0e38]
    with np.errstate(over="ignore"):
        return np.array([base[i % len(base)] for i in range(n)], dtype=np.float64).astype(np_dtype)


def synthetic_tensors():
    dtypes = [v for k, v in TP.DataType.items() if k != "UNDEFINED" and v <= TP.INT2]
    for dt in dtypes:
        for shape in [(), (1,), (5,), (2, 3), (0, 4), (3, 1, 3)]:
            n = math.prod(shape)
            vals = edge_values(dt, n)
            name = f"{TP.DataType.Name(dt)}_{'x'.join(map(str, shape)) or 'scalar'}"
            typed = helper.make_tensor(name + "_typed", dt, shape, vals.reshape(-1), raw=False)
            yield typed
            if dt != TP.STRING:
                yield numpy_helper.from_array(vals.reshape(shape), name + "_raw")
    # Typed fields written as other writers do: negative int8/int16 sign-extended in
    # int32_data, uint32 in uint64_data, high bits set in the 32-bit words of 16/8-bit types.
    yield helper.make_tensor("int8_negative", TP.INT8, [4], [-1, -128, 127, 0])
    yield helper.make_tensor("int16_negative", TP.INT16, [3], [-1, -32768, 32767])
    t = TP(name="uint32_in_uint64", data_type=TP.UINT32, dims=[3])
    t.uint64_data.extend([4294967295, 0, 123456789])
    yield t
    t = TP(name="uint64_max", data_type=TP.UINT64, dims=[2])
    t.uint64_data.extend([2**64 - 1, 2**63])
    yield t
    t = TP(name="int64_min", data_type=TP.INT64, dims=[2])
    t.int64_data.extend([-(2**63), 2**63 - 1])
    yield t
    t = TP(name="float16_bits_in_int32", data_type=TP.FLOAT16, dims=[3])
    t.int32_data.extend([0x7E00, 0xFC00, 0x8001])
    yield t
    t = TP(name="bfloat16_bits_in_int32", data_type=TP.BFLOAT16, dims=[2])
    t.int32_data.extend([0x7FC1, 0xFF80])
    yield t
    t = TP(name="int4_in_int32", data_type=TP.INT4, dims=[3])
    t.int32_data.extend([0x8F, 0x07])  # -1, -8, 7 packed two to a byte
    yield t
    t = TP(name="complex64_typed", data_type=TP.COMPLEX64, dims=[2])
    t.float_data.extend([1.0, -2.0, float("nan"), float("inf")])
    yield t
    t = TP(name="complex128_typed", data_type=TP.COMPLEX128, dims=[1])
    t.double_data.extend([1e300, -1e-300])
    yield t


def test_synthetic_values(tmp_path):
    entries, protos = [], []
    pbs = tmp_path / "pb"
    pbs.mkdir()
    for i, t in enumerate(synthetic_tensors()):
        path = pbs / f"t{i}.pb"
        path.write_bytes(t.SerializeToString())
        entries.append(("tensor", path))
        protos.append(t)
    # Sequences and optionals, including empty ones.
    seq = numpy_helper.from_list([np.arange(3, dtype=np.int32), np.ones((2, 2), np.float16)])
    empty_seq = onnx.SequenceProto(name="empty", elem_type=onnx.SequenceProto.TENSOR)
    opt_tensor = numpy_helper.from_optional(np.array([1.5, np.nan], np.float64), name="o")
    opt_empty = onnx.OptionalProto(name="none", elem_type=onnx.OptionalProto.UNDEFINED)
    opt_seq = numpy_helper.from_optional([np.zeros(2, np.int64)], name="os")
    int_map = numpy_helper.from_dict({1: np.ones(2, np.float32), -2: np.zeros(3, np.float32)})
    str_map = onnx.MapProto(name="sm", key_type=TP.STRING)
    str_map.string_keys.extend([b"k", b"\x00\xff"])
    str_map.values.CopyFrom(numpy_helper.from_list([np.arange(2), np.arange(3)]))
    for kind, proto in [("sequence", seq), ("sequence", empty_seq), ("optional", opt_tensor),
                        ("optional", opt_empty), ("optional", opt_seq), ("map", int_map),
                        ("map", str_map)]:
        path = pbs / f"c{len(entries)}.pb"
        path.write_bytes(proto.SerializeToString())
        entries.append((kind, path))
    proc, out = run_pb_to_npy(entries, tmp_path)
    assert proc.returncode == 0, f"pb_to_npy failed:\n{proc.stderr[-4000:]}"
    checker = check_entries(entries, out)
    report(checker)
    assert checker.tensors >= len(protos)
