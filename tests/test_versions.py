"""Report version judgement: resubmit vs edit vs stale, independent of arrival order."""

from datetime import UTC, datetime, timedelta

from services.core.versions import VersionRecord, decide, retraction_target

T0 = datetime(2018, 9, 29, 14, 0, tzinfo=UTC)


def rec(h: str, t: datetime, p: str = "72.71", pp: str | None = None) -> VersionRecord:
    return VersionRecord(h, t.isoformat(), p, pp)


def test_first_version_is_new() -> None:
    assert decide(None, T0, "a") == "new"


def test_same_content_is_duplicate() -> None:
    assert decide(rec("a", T0), T0, "a") == "duplicate"


def test_later_submission_is_edit_and_earlier_is_stale() -> None:
    assert decide(rec("a", T0), T0 + timedelta(minutes=1), "b") == "edit"
    assert decide(rec("b", T0 + timedelta(minutes=1)), T0, "a") == "stale"


def test_tie_on_time_is_broken_by_hash_the_same_way_in_both_orders() -> None:
    one = decide(rec("a", T0), T0, "b")
    other = decide(rec("b", T0), T0, "a")
    assert {one, other} == {"edit", "stale"}


def test_offsets_compare_as_instants() -> None:
    wita = datetime.fromisoformat("2018-09-29T15:00:00+08:00")  # 07:00 UTC: earlier than T0
    assert decide(rec("a", T0), wita, "b") == "stale"


def test_retraction_only_when_the_regency_changed() -> None:
    assert retraction_target(None, "new", "72.71") is None
    assert retraction_target(rec("a", T0, "72.10"), "edit", "72.71") == "72.10"
    assert retraction_target(rec("a", T0, "72.71"), "edit", "72.71") is None
    # A redelivered duplicate repeats the retraction its version made.
    assert retraction_target(rec("a", T0, "72.71", pp="72.10"), "duplicate", "72.71") == "72.10"
