"""JSON (de)serialisation of the simulator's model objects.

Model classes register with `@model`; their public attributes (names not
starting with "_") are saved, private ones are transient (back references,
callbacks) and rebuilt by the owner after loading. Sets and dicts with
non-string keys are tagged so they round-trip; floats keep infinity
(Python's json writes it as `Infinity`). JSON rather than pickle: the
state file is meant to be read by a human debugging a test.
"""

from __future__ import annotations

import json

_MODELS = {}


def model(cls):
    _MODELS[cls.__name__] = cls
    return cls


def encode(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return {"__set__": sorted((encode(v) for v in value), key=repr)}
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: encode(v) for k, v in value.items()}
        return {"__map__": [[encode(k), encode(v)] for k, v in value.items()]}
    name = type(value).__name__
    if _MODELS.get(name) is type(value):
        fields = {k: encode(v) for k, v in vars(value).items() if not k.startswith("_")}
        fields["__type__"] = name
        return fields
    raise TypeError(f"cannot save a {name}: {value!r}")


def decode(value):
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__set__" in value:
        return {_hashable(decode(v)) for v in value["__set__"]}
    if "__map__" in value:
        return {_hashable(decode(k)): decode(v) for k, v in value["__map__"]}
    if "__type__" in value:
        cls = _MODELS[value["__type__"]]
        obj = cls.__new__(cls)
        for k, v in value.items():
            if k != "__type__":
                setattr(obj, k, decode(v))
        if hasattr(obj, "_init_transient"):
            obj._init_transient()
        return obj
    return {k: decode(v) for k, v in value.items()}


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


def dumps(value) -> str:
    return json.dumps(encode(value), indent=1, sort_keys=False)


def loads(text: str):
    return decode(json.loads(text))
