"""Plugins as real distributions: built from source and installed by pip into a directory of
their own (``--target``), as the console script then finds them through PYTHONPATH."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def plugin_package(root: Path, name: str, version: str, source: str, requires: str = "") -> Path:
    """The source of ``waypoint-hooks-NAME`` at ``version``, requiring ``requires``: its
    plugin ``NAME`` is the module ``wh_NAME``, whose code is ``source``."""
    package = root / f"waypoint-hooks-{name}-{version}"
    (package / f"wh_{name}").mkdir(parents=True)
    (package / f"wh_{name}" / "__init__.py").write_text(source)
    (package / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=64"]\nbuild-backend = "setuptools.build_meta"\n'
    )
    (package / "setup.cfg").write_text(
        textwrap.dedent(
            f"""\
            [metadata]
            name = waypoint-hooks-{name}
            version = {version}

            [options]
            packages = wh_{name}
            install_requires =
                {requires}

            [options.entry_points]
            waypoint_hooks =
                {name} = wh_{name}
            """
        )
    )
    return package


def pip_install(target: Path, *packages: Path) -> None:
    """Install (or upgrade to) ``packages`` into ``target``, as a user who told pip not to
    check their requirements."""
    installed = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--upgrade"),
            *("--no-build-isolation", "--target", str(target)),
            *map(str, packages),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
