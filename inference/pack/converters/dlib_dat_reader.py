"""The primitives of dlib's binary serialisation, as ``dlib::serialize`` writes them
(``dlib/serialize.h``, ``dlib/dnn/tensor.h``): a cursor that reads integers, floats, bools,
strings and tensors, and checks every read stays inside the file.

- an integer is a control byte (low nibble: how many magnitude bytes follow, ``0x80``:
  negative, ``0x70``: reserved, always zero) and then the magnitude, little-endian;
- a float is two integers, an int64 mantissa and an int16 exponent (value
  ``mantissa * 2**exponent``; exponents 32000/32001/32002 mean +inf/-inf/nan);
- a bool is the character ``'1'`` or ``'0'``; a string is its length, then its bytes;
- a ``resizable_tensor`` is version 2, then ``n, k, nr, nc``, then ``n*k*nr*nc`` raw
  little-endian float32; an ``alias_tensor`` (a view into a layer's parameters) is version 1
  and its four dimensions, with no data.

How a network's layers are laid out with them is :mod:`inference.pack.converters.dlib_dat`'s.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator
from contextlib import contextmanager

import numpy as np
from numpy.typing import NDArray

from inference.errors import ConversionError

FloatArray = NDArray[np.float32]
TensorShape = tuple[int, int, int, int]

_NEGATIVE = 0x80
_RESERVED_BITS = 0x70
_BYTE_COUNT = 0x0F
_MAX_INT_BYTES = 8
_INT16_RANGE = range(-(2**15), 2**15)
# float_details marks non-finite values with these exponents instead of a mantissa.
_SPECIAL_EXPONENTS = {32000: math.inf, 32001: -math.inf, 32002: math.nan}
_TENSOR_VERSION = 2
_ALIAS_TENSOR_VERSION = 1
_FLOAT32_BYTES = 4


class DatReader:
    """A cursor over the bytes of a dlib file; every read checks it stays inside them."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._offset = 0

    @property
    def offset(self) -> int:
        return self._offset

    @property
    def remaining(self) -> int:
        return len(self._data) - self._offset

    def error(self, expected: str, found: str, at: int | None = None) -> ConversionError:
        """A ConversionError that says where in the file it went wrong, and how."""
        where = self._offset if at is None else at
        return ConversionError(f"dlib .dat at byte {where}: expected {expected}, found {found}")

    def read_bytes(self, count: int, what: str) -> memoryview:
        if count > self.remaining:
            raise self.error(f"{count} bytes of {what}", f"only {self.remaining} left in file")
        chunk = self._data[self._offset : self._offset + count]
        self._offset += count
        return chunk

    def read_int(self, what: str) -> int:
        start = self._offset
        control = self.read_bytes(1, f"{what} (integer control byte)")[0]
        if control & _RESERVED_BITS:
            raise self.error(f"{what} (integer)", f"control byte {control:#04x}", at=start)
        count = control & _BYTE_COUNT
        if count > _MAX_INT_BYTES:
            raise self.error(f"{what} (at most 8 bytes)", f"{count} bytes", at=start)
        magnitude = int.from_bytes(self.read_bytes(count, what), "little")
        return -magnitude if control & _NEGATIVE else magnitude

    def read_float(self, what: str) -> float:
        start = self._offset
        if self.remaining and self._data[start] & _RESERVED_BITS:
            # dlib before 2013 wrote floats as text; no DNN file is that old.
            raise self.error(f"{what} (binary float)", "dlib's old text float format")
        mantissa = self.read_int(f"{what} (mantissa)")
        exponent = self.read_int(f"{what} (exponent)")
        if exponent in _SPECIAL_EXPONENTS:
            return _SPECIAL_EXPONENTS[exponent]
        if exponent not in _INT16_RANGE:
            raise self.error(f"{what} (16-bit exponent)", f"exponent {exponent}", at=start)
        try:
            return math.ldexp(float(mantissa), exponent)
        except OverflowError:
            raise self.error(f"{what} (finite float)", "an overflowing value", at=start) from None

    def read_bool(self, what: str) -> bool:
        start = self._offset
        char = bytes(self.read_bytes(1, what))
        if char not in (b"0", b"1"):
            raise self.error(f"{what} (bool '0' or '1')", repr(char), at=start)
        return char == b"1"

    def read_string(self, what: str) -> str:
        start = self._offset
        length = self.read_int(f"{what} (string length)")
        if length < 0:
            raise self.error(f"{what} (string length)", str(length), at=start)
        raw = bytes(self.read_bytes(length, what))
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise self.error(f"{what} (ASCII text)", repr(raw[:32]), at=start) from None

    @contextmanager
    def lookahead(self) -> Iterator[None]:
        """Read ahead inside the block; the cursor comes back to where it was afterwards."""
        start = self._offset
        try:
            yield
        finally:
            self._offset = start

    def peek_string(self) -> str | None:
        """The string at the cursor, without moving it; None if no string can start here."""
        with self.lookahead():
            try:
                return self.read_string("peek")
            except ConversionError:
                return None

    def expect_string(self, what: str, allowed: Collection[str]) -> str:
        start = self._offset
        found = self.read_string(what)
        if found not in allowed:
            expected = " or ".join(repr(name) for name in sorted(allowed))
            raise self.error(f"{what} {expected}", repr(found), at=start)
        return found

    def expect_version(self, what: str, allowed: Collection[int]) -> int:
        start = self._offset
        version = self.read_int(f"{what} version")
        if version not in allowed:
            expected = " or ".join(str(number) for number in sorted(allowed))
            raise self.error(f"{what} version {expected}", str(version), at=start)
        return version

    def read_shape(self, what: str) -> TensorShape:
        start = self._offset
        n, k, rows, cols = (self.read_int(f"{what} dimension") for _ in range(4))
        if min(n, k, rows, cols) < 0:
            raise self.error(f"{what} dimensions >= 0", str((n, k, rows, cols)), at=start)
        return n, k, rows, cols

    def read_tensor(self, what: str) -> FloatArray:
        """A ``resizable_tensor``: returned as a float32 array of shape (n, k, nr, nc)."""
        self.expect_version(f"{what} tensor", {_TENSOR_VERSION})
        shape = self.read_shape(what)
        count = math.prod(shape)
        raw = self.read_bytes(count * _FLOAT32_BYTES, f"{what} tensor data {shape}")
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)

    def read_alias_shape(self, what: str) -> TensorShape:
        """An ``alias_tensor``: only the shape of a view into a layer's parameters."""
        self.expect_version(f"{what} alias tensor", {_ALIAS_TENSOR_VERSION})
        return self.read_shape(what)

    def expect_end(self) -> None:
        if self.remaining:
            raise self.error("end of file", f"{self.remaining} more bytes")
