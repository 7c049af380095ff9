"""Run-scoped staging files (Parquet) that carry stage outputs between processes and Airflow tasks.

Records are the dataclasses of :mod:`newsflow.models`; the Arrow schema is derived from their type hints, so
a file written by one task reads back as the same records in another (datetimes stay UTC-aware). Files are
written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from collections.abc import Sequence
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
    hints = typing.get_type_hints(cls)
    return [pa.field(f.name, arrow_type(hints[f.name])) for f in dataclasses.fields(cls)]


def _to_plain(value: Any, hint: Any) -> Any:
    hint = _strip_optional(hint)
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin is dict or hint is dict:
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if origin in (tuple, list):
        inner = typing.get_args(hint)[0]
        return [_to_plain(v, inner) for v in value]
    if dataclasses.is_dataclass(hint):
        return to_record(value)
    return value


def _from_plain(value: Any, hint: Any) -> Any:
    hint = _strip_optional(hint)
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin is dict or hint is dict:
        return json.loads(value)
    if origin is tuple:
        inner = typing.get_args(hint)[0]
        return tuple(_from_plain(v, inner) for v in value)
    if origin is list:
        inner = typing.get_args(hint)[0]
        return [_from_plain(v, inner) for v in value]
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return from_record(hint, value)
    return value


def to_record(obj: Any) -> dict[str, Any]:
    """A dataclass instance as a dict of Arrow-compatible values."""
    hints = typing.get_type_hints(type(obj))
    return {f.name: _to_plain(getattr(obj, f.name), hints[f.name]) for f in dataclasses.fields(obj)}


def from_record(cls: type[T], record: dict[str, Any]) -> T:
    """Rebuild a dataclass instance from :func:`to_record`'s output."""
    hints = typing.get_type_hints(cls)
    assert dataclasses.is_dataclass(cls)
    return cls(**{f.name: _from_plain(record.get(f.name), hints[f.name]) for f in dataclasses.fields(cls)})


def write_records(path: Path, cls: type[T], records: Sequence[T]) -> Path:
    """Write records atomically as one Parquet file (an empty list writes an empty file with the schema)."""
    table = pa.Table.from_pylist([to_record(r) for r in records], schema=pa.schema(arrow_fields(cls)))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(path)
    return path


def read_records(path: Path, cls: type[T]) -> list[T]:
    """Read a file written by :func:`write_records`."""
    return [from_record(cls, r) for r in pq.read_table(path).to_pylist()]
