"""The `rag` strategy: settings, the predictor, composition, costs, the corpus swap, errors."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from harness_plugins.prompting import FewShot, FewShotSettings
from harness_plugins.rag import RAG, RAGPredictor, RAGSettings, Retriever

from harness import AdaptContext, Predictor, Strategy, Suite, hookimpl
from harness.cache import Cache
from harness.cli import main
from harness.config import RunConfig, StrategyEntry, build_settings
from harness.errors import InputError
from harness.evaluate import predict
from harness.metrics import recall_at_k, reciprocal_rank
from harness.models.base import ContinuationScore, GenerationRequest, LanguageModel, ScoreRequest
from harness.plugin_manager import load_plugins
from harness.registry import Registry
from harness.results import read_predictions, read_results
from harness.runner import Runner, make_plan
from harness.suites import load_suite

DOCUMENTS = [
    {"id": "zorblax", "title": "Zorblax", "text": "The zorblax is a blue fruit from Jupiter."},
    {"id": "quentor", "title": "Quentor", "text": "Quentor is a town famous for copper bells."},
    {"id": "mirela", "title": "Mirela", "text": "The Mirela river flows north into the Ice Sea."},
    {"id": "vantor", "title": "Vantor", "text": "The Vantor engine runs on compressed seaweed."},
    {"id": "lumen", "title": "Lumen cat", "text": "The lumen cat has glowing green fur."},
    {"id": "brindle", "title": "Brindle tea", "text": "Brindle tea is brewed from pine needles."},
    {"id": "oskar", "title": "Oskar bridge", "text": "The Oskar bridge is made of glass."},
]
#: the same corpus after the facts changed
UPDATED = [
    {**d, "text": d["text"].replace("blue", "red").replace("green", "purple")} for d in DOCUMENTS
]
TEST = [
    ("t1", "What colour is the zorblax fruit?", "blue", "zorblax"),
    ("t2", "What is the town of Quentor famous for?", "copper bells", "quentor"),
    ("t3", "Which sea does the Mirela river flow into?", "the Ice Sea", "mirela"),
    ("t4", "What fuel does the Vantor engine use?", "compressed seaweed", "vantor"),
    ("t5", "What colour is the fur of the lumen cat?", "green", "lumen"),
]
TRAIN = [
    ("r1", "What is brindle tea brewed from?", "pine needles", "brindle"),
    ("r2", "What is the Oskar bridge made of?", "glass", "oskar"),
]
WITH_SLOT = "Context:\n{context}\n\nQuestion: {input}\nAnswer:"
WITHOUT_SLOT = "Question: {input}\nAnswer:"


def _jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_knowledge_suite(
    folder: Path,
    *,
    template: str = WITH_SLOT,
    documents: Sequence[dict[str, Any]] | None = None,
    documents_text: str | None = None,
    gold: bool = True,
) -> Path:
    """A small generation suite with a knowledge corpus and gold document ids."""
    rows = lambda data: [  # noqa: E731
        {"id": i, "question": q, "answer": a, "docs": [d]} for i, q, a, d in data
    ]
    _jsonl(folder / "data" / "train.jsonl", rows(TRAIN))
    _jsonl(folder / "data" / "test.jsonl", rows(TEST))
    docs = folder / "data" / "docs.jsonl"
    if documents_text is not None:
        docs.write_text(documents_text, encoding="utf-8")
    else:
        _jsonl(docs, DOCUMENTS if documents is None else documents)
    gold_field = ", gold_documents: docs" if gold else ""
    metrics = "[exact_match, token_f1, recall_at_k, mrr]" if gold else "[exact_match]"
    (folder / "suite.yaml").write_text(
        f"""\
name: {folder.name}
version: 1
task: generation
splits: {{train: data/train.jsonl, test: data/test.jsonl}}
fields: {{input: question, target: answer{gold_field}}}
prompt: {{template: {json.dumps(template)}}}
metrics: {metrics}
primary_metric: exact_match
generation: {{max_new_tokens: 4}}
knowledge: {{documents: data/docs.jsonl}}
""",
        encoding="utf-8",
    )
    return folder / "suite.yaml"


@pytest.fixture
def knowledge_suite(tmp_path: Path) -> Path:
    return write_knowledge_suite(tmp_path / "facts")


@pytest.fixture(scope="module")
def tiny_lm(tiny_model: Path) -> LanguageModel:
    from harness.models.hf import HFModel

    return HFModel.load(str(tiny_model))


def _context(
    suite_path: Path, model: LanguageModel, upstream: Predictor | None = None, **kw: Any
) -> tuple[AdaptContext, Suite]:
    suite = load_suite(suite_path)
    return AdaptContext(
        model_name="tiny",
        targets=(suite,),
        seed=0,
        work_dir=suite_path.parent / "work",
        load_model=lambda: model,
        upstream=upstream or Predictor(model),
        **kw,
    ), suite


def _settings(**values: Any) -> RAGSettings:
    return build_settings(RAGSettings, values, "config.yaml", "strategies[0]")


# -- settings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"size": 10, "overlap": 10}, "must be smaller than the chunk size"),
        ({"by": "sentences", "size": 1}, "must be smaller"),  # default overlap 1 >= 1
        ({"by": "words"}, "'tokens' or 'sentences'"),
        ({"index": "annoy"}, "'flat', 'ivf' or 'hnsw'"),
        ({"k": 0}, "k must be at least 1"),
        ({"nprobe": 0}, "nprobe"),
        ({"context_template": "{text} {source}"}, "unknown slot"),
        ({"context_template": "{text"}, "context_template"),
        ({"corpus": "/no/such/docs.jsonl"}, "not found"),
    ],
)
def test_bad_settings_are_rejected(values: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        _settings(**values)


def test_settings_defaults_follow_the_chunking_unit() -> None:
    assert (_settings().chunk_size, _settings().chunk_overlap) == (200, 40)
    sentences = _settings(by="sentences")
    assert (sentences.chunk_size, sentences.chunk_overlap) == (5, 1)
    assert _settings(by="sentences", size=3, overlap=0).chunking().overlap == 0


def test_corpus_setting_hashes_the_file(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "docs.jsonl", DOCUMENTS)
    first = _settings(corpus=str(path))
    _jsonl(path, UPDATED)
    second = _settings(corpus=str(path))
    assert first.corpus_sha256 and first.corpus_sha256 != second.corpus_sha256
    assert first != second  # so the run's cache keys differ
    assert _settings().corpus_sha256 == ""


# -- the predictor -------------------------------------------------------------------


def test_context_fills_the_template_slot(knowledge_suite: Path, tiny_lm: LanguageModel) -> None:
    context, suite = _context(knowledge_suite, tiny_lm)
    predictor = RAG(_settings(k=2, context_template="[{doc_id}] {title}: {text}")).adapt(context)
    assert isinstance(predictor, RAGPredictor)
    prompts = predictor.prompts(suite, suite.test)
    for prompt, (_, question, _, gold) in zip(prompts, TEST, strict=True):
        context_block = prompt.split("\n\nQuestion:")[0]
        assert context_block.startswith(f"Context:\n[{gold}] ")  # the gold document first
        assert context_block.count("\n\n[") == 1  # k = 2 chunks, separated
        assert prompt.endswith(f"Question: {question}\nAnswer:")
    example = suite.test[0]
    retrieved = predictor.retrieved_documents(suite, example)
    assert retrieved is not None and len(retrieved) == 2 and retrieved[0] == "zorblax"
    assert predictor.prompt(suite, example) == prompts[0]


def test_context_precedes_the_prompt_without_a_slot(tmp_path: Path, tiny_lm: LanguageModel) -> None:
    path = write_knowledge_suite(tmp_path / "noslot", template=WITHOUT_SLOT)
    context, suite = _context(path, tiny_lm)
    predictor = RAG(_settings(k=1)).adapt(context)
    prompt = predictor.prompts(suite, suite.test[:1])[0]
    assert prompt == f"{DOCUMENTS[0]['text']}\n\nQuestion: {TEST[0][1]}\nAnswer:"


def test_retrieval_without_prompting_first(knowledge_suite: Path, tiny_lm: LanguageModel) -> None:
    context, suite = _context(knowledge_suite, tiny_lm)
    predictor = RAG(_settings(k=3)).adapt(context)
    # asked before (or without) prompts(): retrieved on demand, the same as when prompting
    lazily = [predictor.retrieved_documents(suite, e) for e in suite.test]
    predictor.prompts(suite, suite.test)
    assert lazily == [predictor.retrieved_documents(suite, e) for e in suite.test]
    assert [docs[0] for docs in lazily if docs] == [gold for *_, gold in TEST]
    assert all(docs is not None and len(docs) == 3 for docs in lazily)


def test_predictor_conformance_and_retrieval_metrics(
    knowledge_suite: Path, tiny_lm: LanguageModel, toy_suites: dict[str, Path]
) -> None:
    """What `check_strategy` checks, on suites with a corpus (the toy suites have none)."""
    context, suite = _context(knowledge_suite, tiny_lm)
    predictor = RAG(_settings(k=2)).adapt(context)
    tests = suite.test
    prompts = predictor.prompts(suite, tests)
    assert isinstance(prompts, list) and len(prompts) == len(tests) and all(prompts)
    outputs = predict(predictor, suite, tests, reference_logprob=True).outputs
    for output, (_, _, _, gold) in zip(outputs, TEST, strict=True):
        assert output.reference_logprob is not None and math.isfinite(output.reference_logprob)
        assert output.gold_documents == (gold,)
        assert output.retrieved is not None and output.retrieved[0] == gold
    # a suite without a corpus (a forgetting suite, say): the upstream's prompts, unchanged
    colours = load_suite(toy_suites["toy-colours"])
    examples = colours.test[:3]
    assert predictor.prompts(colours, examples) == Predictor(tiny_lm).prompts(colours, examples)
    assert predictor.retrieved_documents(colours, examples[0]) is None
    scored = predict(predictor, colours, examples).outputs
    assert all(math.isfinite(x) for o in scored for x in o.candidate_logprobs)
    assert all(o.retrieved is None for o in scored)


def test_costs(knowledge_suite: Path, tiny_lm: LanguageModel, tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    context, _ = _context(knowledge_suite, tiny_lm, cache=cache)
    built = RAG(_settings()).adapt(context).costs
    assert built["index_build_seconds"] > 0 and built["index_bytes"] > 0
    assert built["retrieval_ms_per_query"] > 0
    assert built["index_chunks"] == len(DOCUMENTS) and built["retrieval_k"] == 3
    assert built["index_cached"] == 0.0
    loaded = RAG(_settings()).adapt(context).costs
    assert loaded["index_cached"] == 1.0
    assert loaded["index_build_seconds"] == pytest.approx(built["index_build_seconds"], abs=1e-3)
    assert loaded["index_bytes"] == built["index_bytes"]


def test_adapting_without_a_corpus_fails_clearly(
    toy_suites: dict[str, Path], tiny_lm: LanguageModel
) -> None:
    context, _ = _context(toy_suites["toy-colours"], tiny_lm)
    with pytest.raises(ValueError, match=r"rag needs a knowledge corpus.*toy-colours"):
        RAG(_settings()).adapt(context)


def test_a_rag_row_without_a_corpus_is_skipped_not_failed(
    tiny_model: Path, toy_suites: dict[str, Path], tmp_path: Path
) -> None:
    plugins = load_plugins()
    config = RunConfig(
        model=str(tiny_model),
        suites=[str(toy_suites["toy-colours"]), str(toy_suites["toy-sums"])],
        strategies=[StrategyEntry(name="zero-shot"), StrategyEntry(name="rag")],
        out=str(tmp_path / "run"),
        reporters=["markdown"],
        max_test_examples=4,
        bootstrap_resamples=100,
    )
    outcome = Runner(make_plan(config, plugins), plugins).run()
    assert outcome.exit_code == 0
    rag_cells = [c for c in outcome.results.cells if c.strategy == "rag"]
    assert {c.status for c in rag_cells} == {"skipped"}
    assert all("rag needs a knowledge corpus" in (c.error or "") for c in rag_cells)


def test_corpus_setting_replaces_the_targets_corpus(
    knowledge_suite: Path, tiny_lm: LanguageModel, tmp_path: Path
) -> None:
    updated = _jsonl(tmp_path / "updated.jsonl", UPDATED)
    context, suite = _context(knowledge_suite, tiny_lm)
    old = RAG(_settings(k=1)).adapt(context).prompts(suite, suite.test)
    new = RAG(_settings(k=1, corpus=str(updated))).adapt(context).prompts(suite, suite.test)
    assert "a blue fruit" in old[0] and "a red fruit" in new[0]
    assert "glowing green fur" in old[4] and "glowing purple fur" in new[4]


def test_few_shot_upstream_keeps_its_demonstrations(
    knowledge_suite: Path, tiny_lm: LanguageModel
) -> None:
    context, suite = _context(knowledge_suite, tiny_lm)
    few_shot = FewShot(FewShotSettings(k=2))
    upstream = few_shot.adapt(context)
    context, suite = _context(knowledge_suite, tiny_lm, upstream=upstream)
    prompt = RAG(_settings(k=1)).adapt(context).prompts(suite, suite.test[:1])[0]
    demos, _, test_part = prompt.rpartition("Context:\n")
    # both demonstrations, without context of their own, then the test prompt with it
    assert "brindle tea brewed" in demos and "Oskar bridge made" in demos
    assert demos.count("Context:\n\n") == 2
    assert test_part.startswith(DOCUMENTS[0]["text"])


# -- runs: composition, costs in results, cache, corpus swap ---------------------------


class RecordingModel:
    """A model-changing stand-in for a fine-tuned model: the base model, counting calls."""

    instances: list[RecordingModel] = []  # noqa: RUF012

    def __init__(self, base: LanguageModel) -> None:
        self.base = base
        self.name = f"{base.name}+adapter"
        self.prompts: list[str] = []
        RecordingModel.instances.append(self)

    def generate(self, requests: Sequence[GenerationRequest], progress: Any = None) -> list[str]:
        self.prompts += [r.prompt for r in requests]
        return self.base.generate(requests, progress)

    def loglikelihood(
        self, requests: Sequence[ScoreRequest], progress: Any = None
    ) -> list[list[ContinuationScore]]:
        self.prompts += [r.prompt for r in requests]
        return self.base.loglikelihood(requests, progress)

    def count_tokens(self, text: str) -> int:
        return self.base.count_tokens(text)


@dataclass(frozen=True)
class AdapterSettings:
    rank: int = field(default=2, metadata={"help": "pretend rank"})


class FakeAdapter(Strategy):
    """Trains (pretends to) an adapter, cached like a real one; swaps the model."""

    name = "fake-adapter"
    settings_class = AdapterSettings
    trained = 0

    def adapt(self, context: AdaptContext) -> Predictor:
        assert context.cache is not None
        if context.cache.get("adapters", context.cache_key) is None:
            with context.cache.put("adapters", context.cache_key) as folder:
                (folder / "adapter.bin").write_bytes(b"weights")
            FakeAdapter.trained += 1
        return Predictor(
            RecordingModel(context.upstream.model),
            trainable_parameters=1234,
            costs={"artifact_bytes": 7.0},
        )


class FakeAdapterPlugin:
    @hookimpl
    def harness_register_strategies(self, registry: Registry) -> None:
        registry.add(FakeAdapter)


def _run(tiny_model: Path, suite: Path, out: Path, strategies: list[StrategyEntry]) -> Any:
    plugins = load_plugins(extra=[("fake-adapter", FakeAdapterPlugin())])
    config = RunConfig(
        model=str(tiny_model),
        suites=[str(suite)],
        strategies=strategies,
        out=str(out),
        bootstrap_resamples=100,
        reporters=["markdown"],
    )
    return Runner(make_plan(config, plugins), plugins).run()


def test_run_with_composition_metrics_and_costs(
    tiny_model: Path, knowledge_suite: Path, tmp_path: Path
) -> None:
    RecordingModel.instances.clear()
    strategies = [
        StrategyEntry(name="zero-shot"),
        StrategyEntry(name="rag", settings={"k": 2}),
        StrategyEntry(name="few-shot+rag", settings={"few-shot": {"k": 1}, "rag": {"k": 2}}),
        StrategyEntry(name="fake-adapter+rag", settings={"rag": {"k": 2}}),
    ]
    outcome = _run(tiny_model, knowledge_suite, tmp_path / "run", strategies)
    assert outcome.exit_code == 0, [c.error for c in outcome.results.cells]
    results = read_results(outcome.run_dir)
    cells = {c.strategy: c for c in results.cells}
    predictions = read_predictions(outcome.run_dir / "predictions.jsonl")

    # zero-shot retrieves nothing: its retrieval metrics are not applicable
    assert math.isnan(cells["zero-shot"].metrics["recall_at_k"].value)
    assert all(r.output.retrieved is None for r in predictions[("zero-shot", "facts")])
    for row in ("rag", "few-shot+rag", "fake-adapter+rag"):
        records = predictions[(row, "facts")]
        # recall@k and MRR recomputed by hand from predictions.jsonl
        recalls = [recall_at_k(r.output.retrieved or (), r.output.gold_documents) for r in records]
        ranks = [
            reciprocal_rank(r.output.retrieved or (), r.output.gold_documents) for r in records
        ]
        metrics = cells[row].metrics
        assert metrics["recall_at_k"].value == pytest.approx(sum(recalls) / len(recalls))
        assert metrics["mrr"].value == pytest.approx(sum(ranks) / len(ranks))
        assert metrics["recall_at_k"].value == 1.0 and metrics["mrr"].value == 1.0
        assert all(len(r.output.retrieved or ()) == 2 for r in records)
        cost = cells[row].cost.model_extra or {}
        assert cost["index_build_seconds"] > 0 and cost["index_bytes"] > 0
        assert cost["retrieval_ms_per_query"] > 0 and cost["retrieval_k"] == 2
        # RAG pays in context length
        assert cells[row].cost.prompt_tokens_mean > cells["zero-shot"].cost.prompt_tokens_mean
    # the three rag rows share one index: built once, then loaded from the cache
    extras = [cells[r].cost.model_extra or {} for r in ("rag", "few-shot+rag", "fake-adapter+rag")]
    assert [e["index_cached"] for e in extras] == [0.0, 1.0, 1.0]

    # few-shot+rag: the demonstration, then the test prompt with its context in the slot
    prompt = predictions[("few-shot+rag", "facts")][0].prompt
    assert prompt.count("Question:") == 2 and prompt.count("Context:\n") == 2
    assert prompt.rpartition("Context:\n")[2].startswith(DOCUMENTS[0]["text"])

    # fake-adapter+rag: the adapter's model answers the RAG prompts; its costs are kept
    adapter = cells["fake-adapter+rag"]
    assert adapter.cost.trainable_params == 1234
    assert (adapter.cost.model_extra or {})["artifact_bytes"] == 7.0
    (model,) = RecordingModel.instances
    rag_prompts = [r.prompt for r in predictions[("fake-adapter+rag", "facts")]]
    assert set(rag_prompts) <= set(model.prompts) and len(model.prompts) >= len(TEST)


def test_corpus_swap_rebuilds_the_index_never_the_model(
    tiny_model: Path, knowledge_suite: Path, tmp_path: Path
) -> None:
    """The adaptability demo in small: facts change, the adapter stays, RAG follows."""
    RecordingModel.instances.clear()
    FakeAdapter.trained = 0
    updated = _jsonl(tmp_path / "updated.jsonl", UPDATED)
    row = StrategyEntry(name="fake-adapter+rag", settings={"rag": {"k": 1}})
    before = _run(tiny_model, knowledge_suite, tmp_path / "before", [row])
    assert before.exit_code == 0 and FakeAdapter.trained == 1

    swapped = StrategyEntry(
        name="fake-adapter+rag", settings={"rag": {"k": 1, "corpus": str(updated)}}
    )
    after = _run(tiny_model, knowledge_suite, tmp_path / "after", [swapped])
    assert after.exit_code == 0
    assert FakeAdapter.trained == 1  # the adapter came from the cache
    cell = after.results.cells[0]
    assert cell.status == "ok" and (cell.cost.model_extra or {})["index_cached"] == 0.0
    prompts = {
        r.output.example_id: r.prompt
        for r in read_predictions(after.run_dir / "predictions.jsonl")[(cell.strategy, "facts")]
    }
    assert "a red fruit" in prompts["t1"] and "purple fur" in prompts["t5"]
    assert cell.metrics["recall_at_k"].value == 1.0

    # unchanged: every cell from the cache
    again = _run(tiny_model, knowledge_suite, tmp_path / "again", [swapped])
    assert again.results.cells[0].status == "cached"
    # the corpus file edited in place: re-indexed and re-evaluated, not served stale
    _jsonl(updated, [{**d, "text": d["text"].replace("red", "orange")} for d in UPDATED])
    edited_row = StrategyEntry(
        name="fake-adapter+rag", settings={"rag": {"k": 1, "corpus": str(updated)}}
    )
    edited = _run(tiny_model, knowledge_suite, tmp_path / "edited", [edited_row])
    assert edited.results.cells[0].status == "ok" and FakeAdapter.trained == 1
    records = read_predictions(edited.run_dir / "predictions.jsonl")[("fake-adapter+rag", "facts")]
    assert "an orange fruit" in records[0].prompt or "a orange fruit" in records[0].prompt


def test_lora_plus_rag(tiny_model: Path, knowledge_suite: Path, tmp_path: Path) -> None:
    if "lora" not in load_plugins().strategies:
        pytest.skip("the lora strategy is not installed")
    strategies = [
        StrategyEntry(name="lora", settings={"max_steps": 1, "batch_size": 2}),
        StrategyEntry(
            name="lora+rag", settings={"lora": {"max_steps": 1, "batch_size": 2}, "rag": {"k": 1}}
        ),
    ]
    outcome = _run(tiny_model, knowledge_suite, tmp_path / "run", strategies)
    assert outcome.exit_code == 0, [c.error for c in outcome.results.cells]
    cells = {c.strategy: c for c in outcome.results.cells}
    assert cells["lora+rag"].cost.trainable_params == cells["lora"].cost.trainable_params > 0
    assert cells["lora+rag"].metrics["recall_at_k"].value == 1.0
    assert math.isnan(cells["lora"].metrics["recall_at_k"].value)
    records = read_predictions(outcome.run_dir / "predictions.jsonl")
    assert DOCUMENTS[0]["text"] in records[("lora+rag", "facts")][0].prompt


# -- bad input: exit 2 ---------------------------------------------------------------


def _cli_run(tiny_model: Path, suite: Path, tmp_path: Path, strategy: Any = "rag") -> int:
    config = tmp_path / "run.yaml"
    config.write_text(
        json.dumps(
            {
                "model": str(tiny_model),
                "suites": [str(suite)],
                "strategies": ["zero-shot", strategy],
                "out": str(tmp_path / "out"),
            }
        ),
        encoding="utf-8",
    )
    return main(["run", str(config)])


@pytest.mark.parametrize(
    ("documents_text", "message"),
    [
        ("", "the corpus has no documents"),
        ("\n\n", "the corpus has no documents"),
        ('{"id": "a", "text": "fine"}\n{"id": "b", "text": \n', "invalid JSON"),
        ('{"id": "a"}\n', "non-empty 'text'"),
    ],
)
def test_empty_or_malformed_suite_corpus_exits_2(
    tiny_model: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    documents_text: str,
    message: str,
) -> None:
    suite = write_knowledge_suite(tmp_path / "bad", documents_text=documents_text)
    assert _cli_run(tiny_model, suite, tmp_path) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("documents_text", "where", "message"),
    [
        (None, "run.yaml", "not found"),
        ("", "updated.jsonl", "the corpus has no documents"),
        ('{"id": "a", "text": "x"}\nnot json\n', "updated.jsonl:2", "invalid JSON"),
        ('{"id": "a", "text": ""}\n', "updated.jsonl:1", "non-empty 'text'"),
        ('{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n', "updated.jsonl:2", "duplicate"),
    ],
)
@pytest.mark.parametrize(
    ("strategy", "field"),
    [("rag", "[strategies[1].corpus]"), ("lora+rag", "[strategies[1].rag.corpus]")],
)
def test_empty_or_malformed_corpus_setting_exits_2(
    tiny_model: Path,
    knowledge_suite: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    documents_text: str | None,
    where: str,
    message: str,
    strategy: str,
    field: str,
) -> None:
    path = tmp_path / "updated.jsonl"
    if documents_text is not None:
        path.write_text(documents_text, encoding="utf-8")
    settings = {"corpus": str(path)}
    entry = {"name": strategy, **(settings if strategy == "rag" else {"rag": settings})}
    assert _cli_run(tiny_model, knowledge_suite, tmp_path, entry) == 2
    err = capsys.readouterr().err
    # one problem naming the file (and line), the setting and one fix
    assert "1 problem found" in err and f"{where}" in err and field in err and message in err
    assert err.count("(fix:") == 1
    assert not (tmp_path / "out").exists()


def test_retrieval_metrics_without_gold_ids_exit_2(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = write_knowledge_suite(tmp_path / "nogold", gold=False)
    text = suite.read_text().replace("metrics: [exact_match]", "metrics: [exact_match, mrr]")
    suite.write_text(text, encoding="utf-8")
    assert main(["validate", str(suite)]) == 2
    assert "needs the ids of the documents" in capsys.readouterr().err


def test_retriever_indexes_each_suite_once(knowledge_suite: Path, tmp_path: Path) -> None:
    suite = load_suite(knowledge_suite)
    retriever = Retriever(_settings(), cache=Cache(tmp_path / "c"), targets=[suite.name])
    first = retriever.index_for(suite)
    assert first is not None and retriever.index_for(suite) is first
    assert retriever.documents(suite) == suite.documents()
