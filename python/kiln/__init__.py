"""kiln: build and run optimized engines from ONNX models or the layer API.

The API mirrors TensorRT's Python API (``tensorrt``) as closely as kiln's C API
(include/kiln/kiln.h, bound here with ctypes) allows::

    import kiln
    logger = kiln.Logger(kiln.Logger.WARNING)
    builder = kiln.Builder(logger)
    network = builder.create_network()
    parser = kiln.OnnxParser(network, logger)
    parser.parse_from_file("model.onnx")
    config = builder.create_builder_config()
    plan = builder.build_serialized_network(network, config)
    engine = kiln.Runtime(logger).deserialize_cuda_engine(plan)
    context = engine.create_execution_context()
    outputs = context.infer({"input": x})          # CPU engines: numpy in, numpy out

See docs/python.md. The shared library is found through ``$KILN_LIBRARY``, next to the
installed package, or in the build tree of the checkout (``kiln.library_path`` says
which was loaded).
"""

import warnings as _warnings

from . import _lib
from ._enums import (ActivationType, BuilderFlag, DataType, DeviceType, ElementWiseOperation,
                     LayerInformationFormat, MatrixOperation, MemoryPoolType,
                     NetworkDefinitionCreationFlag, PoolingType, ReduceOperation, ResizeMode,
                     Severity, TensorIOMode, UnaryOperation, ValueKind, nptype)
from ._errors import (KilnArgumentError, KilnDeviceError, KilnError, KilnInternalError,
                      KilnIOError, KilnMemoryError, KilnNotImplementedError, KilnParseError,
                      KilnPlanError, KilnShapeError, KilnTypeError, KilnUnsupportedError,
                      KilnVersionError)
from .builder import (Builder, BuilderConfig, HostMemory, IBuilderConfig, IHostMemory,
                      IOptimizationProfile, OptimizationProfile)
from .logger import ILogger, Logger
from .network import ILayer, INetworkDefinition, ITensor, NetworkDefinition, Weights
from .parser import OnnxParser, ParserError
from .runtime import (Engine, EngineInspector, ExecutionContext, ICudaEngine,
                      IExecutionContext, IProfiler, Profiler, Runtime)
from . import cuda

#: The version of the loaded library, from kiln_version_string() ("0.1.0").
__version__ = _lib.text(_lib.C.version_string())
#: kiln_get_version(): major * 10000 + minor * 100 + patch.
version_number = int(_lib.C.get_version())
#: The path of the shared library this package loaded.
library_path = _lib.library_path

# The C API this package binds (include/kiln/kiln.h): KILN_VERSION.
_BOUND_VERSION = 100
if version_number // 100 != _BOUND_VERSION // 100:
    _warnings.warn("kiln: the Python package binds the C API of kiln %d.%d, but the library "
                   "loaded (%s) is kiln %s" % (_BOUND_VERSION // 10000, _BOUND_VERSION // 100 % 100,
                                               library_path, __version__), RuntimeWarning)

# TensorRT-style type shorthands: kiln.float32, kiln.int64, ...
float32 = DataType.FLOAT32
float16 = DataType.FLOAT16
bfloat16 = DataType.BFLOAT16
float64 = DataType.FLOAT64
int8 = DataType.INT8
uint8 = DataType.UINT8
int16 = DataType.INT16
int32 = DataType.INT32
int64 = DataType.INT64
bool = DataType.BOOL  # noqa: A001 (as trt.bool)
fp8 = DataType.FLOAT8E4M3FN
int4 = DataType.INT4


def get_version():
    """The loaded library's version number (kiln_get_version())."""
    return version_number


def last_error():
    """kiln_last_error(): the message the last failing C call on this thread left."""
    return _lib.last_error()


__all__ = [
    "__version__", "library_path", "get_version", "last_error", "nptype", "cuda",
    # objects
    "ILogger", "Logger", "Builder", "BuilderConfig", "IBuilderConfig", "OptimizationProfile",
    "IOptimizationProfile", "HostMemory", "IHostMemory", "NetworkDefinition",
    "INetworkDefinition", "ITensor", "ILayer", "Weights", "OnnxParser", "ParserError", "Runtime",
    "ICudaEngine", "Engine", "IExecutionContext", "ExecutionContext", "IProfiler", "Profiler",
    "EngineInspector",
    # enums
    "DataType", "TensorIOMode", "BuilderFlag", "MemoryPoolType", "DeviceType",
    "NetworkDefinitionCreationFlag", "ActivationType", "PoolingType", "ElementWiseOperation",
    "UnaryOperation", "ReduceOperation", "ResizeMode", "MatrixOperation", "Severity",
    "LayerInformationFormat", "ValueKind",
    # errors
    "KilnError", "KilnArgumentError", "KilnTypeError", "KilnMemoryError", "KilnIOError",
    "KilnParseError", "KilnUnsupportedError", "KilnNotImplementedError", "KilnShapeError",
    "KilnPlanError", "KilnVersionError", "KilnDeviceError", "KilnInternalError",
]
