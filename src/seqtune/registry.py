"""A name → factory registry, used by steps/, tasks/ and lm/.

Modules register themselves at import time; `Registry.get` imports the package's modules on first use so
that registering needs no central list (adding a step = adding one file).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Generic, TypeVar

from seqtune.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, package: str):
        self.kind = kind
        self.package = package
        self._factories: dict[str, Callable[..., T]] = {}
        self._loaded = False

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories and self._factories[name] is not factory:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._factories[name] = factory
            return factory

        return decorator

    def _load_all(self) -> None:
        if self._loaded:
            return
        package = importlib.import_module(self.package)
        for module in pkgutil.iter_modules(package.__path__):
            if not module.name.startswith("_"):
                importlib.import_module(f"{self.package}.{module.name}")
        self._loaded = True

    def names(self) -> list[str]:
        self._load_all()
        return sorted(self._factories)

    def get(self, name: str) -> Callable[..., T]:
        self._load_all()
        try:
            return self._factories[name]
        except KeyError:
            raise ConfigError(f"unknown {self.kind} '{name}'; known: {', '.join(self.names())}") from None
