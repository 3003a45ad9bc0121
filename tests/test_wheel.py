"""Built-in plugins and suites are found from an installed wheel, not only from a checkout.

`plugins/` and `suites/` are renamed on install (`harness_plugins`, `harness_suites`), and
suites and the demo model are package data: a missing `packages` entry or package-data
glob only shows in a wheel. So the wheel is built for real, installed into a fresh venv
that sees the heavy dependencies through a `.pth` line (without the editable install's
finder, which only runs from a site directory), and run from a folder outside the repo.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.suites import read_suite_spec

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
#: checkout folder -> installed package
PACKAGE_DIRS = {"harness": "harness", "plugins": "harness_plugins", "suites": "harness_suites"}
DEMO_MODEL = Path("harness", "lab", "model")
#: stand-ins for the demo checkpoint while harness/lab/model/ is not built yet
DEMO_MODEL_PROBES = {"config.json": "{}\n", "model.safetensors": "not a real checkpoint\n"}
BUILTIN_STRATEGIES = ("zero-shot", "few-shot")
#: the main venv's pip
PIP = (sys.executable, "-m", "pip", "-q")


@dataclass(frozen=True)
class Installed:
    wheel: Path
    python: Path
    site: Path
    cwd: Path


def _run(args: list[str | Path], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, (
        f"{args} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    )
    return proc.stdout


def _clean_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "HARNESS_BLOCK_PLUGINS")
    }
    # wide enough that rich never wraps a path inside a table cell
    env.update(COLUMNS="500", PYTHONNOUSERSITE="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def _repo_suite_files() -> list[Path]:
    return sorted((REPO / "suites").glob("*/suite.yaml"))


def _demo_model_files(root: Path) -> list[str]:
    folder = root / DEMO_MODEL
    if not folder.is_dir():
        return []
    return sorted(
        p.relative_to(root).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel built from the checkout, installed alone into a fresh venv."""
    env = _clean_env()
    # Built from a copy: an in-tree setuptools build writes build/ and *.egg-info into the
    # checkout, and a stale build/lib would put files into the wheel that the tree lacks.
    source = tmp_path_factory.mktemp("source")
    for path in REPO.iterdir():
        if path.is_file():
            shutil.copy2(path, source / path.name)
    for folder in PACKAGE_DIRS:
        shutil.copytree(
            REPO / folder,
            source / folder,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
        )
    if not _demo_model_files(source):
        # the checkpoint is not built yet: check the packaging with stand-in files
        (source / DEMO_MODEL).mkdir(parents=True, exist_ok=True)
        for name, text in DEMO_MODEL_PROBES.items():
            (source / DEMO_MODEL / name).write_text(text)

    dist = tmp_path_factory.mktemp("dist")
    _run(
        [*PIP, "wheel", source, "--no-deps", "--no-build-isolation", "--no-index", "-w", dist],
        cwd=dist,
        env=env,
    )
    (wheel,) = dist.glob("harness-*.whl")

    venv = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=venv, env=env)
    python = venv / "bin" / "python"
    site = Path(
        _run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=venv
        ).strip()
    )
    # the heavy dependencies come from the main venv; its editable finder .pth is not run
    main_site = sysconfig.get_path("purelib")
    (site / "_main_venv.pth").write_text(main_site + "\n")
    _run(
        [*PIP, "install", "--no-deps", "--no-index", "--target", site, wheel],
        cwd=venv,
        env=env,
    )
    cwd = tmp_path_factory.mktemp("elsewhere")
    return Installed(wheel=wheel, python=python, site=site.resolve(), cwd=cwd)


def _harness(installed: Installed, *args: str) -> str:
    return _run([installed.python, "-m", "harness", *args], cwd=installed.cwd, env=_clean_env())


# what the installed copy sees, as JSON
PROBE = """
import json
from importlib.metadata import distribution, entry_points

import harness, harness_plugins, harness_suites
from harness.plugin_manager import load_plugins
from harness.suites import load_suite

plugins = load_plugins()
suites = {}
for entry in plugins.suites.entries():
    files = sorted(str(p) for p in entry.item.parent.rglob("*") if p.is_file())
    suites[entry.name] = {"path": str(entry.item), "files": files, "error": None}
    try:
        suite = load_suite(entry.item, plugins.metrics.as_dict())
        sizes = {s: len(suite.split(s)) for s in ("train", "validation", "test")}
        suites[entry.name]["sizes"] = sizes
    except Exception as e:
        suites[entry.name]["error"] = f"{type(e).__name__}: {e}"
print(json.dumps({
    "modules": {m.__name__: m.__file__ for m in (harness, harness_plugins, harness_suites)},
    "distribution": str(distribution("harness").locate_file("harness/__init__.py")),
    "entry_points": {
        ep.name: str(ep.dist.locate_file(ep.value.replace(".", "/") + ".py"))
        for ep in entry_points(group="harness") if ep.dist.name == "harness"
    },
    "plugin_modules": {
        name: getattr(p, "__file__", None) for name, p in plugins.manager.list_name_plugin()
    },
    "strategies": {e.name: [e.provenance.package, e.provenance.version]
                   for e in plugins.strategies.entries()},
    "failures": [str(f) for f in plugins.failures],
    "suites": suites,
}))
"""


@pytest.fixture(scope="module")
def probe(installed: Installed) -> dict:
    out = _run([installed.python, "-c", PROBE], cwd=installed.cwd, env=_clean_env())
    return json.loads(out)


def _inside(path: str | None, folder: Path) -> bool:
    return path is not None and Path(path).resolve().is_relative_to(folder)


def test_wheel_holds_every_module_and_suite_file(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    expected = set()
    for folder, package in PACKAGE_DIRS.items():
        for path in (REPO / folder).rglob("*"):
            relative = path.relative_to(REPO / folder)
            if "__pycache__" in relative.parts or not path.is_file():
                continue
            if path.suffix == ".py" or (folder == "suites" and path.suffix in (".yaml", ".jsonl")):
                expected.add(Path(package, relative).as_posix())
    assert expected <= names, f"missing from the wheel: {sorted(expected - names)}"
    assert "harness/py.typed" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(installed.wheel).read(entry_points).decode()
    for plugin in ("prompting", "metrics", "suites", "reporters"):
        assert f"{plugin} = harness_plugins.{plugin}" in text


def test_wheel_holds_the_demo_model(installed: Installed) -> None:
    # the real checkpoint when it is built, else the stand-ins the fixture put in its place
    shipped = _demo_model_files(REPO) or [
        (DEMO_MODEL / name).as_posix() for name in DEMO_MODEL_PROBES
    ]
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    assert set(shipped) <= names, f"missing from the wheel: {sorted(set(shipped) - names)}"


def test_imports_and_entry_points_resolve_to_the_wheel(installed: Installed, probe: dict) -> None:
    for name, path in probe["modules"].items():
        assert _inside(path, installed.site), f"{name} imported from {path}"
    # the editable install's dist-info is visible too; the wheel's comes first
    assert _inside(probe["distribution"], installed.site), probe["distribution"]
    assert set(probe["entry_points"]) >= {"prompting", "metrics", "suites", "reporters"}
    for name, path in probe["entry_points"].items():
        assert _inside(path, installed.site), f"entry point {name} -> {path}"
        assert _inside(probe["plugin_modules"][name], installed.site), name
    assert probe["failures"] == []
    for strategy in BUILTIN_STRATEGIES:
        assert probe["strategies"][strategy] == ["harness", "0.1.0"]


def test_cli_plugins_lists_the_builtin_strategies(installed: Installed) -> None:
    out = _harness(installed, "plugins", "-v")
    rows = [line for line in out.splitlines() if "strategy" in line]
    for strategy in BUILTIN_STRATEGIES:
        assert any(f" {strategy} " in row and "harness 0.1.0" in row for row in rows), out
    assert "failed:" not in out


def test_builtin_suites_are_listed_and_load_from_the_wheel(
    installed: Installed, probe: dict
) -> None:
    out = _harness(installed, "suites")
    assert "harness suites" in out
    listed = probe["suites"]
    for path in _repo_suite_files():
        name = read_suite_spec(path).name
        assert name in listed, f"built-in suite {name} not registered from the wheel"
        suite = listed[name]
        assert _inside(suite["path"], installed.site / "harness_suites"), suite["path"]
        assert suite["error"] is None, f"{name} does not load from the wheel: {suite['error']}"
        assert suite["sizes"]["test"] > 0, f"{name}: no test examples in the wheel"
        # its YAML and JSONL files are package data: all of them made it
        wanted = {
            p.relative_to(path.parent).as_posix()
            for p in path.parent.rglob("*")
            if p.is_file() and p.suffix in (".yaml", ".jsonl")
        }
        root = Path(suite["path"]).parent
        shipped = {Path(f).relative_to(root).as_posix() for f in suite["files"]}
        assert wanted <= shipped, f"{name}: not installed: {sorted(wanted - shipped)}"
        row = next((line for line in out.splitlines() if f" {name} " in line), None)
        assert row is not None, f"`harness suites` does not list {name}:\n{out}"
        assert suite["path"] in row, row
