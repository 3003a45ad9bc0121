"""One run, end to end.

    run config -> plan (strategies × suites) -> for each strategy: adapt -> predictor
    -> predictions on every suite (target and forgetting) -> metrics with CIs and paired
    differences to zero-shot -> results.json -> reporters

Each arrow is one call below. Lifecycle hooks fire at each step. A strategy that raises
or runs past its timeout fails its own cells, never the run; a metric that raises fails
alone, and so does a reporter; everything is written into a staged folder that is
renamed into place only when the run completes.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from harness import __version__
from harness.analysis import Replicate, compare_cells
from harness.backends import (
    ResolvedModel,
    capability_problems,
    resolve_model,
)
from harness.cache import Cache, content_key, default_cache_dir, library_versions
from harness.config import RunConfig, StrategyEntry, SuiteEntry, build_settings
from harness.errors import InputError, Problem
from harness.evaluate import estimate
from harness.events import CellFinished, RunFinished, RunStarted
from harness.executors import (
    CellRun,
    Executor,
    RunSettings,
    UnitContext,
    UnitResult,
    WorkUnit,
    make_executor,
)
from harness.executors.unit import warm_up
from harness.manifest import build_manifest
from harness.metrics import Metric
from harness.models.base import LanguageModel
from harness.plugin_manager import Plugins
from harness.progress import RunProgress
from harness.reporting.base import ReportContext
from harness.results import (
    Cell,
    Cost,
    Delta,
    MetricValue,
    PredictionRecord,
    RunResults,
    SuiteInfo,
    read_predictions,
    write_json,
    write_predictions,
)
from harness.run_folder import RunFolder
from harness.strategy import Strategy
from harness.suites import Suite, load_suite, metric_problem, with_metrics
from harness.sweeps import plan_points, point_problem

BASELINE = "zero-shot"


# -- plan ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedStrategy:
    """A row of the matrix: one strategy, or a chain of them (`lora+rag`)."""

    row: str
    chain: tuple[Strategy, ...]
    #: the target suites this row adapts to (all of the run's, or one for per-target rows)
    targets: tuple[Suite, ...] = ()
    #: seconds for adapting the row and for evaluating each of its cells (None: no limit)
    adapt_timeout: float | None = None
    cell_timeout: float | None = None
    #: the seeds the row is adapted with: one per replicate for a seed-dependent chain
    seeds: tuple[int, ...] = (0,)
    #: whether any link's result depends on the seed (training, sampled demonstrations)
    seed_dependent: bool = False
    #: the row's own model (`model:` in its entry); None: the run's base model
    model: ResolvedModel | None = None

    @property
    def replicated(self) -> bool:
        """Whether the row is adapted and evaluated with more than one seed."""
        return len(self.seeds) > 1

    def evaluates(self, suite: Suite) -> bool:
        """Rows are evaluated on their own targets and on every forgetting suite."""
        return suite.role == "forgetting" or suite in self.targets


@dataclass(frozen=True)
class Plan:
    """What a run will do, fully validated before any work starts."""

    config: RunConfig
    model: str
    strategies: tuple[PlannedStrategy, ...]
    suites: tuple[Suite, ...]
    metrics: dict[str, Metric]
    #: the base model with its backend (None only for plans built by hand: `model` on hf)
    base: ResolvedModel | None = None

    @property
    def targets(self) -> tuple[Suite, ...]:
        return tuple(s for s in self.suites if s.role == "target")

    @property
    def forgetting(self) -> tuple[Suite, ...]:
        return tuple(s for s in self.suites if s.role == "forgetting")


def resolve_suite(
    ref: str, plugins: Plugins, metrics: dict[str, type[Metric]], source: str = "run config"
) -> Suite:
    """A suite by registered name, or by the path of its suite.yaml (or its folder)."""
    path = plugins.suites.get(ref)
    if path is None:
        candidate = Path(ref)
        if candidate.is_dir():
            candidate = candidate / "suite.yaml"
        if not candidate.is_file():
            raise InputError.single(
                source,
                "suites",
                f"no suite named {ref!r} and no such suite file",
                f"use a path to a suite.yaml or one of: {', '.join(plugins.suites.names())}",
            )
        path = candidate
    return load_suite(path, metrics)


def make_plan(config: RunConfig, plugins: Plugins, source: str = "run config") -> Plan:
    """Resolve names to plugins and suites; every problem is reported at once."""
    problems: list[Problem] = []
    metric_classes = plugins.metrics.as_dict()
    suite_refs = config.suites or [
        SuiteEntry(name=name) for name in plugins.suites.names() if name.startswith("demo-")
    ]
    if not suite_refs:
        problems.append(
            Problem(source, "suites", "no suites to run", "list suites in the config or --suites")
        )
    suites: list[Suite] = []
    for i, ref in enumerate(suite_refs):
        try:
            suite = resolve_suite(ref.name, plugins, metric_classes, source)
        except InputError as e:
            problems.extend(e.problems)
            continue
        suite, entry_problems = _suite_metrics(suite, ref, metric_classes, source, f"suites[{i}]")
        problems += entry_problems
        suites.append(suite)
    names = [s.name for s in suites]
    for dup in {n for n in names if names.count(n) > 1}:
        problems.append(Problem(source, "suites", f"suite {dup!r} listed twice", "list it once"))
    listed = config.decision.quality_suites if config.decision else None
    if listed and len(suites) == len(suite_refs):  # (a suite that did not load is reported)
        for i, name in enumerate(listed):
            if name not in names:
                problems.append(
                    Problem(
                        source,
                        f"decision.quality_suites[{i}]",
                        f"suite {name!r} is not in the run",
                        f"use one of the run's suites: {names}",
                    )
                )

    strategies: list[PlannedStrategy] = []
    rows: set[str] = set()
    for i, (entry, point) in plan_points(config.strategies, source, problems):
        where = f"strategies[{i}]"
        try:
            planned = _plan_strategy(entry, plugins, source, where)
            if entry.model is not None:
                own = resolve_model(entry.model, config, plugins, source, f"{where}.model")
                planned = replace(planned, model=own)
        except InputError as e:
            for problem in e.problems:
                problem = point_problem(problem, point, where)
                if problem not in problems:  # a fixed setting's problem, once per entry
                    problems.append(problem)
            continue
        adapt_timeout, cell_timeout = entry.timeouts(config.adapt_timeout, config.cell_timeout)
        seed_dependent = any(link.depends_on_seed() for link in planned.chain)
        replicates = config.replicates if seed_dependent else 1
        problems += _fixed_seed_problems(planned, replicates, source, where)
        strategies.append(
            replace(
                planned,
                adapt_timeout=adapt_timeout,
                cell_timeout=cell_timeout,
                seeds=tuple(config.seed + r for r in range(replicates)),
                seed_dependent=seed_dependent,
            )
        )
        if entry.row in rows:
            problems.append(
                Problem(source, where, f"row {entry.row!r} appears twice", "give one a `label`")
            )
        rows.add(entry.row)
    for i, name in enumerate(config.reporters):
        if name not in plugins.reporters:
            problems.append(
                Problem(
                    source,
                    f"reporters[{i}]",
                    f"unknown reporter {name!r}",
                    f"use one of {plugins.reporters.names()}",
                )
            )
    problems += _tracking_problems(config, plugins, source)
    if not config.strategies:
        problems.append(Problem(source, "strategies", "no strategies to run", "list strategies"))
    base: ResolvedModel | None = None
    try:
        # a local folder is checked now (headers only), so a broken one fails before a
        # run folder or a cache entry is written; hub ids are resolved when loading
        base = resolve_model(config.model, config, plugins, source)
    except InputError as e:
        problems.extend(e.problems)
    model = base.name if base else ""
    problems += _backend_problems(base, strategies, config, suites, plugins, source)
    problems += _train_split_problems(strategies, suites, source)
    if problems:
        raise InputError(problems)
    needed = {m for s in suites for m in s.spec.metrics}
    metrics = {name: metric_classes[name]() for name in sorted(needed)}
    targets = tuple(s for s in suites if s.role == "target")
    expanded: list[PlannedStrategy] = []
    for planned in strategies:
        per_target = any(link.scope == "per-target" for link in planned.chain)
        if per_target and len(targets) > 1:
            expanded += [
                replace(planned, row=f"{planned.row}@{t.name}", targets=(t,)) for t in targets
            ]
        else:
            expanded.append(replace(planned, targets=targets))
    return Plan(config, model, tuple(expanded), tuple(suites), metrics, base)


def _tracking_problems(config: RunConfig, plugins: Plugins, source: str) -> list[Problem]:
    """The `tracking:` sections: each names a reporter that takes settings, and fits them."""
    problems: list[Problem] = []
    takes = [n for n in plugins.reporters.names() if plugins.reporters[n].settings is not None]
    for name, section in config.tracking.items():
        schema = plugins.reporters[name].settings if name in plugins.reporters else None
        if schema is None:
            problems.append(
                Problem(
                    source,
                    f"tracking.{name}",
                    f"no reporter {name!r} takes tracking settings",
                    f"use one of {takes}, or check the spelling",
                )
            )
            continue
        try:
            schema.model_validate(section)
        except ValidationError as e:
            for err in e.errors():
                field = ".".join(("tracking", name, *(str(p) for p in err["loc"])))
                message = (
                    f"unknown setting {str(err['loc'][-1])!r}"
                    if err["type"] == "extra_forbidden"
                    else err["msg"]
                )
                fix = f"check the {name} reporter's settings (docs/tracking.md)"
                problems.append(Problem(source, field, message, fix))
    return problems


def _backend_problems(
    base: ResolvedModel | None,
    strategies: list[PlannedStrategy],
    config: RunConfig,
    suites: list[Suite],
    plugins: Plugins,
    source: str,
) -> list[Problem]:
    """What the run's and each row's backend cannot do for the suites they evaluate."""
    metrics = plugins.metrics.as_dict()
    problems: list[Problem] = []
    if base is not None:
        problems += capability_problems(base, suites, metrics, source, "model", "the run")
    for i, planned in enumerate(strategies):
        if planned.model is not None:
            evaluated = [s for s in suites if s.role == "forgetting" or s.role == "target"]
            problems += capability_problems(
                planned.model,
                evaluated,
                metrics,
                source,
                f"strategies[{i}].model",
                f"row {planned.row!r}",
            )
    return problems


def _suite_metrics(
    suite: Suite,
    entry: SuiteEntry,
    known: dict[str, type[Metric]],
    source: str,
    where: str,
) -> tuple[Suite, list[Problem]]:
    """The suite with the run config's metrics for it, and what is wrong with them."""
    if entry.metrics is None and entry.primary_metric is None:
        return suite, []
    metrics, primary = entry.resolve_metrics(suite.spec.metrics, suite.spec.primary_metric)
    problems = [
        Problem(source, f"{where}.metrics", f"{problem[0]} (suite {suite.name!r})", problem[1])
        for name in metrics
        if (problem := metric_problem(suite.spec, name, known)) is not None
    ]
    # removing a metric the suite does not have is a typo, not a no-op
    problems += [
        Problem(
            source,
            f"{where}.metrics",
            f"-{edit[1:].strip()}: suite {suite.name!r} has no metric {edit[1:].strip()!r}",
            f"remove one of its metrics {list(suite.spec.metrics)}",
        )
        for edit in entry.metrics or ()
        if edit[:1] == "-" and edit[1:].strip() not in suite.spec.metrics
    ]
    if not metrics:
        problems.append(
            Problem(source, f"{where}.metrics", "no metric left", "keep at least one metric")
        )
    elif primary not in metrics:
        field = f"{where}.primary_metric" if entry.primary_metric else f"{where}.metrics"
        problems.append(
            Problem(
                source,
                field,
                f"the primary metric {primary!r} of {suite.name!r} is not among its metrics",
                f"keep it, or set `primary_metric` to one of {metrics}",
            )
        )
    return with_metrics(suite, metrics, primary), problems


def _fixed_seed_problems(
    planned: PlannedStrategy, replicates: int, source: str, where: str
) -> list[Problem]:
    """A link whose own `seed` setting is set would repeat one training per replicate."""
    if replicates < 2:
        return []
    return [
        Problem(
            source,
            f"{where}.seed",
            f"{link.name!r} sets its own seed, so its {replicates} replicates would all "
            "train with that one seed",
            "remove the strategy's `seed` setting (replicate r uses the run's seed + r), "
            "or set replicates: 1",
        )
        for link in planned.chain
        if getattr(link.settings, "seed", None) is not None
    ]


def _train_split_problems(
    strategies: list[PlannedStrategy], suites: list[Suite], source: str
) -> list[Problem]:
    """A problem for each suite a row needs train examples of (`Strategy.needs_train_split`)."""
    problems: list[Problem] = []
    for planned in strategies:
        for link in planned.chain:
            if link.needs_train_split == "targets":
                needing = [s for s in suites if s.role == "target"]
            elif link.needs_train_split == "evaluated":
                needing = suites
            else:
                continue
            for suite in needing:
                if not suite.train:
                    problems.append(
                        Problem(
                            str(suite.path),
                            "splits.train",
                            f"strategy {link.name!r} (row {planned.row!r}) needs train "
                            f"examples, and suite {suite.name!r} has no train split",
                            f"add a train split to the suite, or remove {planned.row!r} "
                            f"from the strategies of {source}",
                        )
                    )
    return problems


def _plan_strategy(
    entry: StrategyEntry, plugins: Plugins, source: str, where: str
) -> PlannedStrategy:
    chain = entry.chain
    links: list[Strategy] = []
    for name in chain:
        cls = plugins.strategies.get(name)
        if cls is None:
            raise InputError.single(
                source,
                f"{where}.name",
                f"unknown strategy {name!r}",
                f"use one of {plugins.strategies.names()} (see `harness plugins`)",
            )
        # a chain takes per-link settings keyed by link name; a single strategy, flat ones
        values = entry.settings.get(name, {}) if len(chain) > 1 else entry.settings
        if not isinstance(values, dict):
            raise InputError.single(
                source, f"{where}.{name}", "settings must be a mapping", "write `key: value` pairs"
            )
        field = f"{where}.{name}" if len(chain) > 1 else where
        links.append(cls(build_settings(cls.settings_class, values, source, field)))
    return PlannedStrategy(entry.row, tuple(links))


# -- run -----------------------------------------------------------------------------


@dataclass
class RunOutcome:
    """What the CLI needs: the results, where they are, and the exit code."""

    results: RunResults
    run_dir: Path
    exit_code: int
    hook_errors: list[str] = field(default_factory=list)


def new_run_id(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


class Runner:
    """Executes a plan. Construct, then `run()`.

    `run()` is the whole flow: the plan's work units (`make_units`), run by the executor
    (`harness.executors`, local by default), each row assembled into cells as its units
    come back (`_finish_row`), then deltas, results.json and the reporters.
    """

    def __init__(
        self,
        plan: Plan,
        plugins: Plugins,
        *,
        console: Console | None = None,
        out_dir: Path | None = None,
        run_id: str | None = None,
        model_loader: Callable[[], LanguageModel] | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.plan = plan
        self.plugins = plugins
        self.console = console or Console(stderr=True)
        self.run_id = run_id or new_run_id()
        config_out = plan.config.out
        self.out_dir = Path(out_dir or config_out or Path("reports") / self.run_id)
        self._model: LanguageModel | None = None
        self._model_loader = model_loader or self._load_base_model
        #: models of rows that name their own (`model:` in a strategy entry), by label
        self._row_models: dict[str, LanguageModel] = {}
        config = plan.config
        # a Ray executor without Ray installed fails here: exit 2, nothing written
        self.executor = executor or make_executor(config.executor)
        self.cache = Cache(
            Path(config.cache_dir) if config.cache_dir else default_cache_dir(),
            enabled=config.cache,
            on_note=lambda note: self.console.print(f"[yellow]{note}[/yellow]", highlight=False),
        )
        # the backend's identity: for local folders their files' hash, else the name,
        # with the settings that change outputs and the backend's code
        self._model_key = content_key("model", self._base.identity())
        #: the verified predictions entry of each cached (row, suite, seed)
        self._cached: dict[tuple[str, str, int], Path] = {}
        #: each row's unit results so far, by seed
        self._unit_results: dict[str, dict[int, UnitResult]] = {}
        #: each finished row's cells and predictions.jsonl lines
        self._row_cells: dict[str, list[Cell]] = {}
        self._row_records: dict[str, list[PredictionRecord]] = {}
        #: each evaluated cell's replicates, for the paired deltas
        self._outputs: dict[tuple[str, str], list[CellRun]] = {}
        #: one line per reporter that raised
        self._report_errors: list[str] = []
        #: the progress display while units run
        self._display: RunProgress | None = None

    # the base model is loaded once per run and shared by every strategy
    def base_model(self) -> LanguageModel:
        if self._model is None:
            with self.console.status(f"Loading model {self.plan.model}"):
                self._model = self._model_loader()
                self._warm_up(self._model)
        return self._model

    @property
    def _base(self) -> ResolvedModel:
        """The base model's backend; a hand-built plan without one means the default."""
        if self.plan.base is not None:
            return self.plan.base
        return resolve_model(self.plan.model, self.plan.config, self.plugins, "plan")

    def _load_base_model(self) -> LanguageModel:
        return self._base.load()

    @staticmethod
    def _warm_up(model: LanguageModel) -> None:
        warm_up(model)

    def row_model(self, strategy: PlannedStrategy) -> LanguageModel:
        """The model a row runs on: its own (loaded once per run) or the base model."""
        own = strategy.model
        if own is None:
            return self.base_model()
        if own.label not in self._row_models:
            with self.console.status(f"Loading model {own.label}"):
                model = own.load()
                self._warm_up(model)
            self._row_models[own.label] = model
        return self._row_models[own.label]

    def run(self) -> RunOutcome:
        plan = self.plan
        # a folder harness may not write, or one another run writes: exit 2 before any work
        staged = RunFolder.claim(self.out_dir, self.cache.root)
        try:
            units = self.make_units(staged.path)
            if any(u.to_compute for u in units):
                # a bad --model fails here: exit 2, nothing written
                if self.executor.loads_model_in_driver:
                    self.base_model()
                else:  # loaded in the workers: found here first
                    for model in self._models_to_compute(units):
                        model.probe()
            started = dt.datetime.now(dt.timezone.utc)
            self._write_config(staged.path)
            self.plugins.notify(
                "harness_run_start",
                RunStarted(
                    self.run_id,
                    self.out_dir,
                    plan.model,
                    tuple(s.row for s in plan.strategies),
                    tuple(s.name for s in plan.suites),
                ),
            )
            with RunProgress(self.console, units) as progress:
                self._display = progress
                context = UnitContext(
                    self.base_model,
                    self.cache,
                    self.plugins.notify,
                    progress,
                    row_model=self.row_model,
                )
                self.executor.execute(units, context, self._on_result, self.console)
            # plan order, whatever order the executor finished the rows in
            cells = [c for s in plan.strategies for c in self._row_cells[s.row]]
            records = [r for s in plan.strategies for r in self._row_records[s.row]]
            self._add_deltas(cells)
            results = RunResults(
                run_id=self.run_id,
                harness_version=__version__,
                model=self._base.label,
                seed=plan.config.seed,
                suites=[self._suite_info(s) for s in plan.suites],
                cells=cells,
                started_at=started.isoformat(timespec="seconds"),
                finished_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            )
            self._write_results(staged.path, results, records)
            _remove_empty_dirs(staged.path / "artifacts")
            self._report(results, staged.path, staged.final)
            run_dir = staged.commit()
        except BaseException:
            staged.discard()
            raise
        self.plugins.notify("harness_run_end", RunFinished(self.run_id, run_dir, results))
        failed = (
            any(c.status == "failed" or c.metric_errors for c in results.cells)
            or self.plugins.hook_errors
            or self._report_errors
        )
        return RunOutcome(
            results, run_dir, 1 if failed else 0, [str(e) for e in self.plugins.hook_errors]
        )

    def _models_to_compute(self, units: list[WorkUnit]) -> list[ResolvedModel]:
        """The models that units with cells to compute run on, each once."""
        models = {
            (u.row.model or self._base).label: u.row.model or self._base
            for u in units
            if u.to_compute
        }
        return list(models.values())

    # -- units ---------------------------------------------------------------------------

    def make_units(self, run_dir: Path) -> list[WorkUnit]:
        """One unit per row and seed, in plan order, with the cells already cached."""
        plan, config = self.plan, self.plan.config
        settings = RunSettings(
            run_id=self.run_id,
            model=plan.model,
            base=self._base,
            config=config,
            metrics=plan.metrics,
            forgetting=plan.forgetting,
            run_dir=run_dir,
            cache_root=self.cache.root,
            cache_enabled=self.cache.enabled,
        )
        units = []
        for row in plan.strategies:
            evaluated = tuple(s for s in plan.suites if row.evaluates(s))
            for seed in row.seeds:
                for suite in evaluated:
                    if folder := self._cached_cell(row, suite, seed):
                        self._cached[(row.row, suite.name, seed)] = folder
                cached = frozenset(
                    s.name for s in evaluated if (row.row, s.name, seed) in self._cached
                )
                units.append(
                    WorkUnit(
                        row=row,
                        seed=seed,
                        suites=evaluated,
                        cached=cached,
                        adapt_keys=tuple(
                            self._adapt_key(row, i, seed) for i in range(1, len(row.chain) + 1)
                        ),
                        cell_keys={
                            s.name: self._cell_key(row, s, seed)
                            for s in evaluated
                            if s.name not in cached
                        },
                        run=settings,
                    )
                )
        return units

    def _on_result(self, unit: WorkUnit, result: UnitResult) -> None:
        """Keep a unit's result; when a row has all of its seeds, assemble its cells."""
        if self._display is not None:
            self._display.finished(unit, result)
        row = unit.row
        done = self._unit_results.setdefault(row.row, {})
        done[unit.seed] = result
        if len(done) == len(row.seeds):
            self._finish_row(row, done)

    def _finish_row(self, row: PlannedStrategy, results: dict[int, UnitResult]) -> None:
        """A row's cells from its replicates (computed, or read from the cache)."""
        records: list[PredictionRecord] = []
        cells: list[Cell] = []
        not_applicable = next(
            (r.not_applicable for r in results.values() if r.not_applicable is not None), None
        )
        for suite in self.plan.suites:
            if not_applicable is not None:
                cells.append(self._skipped(row, suite, not_applicable))
            elif not row.evaluates(suite):
                cells.append(self._skipped(row, suite))
            else:
                runs = [
                    self._from_cache(suite, seed, cached)
                    if (cached := self._cached.get((row.row, suite.name, seed)))
                    else results[seed].runs[suite.name]
                    for seed in row.seeds
                ]
                cell = self._assemble(row, suite, runs, records)
                self.plugins.notify("harness_cell_end", CellFinished(self.run_id, cell))
                cells.append(cell)
        self._row_cells[row.row] = cells
        self._row_records[row.row] = records

    def _skipped(self, strategy: PlannedStrategy, suite: Suite, reason: str = "") -> Cell:
        targets = ", ".join(t.name for t in strategy.targets)
        cell = Cell(
            strategy=strategy.row,
            suite=suite.name,
            model=(strategy.model or self._base).label,
            status="skipped",
            error=reason or f"adapted to {targets} only",
        )
        self.plugins.notify("harness_cell_end", CellFinished(self.run_id, cell))
        return cell

    # -- cache ---------------------------------------------------------------------------

    def _adapt_key(self, strategy: PlannedStrategy, links: int, seed: int) -> str:
        """What the first `links` links of a row's chain depend on, their code included."""
        model_key = (
            content_key("model", strategy.model.identity()) if strategy.model else self._model_key
        )
        return content_key(
            "adapt",
            library_versions(),
            model_key,
            [
                (
                    link.name,
                    link.settings,
                    self.plugins.strategies.identity(type(link)),
                    link.inputs_identity(),
                )
                for link in strategy.chain[:links]
            ],
            seed,
            [s.training_hash for s in strategy.targets],
            [
                s.training_hash
                for s in self.plan.forgetting
                if any(link.uses_forgetting_data for link in strategy.chain[:links])
            ],
        )

    def _cell_key(self, strategy: PlannedStrategy, suite: Suite, seed: int) -> str:
        metrics = self.plan.metrics
        return content_key(
            "cell",
            self._adapt_key(strategy, len(strategy.chain), seed),
            suite.content_hash,
            self.plan.config.max_test_examples,
            [(n, self.plugins.metrics.identity(type(metrics[n]))) for n in suite.spec.metrics],
        )

    def _cached_cell(self, strategy: PlannedStrategy, suite: Suite, seed: int) -> Path | None:
        """The verified predictions entry of a cell, when it covers exactly its examples."""
        key = self._cell_key(strategy, suite, seed)
        folder = self.cache.get("predictions", key)
        if folder is None:
            return None
        wanted = [e.id for e in suite.test[: self.plan.config.max_test_examples]]
        try:
            stored = read_predictions(folder / "predictions.jsonl").get(("", suite.name), [])
            Cost.model_validate_json((folder / "cost.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError, TypeError) as e:
            problem: str | None = f"unreadable ({type(e).__name__})"
        else:
            problem = _coverage_problem(stored, wanted, suite.spec.metrics)
        if problem is not None:
            self.cache.discard("predictions", key, f"{strategy.row} on {suite.name}: {problem}")
            return None
        return folder

    def _from_cache(self, suite: Suite, seed: int, folder: Path) -> CellRun:
        """One replicate of a cell from cached predictions: same outputs, no model."""
        stored = read_predictions(folder / "predictions.jsonl").get(("", suite.name), [])
        cost = Cost.model_validate_json((folder / "cost.json").read_text(encoding="utf-8"))
        scores = {
            n: np.array([r.scores[n] for r in stored], dtype=float) for n in suite.spec.metrics
        }
        return CellRun(
            seed,
            "cached",
            None,
            [r.prompt for r in stored],
            [r.output for r in stored],
            scores,
            cost,
        )

    # -- assembly --------------------------------------------------------------------------

    def _assemble(
        self,
        strategy: PlannedStrategy,
        suite: Suite,
        runs: list[CellRun],
        records: list[PredictionRecord],
    ) -> Cell:
        """The cell from its replicates: figures over seeds and examples, or the failure.

        A metric that raises fails alone, recorded in `metric_errors`.
        """
        seeds = list(strategy.seeds) if strategy.seed_dependent else []
        failed = next((r for r in runs if r.status == "failed"), None)
        if failed is not None:
            at = f" (seed {failed.seed})" if strategy.replicated else ""
            return Cell(
                strategy=strategy.row,
                suite=suite.name,
                model=(strategy.model or self._base).label,
                status="failed",
                error=f"{failed.error}{at}",
                cost=failed.cost,
                seeds=seeds,
            )
        errors: dict[str, str] = {}
        for run in runs:
            errors.update(run.metric_errors)
        metrics = {n: self.plan.metrics[n] for n in suite.spec.metrics if n not in errors}
        estimates = estimate(
            [(r.outputs, r.scores) for r in runs],
            metrics,
            seed=self.plan.config.seed,
            n_resamples=self.plan.config.bootstrap_resamples,
            errors=errors,
        )
        for run in runs:
            for name in errors:
                run.scores.pop(name, None)
            records += run.records(strategy.row, suite.name, strategy.replicated)
        self._outputs[(strategy.row, suite.name)] = runs
        replicated = strategy.replicated
        return Cell(
            strategy=strategy.row,
            suite=suite.name,
            model=(strategy.model or self._base).label,
            status="cached" if all(r.status == "cached" for r in runs) else "ok",
            metrics={
                n: MetricValue(
                    value=e.value,
                    ci95=e.ci95,
                    seed_sd=e.seed_sd if replicated else None,
                    replicate_values=list(e.replicate_values) if replicated else None,
                )
                for n, e in estimates.items()
            },
            metric_errors=errors,
            cost=_mean_cost([r.cost for r in runs]),
            seeds=seeds,
        )

    def _add_deltas(self, cells: list[Cell]) -> None:
        """Each cell's paired difference to the zero-shot cell of the same suite.

        With replicates on either side the test accounts for training variance
        (`replicate-t`); a seed-dependent side adapted once is flagged as not measuring it.
        """
        zero_shot = {c.suite: c for c in cells if c.strategy == BASELINE}
        for cell in cells:
            base = self._outputs.get((BASELINE, cell.suite))
            mine = self._outputs.get((cell.strategy, cell.suite))
            if cell.strategy == BASELINE or base is None or mine is None:
                continue
            measured = cell.training_variance_measured and (
                zero_shot[cell.suite].training_variance_measured
            )
            for name, metric in self.plan.metrics.items():
                if any(name not in r.scores for r in [*mine, *base]):
                    continue
                d = compare_cells(
                    metric,
                    [Replicate(r.outputs, r.scores[name]) for r in mine],
                    [Replicate(r.outputs, r.scores[name]) for r in base],
                    n_resamples=self.plan.config.bootstrap_resamples,
                )
                cell.delta_vs_zero_shot[name] = Delta(
                    value=d.difference,
                    ci95=d.ci95,
                    p_value=d.p_value,
                    test=d.test,
                    training_variance_measured=measured,
                )

    # -- files ---------------------------------------------------------------------------

    def _suite_info(self, suite: Suite) -> SuiteInfo:
        primary = self.plan.metrics[suite.spec.primary_metric]
        n_test = len(suite.test[: self.plan.config.max_test_examples])
        return SuiteInfo(
            name=suite.name,
            version=suite.version,
            role=suite.role,
            task=suite.task,
            primary_metric=suite.spec.primary_metric,
            n_test=n_test,
            higher_is_better=primary.higher_is_better,
            content_hash=suite.content_hash,
        )

    def _write_config(self, run_dir: Path) -> None:
        data = self.plan.config.model_dump(mode="json")
        data["model"] = self._base.spec()
        # each suite by its file, with the metrics it was scored with when they differ
        entries = self.plan.config.suites or [SuiteEntry(name=s.name) for s in self.plan.suites]
        data["suites"] = [
            str(s.path)
            if e.metrics is None and e.primary_metric is None
            else {
                "name": str(s.path),
                "metrics": list(s.spec.metrics),
                "primary_metric": s.spec.primary_metric,
            }
            for e, s in zip(entries, self.plan.suites, strict=True)
        ]
        (run_dir / "config.yaml").write_text(
            yaml.safe_dump(data, sort_keys=False), encoding="utf-8"
        )

    def _write_results(
        self, run_dir: Path, results: RunResults, records: list[PredictionRecord]
    ) -> None:
        write_json(run_dir / "results.json", results.to_json())
        write_predictions(run_dir / "predictions.jsonl", records)
        write_json(
            run_dir / "manifest.json",
            build_manifest(self.plan.model, self.plan.suites, self.plan.config.seed),
        )

    def _report(self, results: RunResults, run_dir: Path, final_dir: Path) -> None:
        """Render every reporter; one that raises loses only its own output."""
        context = ReportContext(
            results=results,
            run_dir=run_dir,
            console=Console(),
            metrics=self.plugins.metrics.as_dict(),
            final_dir=final_dir,
        )
        for name in self.plan.config.reporters:
            try:
                self.plugins.reporters[name]().render(context)
            except Exception as e:
                message = f"reporter {name!r} failed: {type(e).__name__}: {e}"
                self._report_errors.append(message)
                self.console.print(f"[red]error:[/red] {escape(message)}", highlight=False)


def _remove_empty_dirs(root: Path) -> None:
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    if not any(root.iterdir()):
        root.rmdir()


def _mean_cost(costs: list[Cost]) -> Cost:
    """The cost of one replicate: each figure averaged over the replicates."""
    if len(costs) == 1:
        return costs[0]
    data = [c.model_dump() for c in costs]
    merged = dict(data[0])
    for key, value in data[0].items():
        values = [d.get(key) for d in data]
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            mean = sum(values) / len(values)  # type: ignore[arg-type]
            merged[key] = round(mean, 3) if isinstance(value, float) else mean
    return Cost.model_validate(merged)


def _coverage_problem(
    stored: list[PredictionRecord], wanted: list[str], metrics: Iterable[str]
) -> str | None:
    """Why cached predictions do not stand for the examples a cell evaluates, or None."""
    ids = [r.output.example_id for r in stored]
    if ids != wanted:
        missing = len(set(wanted) - set(ids))
        return (
            f"its predictions cover {len(ids)} examples ({missing} of the {len(wanted)} "
            "evaluated missing)"
            if missing or len(ids) != len(wanted)
            else "its predictions are not in the test split's order"
        )
    lacking = sorted({m for r in stored for m in metrics if m not in r.scores})
    return f"its predictions lack scores for {', '.join(lacking)}" if lacking else None
