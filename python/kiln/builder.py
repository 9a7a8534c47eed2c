"""Builder, BuilderConfig, OptimizationProfile and HostMemory."""

import ctypes

from ._enums import BuilderFlag, DataType, DeviceType, MemoryPoolType, to_enum
from ._errors import KilnArgumentError, KilnTypeError
from ._handle import Handle, Wrapper
from ._lib import C, check, dims_to_tuple, to_dims, Dims
from .logger import Logger, _logger_handle

__all__ = ["Builder", "BuilderConfig", "IBuilderConfig", "OptimizationProfile",
           "IOptimizationProfile", "HostMemory", "IHostMemory"]


# ---------------------------------------------------------------------------- host memory


class HostMemory:
    """Bytes kiln hands back (a serialized plan), as TensorRT's ``IHostMemory``.

    It supports the buffer protocol without a copy: ``f.write(plan)``, ``bytes(plan)``,
    ``memoryview(plan)``, ``numpy.frombuffer(plan, numpy.uint8)`` and
    ``runtime.deserialize_cuda_engine(plan)`` all work. The memory is freed when the
    object (and every view of it) is gone.
    """

    @property
    def nbytes(self):
        return ctypes.sizeof(self)

    @property
    def dtype(self):
        return DataType.UINT8

    def tobytes(self):
        return bytes(self)

    def __repr__(self):
        return "<kiln.HostMemory %d bytes>" % self.nbytes


IHostMemory = HostMemory


def host_memory_from(ptr):
    """A HostMemory taking ownership of a kiln_host_memory pointer."""
    h = Handle(ptr, C.host_memory_destroy, "host memory")
    size = int(C.host_memory_size(ptr))
    data = C.host_memory_data(ptr)
    cls = type("HostMemory", (HostMemory, ctypes.c_char * size), {"__module__": "kiln"})
    obj = cls.from_address(data) if (data and size) else cls()
    obj._h = h  # keeps the C blob alive as long as this object (and views of it) live
    return obj


# ---------------------------------------------------------------------------- builder


class Builder(Wrapper):
    """Builds engines, as TensorRT's ``trt.Builder``: ``kiln.Builder(logger)``."""

    _kind = "builder"

    def __init__(self, logger=None):
        if logger is None:
            logger = Logger()
        self.logger = logger
        lh = _logger_handle(logger)
        out = ctypes.c_void_p()
        check(C.builder_create(lh.ptr if lh else None, ctypes.byref(out)))
        self._h = Handle(out.value, C.builder_destroy, "builder", deps=(lh,))
        self._logger_h = lh

    def create_network(self, flags=0):
        """A new, empty network. ``flags`` is a bit mask of
        ``1 << int(kiln.NetworkDefinitionCreationFlag.X)``; kiln networks are always
        explicit-batch."""
        from .network import NetworkDefinition
        if isinstance(flags, (list, tuple, set)):
            mask = 0
            for f in flags:
                mask |= 1 << int(f)
            flags = mask
        out = ctypes.c_void_p()
        check(C.builder_create_network(self._ptr, int(flags), ctypes.byref(out)))
        return NetworkDefinition._create(out.value, self, int(flags))

    def create_builder_config(self):
        out = ctypes.c_void_p()
        check(C.builder_create_config(self._ptr, ctypes.byref(out)))
        return BuilderConfig._create(out.value, self)

    create_config = create_builder_config

    def create_optimization_profile(self):
        out = ctypes.c_void_p()
        check(C.builder_create_optimization_profile(self._ptr, ctypes.byref(out)))
        return OptimizationProfile._create(out.value, self)

    def build_serialized_network(self, network, config):
        """Builds an engine and serializes it: a :class:`HostMemory` holding the plan.
        Raises a KilnError on failure (TensorRT returns None); the logger has the
        details too."""
        _expect(network, "NetworkDefinition", "network")
        _expect(config, "BuilderConfig", "config")
        out = ctypes.c_void_p()
        check(C.builder_build_serialized_network(self._ptr, network._ptr, config._ptr,
                                                 ctypes.byref(out)))
        return host_memory_from(out.value)

    def build_engine(self, network, config):
        """Builds an engine in memory (TensorRT 8's build_engine)."""
        from .runtime import ICudaEngine
        _expect(network, "NetworkDefinition", "network")
        _expect(config, "BuilderConfig", "config")
        out = ctypes.c_void_p()
        check(C.builder_build_engine(self._ptr, network._ptr, config._ptr, ctypes.byref(out)))
        return ICudaEngine._create(out.value, self._logger_h)

    build_engine_with_config = build_engine

    def __repr__(self):
        return "<kiln.Builder>"


def _expect(obj, cls_name, what):
    if type(obj).__name__ != cls_name and not any(c.__name__ == cls_name for c in type(obj).__mro__):
        raise KilnTypeError("%s must be a kiln.%s, not %s" % (what, cls_name, type(obj).__name__))


# ---------------------------------------------------------------------------- config


class BuilderConfig(Wrapper):
    """Build options, as TensorRT's ``IBuilderConfig``."""

    _kind = "builder config"

    @classmethod
    def _create(cls, ptr, builder):
        self = cls.__new__(cls)
        self._h = Handle(ptr, C.builder_config_destroy, "builder config", deps=(builder._h,))
        self.builder = builder
        self._pools = {MemoryPoolType.WORKSPACE: 1 << 30}
        self._max_batch = None
        self._threads = 0
        self._device = DeviceType.CPU
        self._device_index = 0
        self._profiles = 0
        return self

    # flags
    def set_flag(self, flag):
        check(C.builder_config_set_flag(self._ptr, int(to_enum(BuilderFlag, flag, "flag")), 1))

    def clear_flag(self, flag):
        check(C.builder_config_set_flag(self._ptr, int(to_enum(BuilderFlag, flag, "flag")), 0))

    def get_flag(self, flag):
        return bool(C.builder_config_get_flag(self._ptr, int(to_enum(BuilderFlag, flag, "flag"))))

    @property
    def flags(self):
        """The flags as a bit mask (``1 << int(kiln.BuilderFlag.FP16)``...)."""
        return sum(1 << int(f) for f in BuilderFlag if self.get_flag(f))

    @flags.setter
    def flags(self, mask):
        for f in BuilderFlag:
            if int(mask) >> int(f) & 1:
                self.set_flag(f)
            else:
                self.clear_flag(f)

    # memory
    def set_memory_pool_limit(self, pool, pool_size):
        pool = to_enum(MemoryPoolType, pool, "pool")
        if int(pool_size) < 0:
            raise KilnArgumentError("pool_size must be >= 0, not %d" % pool_size)
        check(C.builder_config_set_memory_pool_limit(self._ptr, int(pool), int(pool_size)))
        self._pools[pool] = int(pool_size)

    def get_memory_pool_limit(self, pool):
        """The limit last set here (kiln.h has no getter; the default is 1 GiB)."""
        return self._pools[to_enum(MemoryPoolType, pool, "pool")]

    # batch, device, threads
    @property
    def max_batch_size(self):
        """A plain max batch size: shorthand for a profile whose leading dims run
        1..max_batch_size (None until set)."""
        return self._max_batch

    @max_batch_size.setter
    def max_batch_size(self, value):
        check(C.builder_config_set_max_batch_size(self._ptr, int(value)))
        self._max_batch = int(value)

    def set_device(self, device, index=0):
        """The target: ``kiln.DeviceType.CPU`` (default) or ``kiln.DeviceType.CUDA``."""
        device = to_enum(DeviceType, device, "device")
        check(C.builder_config_set_device(self._ptr, int(device), int(index)))
        self._device, self._device_index = device, int(index)

    @property
    def default_device_type(self):
        return self._device

    @default_device_type.setter
    def default_device_type(self, device):
        self.set_device(device, self._device_index)

    @property
    def device_index(self):
        return self._device_index

    @property
    def num_threads(self):
        """CPU threads an engine runs with (0: one per core)."""
        return self._threads

    @num_threads.setter
    def num_threads(self, threads):
        check(C.builder_config_set_num_threads(self._ptr, int(threads)))
        self._threads = int(threads)

    def set_num_threads(self, threads):
        self.num_threads = threads

    # profiles
    def add_optimization_profile(self, profile):
        """Adds (a copy of) a profile; returns its index."""
        _expect(profile, "OptimizationProfile", "profile")
        check(C.builder_config_add_optimization_profile(self._ptr, profile._ptr))
        self._profiles += 1
        return self._profiles - 1

    @property
    def num_optimization_profiles(self):
        return self._profiles

    def __repr__(self):
        flags = [f.name for f in BuilderFlag if self.get_flag(f)]
        return "<kiln.BuilderConfig device=%s flags=%s profiles=%d>" % (
            self._device.name, "|".join(flags) or "0", self._profiles)


IBuilderConfig = BuilderConfig


# ---------------------------------------------------------------------------- profiles


class OptimizationProfile(Wrapper):
    """Shape ranges of dynamic inputs, as TensorRT's ``IOptimizationProfile``."""

    _kind = "optimization profile"

    @classmethod
    def _create(cls, ptr, builder):
        self = cls.__new__(cls)
        self._h = Handle(ptr, C.optimization_profile_destroy, "optimization profile",
                         deps=(builder._h,))
        self.builder = builder
        self._names = []
        return self

    def set_shape(self, input, min, opt, max):
        """The smallest, the tuned-for and the largest shape of ``input``."""
        name = _name(input)
        for which, shape in enumerate((min, opt, max)):
            dims = to_dims(shape, "%s shape of '%s'" % (("min", "opt", "max")[which], input))
            check(C.optimization_profile_set_dimensions(self._ptr, name.encode(), which, dims))
        if name not in self._names:
            self._names.append(name)

    def get_shape(self, input):
        """``[min, opt, max]`` of ``input``, as tuples."""
        name = _name(input)
        result = []
        for which in range(3):
            d = Dims()
            check(C.optimization_profile_get_dimensions(self._ptr, name.encode(), which,
                                                        ctypes.byref(d)))
            result.append(dims_to_tuple(d))
        return result

    @property
    def inputs(self):
        """The inputs given shapes here, in order."""
        return list(self._names)

    def __repr__(self):
        return "<kiln.OptimizationProfile %s>" % ", ".join(self._names)


IOptimizationProfile = OptimizationProfile


def _name(value):
    if hasattr(value, "name") and not isinstance(value, str):
        value = value.name  # an ITensor
    if not isinstance(value, str):
        raise KilnTypeError("input must be a tensor name (str), not %s" % type(value).__name__)
    return value
