"""The layers: ``core`` (inference library), ``training`` and ``batch`` (may use core), ``app`` (the pages' own code).

``core``, ``training`` and ``batch`` must work where Streamlit is not installed (a notebook, a
training machine, a Ray cluster), ``core`` must never reach up into ``training``, ``batch`` or
``app``, and Ray (``requirements-ray.txt``) is only ever imported by ``batch``, when a job runs.
No module of any package imports one that imports it back (also through imports inside functions),
and the product (``core``, ``training``, ``batch``, ``app``, ``pages``, ``Home.py``) never imports
``benchmarks``, which may use it.
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
    """The dotted names every import statement of ``path`` names, at module level or inside a function.

    ``from pkg import name`` gives ``pkg`` and ``pkg.name`` (``name`` may be a module of ``pkg``).
    """
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names if alias.name != "*")
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


PACKAGES = ("core", "training", "batch", "app", "benchmarks")
"""The packages whose modules import one another."""


def _import_graph(*packages: str, root: Path = REPO) -> dict[str, list[str]]:
    """Each module of ``packages`` and the modules of ``packages`` it imports (every import, also inside functions)."""
    modules = {name for package in packages for name in _modules(package, root=root)}

    def path(name: str) -> Path:
        return (root / Path(*name.split("."))).with_suffix(".py")

    return {
        name: sorted(n for n in _imported(path(name)) if n in modules and n != name)
        for name in sorted(modules)
        if name not in packages  # a package's __init__ is no module of its own here
    }


def find_cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """The import circles of ``graph`` (module -> the modules it imports): one ``[a, b, ..., a]`` per
    strongly connected group of two or more modules (Tarjan), starting at its first module by name."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, []):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for start in sorted(graph):
        if start not in index:
            connect(start)
    return sorted(_walk_round(graph, group) for group in groups)


def _walk_round(graph: dict[str, list[str]], group: list[str]) -> list[str]:
    """One circle through ``group`` (strongly connected): from its first module back to it, by names."""
    members, start = set(group), group[0]
    paths = {start: [start]}
    queue = [start]
    while queue:  # breadth first: the shortest way round
        node = queue.pop(0)
        for nxt in graph.get(node, []):
            if nxt == start:
                return [*paths[node], start]
            if nxt in members and nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    raise AssertionError(f"{group} is not strongly connected")


def _import_cycles(*packages: str, root: Path = REPO) -> list[list[str]]:
    """Circles among the modules of ``packages``, counting every import (also those inside functions)."""
    return find_cycles(_import_graph(*packages, root=root))


def test_import_cycles_are_found() -> None:
    # The check itself, on a made-up package: a -> b -> a is a cycle, c -> a is not.
    import tempfile  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "pkg").mkdir()
        (Path(folder) / "pkg" / "a.py").write_text("def f():\n    from pkg.b import g\n")
        (Path(folder) / "pkg" / "b.py").write_text("import pkg.a\n")
        (Path(folder) / "pkg" / "c.py").write_text("from pkg.a import f\n")
        assert _import_cycles("pkg", root=Path(folder)) == [["pkg.a", "pkg.b", "pkg.a"]]


def test_the_cycle_finder_on_made_up_graphs() -> None:
    # One way (a diamond) is no circle; a module importing itself is not counted.
    assert find_cycles({"a": ["b", "c"], "b": ["d"], "c": ["d"], "d": []}) == []
    assert find_cycles({"a": ["a"]}) == []
    # A long circle is found whole, and two separate ones each once.
    assert find_cycles({"a": ["b"], "b": ["c"], "c": ["a"], "x": ["a"]}) == [["a", "b", "c", "a"]]
    assert find_cycles({"p": ["q"], "q": ["p"], "m": ["n"], "n": ["m", "p"]}) == [["m", "n", "m"], ["p", "q", "p"]]
    # Two circles sharing a module are one tangle, reported by one way round it.
    tangle = find_cycles({"a": ["b", "c"], "b": ["a"], "c": ["a"]})
    assert tangle == [["a", "b", "a"]]


def test_cycles_across_packages_and_from_imports_are_found() -> None:
    # `from pkg import mod` imports a module; a circle may run through two packages.
    import tempfile  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for package in ("low", "high"):
            (root / package).mkdir()
            (root / package / "__init__.py").write_text("")
        (root / "low" / "base.py").write_text("def f():\n    from high import top\n")
        (root / "high" / "top.py").write_text("from low import base\n")
        (root / "high" / "other.py").write_text("from low.base import f\nfrom high import top\n")
        assert _import_cycles("low", "high", root=root) == [["high.top", "low.base", "high.top"]]
        (root / "low" / "base.py").write_text("import os\n")
        assert _import_cycles("low", "high", root=root) == []


def test_core_modules_import_one_way() -> None:
    # The command line's subcommands register with core.cli and share core.cli_common, so no
    # module of core (a future batch command's included) imports one that imports it back.
    assert _import_cycles("core") == []


def test_no_package_imports_in_a_circle() -> None:
    # Within a package and across packages: every import counts, also one inside a function.
    graph = _import_graph(*PACKAGES)
    assert "training.train" in graph and "training.checkpoint" in graph["training.train"]
    assert find_cycles(graph) == []


def test_the_product_never_imports_benchmarks() -> None:
    # The benchmarks measure the product; an experiment script is never a dependency of the app.
    folders = ("core", "training", "batch", "app", "pages")
    product = [path for folder in folders for path in (REPO / folder).glob("*.py")]
    offenders = {
        str(path.relative_to(REPO)): sorted(n for n in _imported(path) if n.split(".")[0] == "benchmarks")
        for path in [*product, REPO / "Home.py"]
    }
    assert {name: bad for name, bad in offenders.items() if bad} == {}
