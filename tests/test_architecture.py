"""The package's wings keep their shape: layers that only point down, and rooms small enough
to read (docs/design.md)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "waypoint_hooks"

#: The most lines a module, and a class, may have.
MODULE_LINES = 600
CLASS_LINES = 400


def test_the_layers_only_point_down() -> None:
    """The import-linter contract in pyproject.toml: cli → serve → lifecycle | checking →
    alerts → state → config, plugins → model."""
    lint_imports = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _sizes() -> dict[str, int]:
    sizes: dict[str, int] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        text = path.read_text()
        sizes[name] = len(text.splitlines())
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                assert node.end_lineno is not None
                sizes[f"{name}:{node.name}"] = node.end_lineno - node.lineno + 1
    return sizes


def test_no_module_or_class_grows_past_its_size() -> None:
    over = {
        name: lines
        for name, lines in _sizes().items()
        if lines > (CLASS_LINES if ":" in name else MODULE_LINES)
    }
    assert over == {}, over
