"""One real run on a tiny Llama: the results contract, independent metric checks, hooks,
failure isolation and the staged run folder."""

from __future__ import annotations

import json
import math
import re
import string
from collections import Counter
from pathlib import Path

import pytest

from harness import hookimpl
from harness.config import RunConfig, StrategyEntry
from harness.plugin_manager import load_plugins
from harness.results import SCHEMA_VERSION, read_results
from harness.runner import Runner, make_plan
from tests.plugins import failing


class Recorder:
    """Records every lifecycle event, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    @hookimpl
    def harness_run_start(self, event):  # type: ignore[no-untyped-def]
        self.events.append(("run_start", event))

    @hookimpl
    def harness_adapt_start(self, event):  # type: ignore[no-untyped-def]
        self.events.append(("adapt_start", event))

    @hookimpl
    def harness_adapt_end(self, event):  # type: ignore[no-untyped-def]
        self.events.append(("adapt_end", event))

    @hookimpl
    def harness_cell_start(self, event):  # type: ignore[no-untyped-def]
        self.events.append(("cell_start", event))

    @hookimpl
    def harness_cell_end(self, event):  # type: ignore[no-untyped-def]
        self.events.append(("cell_end", event))

    @hookimpl
    def harness_run_end(self, event):  # type: ignore[no-untyped-def]
        self.events.append(("run_end", event))


STRATEGIES = ["zero-shot", "few-shot", "broken-adapt", "broken-on-generation"]


@pytest.fixture(scope="module")
def run(tiny_model: Path, toy_suites: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    recorder = Recorder()
    plugins = load_plugins(extra=[("failing", failing), ("recorder", recorder)])
    config = RunConfig(
        model=str(tiny_model),
        suites=[str(p) for p in toy_suites.values()],
        strategies=[StrategyEntry(name=n) for n in STRATEGIES],
        out=str(tmp_path_factory.mktemp("runs") / "run"),
        bootstrap_resamples=200,
    )
    outcome = Runner(make_plan(config, plugins), plugins).run()
    return outcome, recorder


def test_results_contract(run) -> None:  # type: ignore[no-untyped-def]
    outcome, _ = run
    data = json.loads((outcome.run_dir / "results.json").read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    for key, kind in {"run_id": str, "harness_version": str, "model": str, "seed": int}.items():
        assert isinstance(data[key], kind)
    assert {s["name"] for s in data["suites"]} == {"toy-colours", "toy-echo", "toy-sums"}
    for suite in data["suites"]:
        assert set(suite) >= {"name", "version", "role", "task", "primary_metric", "n_test"}
    assert len(data["cells"]) == len(STRATEGIES) * 3
    for cell in data["cells"]:
        assert cell["status"] in ("ok", "failed", "skipped")
        assert set(cell["cost"]) >= {
            "adapt_seconds",
            "eval_seconds",
            "trainable_params",
            "peak_memory_mb",
            "prompt_tokens_mean",
        }
        if cell["status"] == "ok":
            assert cell["error"] is None
            for metric in cell["metrics"].values():
                lo, hi = metric["ci95"]
                assert lo <= metric["value"] <= hi
            if cell["strategy"] != "zero-shot":
                assert cell["delta_vs_zero_shot"], cell
                for delta in cell["delta_vs_zero_shot"].values():
                    assert 0.0 <= delta["p_value"] <= 1.0
                    assert delta["ci95"][0] <= delta["value"] <= delta["ci95"][1]
    few = next(
        c for c in data["cells"] if c["strategy"] == "few-shot" and c["suite"] == "toy-colours"
    )
    zero = next(
        c for c in data["cells"] if c["strategy"] == "zero-shot" and c["suite"] == "toy-colours"
    )
    assert few["cost"]["prompt_tokens_mean"] > zero["cost"]["prompt_tokens_mean"]
    assert read_results(outcome.run_dir).cells[0].strategy == "zero-shot"
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    assert manifest["packages"]["torch"] and manifest["packages"]["transformers"]
    assert manifest["model"]["sha256"] and set(manifest["suites"]) == {
        "toy-colours",
        "toy-echo",
        "toy-sums",
    }
    assert (outcome.run_dir / "config.yaml").is_file() and (outcome.run_dir / "report.md").is_file()


def test_failing_strategy_fails_only_its_cells(run) -> None:  # type: ignore[no-untyped-def]
    outcome, _ = run
    assert outcome.exit_code == 1
    status = {(c.strategy, c.suite): c for c in outcome.results.cells}
    assert all(
        status[("broken-adapt", s)].status == "failed"
        for s in ("toy-colours", "toy-echo", "toy-sums")
    )
    assert "adapter exploded" in (status[("broken-adapt", "toy-echo")].error or "")
    assert status[("broken-on-generation", "toy-echo")].status == "failed"
    assert status[("broken-on-generation", "toy-colours")].status == "ok"
    assert status[("few-shot", "toy-echo")].status == "ok"
    report = (outcome.run_dir / "report.md").read_text()
    assert "adapter exploded" in report and "failed" in report


def test_lifecycle_hooks_fire_in_order(run) -> None:  # type: ignore[no-untyped-def]
    outcome, recorder = run
    names = [name for name, _ in recorder.events]
    assert names[0] == "run_start" and names[-1] == "run_end"
    assert names.count("adapt_start") == names.count("adapt_end") == len(STRATEGIES)
    assert names.count("cell_start") == names.count("cell_end") == len(STRATEGIES) * 3
    first_adapt_end = names.index("adapt_end")
    assert names.index("cell_start") > first_adapt_end
    failed_adapt = [
        e for n, e in recorder.events if n == "adapt_end" and e.strategy == "broken-adapt"
    ]
    assert "adapter exploded" in failed_adapt[0].error
    assert recorder.events[-1][1].results.run_id == outcome.results.run_id


# -- metrics recomputed from predictions.jsonl by independent code --------------------


def _normalize(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _token_f1(prediction: str, reference: str) -> float:
    p, r = _normalize(prediction).split(), _normalize(reference).split()
    same = sum((Counter(p) & Counter(r)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(r)
    return 2 * precision * recall / (precision + recall)


def _lcs(a: list[str], b: list[str]) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            table[i + 1][j + 1] = (
                table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
            )
    return table[-1][-1]


def _rouge_l(prediction: str, reference: str) -> float:
    p = re.sub(r"[^a-z0-9]+", " ", prediction.lower()).split()
    r = re.sub(r"[^a-z0-9]+", " ", reference.lower()).split()
    lcs = _lcs(p, r)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(p), lcs / len(r)
    return 2 * precision * recall / (precision + recall)


def _macro_f1(pairs: list[tuple[str, str]]) -> float:
    labels = {x for pair in pairs for x in pair}
    f1s = []
    for label in labels:
        tp = sum(1 for p, r in pairs if p == label and r == label)
        fp = sum(1 for p, r in pairs if p == label and r != label)
        fn = sum(1 for p, r in pairs if p != label and r == label)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(f1s) / len(f1s)


def test_results_equal_independent_recomputation(run) -> None:  # type: ignore[no-untyped-def]
    outcome, _ = run
    records = [
        json.loads(line)
        for line in (outcome.run_dir / "predictions.jsonl").read_text().splitlines()
    ]
    results = outcome.results
    checked = 0
    for cell in results.cells:
        if cell.status != "ok":
            continue
        rows = [r for r in records if r["strategy"] == cell.strategy and r["suite"] == cell.suite]
        assert len(rows) == results.suite(cell.suite).n_test
        expected: dict[str, float] = {}
        if cell.suite in ("toy-colours", "toy-sums"):
            for r in rows:  # the prediction is the candidate with the highest log-likelihood
                assert r["prediction"] == max(
                    r["candidate_logprobs"], key=r["candidate_logprobs"].get
                )
            expected["accuracy"] = sum(r["prediction"] == r["reference"][0] for r in rows) / len(
                rows
            )
            if cell.suite == "toy-colours":
                expected["macro_f1"] = _macro_f1(
                    [(r["prediction"], r["reference"][0]) for r in rows]
                )
        else:
            expected["exact_match"] = sum(
                max(_normalize(r["prediction"]) == _normalize(ref) for ref in r["reference"])
                for r in rows
            ) / len(rows)
            expected["token_f1"] = sum(
                max(_token_f1(r["prediction"], ref) for ref in r["reference"]) for r in rows
            ) / len(rows)
            expected["rougeL"] = sum(
                max(_rouge_l(r["prediction"], ref) for ref in r["reference"]) for r in rows
            ) / len(rows)
            expected["perplexity"] = math.exp(
                -sum(r["reference_logprob"] for r in rows)
                / sum(r["reference_tokens"] for r in rows)
            )
        for name, value in expected.items():
            assert cell.metrics[name].value == pytest.approx(value, rel=1e-9, abs=1e-12), (
                cell.strategy,
                cell.suite,
                name,
            )
            checked += 1
    assert checked >= 12


def test_few_shot_prompts_hold_train_examples_only(run, toy_suites: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    from harness.suites import load_suite

    outcome, _ = run
    records = [
        json.loads(line)
        for line in (outcome.run_dir / "predictions.jsonl").read_text().splitlines()
    ]
    zero = {
        (r["suite"], r["example_id"]): r["prompt"] for r in records if r["strategy"] == "zero-shot"
    }
    seen = 0
    for name, path in toy_suites.items():
        suite = load_suite(path)
        train_inputs = {e.input for e in suite.train}
        test_inputs = {e.input for e in suite.test}
        for r in (r for r in records if r["strategy"] == "few-shot" and r["suite"] == name):
            *demos, question = r["prompt"].split("\n\n")
            assert question == zero[(name, r["example_id"])]
            assert len(demos) == 4
            for demo in demos:
                assert any(i in demo for i in train_inputs)
                assert not any(i in demo for i in test_inputs - train_inputs)
            seen += 1
    assert seen == sum(s.n_test for s in outcome.results.suites)


def test_nothing_written_when_the_model_cannot_load(
    toy_suites: dict[str, Path], tmp_path: Path
) -> None:
    from harness.errors import InputError

    plugins = load_plugins()
    out = tmp_path / "never"
    config = RunConfig(
        model=str(tmp_path / "missing-model"), suites=[str(toy_suites["toy-colours"])], out=str(out)
    )
    with pytest.raises(InputError) as info:
        Runner(make_plan(config, plugins), plugins).run()
    assert info.value.problems[0].field == "model"
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_interrupted_run_leaves_no_folder(
    tiny_model: Path, toy_suites: dict[str, Path], tmp_path: Path
) -> None:
    class Interrupt:
        @hookimpl
        def harness_cell_end(self, event):  # type: ignore[no-untyped-def]
            raise KeyboardInterrupt

    # KeyboardInterrupt is not an Exception: hooks record Exceptions, but this one stops the run
    plugins = load_plugins(extra=[("interrupt", Interrupt())])
    out = tmp_path / "run"
    config = RunConfig(
        model=str(tiny_model),
        suites=[str(toy_suites["toy-sums"])],
        strategies=[StrategyEntry(name="zero-shot")],
        out=str(out),
    )
    with pytest.raises(KeyboardInterrupt):
        Runner(make_plan(config, plugins), plugins).run()
    assert [p.name for p in tmp_path.iterdir() if p.name != "harness-cache"] == []
