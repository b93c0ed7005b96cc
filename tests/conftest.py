"""Fixtures shared by several test modules."""

from __future__ import annotations

import pytest


@pytest.fixture
def spy_sample_values(monkeypatch):
    """`record(name) -> list`: from then on, the keyword `name` of every `solos.sample_values`
    call made while the test runs is appended to the list (which sampling still runs)."""
    import jazzgen.music.solos as solos

    def record(name: str) -> list:
        calls = []
        real = solos.sample_values

        def spy(*args, **kwargs):
            calls.append(kwargs.get(name))
            return real(*args, **kwargs)

        monkeypatch.setattr(solos, "sample_values", spy)
        return calls

    return record
