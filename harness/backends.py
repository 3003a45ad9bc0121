"""From a run config's `model:` to a registered backend, checked before any work.

`resolve_model` looks the backend up by name in the plugins' registry, fills its
settings (from the `model:` mapping, then from the top-level run-config keys it takes)
and lets it check the model; `capability_problems` refuses the suites, metrics and
strategies a backend's models cannot serve. Nothing here names a concrete backend.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.config import DEFAULT_BACKEND, ModelSpec, RunConfig, build_settings
from harness.demo import demo_model_path
from harness.errors import InputError, Problem
from harness.models.backend import Backend
from harness.models.base import Capabilities, LanguageModel

if TYPE_CHECKING:
    from harness.metrics import Metric
    from harness.plugin_manager import Plugins
    from harness.suites import Suite


@dataclass(frozen=True)
class ResolvedModel:
    """A model name and the configured backend that loads it."""

    name: str
    backend: Backend
    #: the backend's code identity (package, version, source hash), for cache keys
    code: tuple[tuple[str, str], ...] = ()

    @property
    def capabilities(self) -> Capabilities:
        return self.backend.capabilities_for()

    @property
    def label(self) -> str:
        """How reports name this model."""
        return self.backend.describe(self.name)

    def identity(self) -> dict[str, Any]:
        """What this model's outputs depend on (the backend's identity and its code)."""
        return {**self.backend.identity(self.name), "code": dict(self.code)}

    def spec(self) -> dict[str, Any]:
        """The `model:` mapping that reproduces this model (as written to config.yaml)."""
        from dataclasses import asdict

        return {"backend": self.backend.name, "name": self.name, **asdict(self.backend.settings)}

    def load(self) -> LanguageModel:
        return self.backend.load(self.name)

    def probe(self) -> None:
        """Refuse (exit 2) a model that cannot be found, without loading it."""
        self.backend.probe(self.name)


def resolve_model(
    spec: ModelSpec | str | None,
    config: RunConfig,
    plugins: Plugins,
    source: str,
    where: str = "model",
) -> ResolvedModel:
    """The backend and model a `model:` entry names, its settings validated."""
    if spec is None:
        spec = ModelSpec()
    elif isinstance(spec, str):
        spec = ModelSpec(name=spec)
    cls = plugins.backends.get(spec.backend)
    if cls is None:
        raise InputError.single(
            source,
            f"{where}.backend",
            f"unknown backend {spec.backend!r}",
            f"use one of {plugins.backends.names()} (see `harness plugins`)",
        )
    if spec.name is not None and not spec.name.strip():
        raise InputError.single(
            source, where, "the model name is empty", "give a Hub id or a local folder"
        )
    problems: list[Problem] = []
    values = dict(spec.settings)
    defaults = RunConfig.model_fields
    taken_anywhere = {
        key for entry in plugins.backends.entries() for key in entry.item.run_config_keys
    }
    for key in sorted(taken_anywhere & defaults.keys()):
        value = getattr(config, key)
        if key in cls.run_config_keys:
            values.setdefault(key, value)
        elif value != defaults[key].default and where == "model":
            problems.append(
                Problem(
                    source,
                    key,
                    f"{key!r} is not a setting of backend {spec.backend!r}",
                    f"remove it, or use a backend that takes it ({spec.backend!r} takes "
                    f"{list(cls.run_config_keys) or 'no top-level keys'})",
                )
            )
    try:
        settings = build_settings(cls.settings_class, values, source, where)
    except InputError as e:
        problems += e.problems
    if problems:
        raise InputError(problems)
    backend = cls(settings)
    name = spec.name
    if name is None:
        if spec.backend != DEFAULT_BACKEND:
            raise InputError.single(
                source,
                f"{where}.name",
                f"backend {spec.backend!r} needs the model's name",
                "add `name: MODEL` to the model mapping",
            )
        name = demo_model_path()
    try:
        backend.check(name)
    except InputError as e:
        if where == "model":
            raise
        # a row's own model: its field says which row (`strategies[1].model`)
        raise InputError(
            [dataclasses.replace(p, field=where) if p.field == "model" else p for p in e.problems]
        ) from None
    code = plugins.backends.identity(cls)
    return ResolvedModel(name, backend, tuple(sorted(code.items())))


def capability_problems(
    model: ResolvedModel,
    suites: list[Suite],
    metrics: dict[str, type[Metric]],
    source: str,
    where: str,
    whose: str,
) -> list[Problem]:
    """What `whose` (the run, or a row) asks of `model` that its backend cannot do."""
    can = model.capabilities
    backend = model.backend.name
    problems: list[Problem] = []
    for suite in suites:
        if suite.task in ("classification", "multiple-choice"):
            if not (can.loglikelihood or can.generation):
                problems.append(
                    Problem(
                        source,
                        where,
                        f"{whose} evaluates {suite.task} suite {suite.name!r}, and backend "
                        f"{backend!r} neither scores continuations nor generates text",
                        "use a backend with log-likelihoods or generation",
                    )
                )
        elif not can.generation:
            problems.append(
                Problem(
                    source,
                    where,
                    f"{whose} evaluates generation suite {suite.name!r}, and backend "
                    f"{backend!r} cannot generate text",
                    "use a backend that generates, or remove the suite",
                )
            )
        if can.loglikelihood:
            continue
        for name in suite.spec.metrics:
            metric = metrics.get(name)
            if metric is not None and metric.needs_reference_logprob:
                problems.append(
                    Problem(
                        source,
                        where,
                        f"metric {name!r} of suite {suite.name!r} needs log-probabilities, "
                        f"and backend {backend!r} ({whose}) does not return them",
                        "use a backend with log-likelihoods (for `openai`, a server that "
                        "returns prompt log-probabilities, with `logprobs: true`), or a "
                        "suite without that metric",
                    )
                )
    return problems


def local_weights_reason(model: ResolvedModel, strategy: str) -> str:
    """Why a strategy that needs local weights is skipped on `model`."""
    return (
        f"strategy {strategy!r} needs the model's weights in this process, and backend "
        f"{model.backend.name!r} ({model.label}) has none; run it on a local model "
        "(the `hf` backend)"
    )
