"""The pure part of `services.enrich.faust_races`; the races themselves are exercised against the real broker by
`tests/test_enrich_state.py` (a worker recovering its tables while input waits and arrives)."""

from __future__ import annotations

from types import SimpleNamespace

from faust.types import TP

from services.enrich.faust_races import install, withhold_paused


def records(tp: TP, *offsets: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(topic=tp.topic, partition=tp.partition, offset=o) for o in offsets]


def test_records_of_a_partition_paused_in_flight_are_withheld_and_rewound_to_their_first_offset():
    raw0, raw1, enriched2 = TP("reports.raw", 0), TP("reports.raw", 1), TP("reports.enriched", 2)
    fetched = {raw0: records(raw0, 38, 39, 40), raw1: records(raw1, 7), enriched2: []}
    rewind = withhold_paused(fetched, {raw1})
    assert rewind == {raw0: 38}  # an empty batch needs no rewind
    assert list(fetched) == [raw1] and [r.offset for r in fetched[raw1]] == [7]


def test_nothing_is_withheld_while_every_partition_stays_active():
    raw0 = TP("reports.raw", 0)
    fetched = {raw0: records(raw0, 1, 2)}
    assert withhold_paused(fetched, {raw0}) == {}
    assert [r.offset for r in fetched[raw0]] == [1, 2]


def test_install_wraps_faust_once():
    from faust.tables.recovery import Recovery
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    install()
    first = (Recovery.on_recovery_completed, AIOKafkaConsumerThread._fetch_records)
    install()
    assert (Recovery.on_recovery_completed, AIOKafkaConsumerThread._fetch_records) == first
    assert getattr(first[0], "_siaga_patched", False) and getattr(first[1], "_siaga_patched", False)
