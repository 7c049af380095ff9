"""Run-scoped staging files (Parquet) that carry stage outputs between processes and Airflow tasks.

Records are the dataclasses of :mod:`newsflow.models`; the Arrow schema is derived from their type hints, so
a file written by one task reads back as the same records in another (datetimes stay UTC-aware). Files are
written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import types
import typing
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

T = TypeVar("T")
_UTC = pa.timestamp("us", tz="UTC")


def _strip_optional(hint: Any) -> Any:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0] if len(rest) == 1 else hint
    return hint


def arrow_type(hint: Any) -> pa.DataType:
    """The Arrow type for a (possibly optional) type hint of a record field."""
    hint = _strip_optional(hint)
    origin = typing.get_origin(hint)
    if origin is typing.Literal or hint is str:
        return pa.string()
    if hint is bool:
        return pa.bool_()
    if hint is int:
        return pa.int64()
    if hint is float:
        return pa.float64()
    if hint is bytes:
        return pa.binary()
    if hint is datetime:
        return _UTC
    if origin is dict or hint is dict:
        return pa.string()  # JSON text
    if origin in (tuple, list):
        return pa.list_(arrow_type(typing.get_args(hint)[0]))
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return pa.struct(arrow_fields(hint))
    raise TypeError(f"no Arrow type for {hint!r}")


def arrow_fields(cls: type) -> list[pa.Field]:
    return [pa.field(name, arrow_type(hint)) for name, hint in _fields(cls)]


Convert = Callable[[Any], Any]


@functools.cache
def _fields(cls: type) -> tuple[tuple[str, Any], ...]:
    """(name, type hint) of each field: resolving the hints is the slow part, done once per class."""
    hints = typing.get_type_hints(cls)
    return tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls))


@functools.cache
def _encoder(hint: Any) -> Convert | None:
    """How a (non-None) field value becomes Arrow-compatible; None when it already is."""
    hint = _strip_optional(hint)
    origin = typing.get_origin(hint)
    if origin is dict or hint is dict:
        return lambda v: json.dumps(v, sort_keys=True, ensure_ascii=False)
    if origin in (tuple, list):
        inner = _encoder(typing.get_args(hint)[0])
        return list if inner is None else lambda v: [None if x is None else inner(x) for x in v]
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return to_record
    return None


@functools.cache
def _decoder(hint: Any) -> Convert | None:
    """How a (non-None) value read back becomes the field's value again; None when it already is."""
    hint = _strip_optional(hint)
    origin = typing.get_origin(hint)
    if origin is dict or hint is dict:
        return json.loads
    if origin in (tuple, list):
        inner = _decoder(typing.get_args(hint)[0])
        wrap: Convert = tuple if origin is tuple else list
        return wrap if inner is None else lambda v: wrap(None if x is None else inner(x) for x in v)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return functools.partial(from_record, hint)
    return None


@functools.cache
def _encoders(cls: Any) -> tuple[tuple[str, Convert | None], ...]:
    return tuple((name, _encoder(hint)) for name, hint in _fields(cls))


@functools.cache
def _decoders(cls: Any) -> tuple[tuple[str, Convert | None], ...]:
    return tuple((name, _decoder(hint)) for name, hint in _fields(cls))


def to_record(obj: Any) -> dict[str, Any]:
    """A dataclass instance as a dict of Arrow-compatible values."""
    out = {}
    kind: Any = type(obj)  # a class, hashable (mypy cannot tell)
    for name, encode in _encoders(kind):
        value = getattr(obj, name)
        out[name] = value if encode is None or value is None else encode(value)
    return out


def from_record(cls: type[T], record: dict[str, Any]) -> T:
    """Rebuild a dataclass instance from :func:`to_record`'s output."""
    kind: Any = cls
    values = {}
    for name, decode in _decoders(kind):
        value = record.get(name)
        values[name] = value if decode is None or value is None else decode(value)
    return cls(**values)


@functools.cache
def _schema(cls: Any) -> pa.Schema:
    return pa.schema(arrow_fields(cls))


def write_records(path: Path, cls: type[T], records: Sequence[T]) -> Path:
    """Write records atomically as one Parquet file (an empty list writes an empty file with the schema)."""
    kind: Any = cls
    table = pa.Table.from_pylist([to_record(r) for r in records], schema=_schema(kind))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(path)
    return path


def read_records(path: Path, cls: type[T]) -> list[T]:
    """Read a file written by :func:`write_records`."""
    return [from_record(cls, r) for r in pq.read_table(path).to_pylist()]
