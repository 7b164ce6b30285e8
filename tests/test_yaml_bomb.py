"""YAML aliases are bounded: a "billion laughs" config is refused with its file and line, in little memory,
by `socialbot check` (a real process under a 1 GiB address-space limit) and by the loader every reload uses."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.app.checking import run_checks
from bot.settings.yamlpos import YamlSyntaxError, load_with_lines

ROOT = Path(__file__).resolve().parents[1]


def laughs(levels: int, width: int = 9) -> str:
    """The classic alias bomb: each level a list of `width` aliases of the level before (width**levels values)."""
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def bomb_config(folder: Path, levels: int = 9, width: int = 9) -> Path:
    shutil.copytree(ROOT / "templates", folder / "templates")
    path = folder / "config.yaml"
    path.write_text(
        "timezone: UTC\ntemplates_dir: templates\n"
        + laughs(levels, width)
        + "accounts:\n  shop: {platform: sandbox, handle: lumenhome}\ncampaigns: {}\n",
        encoding="utf-8",
    )
    assert path.stat().st_size < 5000
    return path


def _one_gib() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def test_check_refuses_a_billion_laughs_in_bounded_memory(tmp_path: Path) -> None:
    path = bomb_config(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "bot", "check", "-c", str(path)],
        preexec_fn=_one_gib,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},  # this checkout's bot, wherever the venv points
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "MemoryError" not in done.stderr
    assert f"{path}:" in done.stderr and "alias *a" in done.stderr and "expand" in done.stderr


def test_reload_path_reports_the_alias_line(tmp_path: Path) -> None:
    report = run_checks(bomb_config(tmp_path, levels=6, width=10))  # in this process: a million values at most
    assert not report.ok and report.settings is None
    [problem] = report.problems
    assert problem.file == str(tmp_path / "config.yaml")
    assert problem.line is not None and 4 <= problem.line <= 12  # one of the aliased lists
    assert "alias" in problem.message


def test_loader_stops_before_expanding() -> None:
    with pytest.raises(YamlSyntaxError) as caught:
        load_with_lines(laughs(6, width=10))  # a million values from 700 bytes
    assert caught.value.line is not None and "expand to more than" in caught.value.message


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("a: &a [*a]\n", 1, "contains it"),
        ("x: 1\na: &a\n  b: *a\n", 3, "contains it"),
        ("x: " + "[" * 500 + "]" * 500 + "\n", 1, "levels deep"),
        ("".join(f"k{i}: &k{i} v\n" for i in range(3)) + "l: [" + ", ".join(["*k0"] * 2000) + "]\n", 4, "aliases"),
    ],
)
def test_loader_refuses_recursive_deep_and_alias_heavy_documents(text: str, line: int, words: str) -> None:
    with pytest.raises(YamlSyntaxError) as caught:
        load_with_lines(text)
    assert caught.value.line == line and words in caught.value.message


def test_ordinary_anchors_and_merge_keys_still_work() -> None:
    text = (
        "defaults: &defaults\n  utm: {medium: social}\n  hashtags: [a, b]\n"
        "campaigns:\n  one:\n    <<: *defaults\n    template: one.j2\n  two:\n    <<: *defaults\n    hashtags: [c]\n"
    )
    data, lines = load_with_lines(text)
    assert data["campaigns"]["one"] == {"utm": {"medium": "social"}, "hashtags": ["a", "b"], "template": "one.j2"}
    assert data["campaigns"]["two"]["hashtags"] == ["c"]
    assert lines.line_of(("campaigns", "one", "template")) == 7
