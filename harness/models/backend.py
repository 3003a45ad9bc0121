"""The backend contract: a named, registered way to load a model by name.

A run config's `model:` is a name or path (the `hf` backend) or a mapping
`{backend: NAME, name: MODEL, ...settings}`. The backend's `settings_class` (a
dataclass, like a strategy's) is filled from those settings and validated when the run
is planned; `load` turns the model name into a `LanguageModel` when the run needs it.
Backends are added by plugins through `harness_register_backends`; the core only ever
looks them up by name.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from harness.models.base import Capabilities, LanguageModel


@dataclasses.dataclass(frozen=True)
class NoBackendSettings:
    """A backend without settings."""


class Backend(ABC):
    """Base class of model backends. Register subclasses through `harness_register_backends`.

    Subclasses set `name`, `capabilities` and `settings_class`, and implement `load`.
    Import heavy libraries inside `load`, so that listing plugins stays instant.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    settings_class: ClassVar[type] = NoBackendSettings
    #: what models of this backend can do (override `capabilities_for` when it depends
    #: on the settings)
    capabilities: ClassVar[Capabilities] = Capabilities()
    #: top-level run-config keys (`device`, `dtype`, ...) that fill the settings of the
    #: same name when the `model:` mapping does not give them; a run config that sets one
    #: of them for a backend that does not take it is refused
    run_config_keys: ClassVar[tuple[str, ...]] = ()
    #: settings that change nothing in a model's outputs (batch size, concurrency,
    #: credentials, prices): left out of cache keys
    not_in_identity: ClassVar[tuple[str, ...]] = ()

    def __init__(self, settings: Any = None) -> None:
        self.settings = settings if settings is not None else self.settings_class()

    def capabilities_for(self) -> Capabilities:
        """The capabilities of this backend with its settings."""
        return self.capabilities

    def check(self, model: str) -> None:  # noqa: B027 - optional, nothing to check by default
        """Refuse a model this backend cannot load, before any work (raise `InputError`).

        Called when the run is planned; read file headers at most, load nothing.
        """

    def probe(self, model: str) -> None:  # noqa: B027 - optional, nothing to probe by default
        """Confirm that `model` can be found, without loading its weights (raise
        `InputError` when not).

        Called in the driver before work units run in other processes (the Ray
        executor, which loads models in its workers), so that a model that cannot be
        found exits 2 before anything is written, as it does when the driver loads it.
        """

    def identity(self, model: str) -> dict[str, Any]:
        """What a model's outputs depend on, for cache keys: the backend, the model, the
        settings except `not_in_identity`. Backends add content hashes where a name says
        too little (a local folder's files)."""
        settings = {
            f.name: getattr(self.settings, f.name)
            for f in dataclasses.fields(self.settings)
            if f.name not in self.not_in_identity
        }
        return {"backend": self.name, "model": model, "settings": settings}

    def describe(self, model: str) -> str:
        """How reports name a model of this backend."""
        return f"{self.name}:{model}"

    @abstractmethod
    def load(self, model: str) -> LanguageModel:
        """Load `model` (a name, path or served model id) and return it ready to use."""
