"""The test suite's own guardrails: each fixture is defined in one file only, and test
modules share helpers through tests/factories.py, never by importing one another."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parent
MODULES = sorted(TESTS.glob("*.py"))
BENCH = sorted((TESTS.parent / "bench").glob("*.py"))


def fixture_names(tree: ast.Module) -> list[str]:
    """The names of the pytest fixtures a module defines (``name=`` overrides included)."""
    names = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            call = decorator if isinstance(decorator, ast.Call) else None
            target = call.func if call else decorator
            if ast.unparse(target) not in ("pytest.fixture", "fixture"):
                continue
            renamed = [
                k.value.value
                for k in (call.keywords if call else [])
                if k.arg == "name" and isinstance(k.value, ast.Constant)
            ]
            names.append(renamed[0] if renamed else node.name)
    return names


def imported_modules(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "tests":
            found.extend(f"tests.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return found


def test_it_defines_each_fixture_in_one_file_only() -> None:
    files: dict[str, list[str]] = defaultdict(list)
    for path in MODULES:
        for name in fixture_names(ast.parse(path.read_text())):
            files[name].append(path.name)

    assert {name: where for name, where in files.items() if len(where) > 1} == {}
    assert {"admin", "instructor", "trainee", "standin", "cluster"} <= set(files)


def test_it_shares_helpers_through_factories_only() -> None:
    offending = {
        f"{path.parent.name}/{path.name}: {module}"
        for path in MODULES + BENCH
        for module in imported_modules(ast.parse(path.read_text()))
        if module.startswith("tests.") and module != "tests.factories"
    }

    assert offending == set()
