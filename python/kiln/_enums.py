"""kiln's enums, with TensorRT's names where TensorRT has the same thing.

The values are kiln.h's, so they go to the C API unchanged.
"""

import enum

import numpy as np

from ._errors import KilnArgumentError, KilnTypeError
from ._lib import C, text

__all__ = [
    "DataType", "nptype", "TensorIOMode", "BuilderFlag", "MemoryPoolType", "DeviceType",
    "NetworkDefinitionCreationFlag", "ActivationType", "PoolingType", "ElementWiseOperation",
    "UnaryOperation", "ReduceOperation", "ResizeMode", "MatrixOperation", "Severity",
    "LayerInformationFormat", "ValueKind",
]


class _Enum(enum.IntEnum):
    """IntEnum that prints as TensorRT's enums do: ``DataType.FLOAT32``."""

    def __str__(self):
        return "%s.%s" % (type(self).__name__, self.name)


class DataType(_Enum):
    """Element types (kiln_dtype; the values are ONNX's TensorProto.DataType values).

    TensorRT's names are aliases: ``FLOAT`` is ``FLOAT32``, ``HALF`` is ``FLOAT16``,
    ``BF16`` is ``BFLOAT16``, ``FP8`` is ``FLOAT8E4M3FN``. ``dt.numpy`` is the numpy dtype.
    """

    UNDEFINED = 0
    FLOAT32 = 1
    UINT8 = 2
    INT8 = 3
    UINT16 = 4
    INT16 = 5
    INT32 = 6
    INT64 = 7
    STRING = 8
    BOOL = 9
    FLOAT16 = 10
    FLOAT64 = 11
    UINT32 = 12
    UINT64 = 13
    COMPLEX64 = 14
    COMPLEX128 = 15
    BFLOAT16 = 16
    FLOAT8E4M3FN = 17
    FLOAT8E4M3FNUZ = 18
    FLOAT8E5M2 = 19
    FLOAT8E5M2FNUZ = 20
    UINT4 = 21
    INT4 = 22
    FLOAT4E2M1 = 23
    FLOAT8E8M0 = 24
    UINT2 = 25
    INT2 = 26
    # TensorRT's names
    FLOAT = 1
    HALF = 10
    BF16 = 16
    FP8 = 17
    DOUBLE = 11

    @property
    def numpy(self):
        """The numpy dtype of this type; TypeError where numpy has none (bfloat16, fp8,
        int4... unless the ml_dtypes package provides it)."""
        dt = _NUMPY.get(self)
        if dt is not None:
            return np.dtype(dt)
        extra = _ml_dtype(self)
        if extra is not None:
            return extra
        raise TypeError("kiln.DataType.%s has no numpy equivalent" % self.name)

    @property
    def itemsize(self):
        """Bytes per element (a fraction for sub-byte types: 0.5 for int4)."""
        bits = C.dtype_bits(int(self))
        return bits // 8 if bits % 8 == 0 else bits / 8

    @property
    def bits(self):
        return int(C.dtype_bits(int(self)))

    @property
    def kiln_name(self):
        """kiln's short name: "float32", "int64", ..."""
        return text(C.dtype_name(int(self)))

    @classmethod
    def from_numpy(cls, dtype):
        """The kiln type of a numpy dtype (or type, or array)."""
        if isinstance(dtype, np.ndarray):
            dtype = dtype.dtype
        try:
            dt = np.dtype(dtype)
        except TypeError:
            raise KilnTypeError("%r is not a numpy dtype" % (dtype,)) from None
        for k, v in _NUMPY.items():
            if np.dtype(v) == dt:
                return k
        for k in (cls.BFLOAT16, cls.FLOAT8E4M3FN, cls.FLOAT8E5M2, cls.INT4, cls.UINT4):
            extra = _ml_dtype(k)
            if extra is not None and extra == dt:
                return k
        raise KilnTypeError("numpy dtype %s has no kiln DataType" % dt)


_NUMPY = {
    DataType.FLOAT32: np.float32,
    DataType.UINT8: np.uint8,
    DataType.INT8: np.int8,
    DataType.UINT16: np.uint16,
    DataType.INT16: np.int16,
    DataType.INT32: np.int32,
    DataType.INT64: np.int64,
    DataType.BOOL: np.bool_,
    DataType.FLOAT16: np.float16,
    DataType.FLOAT64: np.float64,
    DataType.UINT32: np.uint32,
    DataType.UINT64: np.uint64,
    DataType.COMPLEX64: np.complex64,
    DataType.COMPLEX128: np.complex128,
}

_ML_NAMES = {
    DataType.BFLOAT16: "bfloat16",
    DataType.FLOAT8E4M3FN: "float8_e4m3fn",
    DataType.FLOAT8E4M3FNUZ: "float8_e4m3fnuz",
    DataType.FLOAT8E5M2: "float8_e5m2",
    DataType.FLOAT8E5M2FNUZ: "float8_e5m2fnuz",
    DataType.INT4: "int4",
    DataType.UINT4: "uint4",
}


def _ml_dtype(dt):
    name = _ML_NAMES.get(dt)
    if name is None:
        return None
    try:
        import ml_dtypes  # optional
    except ImportError:
        return None
    t = getattr(ml_dtypes, name, None)
    return np.dtype(t) if t is not None else None


def nptype(dtype):
    """The numpy type of a kiln DataType, as TensorRT's ``trt.nptype``."""
    return to_dtype(dtype).numpy.type


def to_dtype(value, what="dtype"):
    """A DataType from a DataType, an int, a numpy dtype/type, or a name ("float32")."""
    if isinstance(value, DataType):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        try:
            return DataType(int(value))
        except ValueError:
            raise KilnArgumentError("%s %d is not a kiln DataType" % (what, value)) from None
    if isinstance(value, str):
        for dt in DataType:
            if value.lower() in (dt.name.lower(), (dt.kiln_name or "")):
                return dt
    return DataType.from_numpy(value)


class TensorIOMode(_Enum):
    NONE = 0
    INPUT = 1
    OUTPUT = 2


class ValueKind(_Enum):
    """What an ONNX value is (kiln_value_kind). Engine inputs and outputs have a declared
    kind (``engine.get_tensor_kind``); a value after a run is a TENSOR, a SEQUENCE or NONE
    (an empty optional)."""
    TENSOR = 0
    SEQUENCE = 1
    NONE = 2
    OPTIONAL = 3
    OPTIONAL_SEQUENCE = 4


class BuilderFlag(_Enum):
    FP16 = 0
    BF16 = 1
    TF32 = 2  # on by default for CUDA targets
    INT8 = 3
    STRICT_TYPES = 4
    NO_OPTIMIZE = 5  # skip graph optimizations (debugging, conformance)


class MemoryPoolType(_Enum):
    WORKSPACE = 0


class DeviceType(_Enum):
    CPU = 0
    CUDA = 1
    GPU = 1  # TensorRT's name


class NetworkDefinitionCreationFlag(_Enum):
    """Bit positions, as TensorRT's: ``1 << int(NetworkDefinitionCreationFlag.EXPLICIT_BATCH)``.
    kiln networks are always explicit-batch; the flag is accepted so TensorRT code reads
    the same."""

    EXPLICIT_BATCH = 0
    STRONGLY_TYPED = 1


class ActivationType(_Enum):
    RELU = 0
    SIGMOID = 1
    TANH = 2
    LEAKY_RELU = 3  # alpha
    ELU = 4  # alpha
    SELU = 5  # alpha, beta
    SOFTSIGN = 6
    SOFTPLUS = 7
    CLIP = 8  # alpha = min, beta = max
    HARD_SIGMOID = 9  # alpha, beta
    GELU_ERF = 10
    GELU_TANH = 11
    SWISH = 12


class PoolingType(_Enum):
    MAX = 0
    AVERAGE = 1


class ElementWiseOperation(_Enum):
    SUM = 0
    SUB = 1
    PROD = 2
    DIV = 3
    MAX = 4
    MIN = 5
    POW = 6


class UnaryOperation(_Enum):
    EXP = 0
    LOG = 1
    SQRT = 2
    RECIP = 3
    ABS = 4
    NEG = 5
    SIN = 6
    COS = 7
    ERF = 8
    FLOOR = 9
    CEIL = 10
    NOT = 11


class ReduceOperation(_Enum):
    SUM = 0
    MEAN = 1
    AVG = 1  # TensorRT's name
    MAX = 2
    MIN = 3
    PROD = 4


class ResizeMode(_Enum):
    NEAREST = 0
    LINEAR = 1
    CUBIC = 2


class MatrixOperation(_Enum):
    """How add_matrix_multiply treats an operand (TensorRT's VECTOR is not in kiln.h)."""

    NONE = 0
    TRANSPOSE = 1


class Severity(_Enum):
    """TensorRT's logger severities, in the same order (kiln_severity)."""

    INTERNAL_ERROR = 0
    ERROR = 1
    WARNING = 2
    INFO = 3
    VERBOSE = 4


class LayerInformationFormat(_Enum):
    """Formats of EngineInspector's reports."""

    ONELINE = 0
    JSON = 1


def to_enum(cls, value, what):
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        try:
            return cls[value.upper()]
        except KeyError:
            pass
    else:
        try:
            return cls(int(value))
        except (TypeError, ValueError):
            pass
    raise KilnArgumentError("%s must be a kiln.%s (%s), not %r"
                            % (what, cls.__name__, ", ".join(m for m in cls.__members__), value))
