"""No silently wrong numbers from the cache: checksums, coverage, plugin code identity."""

from __future__ import annotations

import importlib
import io
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from rich.console import Console

from harness.cache import MANIFEST, Cache, verify_entry, write_manifest
from harness.config import RunConfig, StrategyEntry
from harness.plugin_manager import load_plugins
from harness.registry import Provenance, code_identity
from harness.runner import Runner, RunOutcome, make_plan

FAST = {"max_steps": 6, "batch_size": 4, "learning_rate": 5e-3}


# -- the manifest --------------------------------------------------------------------


def _entry(cache: Cache, data: bytes = b"0123456789" * 100) -> Path:
    with cache.put("adapters", "k" * 64) as folder:
        (folder / "weights.bin").write_bytes(data)
        (folder / "sub").mkdir()
        (folder / "sub" / "record.json").write_text("{}")
    entry = cache.get("adapters", "k" * 64)
    assert entry is not None
    return entry


def test_a_published_entry_lists_its_files_with_size_and_sha256(tmp_path: Path) -> None:
    import hashlib

    entry = _entry(Cache(tmp_path))
    manifest = json.loads((entry / MANIFEST).read_text())
    assert manifest["files"] == {
        "sub/record.json": {"size": 2, "sha256": hashlib.sha256(b"{}").hexdigest()},
        "weights.bin": {
            "size": 1000,
            "sha256": hashlib.sha256(b"0123456789" * 100).hexdigest(),
        },
    }
    assert verify_entry(entry) is None


def _flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda e: _flip_byte(e / "weights.bin", 500), "weights.bin differs from its checksum"),
        (lambda e: (e / "weights.bin").write_bytes(b"01234"), "weights.bin has 5 bytes"),
        (lambda e: (e / "sub" / "record.json").unlink(), "sub/record.json is missing"),
        (lambda e: (e / "extra.bin").write_bytes(b"x"), "extra.bin is not in its"),
        (lambda e: (e / MANIFEST).unlink(), "no checksum manifest"),
        (lambda e: (e / MANIFEST).write_text("{not json"), "manifest is unreadable"),
    ],
    ids=["flipped", "truncated", "missing", "extra", "no-manifest", "bad-manifest"],
)
def test_a_damaged_entry_is_removed_and_noted(tmp_path: Path, damage, reason: str) -> None:  # type: ignore[no-untyped-def]
    noted: list[str] = []
    cache = Cache(tmp_path, on_note=lambda note: noted.append(str(note)))
    entry = _entry(cache)
    damage(entry)
    assert cache.get("adapters", "k" * 64) is None
    assert not entry.exists() and list((tmp_path / "adapters").iterdir()) == []
    assert len(cache.notes) == 1 and cache.notes[0].kind == "adapters"
    assert reason in cache.notes[0].reason
    assert noted == [f"cache: discarded adapters entry kkkkkkkkkkkk: {cache.notes[0].reason}; "
                     "recomputing"]  # fmt: skip
    assert cache.get("adapters", "k" * 64) is None and len(cache.notes) == 1  # a plain miss now


# -- runs ----------------------------------------------------------------------------


def _run(
    model: Path,
    suites: Sequence[Path],
    out: Path,
    *,
    strategies: Sequence[StrategyEntry] = (StrategyEntry(name="zero-shot"),),
    extra: Sequence[tuple[str, object]] = (),
    max_test_examples: int | None = None,
) -> tuple[RunOutcome, Runner, str]:
    plugins = load_plugins(extra=extra)
    config = RunConfig(
        model=str(model),
        suites=[str(s) for s in suites],
        strategies=list(strategies),
        out=str(out),
        reporters=[],
        bootstrap_resamples=100,
        max_test_examples=max_test_examples,
    )
    console = io.StringIO()
    runner = Runner(make_plan(config, plugins), plugins, console=Console(file=console, width=200))
    outcome = runner.run()
    assert outcome.exit_code == 0, [c.error for c in outcome.results.cells if c.error]
    return outcome, runner, console.getvalue()


def _statuses(outcome: RunOutcome) -> dict[tuple[str, str], str]:
    return {(c.strategy, c.suite): c.status for c in outcome.results.cells}


def _predictions_entry(cache_root: Path, suite: str) -> Path:
    """The cached predictions folder of the only cell on `suite`."""
    found = [
        f
        for f in (cache_root / "predictions").iterdir()
        if f'"suite": "{suite}"' in (f / "predictions.jsonl").read_text()
        or f'"suite":"{suite}"' in (f / "predictions.jsonl").read_text()
    ]
    assert len(found) == 1, found
    return found[0]


@pytest.fixture
def cache_root(tmp_path: Path) -> Path:
    return tmp_path / "harness-cache"  # where conftest points HARNESS_CACHE_DIR


@pytest.mark.parametrize("manifest", ["stale", "rewritten"])
def test_cut_short_predictions_are_recomputed_and_reported(
    manifest: str,
    tiny_model: Path,
    toy_suites: dict[str, Path],
    tmp_path: Path,
    cache_root: Path,
) -> None:
    suites = [toy_suites["toy-colours"], toy_suites["toy-sums"]]
    fresh, _, _ = _run(tiny_model, suites, tmp_path / "a")
    entry = _predictions_entry(cache_root, "toy-colours")
    lines = (entry / "predictions.jsonl").read_text().splitlines(keepends=True)
    (entry / "predictions.jsonl").write_text("".join(lines[: len(lines) * 2 // 3]))
    if manifest == "rewritten":  # checksums that agree: only the coverage check can tell
        write_manifest(entry)
    again, runner, console = _run(tiny_model, suites, tmp_path / "b")
    assert _statuses(again) == {
        ("zero-shot", "toy-colours"): "ok",
        ("zero-shot", "toy-sums"): "cached",
    }
    a, b = (
        fresh.results.cell("zero-shot", "toy-colours"),
        again.results.cell("zero-shot", "toy-colours"),
    )
    assert a is not None and b is not None and a.metrics == b.metrics
    assert [n.kind for n in runner.cache.notes] == ["predictions"]
    reason = runner.cache.notes[0].reason
    if manifest == "stale":
        assert "predictions.jsonl has" in reason and "bytes" in reason
    else:
        assert f"cover {len(lines) * 2 // 3} examples" in reason and "toy-colours" in reason
    assert "cache: discarded predictions entry" in console and reason in console
    third, runner, _ = _run(tiny_model, suites, tmp_path / "c")
    assert set(_statuses(third).values()) == {"cached"} and runner.cache.notes == []


def test_predictions_without_a_manifest_count_as_damaged(
    tiny_model: Path, toy_suites: dict[str, Path], tmp_path: Path, cache_root: Path
) -> None:
    suites = [toy_suites["toy-colours"]]
    _run(tiny_model, suites, tmp_path / "a")
    (_predictions_entry(cache_root, "toy-colours") / MANIFEST).unlink()  # an older harness's
    again, runner, _ = _run(tiny_model, suites, tmp_path / "b")
    assert set(_statuses(again).values()) == {"ok"}
    assert "no checksum manifest" in runner.cache.notes[0].reason


def test_flipped_adapter_weights_of_the_same_size_are_retrained_not_used(
    tiny_model: Path, toy_suites: dict[str, Path], tmp_path: Path, cache_root: Path
) -> None:
    suites = [toy_suites["toy-colours"]]
    lora = [StrategyEntry(name="lora", settings=FAST)]
    _run(tiny_model, suites, tmp_path / "a", strategies=lora, max_test_examples=3)
    (adapter,) = (cache_root / "adapters").iterdir()
    weights = adapter / "adapter_model.safetensors"
    size = weights.stat().st_size
    _flip_byte(weights, size - 100)  # in the tensors' data, past the header
    assert weights.stat().st_size == size
    # more test examples: new predictions, so the adapter is looked up again
    again, runner, console = _run(
        tiny_model, suites, tmp_path / "b", strategies=lora, max_test_examples=4
    )
    cell = again.results.cell("lora", "toy-colours")
    assert cell is not None and cell.status == "ok" and cell.cost.model_extra is not None
    assert cell.cost.model_extra["artifact_cached"] == 0.0, "the damaged adapter was used"
    assert [n.kind for n in runner.cache.notes] == ["adapters"]
    assert "adapter_model.safetensors differs from its checksum" in console
    assert verify_entry(adapter) is None  # retrained and published again
    # retrained from the same seed: the first examples' predictions are the first run's
    # (up to batch-size rounding: four examples are batched, not three)
    first_rows, again_rows = (
        [
            json.loads(line)
            for line in (tmp_path / run / "predictions.jsonl").read_text().splitlines()
        ]
        for run in ("a", "b")
    )
    assert len(first_rows) == 3 and len(again_rows) == 4
    for before, after in zip(first_rows, again_rows, strict=False):
        assert before["example_id"] == after["example_id"]
        assert after["candidate_logprobs"] == pytest.approx(before["candidate_logprobs"], abs=1e-3)


# -- plugin code identity ------------------------------------------------------------

PROBE = '''\
from harness import AdaptContext, Predictor, Strategy, hookimpl


class Probe(Strategy):
    """Prompts as its upstream does (version {version})."""

    name = "{name}"

    def adapt(self, context: AdaptContext) -> Predictor:
        return context.upstream


@hookimpl
def harness_register_strategies(registry):
    registry.add(Probe)
'''


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path for plugin modules (and distributions); cleaned up after."""
    folder = tmp_path / "plugins-on-path"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    before = set(sys.modules)
    try:
        yield folder
    finally:
        for name in set(sys.modules) - before:
            if name.startswith("probe_"):
                del sys.modules[name]


def test_an_edited_plugin_module_recomputes_its_cells_only(
    tiny_model: Path, toy_suites: dict[str, Path], tmp_path: Path, plugin_dir: Path
) -> None:
    module_file = plugin_dir / "probe_edit.py"
    module_file.write_text(PROBE.format(name="edit-probe", version=1))
    module = importlib.import_module("probe_edit")
    suites = [toy_suites["toy-colours"]]
    rows = [StrategyEntry(name="zero-shot"), StrategyEntry(name="edit-probe")]

    def run(out: str) -> tuple[dict[str, str], Runner]:
        outcome, runner, _ = _run(
            tiny_model, suites, tmp_path / out, strategies=rows, extra=[("probe", module)]
        )
        return {c.strategy: c.status for c in outcome.results.cells}, runner

    assert run("a")[0] == {"zero-shot": "ok", "edit-probe": "ok"}
    unchanged, runner = run("b")
    assert unchanged == {"zero-shot": "cached", "edit-probe": "cached"}
    assert runner.cache.notes == []
    module_file.write_text(PROBE.format(name="edit-probe", version=2))
    module = importlib.reload(module)
    assert run("c")[0] == {"zero-shot": "cached", "edit-probe": "ok"}


def _write_distribution(folder: Path, version: str) -> None:
    for old in folder.glob("probe_dist-*.dist-info"):
        for f in old.iterdir():
            f.unlink()
        old.rmdir()
    info = folder / f"probe_dist-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: probe-dist\nVersion: {version}\n")
    (info / "entry_points.txt").write_text("[harness]\nprobe-dist = probe_dist_plugin\n")
    importlib.invalidate_caches()


def test_a_new_version_of_a_plugin_distribution_recomputes_its_cells(
    tiny_model: Path, toy_suites: dict[str, Path], tmp_path: Path, plugin_dir: Path
) -> None:
    (plugin_dir / "probe_dist_plugin.py").write_text(PROBE.format(name="dist-probe", version=1))
    _write_distribution(plugin_dir, "1.0")
    suites = [toy_suites["toy-colours"]]
    rows = [StrategyEntry(name="zero-shot"), StrategyEntry(name="dist-probe")]

    def run(out: str) -> dict[str, str]:
        outcome, _, _ = _run(tiny_model, suites, tmp_path / out, strategies=rows)
        return {c.strategy: c.status for c in outcome.results.cells}

    assert load_plugins().provenance["probe-dist"] == Provenance("probe-dist", "probe-dist", "1.0")
    assert run("a") == {"zero-shot": "ok", "dist-probe": "ok"}
    assert run("b") == {"zero-shot": "cached", "dist-probe": "cached"}
    _write_distribution(plugin_dir, "1.1")
    assert load_plugins().provenance["probe-dist"].version == "1.1"
    assert run("c") == {"zero-shot": "cached", "dist-probe": "ok"}


def test_code_identity_follows_version_and_source() -> None:
    from harness_plugins.prompting import ZeroShot

    released = code_identity(ZeroShot, Provenance("p", "some-dist", "1.0"))
    assert released == {
        "class": "harness_plugins.prompting.ZeroShot",
        "package": "some-dist",
        "version": "1.0",
    }
    assert code_identity(ZeroShot, Provenance("p", "some-dist", "1.1")) != released
    from_file = code_identity(ZeroShot, Provenance("p", "", ""))
    assert len(from_file["source"]) == 64
