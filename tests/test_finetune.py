"""Fine-tuning strategies (`sft`, `lora`, `multitask`): training, masking, artifact cache.

Everything trains a tiny real Llama for a few steps; the cache rules are checked through
real runs of the runner, one changed key at a time.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness_plugins.finetune import (
    SFT,
    LoRA,
    LoraSettings,
    Multitask,
    MultitaskSettings,
    SFTSettings,
)

from harness import AdaptContext, Predictor
from harness.cache import Cache
from harness.cli import main
from harness.config import RunConfig, StrategyEntry, build_settings
from harness.errors import InputError
from harness.models.base import ScoreRequest
from harness.models.hf import HFModel
from harness.plugin_manager import load_plugins
from harness.runner import Runner, RunOutcome, make_plan
from harness.suites import Suite, load_suite
from harness.testing import build_tiny_llama, check_strategy

#: a few large steps: enough to move a tiny model, quick on a loaded CPU
FAST: dict[str, Any] = {"max_steps": 6, "batch_size": 4, "learning_rate": 5e-3}


@pytest.fixture(scope="module")
def base(tiny_model: Path) -> HFModel:
    return HFModel.load(str(tiny_model))


@pytest.fixture(scope="module")
def suites(toy_suites: dict[str, Path]) -> dict[str, Suite]:
    return {name: load_suite(path) for name, path in toy_suites.items()}


def _context(
    model: Path,
    base: HFModel,
    suites: dict[str, Suite],
    work: Path,
    *,
    targets: tuple[str, ...] = ("toy-colours",),
    cache: Cache | None = None,
    key: str = "",
) -> AdaptContext:
    return AdaptContext(
        model_name=str(model),
        targets=tuple(suites[t] for t in targets),
        seed=0,
        work_dir=work,
        load_model=lambda: base,
        upstream=Predictor(base),
        forgetting=(suites["toy-sums"],),
        cache=cache,
        cache_key=key,
    )


def _reference_logprob(predictor: Predictor, suite: Suite) -> float:
    """Mean log-likelihood of the first reference of each train example."""
    requests = [
        ScoreRequest(suite.render(e), (suite.answer(e.references[0]),)) for e in suite.train
    ]
    scores = predictor.score(requests)
    return sum(s[0].logprob for s in scores) / len(scores)


STRATEGIES = [
    (SFT, SFTSettings(**FAST)),
    (LoRA, LoraSettings(**{**FAST, "learning_rate": 2e-2})),
    (Multitask, MultitaskSettings(**FAST, replay_fraction=0.25)),
]


@pytest.mark.parametrize(("cls", "settings"), STRATEGIES, ids=lambda v: getattr(v, "name", ""))
def test_each_strategy_trains_and_fits_the_train_split(
    cls: Any,
    settings: Any,
    tiny_model: Path,
    base: HFModel,
    suites: dict[str, Suite],
    tmp_path: Path,
) -> None:
    context = _context(tiny_model, base, suites, tmp_path / "work")
    predictor = cls(settings).adapt(context)
    colours = suites["toy-colours"]
    assert _reference_logprob(predictor, colours) > _reference_logprob(Predictor(base), colours)
    # the loss curve is in the format the decision report plots, and it went down
    records = [json.loads(x) for x in (tmp_path / "work" / "loss.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if "loss" in r]
    assert len(losses) >= 2 and losses[-1] < losses[0]
    assert any("eval_loss" in r for r in records), "toy-colours has a validation split"
    costs = predictor.costs
    for name in ("trainable_share", "artifact_bytes", "train_tokens", "train_tokens_per_second"):
        assert costs[name] > 0, name
    assert predictor.trainable_parameters > 0
    if cls is Multitask:
        assert costs["replay_examples"] == 8  # 24 colours train examples: 25% replay
    if cls is LoRA:
        assert costs["trainable_share"] < 0.2
    else:
        assert costs["trainable_share"] == 1.0
    # the shared base model is never modified
    assert next(base.model.parameters()).requires_grad is False


def test_lora_trains_far_fewer_parameters_than_sft(
    tiny_model: Path, base: HFModel, suites: dict[str, Suite], tmp_path: Path
) -> None:
    settings = {**FAST, "max_steps": 1}
    sft = SFT(SFTSettings(**settings)).adapt(_context(tiny_model, base, suites, tmp_path / "s"))
    lora = LoRA(LoraSettings(**settings, r=8, target_modules=("q_proj", "v_proj"))).adapt(
        _context(tiny_model, base, suites, tmp_path / "l")
    )
    # r=8 on two 64x64 projections of 2 layers: 2 * 2 * 8 * (64 + 64)
    assert lora.trainable_parameters == 4096
    assert lora.trainable_parameters < 0.05 * sft.trainable_parameters


def test_the_best_checkpoint_is_kept_and_training_stops_early(
    tiny_model: Path, suites: dict[str, Suite]
) -> None:
    import torch

    from harness.training import (
        TrainingExample,
        load_model,
        load_tokenizer,
        suite_examples,
        train,
    )

    tokenizer = load_tokenizer(str(tiny_model))
    model = load_model(str(tiny_model), device=torch.device("cpu"))
    colours = suites["toy-colours"]
    # validation answers are the next colour: their loss falls while the model learns the
    # label set, then rises as it learns the true mapping, so training must stop early
    labels = list(colours.spec.label_set)
    validation = [
        TrainingExample(e.prompt, " " + labels[(labels.index(e.completion.strip()) + 1) % 4])
        for e in suite_examples(colours, "validation")
    ]
    settings = SFTSettings(learning_rate=5e-3, epochs=10, batch_size=8, early_stopping_patience=1)
    result = train(model, tokenizer, suite_examples(colours, "train"), validation, settings, seed=0)
    eval_losses = [r["eval_loss"] for r in result.losses if "eval_loss" in r]
    assert result.stopped_early and result.epochs < 10 and len(eval_losses) < 10
    assert result.best_eval_loss == pytest.approx(min(eval_losses), rel=1e-5)
    assert eval_losses[-1] > min(eval_losses)
    # the model returned is the best checkpoint, not the last one
    scorer = HFModel(result.model, tokenizer, name="trained")
    scores = scorer.loglikelihood(
        [ScoreRequest(e.prompt, (e.completion + tokenizer.eos_token,)) for e in validation]
    )
    mean_nll = -sum(s[0].logprob for s in scores) / sum(s[0].n_tokens for s in scores)
    assert mean_nll == pytest.approx(result.best_eval_loss, rel=1e-3)


@pytest.mark.parametrize("chat", [False, True], ids=["plain", "chat-template"])
def test_only_completion_tokens_are_in_the_loss(
    chat: bool, tiny_model: Path, suites: dict[str, Suite], tmp_path: Path
) -> None:
    from harness.training import build_trainer, load_model, load_tokenizer, suite_examples

    model_dir = build_tiny_llama(tmp_path / "chat", chat_template=True) if chat else tiny_model
    tokenizer = load_tokenizer(str(model_dir))
    model = load_model(str(model_dir), device=__import__("torch").device("cpu"))
    examples = suite_examples(suites["toy-colours"], "train")[:4]
    trainer = build_trainer(
        model,
        tokenizer,
        examples,
        [],
        SFTSettings(**FAST),
        seed=0,
        output_dir=tmp_path / "o",
        chat=chat,
    )
    for example, row in zip(examples, trainer.train_dataset, strict=True):
        ids, labels = row["input_ids"], row["labels"]
        learned = [i for i, label in enumerate(labels) if label != -100]
        assert learned, "the completion is in the loss"
        first = learned[0]
        assert learned == list(range(first, len(ids))), "the completion closes the sequence"
        assert [labels[i] for i in learned] == ids[first:]
        text = tokenizer.decode(ids[first:])
        assert text.strip().startswith(example.completion.strip()) and tokenizer.eos_token in text
        # everything before the completion (the prompt) is masked
        assert example.prompt in tokenizer.decode(ids[:first])

    everything = build_trainer(
        model,
        tokenizer,
        examples,
        [],
        SFTSettings(**FAST, completion_only_loss=False),
        seed=0,
        output_dir=tmp_path / "p",
        chat=chat,
    )
    assert all(-100 not in row["labels"] for row in everything.train_dataset)


def test_a_base_model_without_pad_token_trains(suites: dict[str, Suite], tmp_path: Path) -> None:
    model_dir = build_tiny_llama(tmp_path / "nopad")
    config = json.loads((model_dir / "tokenizer_config.json").read_text())
    config.pop("pad_token", None)
    (model_dir / "tokenizer_config.json").write_text(json.dumps(config))
    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(model_dir).pad_token is None
    base = HFModel.load(str(model_dir))
    predictor = SFT(SFTSettings(**{**FAST, "max_steps": 2})).adapt(
        _context(model_dir, base, suites, tmp_path / "work")
    )
    assert predictor.model.tokenizer.pad_token == predictor.model.tokenizer.eos_token


@pytest.mark.parametrize("cls", [SFT, LoRA, Multitask], ids=lambda c: c.name)
def test_conformance(cls: Any, tiny_model: Path, tmp_path: Path) -> None:
    report = check_strategy(
        cls(cls.settings_class(max_steps=2, batch_size=4)), tmp_path, model=tiny_model
    )
    assert report.examples > 0


# -- settings and GPU-only options -----------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "values", "message"),
    [
        (SFTSettings, {"learning_rate": 0}, "learning_rate"),
        (SFTSettings, {"batch_size": 0}, "batch_size"),
        (SFTSettings, {"epochs": 0}, "epochs"),
        (LoraSettings, {"r": 0}, "r must"),
        (LoraSettings, {"dropout": 1.0}, "dropout"),
        (LoraSettings, {"quantize": "8bit"}, "quantize"),
        (MultitaskSettings, {"replay_fraction": 1.0}, "replay_fraction"),
        (MultitaskSettings, {"method": "prefix"}, "method"),
    ],
)
def test_bad_settings_are_rejected_at_load_time(
    cls: type, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        build_settings(cls, values, "run.yaml", "strategies[0]")


def test_qlora_on_a_machine_without_cuda_says_why_and_exits_2(
    tiny_model: Path,
    toy_suites: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match=r"QLoRA\) needs a CUDA GPU and bitsandbytes"):
        LoraSettings(quantize="4bit").validate()
    config = tmp_path / "run.yaml"
    config.write_text(
        f"model: {tiny_model}\nsuites: [{toy_suites['toy-colours']}]\n"
        "strategies: [{name: lora, quantize: 4bit}]\n"
    )
    assert main(["run", str(config), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "CUDA GPU" in " ".join(err.split()) and "quantize: none" in " ".join(err.split())
    assert not (tmp_path / "out").exists()


# -- the artifact cache, through real runs -----------------------------------------------


class TrainingCounter:
    """Counts the trainings that happen (a cache hit trains nothing)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import harness.training

        self.calls = 0
        real = harness.training.train

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(harness.training, "train", counted)


@pytest.fixture
def trainings(monkeypatch: pytest.MonkeyPatch) -> TrainingCounter:
    return TrainingCounter(monkeypatch)


@pytest.fixture
def suite_copies(toy_suites: dict[str, Path], tmp_path: Path) -> dict[str, Path]:
    """Editable copies of the toy suites (name -> suite.yaml)."""
    out = {}
    for name, path in toy_suites.items():
        shutil.copytree(path.parent, tmp_path / "suites" / name)
        out[name] = tmp_path / "suites" / name / "suite.yaml"
    return out


def _run(
    model: Path,
    suites: dict[str, Path],
    out: Path,
    cache_dir: Path,
    *,
    strategies: tuple[StrategyEntry, ...] = (StrategyEntry(name="lora", settings=FAST),),
    seed: int = 0,
    cache: bool = True,
    max_test_examples: int = 3,
) -> RunOutcome:
    plugins = load_plugins()
    config = RunConfig(
        model=str(model),
        suites=[str(suites["toy-colours"]), str(suites["toy-sums"])],
        strategies=list(strategies),
        out=str(out),
        seed=seed,
        cache=cache,
        cache_dir=str(cache_dir),
        reporters=[],
        bootstrap_resamples=100,
        max_test_examples=max_test_examples,
    )
    outcome = Runner(make_plan(config, plugins), plugins).run()
    assert outcome.exit_code == 0, [c.error for c in outcome.results.cells if c.error]
    return outcome


def _statuses(outcome: RunOutcome) -> set[str]:
    return {c.status for c in outcome.results.cells}


def test_an_unchanged_rerun_trains_nothing_and_reuses_artifacts(
    tiny_model: Path, suite_copies: dict[str, Path], tmp_path: Path, trainings: TrainingCounter
) -> None:
    cache = tmp_path / "cache"
    first = _run(tiny_model, suite_copies, tmp_path / "a", cache)
    assert trainings.calls == 1 and _statuses(first) == {"ok"}
    assert len(list((cache / "adapters").iterdir())) == 1
    loss_curve = tmp_path / "a" / "artifacts" / "lora" / "lora" / "loss.jsonl"
    assert loss_curve.is_file()
    second = _run(tiny_model, suite_copies, tmp_path / "b", cache)
    assert trainings.calls == 1 and _statuses(second) == {"cached"}
    # evaluating differently needs new predictions, not a new adapter
    third = _run(tiny_model, suite_copies, tmp_path / "c", cache, max_test_examples=4)
    assert trainings.calls == 1 and _statuses(third) == {"ok"}
    cell = third.results.cell("lora", "toy-colours")
    assert cell is not None and cell.cost.model_extra is not None
    assert cell.cost.model_extra["artifact_cached"] == 1.0
    assert (tmp_path / "c" / "artifacts" / "lora" / "lora" / "loss.jsonl").read_text() == (
        loss_curve.read_text()
    )
    # the cached adapter costs what training it took, so the decision's costs and
    # budgets do not depend on the cache: at least the training run's own figures
    trained = first.results.cell("lora", "toy-colours")
    assert trained is not None and trained.cost.model_extra is not None
    produced = trained.cost.model_extra["produce_seconds"]
    assert 0 < produced <= trained.cost.adapt_seconds
    assert cell.cost.model_extra["produce_seconds"] == produced
    assert cell.cost.adapt_seconds >= produced
    assert cell.cost.model_extra["cache_saved_seconds"] > 0
    train_peak = trained.cost.model_extra["train_peak_memory_mb"]
    assert cell.cost.model_extra["train_peak_memory_mb"] == train_peak
    assert cell.cost.peak_memory_mb >= train_peak
    # --no-cache retrains and replaces the entry
    _run(tiny_model, suite_copies, tmp_path / "d", cache, cache=False)
    assert trainings.calls == 2 and len(list((cache / "adapters").iterdir())) == 1


def test_changed_model_files_retrain(
    tiny_model: Path, suite_copies: dict[str, Path], tmp_path: Path, trainings: TrainingCounter
) -> None:
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    _run(model, suite_copies, tmp_path / "a", tmp_path / "cache")
    build_tiny_llama(model, seed=1)  # same folder, other weights
    second = _run(model, suite_copies, tmp_path / "b", tmp_path / "cache")
    assert trainings.calls == 2 and _statuses(second) == {"ok"}


def test_changed_settings_retrain_only_that_strategy(
    tiny_model: Path, suite_copies: dict[str, Path], tmp_path: Path, trainings: TrainingCounter
) -> None:
    sft = StrategyEntry(name="sft", settings=FAST)
    _run(tiny_model, suite_copies, tmp_path / "a", tmp_path / "cache", strategies=(sft,))
    lora = StrategyEntry(name="lora", settings={**FAST, "r": 4})
    outcome = _run(
        tiny_model, suite_copies, tmp_path / "b", tmp_path / "cache", strategies=(sft, lora)
    )
    assert trainings.calls == 2
    status = {c.strategy: c.status for c in outcome.results.cells}
    assert status == {"sft": "cached", "lora": "ok"}
    again = StrategyEntry(name="lora", settings={**FAST, "r": 2})
    _run(tiny_model, suite_copies, tmp_path / "c", tmp_path / "cache", strategies=(again,))
    assert trainings.calls == 3


def test_changed_training_data_retrains(
    tiny_model: Path, suite_copies: dict[str, Path], tmp_path: Path, trainings: TrainingCounter
) -> None:
    strategies = (
        StrategyEntry(name="lora", settings=FAST),
        StrategyEntry(name="multitask", settings=FAST),
    )
    _run(tiny_model, suite_copies, tmp_path / "a", tmp_path / "cache", strategies=strategies)
    assert trainings.calls == 2
    # general data changes: only the strategy that replays it retrains
    replay = suite_copies["toy-sums"].parent / "data" / "train.jsonl"
    replay.write_text("".join(replay.read_text().splitlines(keepends=True)[:-1]))
    outcome = _run(
        tiny_model, suite_copies, tmp_path / "b", tmp_path / "cache", strategies=strategies
    )
    assert trainings.calls == 3
    for row, reused in (("lora", 1.0), ("multitask", 0.0)):
        cell = outcome.results.cell(row, "toy-sums")
        assert cell is not None and cell.cost.model_extra is not None
        assert cell.cost.model_extra["artifact_cached"] == reused, row
    # target data changes: both retrain
    target = suite_copies["toy-colours"].parent / "data" / "train.jsonl"
    target.write_text("".join(target.read_text().splitlines(keepends=True)[1:]))
    _run(tiny_model, suite_copies, tmp_path / "c", tmp_path / "cache", strategies=strategies)
    assert trainings.calls == 5


def test_changed_seed_retrains(
    tiny_model: Path, suite_copies: dict[str, Path], tmp_path: Path, trainings: TrainingCounter
) -> None:
    _run(tiny_model, suite_copies, tmp_path / "a", tmp_path / "cache")
    _run(tiny_model, suite_copies, tmp_path / "b", tmp_path / "cache", seed=1)
    assert trainings.calls == 2
    assert len(list((tmp_path / "cache" / "adapters").iterdir())) == 2


def test_library_versions_are_part_of_the_artifact_key(
    tiny_model: Path, suite_copies: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import harness.runner
    from harness.cache import library_versions

    plugins = load_plugins()
    config = RunConfig(
        model=str(tiny_model),
        suites=[str(suite_copies["toy-colours"])],
        strategies=[StrategyEntry(name="lora")],
    )
    runner = Runner(make_plan(config, plugins), plugins)
    row = runner.plan.strategies[0]
    key = runner._adapt_key(row, 1, 0)
    for package in ("harness", "transformers", "peft", "trl"):
        bumped = {**library_versions(), package: "999.0"}
        monkeypatch.setattr(harness.runner, "library_versions", lambda bumped=bumped: bumped)
        assert runner._adapt_key(row, 1, 0) != key, package


# -- interrupted trainings leave nothing behind -------------------------------------------


@pytest.fixture
def interrupted(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Training raises after its second optimiser step."""
    import harness.training

    real = harness.training._loss_log_class

    def exploding() -> type:
        base = real()

        class Exploding(base):  # type: ignore[misc, valid-type]
            def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                if state.global_step >= 2:
                    raise RuntimeError("interrupted mid-training")

        return Exploding

    monkeypatch.setattr(harness.training, "_loss_log_class", exploding)
    yield


def _failed_run(model: Path, suites: dict[str, Path], out: Path, cache: Path) -> RunOutcome:
    plugins = load_plugins()
    config = RunConfig(
        model=str(model),
        suites=[str(suites["toy-colours"])],
        strategies=[StrategyEntry(name="sft", settings=FAST)],
        out=str(out),
        cache_dir=str(cache),
        reporters=[],
        bootstrap_resamples=100,
        max_test_examples=3,
    )
    return Runner(make_plan(config, plugins), plugins).run()


def _entries(folder: Path) -> list[Path]:
    return list(folder.iterdir()) if folder.is_dir() else []


def test_an_interrupted_training_leaves_the_cache_clean(
    tiny_model: Path, suite_copies: dict[str, Path], tmp_path: Path, interrupted: None
) -> None:
    outcome = _failed_run(tiny_model, suite_copies, tmp_path / "a", tmp_path / "cache")
    assert outcome.exit_code == 1
    cell = outcome.results.cell("sft", "toy-colours")
    assert cell is not None and cell.status == "failed"
    assert "interrupted mid-training" in (cell.error or "")
    assert _entries(tmp_path / "cache" / "models") == []
    assert _entries(tmp_path / "cache" / "predictions") == []


def test_an_interrupted_save_leaves_the_cache_clean(
    tiny_model: Path, suite_copies: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import harness.training

    def half_save(model: Any, tokenizer: Any, folder: Path) -> None:
        (folder / "model.safetensors").write_bytes(b"half")
        raise KeyboardInterrupt

    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(harness.training, "_save_artifact", half_save)
        _failed_run(tiny_model, suite_copies, tmp_path / "a", tmp_path / "cache")
    assert _entries(tmp_path / "cache" / "models") == []  # no entry, no staging folder
    outcome = _failed_run(tiny_model, suite_copies, tmp_path / "b", tmp_path / "cache")
    assert outcome.exit_code == 0 and len(_entries(tmp_path / "cache" / "models")) == 1
