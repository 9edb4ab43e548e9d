"""Name registries for detectors, classifiers and dataset converters (after torchvision
``_api.py`` and timm ``_registry.py``).

An entry knows how to build its model, how to load a saved one, and what kind it is
(``"yolo"``, ``"frcnn"``, ``"torch"``, ``"sklearn"``...), so callers never guess a kind
from a name and never chain ``if kind == ...`` to load.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from leukoscan.errors import ConfigError


@dataclass(frozen=True)
class Entry:
    """One registered name: ``build(**kw)``, ``load(...)`` (None: cannot load), ``kind``."""

    name: str
    build: Callable[..., Any]
    load: Callable[..., Any] | None = None
    kind: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


class Registry:
    """A name -> :class:`Entry` mapping.

    ``@reg.register("name", kind=..., load=...)`` adds a builder; ``reg.build(name, **kw)``
    calls it with keyword-only arguments; ``reg.load(name, ...)`` calls the entry's loader.
    A duplicate name raises; an unknown name raises :class:`~leukoscan.errors.ConfigError`
    (a ``ValueError``) listing what exists.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(
        self, name: str, *, kind: str = "", load: Callable[..., Any] | None = None, **meta: Any
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = Entry(name, fn, load, kind, meta)
            return fn

        return deco

    def add(
        self, name: str, fn: Callable[..., Any], *, kind: str = "", load: Callable[..., Any] | None = None, **meta: Any
    ) -> None:
        self.register(name, kind=kind, load=load, **meta)(fn)

    def entry(self, name: str) -> Entry:
        if name not in self._entries:
            close = difflib.get_close_matches(str(name), self._entries, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"Unknown {self.kind} {name!r}.{hint} Valid names: {', '.join(self.list_names())}")
        return self._entries[name]

    def get(self, name: str) -> Callable[..., Any]:
        """The builder of ``name`` (what was registered)."""
        return self.entry(name).build

    def build(self, name: str, **kwargs: Any) -> Any:
        return self.entry(name).build(**kwargs)

    def load(self, name: str, *args: Any, **kwargs: Any) -> Any:
        e = self.entry(name)
        if e.load is None:
            raise ConfigError(f"{self.kind} {name!r} has no loader")
        return e.load(*args, **kwargs)

    def kind_of(self, name: str) -> str:
        return self.entry(name).kind

    def entries(self) -> list[Entry]:
        return [self._entries[n] for n in self.list_names()]

    def list_names(self, kind: str | None = None) -> list[str]:
        return sorted(n for n, e in self._entries.items() if kind is None or e.kind == kind)

    def __contains__(self, name: object) -> bool:
        return name in self._entries
