"""Report version judgement: resubmit vs edit vs stale, independent of arrival order; and where to retract."""

from datetime import UTC, datetime, timedelta

from schemas import GeoTag, Hazard
from services.core.versions import Placement, VersionRecord, decide, retraction_target

T0 = datetime(2018, 9, 29, 14, 0, tzinfo=UTC)
PETOBO = Placement(GeoTag(country="ID", adm1="72", adm2="72.71", adm3="72.71.03", adm4="72.71.03.1003"),
                   Hazard.earthquake)
BESUSU = Placement(GeoTag(country="ID", adm1="72", adm2="72.71", adm3="72.71.01", adm4="72.71.01.1006"),
                   Hazard.earthquake)
SIGI = Placement(GeoTag(country="ID", adm1="72", adm2="72.10", adm3="72.10.01", adm4="72.10.01.2009"),
                 Hazard.earthquake)


def rec(h: str, t: datetime, at: Placement = PETOBO, moved_from: Placement | None = None) -> VersionRecord:
    return VersionRecord(h, t.isoformat(), at, moved_from)


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


def test_retraction_when_the_group_changed_even_inside_one_regency() -> None:
    assert retraction_target(None, "new", PETOBO) is None
    assert retraction_target(rec("a", T0, SIGI), "edit", PETOBO) == SIGI  # another regency
    assert retraction_target(rec("a", T0, BESUSU), "edit", PETOBO) == BESUSU  # another village, same regency
    flood = Placement(PETOBO.geo, Hazard.flood)
    assert retraction_target(rec("a", T0, flood), "edit", PETOBO) == flood  # another hazard
    assert retraction_target(rec("a", T0, PETOBO), "edit", PETOBO) is None
    assert retraction_target(rec("a", T0, SIGI), "stale", PETOBO) is None


def test_a_redelivered_duplicate_repeats_its_retraction() -> None:
    assert retraction_target(rec("a", T0, PETOBO, moved_from=SIGI), "duplicate", PETOBO) == SIGI
    assert retraction_target(rec("a", T0, PETOBO), "duplicate", PETOBO) is None


def test_records_survive_the_table_round_trip() -> None:
    r = rec("a", T0, PETOBO, moved_from=SIGI)
    assert VersionRecord.from_dict(r.to_dict()) == r
