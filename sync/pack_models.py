"""A species pack's ONNX models, checked whole before the hub publishes the pack.

``check_manifest_files`` proves the files are the ones the manifest lists, but a manifest
written after a model was cut short (a copy that stopped, a failing disk on the build
machine) lists the cut model's sha256, and the pack would reach every device, which would
all refuse it when they load it. Sync never imports a model runtime (the import contract in
``pyproject.toml``; ``onnx`` is no dependency of the hub), so each model the manifest names
(``models``: kind -> file) is read as what an ONNX file is on disk: a protobuf
``ModelProto``, walked with the wire format alone. Every field of the model, of its graph
and of the graph's nodes must lie whole inside the file, and the parts a runtime needs must
be there: an IR version, an operator set, a graph with nodes, inputs and outputs, each node
naming its operator. A cut or garbled file fails that; whether the operators and shapes
make sense is left to the device's classifier, which refuses such a pack and keeps the one
it has. A pack whose manifest names no models, or names one its ``files`` do not list
(so no sha256 vouches for it), or lists a file that is not a plain name in the pack's folder,
or lists no ``species.json`` or ``thresholds.json``, is refused too: the device's
``load_pack`` refuses each of those, and uses only a model
it verified, and every device would refuse such a pack ("lists no verified model") and go on
with the pack it has, so nobody would ever use it. The rule is the device's, written again
here because sync and inference may not import each other (the import contract);
``tests/sync/test_pack_models.py`` holds the two to the same verdict.
"""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from collections.abc import Iterator

from sync.species_packs import MANIFEST, SPECIES, PackArchiveError

THRESHOLDS = "thresholds.json"  # the device reads it verified, as it does ``SPECIES``

# Field numbers of onnx.proto's messages, and the protobuf wire types this reads.
_MODEL_IR_VERSION, _MODEL_GRAPH, _MODEL_OPSET_IMPORT = 1, 7, 8
_GRAPH_NODE, _GRAPH_INPUT, _GRAPH_OUTPUT = 1, 11, 12
_NODE_OP_TYPE = 4
_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5

Fields = dict[int, list[int | memoryview]]


class _BrokenModelError(ValueError):
    """Why a file is not a whole ONNX model."""


def check_pack_models(data: bytes) -> None:
    """Refuse (``PackArchiveError``) a pack archive whose manifest names a model that is not a
    whole ONNX model. Call it after ``check_manifest_files``, which checks the names."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            for name in _model_names(archive.read(MANIFEST)):
                if name not in names:
                    raise PackArchiveError(
                        f"{MANIFEST} names the model {name}, which the pack lacks"
                    )
                try:
                    _check_onnx_model(archive.read(name))
                except _BrokenModelError as error:
                    raise PackArchiveError(
                        f"{name} is not a whole ONNX model ({error}): the pack would be refused"
                        " by every device"
                    ) from None
    except (zipfile.BadZipFile, zlib.error, KeyError) as error:
        raise PackArchiveError(f"the pack archive cannot be read: {error}") from None


def _model_names(manifest: bytes) -> list[str]:
    """The models the manifest names, each also listed in its ``files`` (the device's rule)."""
    try:
        body = json.loads(manifest)
        names = sorted({str(name) for name in dict(body.get("models", {})).values()})
        listed = {str(name) for name in dict(body.get("files", {}))}
    except (AttributeError, TypeError, ValueError) as error:
        raise PackArchiveError(f"its {MANIFEST} names no models as kind -> file: {error}") from None
    if not names:
        raise PackArchiveError(
            f'its {MANIFEST} names no models (a "models" entry of kind -> file, such as'
            ' {"fp32": "species_fp32.onnx"}): every device would refuse the pack'
        )
    for name in sorted(listed):
        if "/" in name or "\\" in name or name in (".", ".."):
            raise PackArchiveError(
                f"its {MANIFEST} lists {name}, which is not a plain file name in the pack's"
                " folder: every device would refuse the pack (a file outside itself)"
            )
    for required in (SPECIES, THRESHOLDS):
        if required not in listed:
            raise PackArchiveError(
                f'its {MANIFEST} "files" do not list {required}: every device would refuse the pack'
            )
    for name in names:
        if name not in listed:
            raise PackArchiveError(
                f'its {MANIFEST} names the model {name}, which its "files" do not list with a'
                " sha256: every device would refuse the pack (it lists no verified model)"
            )
    return names


def _check_onnx_model(model: bytes) -> None:
    """Raise ``_BrokenModelError`` unless ``model`` is a whole ``ModelProto`` (see the module)."""
    fields = _message(memoryview(model), "the model")
    if not _number(fields, _MODEL_IR_VERSION, "the model's IR version"):
        raise _BrokenModelError("its IR version is 0")
    _messages(fields, _MODEL_OPSET_IMPORT, "the model's operator set")
    (graph_bytes,) = _messages(fields, _MODEL_GRAPH, "the model's graph", most=1)
    graph = _message(graph_bytes, "its graph")
    _messages(graph, _GRAPH_INPUT, "the graph's inputs")
    _messages(graph, _GRAPH_OUTPUT, "the graph's outputs")
    for index, node in enumerate(_messages(graph, _GRAPH_NODE, "the graph's nodes")):
        (op_type,) = _messages(_message(node, f"node {index}"), _NODE_OP_TYPE,
                               f"node {index}'s operator", most=1)  # fmt: skip
        if not len(op_type):
            raise _BrokenModelError(f"node {index} names no operator")


def _number(fields: Fields, number: int, what: str) -> int:
    values = fields.get(number, [])
    if len(values) != 1 or not isinstance(values[0], int):
        raise _BrokenModelError(f"{what} is missing, or not what ONNX writes there")
    return values[0]


def _messages(fields: Fields, number: int, what: str, most: int | None = None) -> list[memoryview]:
    """The length-delimited values of field ``number``: at least one, at most ``most``."""
    values = [value for value in fields.get(number, []) if isinstance(value, memoryview)]
    if not values or len(values) != len(fields[number]) or len(values) > (most or len(values)):
        raise _BrokenModelError(f"{what} is missing, or not what ONNX writes there")
    return values


def _message(data: memoryview, what: str) -> Fields:
    """The fields of one protobuf message that fills ``data``: number -> values (an int, or
    the bytes of a length-delimited field, not copied)."""
    fields: Fields = {}
    for number, value in _fields(data, what):
        fields.setdefault(number, []).append(value)
    return fields


def _fields(data: memoryview, what: str) -> Iterator[tuple[int, int | memoryview]]:
    position, end = 0, len(data)
    if not end:
        raise _BrokenModelError(f"{what} is empty")
    while position < end:
        key, position = _varint(data, position, what)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _BrokenModelError(f"{what} holds a field numbered 0: not protobuf")
        if wire == _VARINT:
            value, position = _varint(data, position, what)
            yield number, value
            continue
        if wire == _LENGTH:
            size, position = _varint(data, position, what)
        elif wire in (_FIXED64, _FIXED32):
            size = 8 if wire == _FIXED64 else 4
        else:
            raise _BrokenModelError(f"{what} holds wire type {wire}, which ONNX never writes")
        if position + size > end:
            raise _BrokenModelError(f"a field of {what} runs past its end: cut short?")
        yield number, data[position : position + size]
        position += size


def _varint(data: memoryview, position: int, what: str) -> tuple[int, int]:
    value = 0
    for shift in range(0, 70, 7):
        if position >= len(data):
            raise _BrokenModelError(f"{what} ends inside a number: cut short?")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
    raise _BrokenModelError(f"{what} holds a number over ten bytes: not protobuf")
