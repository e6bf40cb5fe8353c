"""dlib's binary serialization, read back from bytes these tests write themselves.

The writer below follows dlib's own (``serialize.h``, ``dnn/tensor.h``, ``dnn/core.h``)
independently of the reader under test, so a shared misunderstanding shows up as a failure
of the parity test against dlib rather than hiding here.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from inference.errors import ConversionError
from inference.pack.converters.dlib_dat import (
    Conv,
    DatReader,
    FullyConnected,
    Relu,
    TagOrSkip,
    parse_network,
)

# ---------------------------------------------------------------------------- a dlib writer


def dlib_int(value: int) -> bytes:
    magnitude = abs(value)
    body = magnitude.to_bytes(max(1, (magnitude.bit_length() + 7) // 8), "little")
    control = len(body) | (0x80 if value < 0 else 0)
    return bytes([control]) + body


def dlib_float(value: float) -> bytes:
    fraction, exponent = math.frexp(value)
    mantissa = int(fraction * 2**53)
    return dlib_int(mantissa) + dlib_int(exponent - 53)


def dlib_string(text: str) -> bytes:
    return dlib_int(len(text)) + text.encode("ascii")


def dlib_dims(shape: tuple[int, int, int, int]) -> bytes:
    return b"".join(dlib_int(size) for size in shape)


def dlib_tensor(array: npt.NDArray[np.float32]) -> bytes:
    n, k, rows, cols = (*array.shape, 1, 1, 1, 1)[:4]
    return dlib_int(2) + dlib_dims((n, k, rows, cols)) + array.astype("<f4").tobytes()


def dlib_alias(shape: tuple[int, int, int, int]) -> bytes:
    return dlib_int(1) + dlib_dims(shape)


EMPTY_TENSOR = dlib_tensor(np.zeros((0,), dtype=np.float32))
# setup called, gradient stale, output disabled; then three (empty) state tensors.
ADD_LAYER_STATE = b"110" + EMPTY_TENSOR * 3

CONV_FILTERS = np.arange(2 * 3 * 3 * 3, dtype=np.float32).reshape(2, 3, 3, 3) / 10
CONV_BIASES = np.array([0.5, -0.25], dtype=np.float32)
FC_WEIGHTS_IN_OUT = np.arange(6, dtype=np.float32).reshape(3, 2)  # dlib's (inputs, outputs)
FC_BIASES = np.array([1.0, -1.0], dtype=np.float32)
LEARNING_RATE_MULTIPLIERS = dlib_float(1.0) * 3 + dlib_float(0.0)


def conv_details() -> bytes:
    params = np.concatenate([CONV_FILTERS.ravel(), CONV_BIASES])
    return b"".join([
        dlib_string("con_4"), dlib_tensor(params), dlib_int(2),  # num_filters
        dlib_int(3), dlib_int(3), dlib_int(2), dlib_int(2), dlib_int(0), dlib_int(0),
        dlib_alias((2, 3, 3, 3)), dlib_alias((1, 2, 1, 1)), LEARNING_RATE_MULTIPLIERS,
    ])  # fmt: skip


def fc_details() -> bytes:
    params = np.concatenate([FC_WEIGHTS_IN_OUT.ravel(), FC_BIASES])
    return b"".join([
        dlib_string("fc_2"), dlib_int(2), dlib_int(3), dlib_tensor(params),
        dlib_alias((3, 2, 1, 1)), dlib_alias((1, 2, 1, 1)), dlib_int(0),  # FC_HAS_BIAS
        LEARNING_RATE_MULTIPLIERS,
    ])  # fmt: skip


def tiny_network(relu_type: str = "relu_") -> bytes:
    """loss_metric<fc<2, tag1<relu<con<2,3,3,2,2, input_rgb_image_sized<4>>>>>>."""
    return b"".join([
        dlib_int(1), dlib_string("loss_metric_2"), dlib_float(0.04), dlib_float(0.6),
        dlib_int(2), dlib_int(1), dlib_int(2),  # add_layer(fc), tag1, add_layer(relu)
        dlib_int(3), dlib_string("input_rgb_image_sized"),  # add_layer over the input
        dlib_float(122.5), dlib_float(117.0), dlib_float(104.25), dlib_int(4), dlib_int(4),
        conv_details(), ADD_LAYER_STATE, dlib_int(1),  # sample expansion factor
        dlib_string(relu_type), ADD_LAYER_STATE,
        fc_details(), ADD_LAYER_STATE,
    ])  # fmt: skip


# ---------------------------------------------------------------------------- primitives


@pytest.mark.parametrize(
    ("encoded", "value"),
    [
        (b"\x01\x00", 0),
        (b"\x01\x02", 2),
        (b"\x01\xff", 255),
        (b"\x02\x00\x01", 256),
        (b"\x81\x01", -1),
        (b"\x82\x2c\x01", -300),
        (b"\x08" + b"\xff" * 7 + b"\x7f", 2**63 - 1),
    ],
)
def test_integers_are_a_control_byte_then_little_endian_magnitude(
    encoded: bytes, value: int
) -> None:
    reader = DatReader(encoded)
    assert reader.read_int("test") == value
    assert reader.remaining == 0


@pytest.mark.parametrize("value", [0, 1, -1, 127, 128, -65536, 2**40 + 3, -(2**62)])
def test_integers_round_trip_through_the_writer(value: int) -> None:
    assert DatReader(dlib_int(value)).read_int("test") == value


@pytest.mark.parametrize(
    ("encoded", "message"),
    [
        (b"", r"at byte 0: expected 1 bytes of n \(integer control byte\)"),
        (b"\x04\x01\x02", r"at byte 1: expected 4 bytes of n, found only 2 left"),
        (b"\x11\x01", r"at byte 0: expected n \(integer\), found control byte 0x11"),
        (b"\x09" + b"\x00" * 9, r"at byte 0: expected n \(at most 8 bytes\), found 9 bytes"),
    ],
)
def test_bad_integers_say_where_and_what(encoded: bytes, message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        DatReader(encoded).read_int("n")


def test_floats_are_mantissa_times_two_to_the_exponent() -> None:
    # 0x99999a * 2**-24: how dlib writes the float 0.6f (the loss's distance threshold).
    reader = DatReader(b"\x03\x9a\x99\x99\x81\x18")
    assert reader.read_float("threshold") == np.float32(0.6)
    assert DatReader(dlib_int(-3) + dlib_int(-1)).read_float("x") == -1.5
    assert DatReader(dlib_float(122.782)).read_float("mean") == 122.782


def test_special_exponents_are_infinities_and_nan() -> None:
    assert DatReader(dlib_int(0) + dlib_int(32000)).read_float("x") == math.inf
    assert DatReader(dlib_int(0) + dlib_int(32001)).read_float("x") == -math.inf
    assert math.isnan(DatReader(dlib_int(0) + dlib_int(32002)).read_float("x"))


def test_bad_floats_are_refused() -> None:
    with pytest.raises(ConversionError, match="old text float format"):
        DatReader(b"0.5 ").read_float("margin")
    with pytest.raises(ConversionError, match="16-bit exponent"):
        DatReader(dlib_int(1) + dlib_int(40000)).read_float("margin")
    with pytest.raises(ConversionError, match=r"margin \(exponent\)"):
        DatReader(dlib_int(1)).read_float("margin")


def test_bools_and_strings() -> None:
    reader = DatReader(b"10" + dlib_string("relu_"))
    assert reader.read_bool("a") is True
    assert reader.read_bool("b") is False
    assert reader.read_string("type") == "relu_"
    with pytest.raises(ConversionError, match=r"at byte 0: expected flag \(bool"):
        DatReader(b"\x01").read_bool("flag")
    with pytest.raises(ConversionError, match="expected 9 bytes of name, found only 3 left"):
        DatReader(dlib_int(9) + b"abc").read_string("name")
    with pytest.raises(ConversionError, match="ASCII"):
        DatReader(dlib_int(2) + b"\xff\xfe").read_string("name")


def test_expected_strings_and_versions_name_what_was_found() -> None:
    with pytest.raises(ConversionError, match=r"expected layer type 'con_4' or 'fc_2'.*'bn_'"):
        DatReader(dlib_string("bn_")).expect_string("layer type", {"fc_2", "con_4"})
    with pytest.raises(ConversionError, match=r"at byte 0: expected tensor version 2, found 3"):
        DatReader(dlib_int(3)).expect_version("tensor", {2})


def test_tensors_hold_shape_and_little_endian_float32() -> None:
    values = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4) - 5.5
    tensor = DatReader(dlib_tensor(values)).read_tensor("params")
    assert tensor.dtype == np.float32
    np.testing.assert_array_equal(tensor, values)
    assert DatReader(dlib_alias((1, 2, 3, 4))).read_alias_shape("view") == (1, 2, 3, 4)


def test_corrupt_tensors_are_refused_with_the_offset() -> None:
    good = dlib_tensor(np.ones((2, 3, 1, 1), dtype=np.float32))
    with pytest.raises(ConversionError, match=r"at byte 10: expected 24 bytes of params"):
        DatReader(good[:-1]).read_tensor("params")
    with pytest.raises(ConversionError, match=r"at byte 0: expected params tensor version 2"):
        DatReader(dlib_int(1) + good[2:]).read_tensor("params")
    negative = dlib_int(2) + dlib_dims((1, 1, 1, 1))[:-2] + dlib_int(-4)
    with pytest.raises(ConversionError, match="dimensions >= 0"):
        DatReader(negative).read_tensor("params")


def test_lookahead_leaves_the_cursor_in_place() -> None:
    reader = DatReader(dlib_string("input_rgb_image_sized"))
    assert reader.peek_string() == "input_rgb_image_sized"
    assert reader.offset == 0
    assert DatReader(b"\x05ab").peek_string() is None


# ---------------------------------------------------------------------------- a network


def test_a_tiny_network_parses_layer_by_layer() -> None:
    network = parse_network(tiny_network())
    assert network.loss.distance_threshold == 0.6
    assert network.input.mean_rgb == (122.5, 117.0, 104.25)
    assert (network.input.rows, network.input.cols) == (4, 4)
    conv, relu, tag, fc = network.layers
    assert isinstance(conv, Conv) and isinstance(fc, FullyConnected)
    assert isinstance(relu, Relu) and isinstance(tag, TagOrSkip)
    np.testing.assert_array_equal(conv.filters, CONV_FILTERS)
    np.testing.assert_array_equal(conv.biases, CONV_BIASES)
    assert (conv.stride, conv.padding) == ((2, 2), (0, 0))
    np.testing.assert_array_equal(fc.weights, FC_WEIGHTS_IN_OUT.T)  # torch's (out, in)
    assert fc.biases is not None
    np.testing.assert_array_equal(fc.biases, FC_BIASES)


def test_an_unknown_layer_type_is_named() -> None:
    with pytest.raises(ConversionError, match=r"expected layer type .*found 'bn_con2'"):
        parse_network(tiny_network(relu_type="bn_con2"))


@pytest.mark.parametrize("cut", [1, 100, 300])
def test_a_truncated_network_is_refused(cut: int) -> None:
    with pytest.raises(ConversionError, match=r"dlib \.dat at byte \d+: expected"):
        parse_network(tiny_network()[:-cut])


def test_trailing_bytes_are_refused() -> None:
    with pytest.raises(ConversionError, match="expected end of file, found 2 more bytes"):
        parse_network(tiny_network() + b"\x00\x00")


@pytest.mark.parametrize(
    "data", [b"", b"PK\x03\x04 a zip, not dlib", dlib_int(1) + dlib_string("loss_multiclass_log_")]
)
def test_foreign_files_are_refused(data: bytes) -> None:
    with pytest.raises(ConversionError, match=r"dlib \.dat"):
        parse_network(data)


def test_parameter_count_must_match_the_views() -> None:
    broken = tiny_network().replace(dlib_alias((1, 2, 1, 1)), dlib_alias((1, 3, 1, 1)), 1)
    with pytest.raises(ConversionError, match="con_ 2 biases"):
        parse_network(broken)
