"""The layers: ``core`` (inference library), ``training`` and ``batch`` (may use core), ``app`` (the pages' own code).

``core``, ``training`` and ``batch`` must work where Streamlit is not installed (a notebook, a
training machine, a Ray cluster), ``core`` must never reach up into ``training``, ``batch`` or
``app``, and Ray (``requirements-ray.txt``) is only ever imported by ``batch``, when a job runs.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _modules(package: str, *, root: Path = REPO) -> list[str]:
    return sorted(
        f"{package}.{path.stem}" if path.stem != "__init__" else package
        for path in (root / package).glob("*.py")
    )


def _imported(path: Path) -> set[str]:
    """Top-level package names (and dotted names) every import statement of ``path`` names."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_core_and_training_import_without_streamlit() -> None:
    modules = _modules("core") + _modules("training") + _modules("batch")
    assert "core.recognizer" in modules and "training.train" in modules and "batch.job" in modules
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'streamlit' or name.startswith('streamlit.') or name.startswith('streamlit_webrtc'):\n"
        "            raise ImportError('streamlit is blocked for this test: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import importlib\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "assert not any(m == 'streamlit' or m.startswith('streamlit.') for m in sys.modules), 'streamlit loaded'\n"
        "print('ok', len(sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("ok")


def test_the_block_really_blocks_streamlit() -> None:
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'streamlit':\n"
        "            raise ImportError('blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import app.cache\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "blocked" in done.stderr


def test_core_never_imports_training_or_app() -> None:
    offenders = {
        path.name: sorted(
            n for n in _imported(path) if n.split(".")[0] in {"training", "batch", "app", "streamlit", "pages", "ray"}
        )
        for path in sorted((REPO / "core").glob("*.py"))
    }
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def test_training_never_imports_the_app() -> None:
    offenders = {
        path.name: sorted(n for n in _imported(path) if n.split(".")[0] in {"app", "streamlit", "pages"})
        for path in sorted((REPO / "training").glob("*.py"))
    }
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def test_batch_uses_core_only() -> None:
    offenders = {
        path.name: sorted(n for n in _imported(path) if n.split(".")[0] in {"app", "training", "streamlit", "pages"})
        for path in sorted((REPO / "batch").glob("*.py"))
    }
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def test_nothing_imports_ray_at_import_time() -> None:
    modules = _modules("core") + _modules("training") + _modules("batch") + ["app.cache"]
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'ray':\n"
        "            raise ImportError('ray is blocked for this test: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"for name in {modules!r}:\n"
        "    __import__(name)\n"
        "print('ok' if 'ray' not in sys.modules else 'ray loaded')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.startswith("ok"), done.stdout + done.stderr[-3000:]
    users = {
        str(path.relative_to(REPO))
        for folder in ("core", "training", "batch", "app", "benchmarks")
        for path in (REPO / folder).rglob("*.py")
        if any(n.split(".")[0] == "ray" for n in _imported(path))
    }
    assert users <= {"batch/job.py", "benchmarks/batch.py"}, sorted(users)


def test_only_app_and_pages_import_streamlit() -> None:
    allowed = {"app", "pages"}
    users = {
        str(path.relative_to(REPO))
        for folder in ("core", "training", "batch", "benchmarks")
        for path in (REPO / folder).rglob("*.py")
        if any(n.split(".")[0] in {"streamlit", "streamlit_webrtc"} for n in _imported(path))
    }
    assert users == set(), f"only {sorted(allowed)} and Home.py may import Streamlit: {sorted(users)}"


def _import_cycles(package: str, *, root: Path = REPO) -> list[list[str]]:
    """Cycles among ``package``'s modules, counting every import (also those inside functions)."""
    modules = set(_modules(package, root=root))
    graph = {
        name: sorted(n for n in _imported(root / package / f"{name.split('.')[-1]}.py") if n in modules and n != name)
        for name in modules
        if name != package
    }
    cycles: list[list[str]] = []
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in graph.get(node, []):
            if state.get(nxt) == "open":
                cycles.append([*path[path.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = "done"

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    return cycles


def test_import_cycles_are_found() -> None:
    # The check itself, on a made-up package: a -> b -> a is a cycle, c -> a is not.
    import tempfile  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "pkg").mkdir()
        (Path(folder) / "pkg" / "a.py").write_text("def f():\n    from pkg.b import g\n")
        (Path(folder) / "pkg" / "b.py").write_text("import pkg.a\n")
        (Path(folder) / "pkg" / "c.py").write_text("from pkg.a import f\n")
        assert _import_cycles("pkg", root=Path(folder)) == [["pkg.a", "pkg.b", "pkg.a"]]


def test_core_modules_import_one_way() -> None:
    # The command line's subcommands register with core.cli and share core.cli_common, so no
    # module of core (a future batch command's included) imports one that imports it back.
    assert _import_cycles("core") == []
