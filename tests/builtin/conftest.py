"""Fixtures of the builtins' tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers_endpoints import Certificates, certificates


@pytest.fixture
def certs(tmp_path: Path) -> Certificates:
    """A CA of the test's own (its PEM in ``ca_file``) and one nobody trusts (trustme)."""
    return certificates(tmp_path)
