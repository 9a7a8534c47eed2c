"""kiln's exceptions: one class per ``kiln_status``, all derived from :class:`KilnError`.

Each also derives from the closest built-in exception, so ``except ValueError`` catches a
bad shape and ``except NotImplementedError`` a call this kiln does not implement yet.
"""

__all__ = [
    "KilnError",
    "KilnArgumentError",
    "KilnTypeError",
    "KilnMemoryError",
    "KilnIOError",
    "KilnParseError",
    "KilnUnsupportedError",
    "KilnNotImplementedError",
    "KilnShapeError",
    "KilnPlanError",
    "KilnVersionError",
    "KilnDeviceError",
    "KilnInternalError",
]


class KilnError(Exception):
    """A kiln call failed. ``status`` is the C status name (``"KILN_ERR_PARSE"``), or None
    for errors found by the Python layer before any C call; ``message`` is the text."""

    status = None

    def __init__(self, message, status=None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status

    def __str__(self):
        return self.message


class KilnArgumentError(KilnError, ValueError):
    """KILN_ERR_INVALID_ARGUMENT: a bad value, an unknown name, a NULL handle."""

    status = "KILN_ERR_INVALID_ARGUMENT"


class KilnTypeError(KilnArgumentError, TypeError):
    """An argument of the wrong Python type (a str where bytes are needed, ...)."""


class KilnMemoryError(KilnError, MemoryError):
    status = "KILN_ERR_OUT_OF_MEMORY"


class KilnIOError(KilnError, OSError):
    """KILN_ERR_IO: a file could not be opened, mapped or written."""

    status = "KILN_ERR_IO"


class KilnParseError(KilnError):
    """KILN_ERR_PARSE: malformed ONNX or protobuf bytes."""

    status = "KILN_ERR_PARSE"


class KilnUnsupportedError(KilnError):
    """KILN_ERR_UNSUPPORTED: a valid model kiln cannot handle (op, dtype, device)."""

    status = "KILN_ERR_UNSUPPORTED"


class KilnNotImplementedError(KilnError, NotImplementedError):
    """KILN_ERR_NOT_IMPLEMENTED: an API call this version of the library does not implement."""

    status = "KILN_ERR_NOT_IMPLEMENTED"


class KilnShapeError(KilnError, ValueError):
    """KILN_ERR_SHAPE: shapes that do not fit (profile bounds, ranks, fixed dimensions)."""

    status = "KILN_ERR_SHAPE"


class KilnPlanError(KilnError):
    """KILN_ERR_PLAN: a truncated or corrupted plan."""

    status = "KILN_ERR_PLAN"


class KilnVersionError(KilnError):
    """KILN_ERR_VERSION_MISMATCH: a plan from another kiln version or another device."""

    status = "KILN_ERR_VERSION_MISMATCH"


class KilnDeviceError(KilnError):
    """KILN_ERR_DEVICE: a CUDA / cuDNN / cuBLAS failure."""

    status = "KILN_ERR_DEVICE"


class KilnInternalError(KilnError):
    """KILN_ERR_INTERNAL: a bug in kiln; please report it with the message."""

    status = "KILN_ERR_INTERNAL"


# kiln_status value -> exception class
STATUS_ERRORS = {
    1: KilnArgumentError,
    2: KilnMemoryError,
    3: KilnIOError,
    4: KilnParseError,
    5: KilnUnsupportedError,
    6: KilnNotImplementedError,
    7: KilnShapeError,
    8: KilnPlanError,
    9: KilnVersionError,
    10: KilnDeviceError,
    11: KilnInternalError,
}
