"""The ceiling the enrich worker sits under: the same two faust hops with no work in them.

`python -m bench.faust_ceiling` runs a faust worker shaped like `services.enrich.app`: an agent reads
`reports.raw` in batches (`services.enrich.batching`), packs every record unchanged into one array per key and
batch (`services.enrich.envelopes`, 500 keys standing in for Indonesia's 514 regencies) sent to a middle topic
through the same bulk writer, and a second agent reads that topic in batches and writes nothing. No parsing,
geotagging, tables or consolidation. `bench/bench_enrich.py` runs it over the same input, in the same run as
the real worker, so the enrich rate can be quoted as a fraction of what faust's consumer path alone allows on
this machine.

`SIAGA_BENCH_CEILING_MODE=floor` runs the least a faust worker can be instead: one agent that iterates
`reports.raw` event by event with faust's own acknowledgement and does nothing else (no batching helper, no
output, no second hop). Its rate per CPU-second bounds any faust worker that reads one record per report.
"""

from __future__ import annotations

import logging
import os

import faust

from services.common.config import settings
from services.common.topics import REGION_PARTITIONS, REPORTS_RAW
from services.enrich.batching import batches
from services.enrich.bulk import BulkWriter
from services.enrich.envelopes import EnvelopePacker
from services.enrich.faust_races import install as fix_faust_races
from services.enrich.stream_settings import BATCH, STREAM_SETTINGS

MIDDLE = "bench.ceiling.middle"
MODE = os.environ.get("SIAGA_BENCH_CEILING_MODE", "two_hops")
CEILING_GROUP = "siaga-bench-ceiling"
FLOOR_GROUP = "siaga-bench-floor"
GROUP = FLOOR_GROUP if MODE == "floor" else CEILING_GROUP
cfg = settings()
fix_faust_races()

app = faust.App(
    GROUP,
    broker=[f"kafka://{h}" for h in cfg.kafka.split(",")],
    store="memory://",
    datadir=str(cfg.state_dir / "ceiling"),
    web_port=cfg.enrich_web_port,
    web_host=cfg.enrich_web_host,
    **STREAM_SETTINGS,  # the worker's own streaming settings
)
raw_topic = app.topic(REPORTS_RAW.name, partitions=REPORTS_RAW.partitions, internal=False)
middle_topic = app.topic(MIDDLE, partitions=REGION_PARTITIONS, internal=False)
hop1_out = BulkWriter(app)
hop1_arrays = EnvelopePacker(MIDDLE)
REGENCIES = 500


@app.page("/healthz")
async def healthz(web, request):  # noqa: ANN001, ANN201
    return web.json({"status": "ok"})


async def floor(stream: faust.StreamT) -> None:
    async for _event in stream.events():
        pass


async def hop1(stream: faust.StreamT) -> None:
    async for batch in batches(stream, BATCH):
        for event in batch:
            regency = str(hash(event.message.key) % REGENCIES).encode()
            hop1_arrays.add(regency, event.message.value or b"null")
        hop1_arrays.send_to(hop1_out)
        await hop1_out.flush()


async def hop2(stream: faust.StreamT) -> None:
    async for _batch in batches(stream, BATCH):
        pass


if MODE == "floor":
    app.agent(raw_topic, name="floor")(floor)
else:
    app.agent(raw_topic, name="hop1")(hop1)
    app.agent(middle_topic, name="hop2")(hop2)


def main() -> None:
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    admin = KafkaAdminClient(bootstrap_servers=cfg.kafka)
    try:
        admin.create_topics([NewTopic(MIDDLE, REGION_PARTITIONS, 1)])
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()
    logging.basicConfig(level=logging.WARNING)
    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
