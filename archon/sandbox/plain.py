"""Plain data: the values that may cross from a program under test to its judge.

:func:`encode` turns a value built only of exact built-in types (``None``, ``bool``, ``int``, ``float``,
``complex``, ``str``, ``bytes``, ``list``, ``tuple``, ``set``, ``frozenset``, ``dict``) into JSON, each
container tagged with its type so that tuples, sets and floats (``nan``, ``-0.0``) come back as they
were; :func:`decode` is its strict inverse. Anything else (a subclass, an object with its own
``__eq__``) raises :class:`NotPlain`. This file runs as it is inside sandboxed programs too, so it
imports nothing but the standard library.
"""

import json
from typing import Any

MAX_DEPTH = 100


class NotPlain(ValueError):
    """A value that is not plain data, or JSON that is not an encoded value."""


def encode(value: Any, _depth: int = 0) -> Any:
    if _depth > MAX_DEPTH:
        raise NotPlain("nested too deeply")
    t = type(value)
    if value is None or t is bool or t is str:
        return value
    if t is int:
        return {"i": str(value)} if abs(value) > 2**53 else value
    if t is float:
        return {"f": repr(value)}
    if t is complex:
        return {"c": [repr(value.real), repr(value.imag)]}
    if t is bytes:
        return {"b": value.hex()}
    if t is list or t is tuple:
        return {"l" if t is list else "t": [encode(v, _depth + 1) for v in value]}
    if t is set or t is frozenset:
        # In a fixed order: string hashes, hence set order, differ from one process to the next.
        items = sorted((encode(v, _depth + 1) for v in value), key=lambda e: json.dumps(e, sort_keys=True))
        return {"s" if t is set else "fs": items}
    if t is dict:
        return {"d": [[encode(k, _depth + 1), encode(v, _depth + 1)] for k, v in value.items()]}
    raise NotPlain(f"not plain data: {t.__module__}.{t.__qualname__}")


def _float(text: object) -> float:
    if type(text) is not str:
        raise NotPlain("a float must be its repr")
    try:
        return float(text)
    except ValueError:
        raise NotPlain(f"not a float: {text[:40]!r}") from None


def decode(obj: Any, _depth: int = 0) -> Any:
    if _depth > MAX_DEPTH:
        raise NotPlain("nested too deeply")
    t = type(obj)
    if obj is None or t is bool or t is str or t is int:
        return obj
    if t is not dict or len(obj) != 1:
        raise NotPlain("not an encoded value")
    ((tag, v),) = obj.items()
    items = v if type(v) is list else None
    if tag == "i" and type(v) is str and v.lstrip("-").isdigit():
        return int(v)
    if tag == "f":
        return _float(v)
    if tag == "c" and items is not None and len(items) == 2:
        return complex(_float(items[0]), _float(items[1]))
    if tag == "b" and type(v) is str:
        try:
            return bytes.fromhex(v)
        except ValueError:
            raise NotPlain("bad bytes") from None
    if items is not None:
        if tag in ("l", "t", "s", "fs"):
            values = [decode(x, _depth + 1) for x in items]
            try:
                return {"l": list, "t": tuple, "s": set, "fs": frozenset}[tag](values)
            except TypeError:  # an unhashable member of a set
                raise NotPlain("bad set") from None
        if tag == "d" and all(type(p) is list and len(p) == 2 for p in items):
            try:
                return {decode(k, _depth + 1): decode(x, _depth + 1) for k, x in items}
            except TypeError:
                raise NotPlain("bad dict key") from None
    raise NotPlain("not an encoded value")
