"""A stage's code dependencies, derived from what its runner imports (dvc.yaml's `deps:` of source files).

DVC reruns a stage when one of its listed files changes, so the list must be complete (a change in a file the
stage runs must rerun it) and narrow (a change in another problem type's trainer must not). Hand-written
lists were neither. The closure is read from the source with `ast`, at the level of functions:

- the runner function itself, every function of its module it calls (by name), and the imports inside them
  (stage runners import lazily, so `hanflow stage` pays only for the stage it runs);
- `from pkg.mod import f`: the module's top-level imports, and f's own closure in that module;
- `import pkg.mod` / `from pkg import mod` (a module object): the whole module, every function of it;
- a class or constant imported by name: the module's top-level imports only (a class's methods count as the
  module's functions: the whole class is scanned).

Only files of this checkout count (flows/, tasks/, models/); third-party packages are versioned by the lock
files, not by dvc.yaml. The analysis is conservative within a function: an import under `if` counts.
"""

from __future__ import annotations

import ast
import inspect
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("flows", "tasks", "models")
WHOLE = "*"  # "every function of the module"
TOP = "<top>"  # "the module's top level only" (importing it runs that much)


@lru_cache(maxsize=None)
def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def module_file(module: str) -> Path | None:
    """The checkout's file for a dotted module name, or None when it is not ours."""
    if module.split(".")[0] not in PACKAGES:
        return None
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(nodes: Iterable[ast.AST], package: str) -> list[tuple[str, str]]:
    """(module, name or WHOLE) for every import statement among `nodes` and below them."""
    out: list[tuple[str, str]] = []
    for node in nodes:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Import):
                out += [(alias.name, WHOLE) for alias in sub.names]
            elif isinstance(sub, ast.ImportFrom):
                base = sub.module or ""
                if sub.level:  # relative import
                    parent = package.split(".")[: len(package.split(".")) - sub.level + 1]
                    base = ".".join([*parent, base] if base else parent)
                for alias in sub.names:
                    submodule = f"{base}.{alias.name}"
                    out.append((submodule, WHOLE) if module_file(submodule) else (base, alias.name))
    return out


def _top_level(tree: ast.Module) -> list[ast.stmt]:
    """The module's statements that run on import (not function or class bodies' lazy imports)."""
    return [node for node in tree.body if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _definitions(tree: ast.Module) -> dict[str, ast.AST]:
    return {
        node.name: node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    }


def _functions_reached(tree: ast.Module, start: str) -> list[ast.AST]:
    """`start` and the module's functions and classes it names, transitively."""
    defined = _definitions(tree)
    seen, todo, out = set(), [start], []
    while todo:
        name = todo.pop()
        if name in seen or name not in defined:
            continue
        seen.add(name)
        out.append(defined[name])
        todo += [n.id for n in ast.walk(defined[name]) if isinstance(n, ast.Name) and n.id in defined]
    return out


def closure(module: str, name: str = WHOLE) -> set[Path]:
    """Every checkout file that running `module.name` (or importing the whole module) may execute."""
    files: set[Path] = set()
    seen: set[tuple[str, str]] = set()
    todo = [(module, name)]
    while todo:
        mod, what = todo.pop()
        if (mod, what) in seen:
            continue
        seen.add((mod, what))
        path = module_file(mod)
        if path is None:
            continue
        files.add(path)
        tree = _parse(path)
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        # A package's __init__ runs first when any of its modules is imported.
        parents = mod.split(".")
        todo += [(".".join(parents[:i]), TOP) for i in range(1, len(parents))]
        if what == WHOLE:
            reached: list[ast.AST] = list(_definitions(tree).values())
        elif what == TOP:
            reached = []
        else:
            reached = _functions_reached(tree, what)
        used = {n.id for node in reached for n in ast.walk(node) if isinstance(n, ast.Name)} | {what}
        # Importing the module runs its top level: what that imports is imported (TOP), and followed further
        # only for the names the reached functions use.
        for dep, dep_name in _imports(_top_level(tree), package):
            todo.append((dep, dep_name if dep_name == WHOLE or dep_name in used else TOP))
        todo += _imports(reached, package)
    return files


def function_closure(fn: Callable) -> set[Path]:
    """The closure of a runner function. A runner made by a factory (ingest_runner, cached, ...) is an inner
    function: its factory's body counts, and so does every function it holds (its closure cells)."""
    files: set[Path] = set()
    todo, seen = [fn], set()
    while todo:
        fn = inspect.unwrap(todo.pop())
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        module = fn.__module__
        path = module_file(module)
        if path is None:
            raise ValueError(f"{fn!r} is not defined in this checkout")
        files |= closure(module, fn.__name__)
        if fn.__name__ not in _definitions(_parse(path)):  # an inner function: its body is inside the factory
            files |= closure(module, fn.__qualname__.split(".")[0])
        for cell in fn.__closure__ or ():
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if inspect.isfunction(value):
                todo.append(value)
    return files


def code_deps(fn: Callable, extra: Iterable[str] = ()) -> list[str]:
    """dvc.yaml's source-file deps of a stage: its runner's closure and `extra` files it reads (suites, schemas),
    a Python file among them with its own closure (a model class built by its name: models/<problem>.py)."""
    files = set(function_closure(fn))
    for name in extra:
        if name.endswith(".py"):
            files |= closure(_module_of(ROOT / name))
    return sorted({p.relative_to(ROOT).as_posix() for p in files} | set(extra))
