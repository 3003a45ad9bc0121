"""A corpus of realistic bad inputs: each is one clear error, exit code 2, nothing written.

Every case builds real files in a temporary folder, runs the real command line and checks
that it exits with 2, prints no traceback, names the file (or flag) and the field, and
leaves no run folder, no cache entry and the user's files as they were.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.cli import main
from tests.suite_factory import default_records, write_jsonl, write_suite


@dataclass
class Case:
    """The folder a case writes its inputs into, and where a run would write."""

    root: Path
    tiny_model: Path

    @property
    def inputs(self) -> Path:
        return self.root / "inputs"

    @property
    def out(self) -> Path:
        return self.root / "run"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    def suite(self, name: str = "toy", **kwargs: object) -> Path:
        return write_suite(self.inputs / "suites", name=name, **kwargs)  # type: ignore[arg-type]

    def model(self) -> Path:
        """A private copy of the tiny model, for a case to break."""
        target = self.inputs / "model"
        if not target.exists():
            shutil.copytree(self.tiny_model, target)
        return target

    def config(self, text: str, name: str = "run.yaml") -> Path:
        path = self.inputs / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def run_args(
        self, *extra: str, suites: str | None = None, model: str | None = None
    ) -> list[str]:
        return [
            "run",
            "--model",
            model if model is not None else str(self.tiny_model),
            "--suites",
            suites if suites is not None else str(self.suite()),
            "--strategies",
            "zero-shot",
            "--out",
            str(self.out),
            "--cache-dir",
            str(self.cache),
            *extra,
        ]

    def config_run(self, body: str, *extra: str) -> list[str]:
        """`harness run CONFIG` with a config of `body` plus a valid model and suite."""
        text = f"model: {self.tiny_model}\nsuites: [{self.suite()}]\n{body}"
        return [
            "run",
            str(self.config(text)),
            "--out",
            str(self.out),
            "--cache-dir",
            str(self.cache),
            *extra,
        ]


#: a case writes its inputs and returns the argv and the texts the error must contain
Builder = Callable[[Case], tuple[list[str], list[str]]]


def _snapshot(folder: Path) -> dict[str, bytes]:
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _exit_code(argv: list[str]) -> int:
    """`harness.cli.main` in process; argparse's own refusals exit through SystemExit."""
    try:
        return main(argv)
    except SystemExit as e:
        return int(e.code or 0)


def _assert_refused(
    case: Case, argv: list[str], expected: list[str], output: str, code: int
) -> None:
    assert code == 2, output
    assert "Traceback" not in output, output
    for text in expected:
        assert text in output, f"{text!r} not in:\n{output}"
    assert not case.out.exists(), "a run folder was written"
    assert not case.cache.exists() or not any(case.cache.rglob("*")), "the cache was written"
    assert not (case.root / "reports").exists()


# -- flags of `harness run` ----------------------------------------------------------------


def _flag(flag: str, value: str) -> Builder:
    return lambda case: (case.run_args(flag, value), [flag])


FLAG_CASES: dict[str, Builder] = {
    "batch-size-zero": _flag("--batch-size", "0"),
    "batch-size-negative": _flag("--batch-size", "-4"),
    "batch-size-not-a-number": _flag("--batch-size", "many"),
    "max-test-examples-zero": _flag("--max-test-examples", "0"),
    "max-test-examples-negative": _flag("--max-test-examples", "-1"),
    "max-test-examples-fraction": _flag("--max-test-examples", "1.5"),
    "seed-negative": _flag("--seed", "-1"),
    "seed-not-a-number": _flag("--seed", "abc"),
    "device-unknown": _flag("--device", "gpu"),
    "device-bad-index": _flag("--device", "cuda:x"),
    "dtype-unknown": _flag("--dtype", "int8"),
    "dtype-misspelled": _flag("--dtype", "float33"),
    "chat-template-unknown": _flag("--chat-template", "maybe"),
    "strategies-empty": lambda case: (
        [*case.run_args(), "--strategies", " , "],
        ["--strategies"],
    ),
    "suites-empty": lambda case: (case.run_args(suites=","), ["--suites"]),
    "replicates-huge": _flag("--replicates", "100000000000000000000"),
    "seed-past-32-bits": _flag("--seed", "4294967296"),
    "model-empty": lambda case: (case.run_args(model=""), ["[model]", "empty"]),
}


# -- run configs --------------------------------------------------------------------------


def _config_file(raw: bytes) -> Builder:
    def build(case: Case) -> tuple[list[str], list[str]]:
        path = case.inputs / "run.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)
        return ["run", str(path), "--out", str(case.out), "--cache-dir", str(case.cache)], [
            str(path)
        ]

    return build


def _config_body(body: str, *expected: str) -> Builder:
    def build(case: Case) -> tuple[list[str], list[str]]:
        argv = case.config_run(body)
        return argv, [str(case.inputs / "run.yaml"), *expected]

    return build


CONFIG_CASES: dict[str, Builder] = {
    "config-empty": _config_file(b""),
    "config-only-comments": _config_file(b"# model: gpt2\n# suites: [sst2]\n"),
    "config-utf16": _config_file("seed: 1\nmodel: é\n".encode("utf-16")),
    "config-latin1": _config_file("seed: 1\n# café\nmodel: caf\xe9\n".encode("latin-1")),
    "config-binary": _config_file(bytes(range(256)) * 4),
    "config-duplicate-key": _config_body(
        "strategies: [zero-shot]\nseed: 1\nstrategies: [few-shot]\n",
        "strategies",
        "lines 3 and 5",
    ),
    "config-device-unknown": _config_body("device: tpu\n", "[device]", "unknown device"),
    "config-dtype-unknown": _config_body("dtype: int4\n", "[dtype]", "unknown dtype"),
    "config-seed-negative": _config_body("seed: -3\n", "[seed]"),
    "config-batch-size-zero": _config_body("batch_size: 0\n", "[batch_size]"),
    "config-max-test-examples-text": _config_body(
        "max_test_examples: all\n", "[max_test_examples]"
    ),
    "config-decision-quality-suite-not-in-run": _config_body(
        "decision: {quality_suites: [toy, tickets]}\n",
        "[decision.quality_suites[1]]",
        "suite 'tickets' is not in the run",
    ),
    "config-model-empty-text": lambda case: (
        [
            "run",
            str(case.config(f"model: ''\nsuites: [{case.suite()}]\n")),
            "--out",
            str(case.out),
            "--cache-dir",
            str(case.cache),
        ],
        [str(case.inputs / "run.yaml"), "[model]"],
    ),
    "config-row-model-missing": lambda case: (
        case.config_run(
            "strategies: [zero-shot, {name: zero-shot, label: other, model: "
            f"{case.inputs / 'no-such-model'}}}]\n"
        ),
        [str(case.inputs / "no-such-model"), "[strategies[1].model]", "does not exist"],
    ),
    "config-replicates-huge": _config_body(
        "replicates: 100000000000000000000\n", "[replicates]", "1000"
    ),
    "config-replicates-true": _config_body("replicates: true\n", "[replicates]", "got true"),
    "config-replicate-seeds-past-the-largest": _config_body(
        "seed: 4294967295\nreplicates: 2\n", "[replicates]", "4294967296"
    ),
    "config-seed-past-32-bits": _config_body("seed: 4294967296\n", "[seed]"),
    "config-batch-size-true": _config_body("batch_size: true\n", "[batch_size]", "got true"),
    "config-timeout-infinite": _config_body(
        "strategies: [{name: zero-shot, timeout: .inf}]\n",
        "[strategies.0.timeout]",
        "null for no limit",
    ),
    "config-timeout-nan": _config_body(
        "strategies: [{name: zero-shot, timeout: .nan}]\n", "[strategies.0.timeout]"
    ),
    "config-timeout-true": _config_body(
        "strategies: [{name: zero-shot, timeout: true}]\n", "[strategies.0.timeout]", "got true"
    ),
    "config-timeouts-cell-infinite": _config_body(
        "strategies: [{name: zero-shot, timeout: {cell: .inf}}]\n", "timeout.Timeouts.cell]"
    ),
    "config-cell-timeout-huge": _config_body("cell_timeout: 1.0e+300\n", "[cell_timeout]"),
    "config-adapt-timeout-infinite": _config_body("adapt_timeout: .inf\n", "[adapt_timeout]"),
    "config-executor-cpus-true": _config_body(
        "executor: {name: ray, cpus_per_unit: true}\n", "[executor.cpus_per_unit]"
    ),
    "config-label-climbs-out": _config_body(
        "strategies: [zero-shot, {name: few-shot, label: '../../outside'}]\n",
        "[strategies.1.label]",
        "not a plain name",
    ),
    "config-label-dot-dot": _config_body(
        "strategies: [zero-shot, {name: few-shot, label: '..'}]\n", "[strategies.1.label]"
    ),
    "config-label-empty": _config_body(
        "strategies: [zero-shot, {name: few-shot, label: ''}]\n", "[strategies.1.label]", "empty"
    ),
    "config-label-line-break": _config_body(
        'strategies: [zero-shot, {name: few-shot, label: "a\\nb"}]\n', "[strategies.1.label]"
    ),
    "config-tracking-unknown-reporter": _config_body(
        "tracking: {mlflw: {experiment: x}}\n", "[tracking.mlflw]", "['mlflow', 'wandb']"
    ),
    "config-tracking-mlflow-unknown-setting": _config_body(
        "reporters: [terminal, mlflow]\ntracking: {mlflow: {experment: x}}\n",
        "[tracking.mlflow.experment]",
        "unknown setting",
    ),
    "config-tracking-mlflow-wrong-type": _config_body(
        "reporters: [terminal, mlflow]\ntracking: {mlflow: {nested_runs: maybe}}\n",
        "[tracking.mlflow.nested_runs]",
    ),
    "config-tracking-wandb-mode": _config_body(
        "reporters: [terminal, wandb]\ntracking: {wandb: {mode: offlin}}\n",
        "[tracking.wandb.mode]",
    ),
    "config-is-a-folder": lambda case: (
        ["run", str(case.suite().parent), "--out", str(case.out), "--cache-dir", str(case.cache)],
        [str(case.suite().parent), "folder"],
    ),
}


# -- suites and their data -----------------------------------------------------------------


def _suite_file(mutate: Callable[[Path], None], field: str = "") -> Builder:
    """Break the suite file itself; the error names it (and `field` where given)."""

    def build(case: Case) -> tuple[list[str], list[str]]:
        path = case.suite()
        mutate(path)
        return case.run_args(suites=str(path)), [str(path), *([f"[{field}]"] if field else [])]

    return build


def _data_file(split: str, raw: bytes, *expected: str) -> Builder:
    def build(case: Case) -> tuple[list[str], list[str]]:
        path = case.suite()
        data = path.parent / "data" / f"{split}.jsonl"
        data.write_bytes(raw)
        return case.run_args(suites=str(path)), [f"{data}:", *expected]

    return build


def _records(split: str = "train") -> bytes:
    return "".join(
        json.dumps(r, ensure_ascii=False) + "\n" for r in default_records("classification", split)
    ).encode()


def _gold_suite(
    documents: list[dict[str, object]], gold: list[object], *expected: str, in_data: bool = True
) -> Builder:
    def build(case: Case) -> tuple[list[str], list[str]]:
        test = default_records("classification", "test")
        for record, ids in zip(test, gold, strict=False):
            record["docs"] = ids
        path = case.suite(
            test=test,
            documents=documents,
            yaml_overrides={"fields": {"gold_documents": "docs"}},
        )
        where = path.parent / "data" / ("test.jsonl" if in_data else "documents.jsonl")
        return case.run_args(suites=str(path)), [str(where), *expected]

    return build


DOCS = [{"id": "d1", "text": "one"}, {"id": "d2", "text": "two"}]

SUITE_CASES: dict[str, Builder] = {
    "suite-duplicate-key": _suite_file(
        lambda p: p.write_text(p.read_text() + "task: generation\n"), "task"
    ),
    "suite-latin1": _suite_file(
        lambda p: p.write_bytes(p.read_bytes().replace(b"a toy", "\xe9t\xe9".encode("latin-1")))
    ),
    "suite-utf16": _suite_file(lambda p: p.write_bytes(p.read_text().encode("utf-16"))),
    "suite-binary": _suite_file(lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")),
    "data-latin1": _data_file(
        "train", _records().replace(b"text number 1", "caf\xe9".encode("latin-1")), "UTF-8"
    ),
    "data-utf16": _data_file("test", _records("test").decode().encode("utf-16"), "UTF-8"),
    "data-binary": _data_file("validation", bytes(range(128, 256)) * 8, "UTF-8"),
    "data-nul-bytes": _data_file("test", b'{"id": "a", "input": "x\x00", \x00\x00}\n', "JSON"),
    "data-bom-in-middle": _data_file("test", b'{"id": 1}\n\xef\xbb\xbf{"id": 2}\n', "JSON"),
    "knowledge-duplicate-ids": _gold_suite(
        [*DOCS, {"id": "d1", "text": "again"}],
        [],
        "[id]",
        "duplicate document id 'd1'",
        in_data=False,
    ),
    "knowledge-latin1": lambda case: _broken_corpus(case),
    "gold-documents-not-in-corpus": _gold_suite(
        DOCS, [["d1"], ["d9"]], "[docs]", "'d9'", "not in the knowledge corpus"
    ),
    "gold-documents-wrong-type": _gold_suite(DOCS, [{"id": "d1"}], "[docs]", "not a document id"),
    "few-shot-target-without-train": lambda case: (
        [*case.run_args(suites=str(case.suite(train=None))), "--strategies", "few-shot"],
        [str(case.suite(train=None)), "[splits.train]", "'few-shot'"],
    ),
    "sft-target-without-train": lambda case: _no_train(case, "sft"),
    "lora-target-without-train": lambda case: _no_train(case, "lora"),
    "multitask-target-without-train": lambda case: _no_train(case, "multitask"),
    "lora+rag-target-without-train": lambda case: _no_train(case, "lora+rag"),
    "few-shot-forgetting-without-train": lambda case: _few_shot_forgetting(case),
    "labels-unquoted-yes-no": lambda case: (
        case.run_args(suites=str(case.suite(yaml_overrides={"labels": [True, False]}))),
        ["1 problem found", "[labels]", "label True is not text", "quote the labels"],
    ),
    "dataset-id-empty": lambda case: _dataset_split(case, {"dataset": "", "split": "test"}),
    "dataset-files-latin1": lambda case: _dataset_split(
        case, {"dataset": "json", "split": "train", "data_files": "data/latin1.jsonl"}
    ),
}


def _dataset_split(case: Case, test: dict[str, str]) -> tuple[list[str], list[str]]:
    """The test split read with `datasets` (a Latin-1 file beside it for `data_files`)."""
    pytest.importorskip("datasets")
    path = case.suite(yaml_overrides={"splits": {"test": test}})
    (path.parent / "data" / "latin1.jsonl").write_bytes(
        '{"id": "t", "input": "caf\xe9", "target": "positive"}\n'.encode("latin-1")
    )
    expected = ["[splits.test.dataset]"] if not test["dataset"] else ["dataset json", "UTF-8"]
    return case.run_args(suites=str(path)), expected


def _broken_corpus(case: Case) -> tuple[list[str], list[str]]:
    path = case.suite(documents=DOCS)
    corpus = path.parent / "data" / "documents.jsonl"
    corpus.write_bytes('{"id": "d1", "text": "caf\xe9"}\n'.encode("latin-1"))
    return case.run_args(suites=str(path)), [f"{corpus}:1", "UTF-8"]


def _no_train(case: Case, strategy: str) -> tuple[list[str], list[str]]:
    path = case.suite(train=None)
    argv = case.run_args(suites=str(path))
    argv[argv.index("--strategies") + 1] = f"zero-shot,{strategy}"
    return argv, [str(path), "[splits.train]", f"row '{strategy}'"]


def _few_shot_forgetting(case: Case) -> tuple[list[str], list[str]]:
    target = case.suite("target")
    watched = case.suite("watched", train=None, yaml_overrides={"role": "forgetting"})
    argv = case.run_args(suites=f"{target},{watched}")
    argv[argv.index("--strategies") + 1] = "zero-shot,few-shot"
    return argv, [str(watched), "[splits.train]", "'watched'"]


# -- local model folders -------------------------------------------------------------------


def _model(mutate: Callable[[Path], Path], *expected: str) -> Builder:
    """Break a copy of the tiny model; the error names the file `mutate` returns."""

    def build(case: Case) -> tuple[list[str], list[str]]:
        folder = case.model()
        named = mutate(folder)
        return case.run_args(model=str(folder)), [str(named), *expected]

    return build


def _truncate(folder: Path) -> Path:
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100_000])
    return weights


def _garble_header(folder: Path) -> Path:
    weights = folder / "model.safetensors"
    weights.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all" + b"\x00" * 64)
    return weights


def _cut_config(folder: Path) -> Path:
    config = folder / "config.json"
    config.write_text(config.read_text()[:40])
    return config


def _config_without_type(folder: Path) -> Path:
    config = folder / "config.json"
    data = json.loads(config.read_text())
    del data["model_type"]
    config.write_text(json.dumps(data))
    return config


def _no_tokenizer(folder: Path) -> Path:
    (folder / "tokenizer.json").unlink()
    return folder


def _no_weights(folder: Path) -> Path:
    (folder / "model.safetensors").unlink()
    return folder


def _bad_bin(folder: Path) -> Path:
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"PK\x03\x04 cut short")
    return folder / "pytorch_model.bin"


def _missing_shard(folder: Path) -> Path:
    index = folder / "model.safetensors.index.json"
    index.write_text(
        json.dumps({"weight_map": {"lm_head.weight": "model-00002-of-00002.safetensors"}})
    )
    return index


MODEL_CASES: dict[str, Builder] = {
    "model-truncated-safetensors": _model(_truncate, "[model]"),
    "model-garbled-safetensors-header": _model(_garble_header, "[model]"),
    "model-cut-config-json": _model(_cut_config, "[model]", "config.json"),
    "model-config-without-model-type": _model(_config_without_type, "[model_type]"),
    "model-without-tokenizer": _model(_no_tokenizer, "[model]", "tokenizer"),
    "model-without-weights": _model(_no_weights, "[model]", "no weights"),
    "model-bin-not-an-archive": _model(_bad_bin, "[model]"),
    "model-index-names-a-missing-shard": _model(_missing_shard, "[weight_map]", "00002"),
    "model-path-is-a-file": lambda case: (
        case.run_args(model=str(case.config("x: 1\n", "model.txt"))),
        [str(case.inputs / "model.txt"), "[model]"],
    ),
}


# -- models trained elsewhere: `adapter` folders ------------------------------------------

PEFT_CONFIG = {"peft_type": "LORA", "r": 4, "target_modules": ["q_proj"]}


def _adapter(files: dict[str, bytes], *expected: str) -> Builder:
    """An `adapter` row whose folder holds `files`; the error names the row and the file."""

    def build(case: Case) -> tuple[list[str], list[str]]:
        folder = case.inputs / "adapter"
        folder.mkdir(parents=True)
        for name, raw in files.items():
            (folder / name).write_bytes(raw)
        body = f"strategies: [zero-shot, {{name: adapter, path: {folder}}}]\n"
        return case.config_run(body), [str(case.inputs / "run.yaml"), "[strategies[1]]", *expected]

    return build


ADAPTER_CASES: dict[str, Builder] = {
    "adapter-config-not-json": _adapter(
        {"adapter_config.json": b"{not json", "adapter_model.safetensors": b""},
        "adapter_config.json",
        "not valid JSON",
    ),
    "adapter-config-not-peft": _adapter(
        {"adapter_config.json": b'{"model_type": "llama"}'}, "adapter_config.json", "peft_type"
    ),
    "adapter-without-weights": _adapter(
        {"adapter_config.json": json.dumps(PEFT_CONFIG).encode()}, "no adapter weights"
    ),
    "adapter-weights-garbled": _adapter(
        {
            "adapter_config.json": json.dumps(PEFT_CONFIG).encode(),
            "adapter_model.safetensors": b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all",
        },
        "adapter_model.safetensors",
        "unreadable",
    ),
}

# -- hosted models: `model: {backend: openai, ...}` ----------------------------------------


def _openai(settings: str, *expected: str) -> Builder:
    """A run on an OpenAI-compatible server (never reached: the settings are refused)."""

    def build(case: Case) -> tuple[list[str], list[str]]:
        model = "{backend: openai, name: m, base_url: 'http://127.0.0.1:9/v1', api_key_env: null"
        path = case.config(f"model: {model}, {settings}}}\nsuites: [{case.suite()}]\n")
        argv = ["run", str(path), "--out", str(case.out), "--cache-dir", str(case.cache)]
        return argv, [str(path), "[model]", *expected]

    return build


HOSTED_CASES: dict[str, Builder] = {
    "openai-timeout-infinite": _openai("timeout: .inf", "timeout"),
    "openai-price-nan": _openai("price_input_per_million: .nan", "price"),
}

RUN_CASES = {
    **FLAG_CASES,
    **CONFIG_CASES,
    **SUITE_CASES,
    **MODEL_CASES,
    **ADAPTER_CASES,
    **HOSTED_CASES,
}


@pytest.mark.parametrize("build", RUN_CASES.values(), ids=RUN_CASES.keys())
def test_bad_input_to_run_is_one_clear_error_and_nothing_is_written(
    build: Builder,
    tiny_model: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # datasets caches what it builds: in this test's folder, never the user's cache
    try:
        import datasets
    except ImportError:
        pass
    else:
        monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    case = Case(tmp_path, tiny_model)
    argv, expected = build(case)
    before = _snapshot(case.inputs)
    code = _exit_code(argv)
    captured = capsys.readouterr()
    _assert_refused(case, argv, expected, captured.out + captured.err, code)
    assert _snapshot(case.inputs) == before, "an input file was changed"


# -- `harness validate` catches the same problems before a run -----------------------------


def _validate_config(body: str, *expected: str) -> Builder:
    def build(case: Case) -> tuple[list[str], list[str]]:
        text = f"suites: [{case.suite()}]\n{body}"
        path = case.config(text)
        return ["validate", str(path)], [str(path), *expected]

    return build


VALIDATE_CASES: dict[str, Builder] = {
    "validate-device": _validate_config("device: gpu0\n", "[device]"),
    "validate-dtype": _validate_config("dtype: fp8\n", "[dtype]"),
    "validate-empty-config": _config_file(b"\n"),
    "validate-tracking-setting": _validate_config(
        "tracking: {wandb: {projct: x}}\n", "[tracking.wandb.projct]"
    ),
    "validate-duplicate-key": _validate_config("seed: 1\nseed: 2\n", "[seed]", "lines 2 and 3"),
    "validate-sft-without-train": lambda case: (
        ["validate", str(case.config(f"suites: [{case.suite(train=None)}]\nstrategies: [sft]\n"))],
        [str(case.suite(train=None)), "[splits.train]", "'sft'"],
    ),
    "validate-truncated-model": lambda case: (
        [
            "validate",
            str(case.config(f"model: {case.model()}\nsuites: [{case.suite()}]\n")),
        ],
        [str(_truncate(case.model())), "[model]"],
    ),
    "validate-suite-duplicate-documents": lambda case: (
        ["validate", str(case.suite(documents=[*DOCS, DOCS[0]]))],
        ["documents.jsonl:3", "duplicate document id"],
    ),
    "validate-suite-latin1-data": lambda case: _validate_latin1(case),
}


def _validate_latin1(case: Case) -> tuple[list[str], list[str]]:
    path = case.suite()
    data = path.parent / "data" / "test.jsonl"
    data.write_bytes(_records("test").replace(b"text number 2", b"na\xefve"))
    return ["validate", str(path)], [f"{data}:3", "UTF-8"]


@pytest.mark.parametrize("build", VALIDATE_CASES.values(), ids=VALIDATE_CASES.keys())
def test_validate_reports_the_same_problems(
    build: Builder, tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = Case(tmp_path, tiny_model)
    argv, expected = build(case)
    if argv[0] == "run":  # a shared builder: check the file with validate instead
        argv = ["validate", argv[1]]
    code = _exit_code(argv)
    captured = capsys.readouterr()
    _assert_refused(case, argv, expected, captured.out + captured.err, code)


# -- as a real process: no traceback reaches the terminal ----------------------------------


@pytest.mark.parametrize(
    "name", ["data-latin1", "model-truncated-safetensors", "batch-size-zero", "config-utf16"]
)
def test_bad_input_in_a_real_process_has_no_traceback(
    name: str, tiny_model: Path, tmp_path: Path
) -> None:
    case = Case(tmp_path, tiny_model)
    argv, expected = RUN_CASES[name](case)
    result = subprocess.run(
        [sys.executable, "-m", "harness", *argv],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    _assert_refused(case, argv, expected, result.stdout + result.stderr, result.returncode)


# -- inputs that look odd but are fine -----------------------------------------------------


def test_a_byte_order_mark_is_accepted_in_yaml_and_jsonl(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_suite(tmp_path)
    for file in (path, *(path.parent / "data").glob("*.jsonl")):
        file.write_bytes(b"\xef\xbb\xbf" + file.read_bytes())
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err


def test_a_10_mb_input_line_is_read_whole(tmp_path: Path) -> None:
    from harness.suites import load_suite

    long_input = "word " * 2_000_000
    records = default_records("classification", "test")
    records[1]["input"] = long_input
    path = write_suite(tmp_path)
    write_jsonl(path.parent / "data" / "test.jsonl", records)
    assert load_suite(path).test[1].input == long_input


# -- flags of `harness check` and `harness compare` ----------------------------------------


@pytest.fixture(scope="module")
def finished_run(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run folder (zero-shot on a toy suite) for the commands that read one."""
    root = tmp_path_factory.mktemp("finished")
    suite = write_suite(root / "suites")
    out = root / "run"
    argv = ["run", "--model", str(tiny_model), "--suites", str(suite), "--strategies"]
    argv += ["zero-shot", "--out", str(out), "--cache-dir", str(root / "cache")]
    assert main([*argv, "--reporter", "terminal"]) == 0
    return out


def _check(*flags: str) -> Callable[[Path, Path], tuple[list[str], list[str]]]:
    def build(run: Path, folder: Path) -> tuple[list[str], list[str]]:
        values = [f.replace("FOLDER", str(folder)) for f in flags]
        return ["check", str(run), "--baseline", str(run), *values], [flags[-2]]

    return build


def _compare(*flags: str) -> Callable[[Path, Path], tuple[list[str], list[str]]]:
    def build(run: Path, folder: Path) -> tuple[list[str], list[str]]:
        values = [f.replace("FOLDER", str(folder)) for f in flags]
        return ["compare", str(run), str(run), *values], [flags[-2]]

    return build


READER_CASES: dict[str, Callable[[Path, Path], tuple[list[str], list[str]]]] = {
    "check-seed-negative": _check("--seed", "-1"),
    "check-seed-past-32-bits": _check("--seed", "4294967296"),
    "check-resamples-huge": _check("--resamples", "100000000000000"),
    "check-metric-without-max-drop": _check("--metric", "accuracy="),
    "check-junit-is-a-folder": _check("--junit", "FOLDER"),
    "check-markdown-is-a-folder": _check("--markdown", "FOLDER"),
    "check-junit-under-a-file": _check("--junit", "FOLDER/notes.txt/gate.xml"),
    "compare-alpha-above-one": _compare("--alpha", "2"),
    "compare-alpha-negative": _compare("--alpha", "-0.1"),
    "compare-alpha-nan": _compare("--alpha", "nan"),
    "compare-json-is-a-folder": _compare("--json", "FOLDER"),
}


@pytest.mark.parametrize("build", READER_CASES.values(), ids=READER_CASES.keys())
def test_bad_flag_of_a_command_that_reads_a_run_is_one_clear_error(
    build: Callable[[Path, Path], tuple[list[str], list[str]]],
    finished_run: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "notes.txt").write_text("mine\n")
    argv, expected = build(finished_run, tmp_path)
    run_before, folder_before = _snapshot(finished_run), _snapshot(tmp_path)
    code = _exit_code(argv)
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert code == 2, output
    assert "Traceback" not in output, output
    for text in expected:
        assert text in output, f"{text!r} not in:\n{output}"
    assert _snapshot(finished_run) == run_before, "the run folder was changed"
    assert _snapshot(tmp_path) == folder_before, "a file was written"


# -- `harness lab myths` -------------------------------------------------------------------


def _myths(*flags: str) -> Builder:
    """`lab myths` with `flags` (INPUTS: the case's inputs folder); the error names the
    last flag's field or value."""

    def build(case: Case) -> tuple[list[str], list[str]]:
        values = [f.replace("INPUTS", str(case.inputs)) for f in flags]
        argv = ["lab", "myths", "--out", str(case.out), "--cache-dir", str(case.cache)]
        return [*argv, *values], [values[-1] if "INPUTS" in flags[-1] else flags[-2]]

    return build


MYTHS_CASES: dict[str, Builder] = {
    "myths-replicates-zero": _myths("--replicates", "0"),
    "myths-max-test-examples-zero": _myths("--max-test-examples", "0"),
    "myths-suites-empty": _myths("--suites", ","),
    "myths-suite-missing": _myths("--suites", "INPUTS/nope.yaml"),
    "myths-model-missing": _myths("--model", "INPUTS/no-model"),
    "myths-facts-suite-missing": _myths("--facts-suite", "INPUTS/nope.yaml"),
}


@pytest.mark.parametrize("build", MYTHS_CASES.values(), ids=MYTHS_CASES.keys())
def test_bad_input_to_the_myths_lab_is_refused_before_anything_is_written(
    build: Builder, tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = Case(tmp_path, tiny_model)
    case.inputs.mkdir()
    argv, expected = build(case)
    code = _exit_code(argv)
    captured = capsys.readouterr()
    _assert_refused(case, argv, expected, captured.out + captured.err, code)


def test_myths_lab_out_that_is_a_file_is_refused(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = Case(tmp_path, tiny_model)
    mine = case.config("my notes\n", "notes.txt")
    argv = ["lab", "myths", "--out", str(mine), "--cache-dir", str(case.cache)]
    code = _exit_code([*argv, "--max-test-examples", "2"])
    captured = capsys.readouterr()
    _assert_refused(case, argv, [str(mine), "[out]"], captured.out + captured.err, code)
    assert mine.read_text() == "my notes\n"


# -- `harness new` -------------------------------------------------------------------------


@pytest.mark.parametrize("under", ["", "/plugins"], ids=["is-a-file", "under-a-file"])
def test_new_with_a_dir_that_is_a_file_is_one_clear_error(
    under: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "notes.txt"
    mine.write_text("my notes\n")
    code = _exit_code(["new", "strategy", "my-strategy", "--dir", f"{mine}{under}"])
    output = "".join(capsys.readouterr())
    assert code == 2, output
    assert "Traceback" not in output, output
    assert "[--dir]" in output and "is a file" in output and str(mine) in output, output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert mine.read_text() == "my notes\n"


def test_artifacts_of_a_row_stay_in_its_run_folder_whatever_its_name(tmp_path: Path) -> None:
    from harness.run_folder import artifacts_dir

    run = tmp_path / "run"
    for row in ("rag[corpus=../../../../elsewhere]", "a/b", "..", "x\\..\\y", "lora[r=8]"):
        folder = artifacts_dir(run, row)
        assert folder.parent == run / "artifacts", row
        assert folder.resolve().is_relative_to((run / "artifacts").resolve()), row
    assert artifacts_dir(run, "lora[r=8]").name == "lora[r=8]"
