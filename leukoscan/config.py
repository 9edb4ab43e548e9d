"""YAML experiment configs loaded into frozen dataclasses.

One small YAML per experiment, no inheritance, no eval. Unknown keys are rejected with a
did-you-mean suggestion; ``key.sub=value`` overrides come from the command line; the
resolved config is written into the run folder.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from leukoscan.errors import ConfigError
from leukoscan.io import atomic_write_text

T = TypeVar("T")


def _check_keys(cls: type, data: dict[str, Any], where: str) -> None:
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"Unknown config key {where}{key!r}.{hint} Valid keys: {', '.join(names)}")


_SCALARS = (str, int, float, bool)


def _type_name(tp: Any) -> str:
    if get_origin(tp) in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if dataclasses.is_dataclass(tp):
        return "a mapping (section)"
    if get_origin(tp) is tuple or tp is tuple:
        return "a list"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp)).replace("NoneType", "null")


def _fits(value: Any, tp: Any) -> bool:
    """Does a YAML value fit the annotated type? (int fits float; YAML scalars fit str)."""
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return True
    if origin in (Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if tp is str:  # YAML reads on/off/yes/1 as bool/int; the field's own check words those
        return isinstance(value, _SCALARS)
    if origin is tuple or tp is tuple:
        if not isinstance(value, list | tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(v, args[0]) for v in value)
        return not args or len(args) == len(value) and all(_fits(v, a) for v, a in zip(value, args, strict=True))
    if origin is dict or tp is dict:
        return isinstance(value, dict)
    return True  # anything else (a dataclass is handled by the caller)


def from_dict(cls: type[T], data: dict[str, Any] | None, where: str = "") -> T:
    """Build dataclass ``cls`` from a (nested) dict, rejecting unknown keys and values of
    the wrong type with a :class:`ConfigError` that names the key."""
    data = dict(data or {})
    _check_keys(cls, data, where)
    hints = get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        ftype = hints[f.name]
        key = f"{where}{f.name}"
        if dataclasses.is_dataclass(ftype):
            if not isinstance(value, dict):
                raise ConfigError(f"config key {key!r}: expected a mapping (section), got {value!r}")
            value = from_dict(ftype, value, where=f"{key}.")
        elif not _fits(value, ftype):
            raise ConfigError(
                f"config key {key!r}: expected {_type_name(ftype)}, got {value!r} ({type(value).__name__})"
            )
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    try:
        return cls(**kwargs)
    except ValueError as e:  # a field's own check (__post_init__): a value the user can fix
        raise ConfigError(str(e)) from e


def to_dict(obj: Any) -> dict[str, Any]:
    """Plain-dict form of a (nested) config dataclass; tuples become lists."""
    out = dataclasses.asdict(obj)

    def fix(v: Any) -> Any:
        if isinstance(v, tuple):
            return [fix(x) for x in v]
        if isinstance(v, dict):
            return {k: fix(x) for k, x in v.items()}
        return v

    return fix(out)


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["train.epochs=5", "model=yolov8s"]`` -> nested dict; values parsed as YAML scalars."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"Override {item!r} is not of the form key=value")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw != "" else ""
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig")) or {}
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text (YAML) file") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(e).split())[:200]}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return data


def check_min(obj: Any, prefix: str = "", **minimums: float) -> None:
    """ConfigError naming the key when a field is below its minimum (``epochs=1, batch=1``).

    Called from a config dataclass's ``__post_init__``, so a flag, an override and a YAML
    value are all checked (``--epochs -1`` is refused, not saved as an untrained run).
    """
    for key, lo in minimums.items():
        v = getattr(obj, key)
        if isinstance(v, int | float) and not isinstance(v, bool) and (v < lo or v != v):
            raise ConfigError(f"{prefix}{key} must be >= {lo:g}, got {v}")


def check_max(obj: Any, prefix: str = "", **maximums: float) -> None:
    """ConfigError naming the key when a field is above its maximum (``imgsz=4096``)."""
    for key, hi in maximums.items():
        v = getattr(obj, key)
        if isinstance(v, int | float) and not isinstance(v, bool) and (v > hi or v != v):
            raise ConfigError(f"{prefix}{key} must be <= {hi:g}, got {v}")


def load_config(cls: type[T], path: str | Path | None, overrides: dict[str, Any] | None = None) -> T:
    """YAML file (optional) + override dict -> frozen dataclass ``cls``."""
    data = load_yaml(path) if path else {}
    if overrides:
        data = deep_merge(data, overrides)
    return from_dict(cls, data)


def save_config(obj: Any, path: str | Path) -> None:
    atomic_write_text(path, yaml.safe_dump(to_dict(obj), sort_keys=False))
