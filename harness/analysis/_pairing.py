"""Replicates of a cell, and the pairing of two cells' outputs by example id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.analysis._bootstrap import as_scores
from harness.metrics import ExampleOutput


@dataclass(frozen=True, eq=False)
class Replicate:
    """One trained system's outputs on a cell's test examples, with per-example scores.

    A cell evaluated after training with R different training seeds has R replicates on
    the same test examples; a cell of a system that is not trained (zero-shot) or trained
    once has one.
    """

    outputs: tuple[ExampleOutput, ...]
    scores: np.ndarray

    def __init__(self, outputs: Sequence[ExampleOutput], scores: Sequence[float] | np.ndarray):
        object.__setattr__(self, "outputs", tuple(outputs))
        object.__setattr__(self, "scores", as_scores(self.outputs, np.asarray(scores)))

    @property
    def example_ids(self) -> list[str]:
        return [o.example_id for o in self.outputs]


#: a cell as the analysis sees it: one replicate, or one per training seed
CellOutputs = Replicate | Sequence[Replicate]


def as_replicates(cell: CellOutputs) -> tuple[Replicate, ...]:
    """The replicates of a cell (a single `Replicate` is a cell with one)."""
    replicates = (cell,) if isinstance(cell, Replicate) else tuple(cell)
    if not replicates:
        raise ValueError("a cell needs at least one replicate")
    return replicates


@dataclass(frozen=True)
class PairedCells:
    """Two cells' replicates on the same examples, every one in the order of `example_ids`."""

    example_ids: tuple[str, ...]
    a: tuple[Replicate, ...]
    b: tuple[Replicate, ...]


def pair(a: CellOutputs, b: CellOutputs) -> PairedCells:
    """Match two cells' outputs by `example_id`, in one canonical order (sorted ids).

    Raises `ValueError` when an id repeats within a replicate, or when the replicates of
    either cell, or the two cells, were scored on different example sets. The order of
    the outputs does not matter: the same examples always pair the same way, so every
    view of a comparison draws the same bootstrap resamples.
    """
    a_replicates, b_replicates = as_replicates(a), as_replicates(b)
    ids = _ids(a_replicates[0])
    for side, replicates in (("first", a_replicates), ("second", b_replicates)):
        for replicate in replicates:
            other = _ids(replicate)
            if other != ids:
                example = sorted(set(ids) ^ set(other))[:5]
                raise ValueError(
                    "paired comparison: the two systems were scored on different examples "
                    f"(e.g. {example}, {side} system)"
                )
    order = sorted(ids)
    return PairedCells(
        tuple(order),
        tuple(_reorder(r, order) for r in a_replicates),
        tuple(_reorder(r, order) for r in b_replicates),
    )


def _ids(replicate: Replicate) -> frozenset[str]:
    ids = replicate.example_ids
    unique = frozenset(ids)
    if len(unique) != len(ids):
        raise ValueError("paired comparison: example ids repeat within a system")
    return unique


def _reorder(replicate: Replicate, order: Sequence[str]) -> Replicate:
    position = {example_id: i for i, example_id in enumerate(replicate.example_ids)}
    index = [position[i] for i in order]
    return Replicate([replicate.outputs[i] for i in index], replicate.scores[index])
