"""Lifetimes of C objects.

Each C object lives in a ``Handle``: the pointer, its destroy function, and the handles
that must outlive it (``deps``: a context's engine, an engine's logger...). A handle is
destroyed when the last reference to it goes, so a Python object may be dropped (or
closed with ``with``) in any order: what the C side still needs stays alive.

``attach`` records handles to destroy *before* this one: a network attaches the parsers
that filled it, because the network borrows the model's weights from the parser until a
build copies them, while kiln.h asks that the network outlive the parser.
"""

from ._errors import KilnError


class Handle:
    __slots__ = ("ptr", "_destroy", "_deps", "_attached", "kind", "__weakref__")

    def __init__(self, ptr, destroy, kind, deps=()):
        self.ptr = ptr
        self._destroy = destroy
        self._deps = tuple(d for d in deps if d is not None)
        self._attached = []
        self.kind = kind

    def attach(self, other):
        if other not in self._attached:
            self._attached.append(other)

    def release(self):
        ptr, self.ptr = self.ptr, None
        if not ptr:
            return
        attached, self._attached = self._attached, []
        for h in attached:
            h.release()
        try:
            if self._destroy is not None:
                self._destroy(ptr)
        finally:
            self._deps = ()

    def __del__(self):
        try:
            self.release()
        except Exception:  # interpreter shutdown: the library may be gone already
            pass

    def __repr__(self):
        return "<kiln handle %s %s>" % (self.kind, hex(self.ptr) if self.ptr else "released")


class Wrapper:
    """Base of Python objects that own a C object through a Handle."""

    _kind = "object"
    _h = None

    @property
    def _ptr(self):
        h = self._h
        if h is None or not h.ptr:
            raise KilnError("this %s was closed (or its 'with' block ended) and cannot be used"
                            % self._kind)
        return h.ptr

    def close(self):
        """Drops this object's hold on the C object. The C object is destroyed as soon as
        nothing that depends on it (an engine's contexts...) is left."""
        self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __eq__(self, other):
        return type(other) is type(self) and self._h is not None and self._h is other._h

    def __hash__(self):
        return id(self._h)
