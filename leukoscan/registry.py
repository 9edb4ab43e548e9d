"""Name registries for detectors and classifiers (after torchvision ``_api.py``)."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any


class Registry:
    """A name -> builder mapping.

    ``@reg.register("name")`` adds a builder; ``reg.build(name, **kw)`` calls it with
    keyword-only arguments. A duplicate name raises; an unknown name raises ValueError
    listing what exists.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._builders: dict[str, Callable[..., Any]] = {}

    def register(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._builders:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._builders[name] = fn
            return fn

        return deco

    def add(self, name: str, fn: Callable[..., Any]) -> None:
        self.register(name)(fn)

    def get(self, name: str) -> Callable[..., Any]:
        if name not in self._builders:
            close = difflib.get_close_matches(name, self._builders, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"Unknown {self.kind} {name!r}.{hint} Valid names: {', '.join(self.list_names())}"
            )
        return self._builders[name]

    def build(self, name: str, **kwargs: Any) -> Any:
        return self.get(name)(**kwargs)

    def list_names(self) -> list[str]:
        return sorted(self._builders)

    def __contains__(self, name: object) -> bool:
        return name in self._builders
