"""The myths lab's verdicts on constructed results with a known answer, and its suites."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness.analysis import Comparison, Curve, CurvePoint, MatchedGain, MatchedPair, TradeoffPoint
from harness.cli import main
from harness.errors import InputError
from harness.lab.myths import (
    check_myths_out,
    data_efficiency_verdict,
    facts_verdict,
    forgetting_verdict,
    lora_cost_verdict,
    lora_forgets_verdict,
    prompting_verdict,
    write_facts_suites,
)

ROOT = Path(__file__).resolve().parents[2]


def c(difference: float, p: float) -> Comparison:
    return Comparison(
        difference, (difference - 0.05, difference + 0.05), p, "replicate-t", True, 100
    )


def curve(xs: list[float], plateau: int) -> Curve:
    points = tuple(
        CurvePoint(x, f"sft[max_train_examples={x:g}]", 0.5 + 0.1 * i, (0.4, 0.9), 2)
        for i, x in enumerate(xs)
    )
    return Curve(
        "max_train_examples",
        "t",
        "accuracy",
        points,
        plateau,
        title="data-efficiency curve",
        base="sft",
    )


def test_data_efficiency() -> None:
    # plateau at 100 examples and better than the best prompt: holds
    holds = data_efficiency_verdict(curve([25, 100, 300], 1), c(0.4, 0.001))
    assert holds.verdict == "holds"
    assert "at 100 examples" in holds.figure and "+0.400" in holds.figure
    # plateau, but the prompt is as good: inconclusive; the prompt is better: does not hold
    assert data_efficiency_verdict(curve([25, 100, 300], 1), c(0.02, 0.6)).verdict == "inconclusive"
    assert (
        data_efficiency_verdict(curve([25, 100, 300], 1), c(-0.2, 0.01)).verdict == "does not hold"
    )
    # still improving at the last point: below 1,000 examples we cannot tell; past it, no
    assert (
        data_efficiency_verdict(curve([25, 100, 300], 2), c(0.4, 0.001)).verdict == "inconclusive"
    )
    assert (
        data_efficiency_verdict(curve([100, 1000, 3000], 2), c(0.4, 0.001)).verdict
        == "does not hold"
    )
    assert data_efficiency_verdict(None, None).verdict == "inconclusive"


def test_lora_cost() -> None:
    sft = {
        "trainable_params": 1_000_000,
        "artifact_bytes": 4_000_000,
        "train_seconds": 100,
        "peak_memory_mb": 600,
    }
    cheaper = {
        "trainable_params": 40_000,
        "artifact_bytes": 160_000,
        "train_seconds": 60,
        "peak_memory_mb": 500,
    }
    verdict = lora_cost_verdict(sft, cheaper)
    assert verdict.verdict == "holds"
    assert (
        verdict.figure
        == "trainable parameters -96%, artifact size -96%, training time -40%, peak memory -17%"
    )
    slower = {**cheaper, "train_seconds": 235}
    verdict = lora_cost_verdict(sft, slower)
    assert verdict.verdict == "does not hold" and "training time +135%" in verdict.figure
    assert (
        lora_cost_verdict(
            sft, {**cheaper, "trainable_params": 200_000, "artifact_bytes": 800_000}
        ).verdict
        == "does not hold"
    )
    assert lora_cost_verdict(sft, {"trainable_params": 1}).verdict == "inconclusive"


def test_forgetting() -> None:
    assert forgetting_verdict(c(0.3, 0.001), c(-0.2, 0.001)).verdict == "holds"
    assert forgetting_verdict(c(0.3, 0.001), c(-0.02, 0.5)).verdict == "inconclusive"
    assert forgetting_verdict(c(0.3, 0.001), c(0.1, 0.01)).verdict == "does not hold"
    # no forgetting at all: the CI lies at or below 0
    assert forgetting_verdict(c(-0.1, 0.01), None).verdict == "does not hold"
    assert forgetting_verdict(None, None).verdict == "inconclusive"


def test_facts_and_prompting() -> None:
    assert facts_verdict(c(0.8, 0.001)).verdict == "holds"
    assert facts_verdict(c(-0.3, 0.001)).verdict == "does not hold"
    assert facts_verdict(c(0.01, 0.7)).verdict == "inconclusive"
    assert facts_verdict(None).verdict == "inconclusive"
    assert prompting_verdict({"a": c(0.01, 0.8), "b": c(-0.1, 0.01)}).verdict == "holds"
    assert prompting_verdict({"a": c(0.6, 0.001), "b": c(0.2, 0.01)}).verdict == "does not hold"
    mixed = prompting_verdict({"a": c(0.6, 0.001), "b": c(0.0, 1.0)})
    assert mixed.verdict == "inconclusive" and mixed.detail == "beaten on a only"


def matched(difference: float, p: float) -> MatchedGain:
    lora = TradeoffPoint("lora[x]", "lora", ("t",), 0.8, (0.7, 0.9), 0.3, (0.2, 0.4))
    sft = TradeoffPoint("sft[x]", "sft", ("t",), 0.8, (0.7, 0.9), 0.3 - difference, (0.2, 0.4))
    return MatchedGain("lora", "sft", 0.05, (MatchedPair(lora, sft, c(difference, p), p),))


def test_lora_learns_less_and_forgets_less() -> None:
    assert lora_forgets_verdict(c(-0.2, 0.001), matched(-0.2, 0.001)).verdict == "holds"
    # learns as much, forgets more at matched gain: does not hold
    verdict = lora_forgets_verdict(c(0.0, 1.0), matched(0.4, 0.001))
    assert verdict.verdict == "does not hold"
    assert "drop of lora[x] minus sft[x] +0.400" in verdict.figure
    assert lora_forgets_verdict(c(0.2, 0.001), matched(-0.2, 0.001)).verdict == "does not hold"
    assert lora_forgets_verdict(c(-0.2, 0.001), matched(-0.01, 0.6)).verdict == "inconclusive"
    assert lora_forgets_verdict(None, None).verdict == "inconclusive"


def test_facts_suites_change_every_value(tmp_path: Path) -> None:
    (changed, before), updated = write_facts_suites(ROOT / "suites" / "demo-catalog-qa", tmp_path)

    def rows(path: Path) -> list[dict[str, object]]:
        return [json.loads(line) for line in path.read_text().splitlines()]

    new, old = (
        rows(changed.parent / "data" / "test.jsonl"),
        rows(before.parent / "data" / "test.jsonl"),
    )
    assert len(new) == len(old) == 200
    assert all(
        a["input"] == b["input"] and a["target"] != b["target"]
        for a, b in zip(new, old, strict=True)
    )
    # the fine-tune learns the old facts; the updated documents hold the new ones
    learned = rows(changed.parent / "data" / "train.jsonl")
    assert [(r["input"], r["target"]) for r in learned] == [(r["input"], r["target"]) for r in old]
    assert not {r["id"] for r in learned} & {r["id"] for r in new}
    texts = "\n".join(str(d["text"]) for d in rows(updated))
    assert all(f"{r['input']} {r['target']}" in texts for r in new)
    assert yaml.safe_load(before.read_text())["role"] == "forgetting"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--suites", "no-such-suite"], "--suites [suites]: no suite named 'no-such-suite'"),
        (["--model", "/no/such/model"], "[model]: model path does not exist"),
        (["--replicates", "0"], "argument --replicates: must be a whole number of at least 1"),
        (["--max-test-examples", "0"], "argument --max-test-examples"),
    ],
)
def test_myths_bad_input_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    out = tmp_path / "myths"
    argv = ["lab", "myths", "--out", str(out), "--cache-dir", str(tmp_path / "cache"), *args]
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own refusals
        code = int(e.code or 0)
    assert code == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert not out.exists() and not (tmp_path / "cache").exists()


def test_myths_refuses_a_folder_it_did_not_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me", encoding="utf-8")
    assert main(["lab", "myths", "--out", str(out)]) == 2
    assert "holds files the myths lab did not write: notes.txt" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_myths_may_write_over_an_earlier_myths_report(tmp_path: Path) -> None:
    out = tmp_path / "myths"
    for folder in ("main", "facts", "suites"):
        (out / folder).mkdir(parents=True)
    (out / "myths.html").write_text("<html></html>", encoding="utf-8")
    check_myths_out(out)  # an earlier report: accepted, to be replaced
    (out / "draft.md").write_text("mine", encoding="utf-8")
    with pytest.raises(InputError, match=r"draft\.md"):
        check_myths_out(out)
