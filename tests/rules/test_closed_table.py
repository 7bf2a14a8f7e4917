"""The enforcement index's C answer table used the wrong way round: it refuses, never reads freed or NULL memory."""

from __future__ import annotations

import pytest

from tessera.rules import _closed

DOMAINS = ("payments", "travel")


class TestUninitialisedTable:
    """A Table made by ``__new__`` without ``__init__`` has no slots: every call is refused."""

    def test_check_put_remove__type_error(self) -> None:
        """Each method raises TypeError naming the missing initialisation instead of following NULL."""
        table = _closed.Table.__new__(_closed.Table)
        with pytest.raises(TypeError, match="not initialised"):
            table.check("subject", "payments")
        with pytest.raises(TypeError, match="not initialised"):
            table.put("subject", 1, 0, 10, "denied")
        with pytest.raises(TypeError, match="not initialised"):
            table.remove("subject")
        assert len(table) == 0
        del table  # deallocating an empty table is safe too

    def test_init_after_new__a_working_table(self) -> None:
        """``__init__`` called late makes a normal table; a second ``__init__`` is refused."""
        table = _closed.Table.__new__(_closed.Table)
        table.__init__(DOMAINS, "allow")  # type: ignore[misc]
        table.put("subject", 1, 0, 2**63, "denied")
        assert table.check("subject", "payments") == "denied"
        assert table.check("subject", "travel") == "allow"
        with pytest.raises(RuntimeError, match="already initialised"):
            table.__init__(DOMAINS, "allow")  # type: ignore[misc]

    def test_failed_init__still_refused(self) -> None:
        """An ``__init__`` that fails (bad domains) leaves a table that refuses calls, not one half made."""
        table = _closed.Table.__new__(_closed.Table)
        with pytest.raises(ValueError, match="domains"):
            table.__init__((), "allow")  # type: ignore[misc]
        with pytest.raises(TypeError, match="not initialised"):
            table.check("subject", "payments")


class TestCollidingSubjects:
    """Subjects are found by Python's keyed str hash, so many subjects still answer right."""

    def test_many_subjects__each_answered(self) -> None:
        """Ten thousand subjects, put, checked and half removed, answer each for itself."""
        table = _closed.Table(DOMAINS, "allow", lambda: 5)
        subjects = [f"person-{i:05d}" for i in range(10_000)] + ["x" * 40 + str(i) for i in range(100)]
        for i, subject in enumerate(subjects):
            table.put(subject, 1, 0, 10, i)
        for subject in subjects[::2]:
            table.remove(subject)
        assert len(table) == len(subjects) // 2
        assert [table.check(s, "payments") for s in subjects[1::2]] == list(range(1, len(subjects), 2))
        assert all(table.check(s, "payments") == "allow" for s in subjects[::2])
