"""Our exact_match / token_f1 reproduce published SQuAD v1.1 dev figures.

Reads the official dev set (two halves) and five leaderboard systems' official
predictions from ../shared/data; skipped when that folder is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.metrics import ExactMatch, ExampleOutput, Metric, TokenF1

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SQUAD = DATA / "squad_v1.1_dev"

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not DATA.is_dir(), reason=f"{DATA} is absent"),
]

# system -> (file name prefix in leaderboard_predictions_v1.1/, EM, F1) from data/README.md
REFERENCE = {
    "BERT ensemble": ("BERT (ensemble)", 86.21, 92.20),
    "r-net+": ("r-net+ (ensemble)", 82.47, 88.48),
    "SLQA+": ("SLQA+ (ensemble)", 81.95, 88.38),
    "Match-LSTM": ("Match-LSTM with Ans-Ptr", 67.63, 76.76),
    "Logistic Regression": ("Logistic Regression Baseline", 40.14, 50.98),
}


@pytest.fixture(scope="module")
def dev_answers() -> dict[str, tuple[str, ...]]:
    answers: dict[str, tuple[str, ...]] = {}
    for half in ("dev-v1.1.json.half_A", "test-v1.1.json.half_B"):
        for article in json.loads((SQUAD / half).read_text(encoding="utf-8"))["data"]:
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    answers[qa["id"]] = tuple(a["text"] for a in qa["answers"])
    assert len(answers) == 10570
    return answers


def percent(metric: Metric, outputs: list[ExampleOutput]) -> float:
    scores = np.array([metric.score(o) for o in outputs])
    return 100 * metric.aggregate(outputs, scores)


@pytest.mark.parametrize("system", REFERENCE)
def test_exact_match_and_f1_reproduce_leaderboard(
    system: str, dev_answers: dict[str, tuple[str, ...]]
) -> None:
    prefix, expected_em, expected_f1 = REFERENCE[system]
    (path,) = (SQUAD / "leaderboard_predictions_v1.1").glob(f"{prefix}*.json")
    predictions: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    n_missing = len(dev_answers.keys() - predictions.keys())
    assert n_missing == (13 if system == "Logistic Regression" else 0)
    outputs = [
        # a question the system did not answer counts as wrong (empty prediction)
        ExampleOutput(example_id=qid, prediction=predictions.get(qid, ""), references=refs)
        for qid, refs in dev_answers.items()
    ]
    assert round(percent(ExactMatch(), outputs), 2) == expected_em
    assert round(percent(TokenF1(), outputs), 2) == expected_f1
