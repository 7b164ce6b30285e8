"""The house's rules, checked: the import-linter contracts in pyproject.toml hold, a wrong-way import breaks them
with a message naming it, and no module outgrows one concept."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
MAX_LINES = 600


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(tree / "pyproject.toml")],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def copy_of_the_tree(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "bot", tmp_path / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_contracts_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


def test_a_wrong_way_import_fails_and_is_named(copy_of_the_tree: Path) -> None:
    errors = copy_of_the_tree / "bot" / "core" / "errors.py"
    errors.write_text(errors.read_text() + "\n\ndef _late() -> None:\n    import bot.app.daemon  # noqa: F401\n")
    result = lint_imports(copy_of_the_tree)
    assert result.returncode == 1, result.stdout
    assert "bot.core.errors -> bot.app.daemon" in result.stdout


def test_a_cycle_between_two_modules_fails(copy_of_the_tree: Path) -> None:
    models = copy_of_the_tree / "bot" / "core" / "models.py"
    models.write_text(models.read_text() + "\n\ndef _late() -> None:\n    import bot.core.ports  # noqa: F401\n")
    result = lint_imports(copy_of_the_tree)
    assert result.returncode == 1, result.stdout
    assert "No cycles are allowed in bot.core" in result.stdout


def test_no_module_is_longer_than_one_concept() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for path in (ROOT / "bot").rglob("*.py")
        if "migrations" not in path.parts and (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"
