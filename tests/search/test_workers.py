"""Which storage `--workers` processes share (the processes themselves: test_parallel.py)."""
from __future__ import annotations

import pytest

from nas.errors import StudyError
from nas.search import DEFAULT_JOURNAL, DEFAULT_URL, storage_for_workers


def test_the_default_sqlite_file_becomes_the_journal_for_several_workers():
    assert storage_for_workers(DEFAULT_URL, 1) == DEFAULT_URL
    assert storage_for_workers(DEFAULT_URL, 3) == DEFAULT_JOURNAL
    pg = "postgresql+psycopg://u@h/db"
    assert storage_for_workers(pg, 3) == pg


def test_an_explicit_sqlite_file_is_refused_for_several_workers():
    assert storage_for_workers("sqlite:///mine.db", 1) == "sqlite:///mine.db"
    with pytest.raises(StudyError, match="SQLite, which is not for parallel workers"):
        storage_for_workers("sqlite:///mine.db", 2)
