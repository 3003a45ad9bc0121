"""`harness new strategy|metric|reporter NAME`: a plugin package to start from.

Writes `harness-NAME/` with a module implementing a small working plugin, its entry
point in the `harness` group, a test that runs harness's conformance kit on it, and a
README saying how to install, test and use it.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from rich.console import Console

from harness import __version__
from harness.cli._common import EXIT_OK, Subcommands
from harness.errors import InputError

KINDS = ("strategy", "metric", "reporter")
_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")


def add_new_command(sub: Subcommands) -> None:
    """Add `new KIND NAME [--dir DIR]`."""
    new = sub.add_parser("new", help="write a plugin package to start from")
    new.add_argument("kind", choices=KINDS, help="what the plugin adds")
    new.add_argument("name", help="its registered name, e.g. my-strategy")
    new.add_argument("--dir", type=Path, default=Path(), help="parent folder (default: here)")
    new.set_defaults(func=cmd_new)


def cmd_new(args: argparse.Namespace) -> int:
    folder = write_plugin_package(args.kind, args.name, args.dir)
    console = Console()
    console.print(f"Wrote {folder}", highlight=False, soft_wrap=True)
    console.print(
        f"Next: pip install -e {folder} && pytest {folder / 'tests'}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    return EXIT_OK


def write_plugin_package(kind: str, name: str, parent: Path) -> Path:
    """Write the package `harness-NAME` for a plugin of `kind` under `parent`."""
    if kind not in KINDS:
        raise InputError.single("harness new", "kind", f"unknown kind {kind!r}", f"use {KINDS}")
    if not _NAME.match(name):
        raise InputError.single(
            "harness new",
            "name",
            f"{name!r} is not a plugin name",
            "use lower-case letters, digits, '-' or '_', starting with a letter",
        )
    slug = name.replace("_", "-")
    existing = next(p for p in (Path(parent), *Path(parent).absolute().parents) if p.exists())
    if not existing.is_dir():
        raise InputError.single(
            str(parent), "dir", f"{existing} is a file, not a folder", "pass a folder with --dir"
        )
    folder = Path(parent) / f"harness-{slug}"
    if folder.exists():
        raise InputError.single(
            str(folder), "dir", "the folder already exists", "choose another --dir or name"
        )
    module = "harness_" + name.replace("-", "_")
    words = re.split(r"[-_]", name)
    values = {
        "name": name,
        "slug": slug,
        "module": module,
        "cls": "".join(w.capitalize() for w in words),
        "kind": kind,
        "version": __version__,
        "hook": {
            "strategy": "harness_register_strategies",
            "metric": "harness_register_metrics",
            "reporter": "harness_register_reporters",
        }[kind],
    }
    (folder / "tests").mkdir(parents=True)
    files = {
        "pyproject.toml": _PYPROJECT,
        f"{module}.py": _MODULES[kind],
        f"tests/test_{module}.py": _TESTS[kind],
        "README.md": _README,
    }
    for relative, template in files.items():
        (folder / relative).write_text(_fill(template, values), encoding="utf-8")
    return folder


def _fill(template: str, values: dict[str, str]) -> str:
    # {{key}} placeholders: the templates are Python full of ordinary braces
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], template)


_PYPROJECT = """\
[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "harness-{{slug}}"
version = "0.1.0"
description = "A harness {{kind}} plugin: {{name}}."
requires-python = ">=3.10"
dependencies = ["harness>={{version}}"]

[project.optional-dependencies]
test = ["pytest>=8"]

# harness finds plugins through this entry-point group
[project.entry-points.harness]
{{name}} = "{{module}}"

[tool.setuptools]
py-modules = ["{{module}}"]

[tool.pytest.ini_options]
filterwarnings = ["error", "ignore::DeprecationWarning", "ignore::FutureWarning"]
"""

_STRATEGY = '''\
"""{{name}}: a harness strategy."""

from __future__ import annotations

from dataclasses import dataclass, field

import harness
from harness import AdaptContext, Example, Predictor, PromptedPredictor, Strategy, Suite
from harness.registry import Registry


@dataclass(frozen=True)
class {{cls}}Settings:
    """The run-config keys of `{{name}}` (e.g. `{name: {{name}}, instruction: ...}`)."""

    instruction: str = field(
        default="Answer briefly.", metadata={"help": "text put before every prompt"}
    )


class {{cls}}Predictor(PromptedPredictor):
    """Prompts as the predictor it wraps, with the instruction in front."""

    def __init__(self, inner: Predictor, instruction: str) -> None:
        super().__init__(inner)
        self.instruction = instruction

    def prompt(self, suite: Suite, example: Example) -> str:
        return f"{self.instruction}\\n{self.inner.prompt(suite, example)}"


class {{cls}}(Strategy):
    """Puts an instruction before every prompt (replace with your adaptation)."""

    name = "{{name}}"
    description = "an instruction before every prompt"
    settings_class = {{cls}}Settings

    def adapt(self, context: AdaptContext) -> Predictor:
        # context.targets: the suites to adapt to (train / validation splits only);
        # context.upstream: the predictor to build on. Fine-tuning strategies call
        # harness.training.fine_tune(context, settings, peft_config=...) instead.
        return {{cls}}Predictor(context.upstream, self.settings.instruction)


@harness.hookimpl
def {{hook}}(registry: Registry) -> None:
    registry.add({{cls}})
'''

_METRIC = '''\
"""{{name}}: a harness metric."""

from __future__ import annotations

import harness
from harness import ExampleOutput, Metric
from harness.registry import Registry


class {{cls}}(Metric):
    """1.0 when the prediction equals a reference, ignoring case and outer spaces."""

    name = "{{name}}"
    tasks = frozenset({"generation", "classification", "multiple-choice"})
    higher_is_better = True

    def score(self, output: ExampleOutput) -> float:
        prediction = output.prediction.strip().lower()
        return float(any(prediction == r.strip().lower() for r in output.references))

    # The default `aggregate` is the mean of the scores. A corpus metric overrides it
    # and, since the bootstrap calls it ~1,000 times per cell, adds
    # `aggregate_resamples` (see harness.metrics.BLEU and docs/plugins.md).


@harness.hookimpl
def {{hook}}(registry: Registry) -> None:
    registry.add({{cls}})
'''

_REPORTER = '''\
"""{{name}}: a harness reporter."""

from __future__ import annotations

import harness
from harness import ReportContext, Reporter
from harness.registry import Registry


class {{cls}}(Reporter):
    """Writes {{name}}.txt: one line per cell with its primary metric."""

    name = "{{name}}"
    description = "one line per cell in {{name}}.txt"

    def render(self, context: ReportContext) -> None:
        primary = {s.name: s.primary_metric for s in context.results.suites}
        lines = []
        for cell in context.results.cells:
            value = cell.metrics.get(primary[cell.suite])
            shown = f"{value.value:.4g}" if value is not None else cell.status
            lines.append(f"{cell.strategy}\\t{cell.suite}\\t{shown}")
        # write into run_dir (staging during a run); name final_dir to the user
        (context.run_dir / "{{name}}.txt").write_text("\\n".join(lines) + "\\n")
        context.console.print(f"{{name}}: {context.final_dir / '{{name}}.txt'}")


@harness.hookimpl
def {{hook}}(registry: Registry) -> None:
    registry.add({{cls}})
'''

_MODULES = {"strategy": _STRATEGY, "metric": _METRIC, "reporter": _REPORTER}

_ENTRY_POINT_TEST = """

def test_it_is_found_through_its_entry_point() -> None:
    from harness.plugin_manager import load_plugins

    plugins = load_plugins()
    assert not plugins.failures, plugins.failures
    assert plugins.{{registry}}.get("{{name}}") is {{cls}}
"""

_TESTS = {
    "strategy": '''\
"""{{name}} passes harness's conformance checks (a tiny real model, toy suites)."""

from pathlib import Path

from harness.testing import check_strategy
from {{module}} import {{cls}}


def test_conforms(tmp_path: Path) -> None:
    report = check_strategy({{cls}}(), tmp_path)
    assert report.examples > 0
'''
    + _ENTRY_POINT_TEST.replace("{{registry}}", "strategies"),
    "metric": '''\
"""{{name}} passes harness's conformance checks."""

from harness.testing import check_metric, toy_outputs
from {{module}} import {{cls}}


def test_conforms() -> None:
    assert check_metric({{cls}}).examples > 0


def test_scores() -> None:
    output = toy_outputs("generation", 1)[0]
    assert {{cls}}().score(output) in (0.0, 1.0)
'''
    + _ENTRY_POINT_TEST.replace("{{registry}}", "metrics"),
    "reporter": '''\
"""{{name}} passes harness's conformance checks (it renders a real tiny run)."""

from pathlib import Path

from harness.testing import check_reporter
from {{module}} import {{cls}}


def test_conforms(tmp_path: Path) -> None:
    report = check_reporter({{cls}}, tmp_path)
    assert report.files == ("{{name}}.txt",)
'''
    + _ENTRY_POINT_TEST.replace("{{registry}}", "reporters"),
}

_README = """\
# harness-{{slug}}

A [harness](https://pypi.org/project/harness/) {{kind}} plugin: `{{name}}`.

## Install and test

```
pip install -e '.[test]'
pytest tests
```

The test runs harness's conformance kit (`harness.testing`) on the plugin and checks that
harness finds it through its entry point (`[project.entry-points.harness]` in
pyproject.toml). `harness plugins` lists it once installed.

## Use

Edit `{{module}}.py`; docs/plugins.md in harness describes the {{kind}} contract. Then:

```
harness run my-config.yaml          # strategies: [zero-shot, {{name}}]
                                    # suites: [{name: SUITE, metrics: [+{{name}}]}]
harness run --reporter {{name}}
```
"""
