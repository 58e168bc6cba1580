"""Throughput of mention enrichment on one worker (one process, one thread). Target: >= 5,000 mentions/s.

    PYTHONPATH=. python bench/bench_mentions.py [-n 20000] [--batch 1000] [--out bench/results/mentions.json]

Texts: real PetaBencana report texts and labelled tweets when the shared data is present, else a small set
of realistic synthetic posts; 1 in 5 carries a point (as geotagged posts do). Start-up (gazetteer, model) is
measured separately from steady state, which is what a long-running worker sees.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from schemas.mention import SocialMention  # noqa: E402
from services.core.admin_data import shared_data_dir  # noqa: E402
from services.core.mentions import relevance  # noqa: E402
from services.core.mentions.enrich import enrich_mentions  # noqa: E402
from services.core.mentions.geoparse import get_geoparser  # noqa: E402
from services.core.mentions.lexicon import find_hazards, guess_language  # noqa: E402
from services.core.mentions.normalise import default_wordlist, tokenize  # noqa: E402

SYNTHETIC = [
    "Banjir setinggi pinggang di Kel. Kapuk Kec. Cengkareng, warga butuh perahu #banjirjakarta",
    "Gunung Semeru erupsi lagi pagi ini, awan panas guguran mengarah ke Besuk Kobokan",
    "Be sa'e iha Dili, uma barak mak estragu. Ema presiza ajuda.",
    "pendakian minggu depan seru bgt wkwk @temen https://t.co/abc",
    "Tanah longsor di Desa Sukamaju menimbun 3 rumah, tim SAR dikerahkan",
    "Gempa M5.6 terasa kuat di Cianjur, warga berhamburan keluar rumah",
]


def _texts() -> tuple[list[str], str]:
    texts: list[str] = []
    reports = shared_data_dir() / "reports/petabencana_jakarta_2017-02.geojson"
    if reports.is_file():
        feats = json.loads(reports.read_text())["features"]
        texts += [f["properties"]["text"] for f in feats if (f["properties"].get("text") or "").strip()]
    tweets = relevance.social_data_dir() / relevance.DATA_FILE
    if tweets.is_file():
        texts += relevance.load_labelled(tweets)[0]
    return (texts, "real: PetaBencana + labelled tweets") if texts else (SYNTHETIC, "synthetic")


def _mentions(n: int, texts: list[str]) -> list[SocialMention]:
    rng = random.Random(1)
    now = datetime.now(UTC)
    out = []
    for i in range(n):
        point = None
        if i % 5 == 0:
            point = {"lat": -6.2 + rng.uniform(-0.1, 0.1), "lon": 106.8 + rng.uniform(-0.1, 0.1)}
        out.append(SocialMention(id=f"bench:{i}", platform="x", text=texts[i % len(texts)], created_at=now,
                                 point=point))
    return out


def _rate(n: int, seconds: float) -> float:
    return round(n / seconds, 1) if seconds > 0 else float("inf")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "mentions.json"))
    args = ap.parse_args(argv)

    texts, source = _texts()
    mentions = _mentions(args.n, texts)
    t0 = time.perf_counter()
    default_wordlist()
    gp = get_geoparser()
    model = relevance.get_model()
    enrich_mentions(mentions[:50])  # loads the geotagger too
    startup = time.perf_counter() - t0

    stages: dict[str, float] = {}
    sample = mentions[: min(5000, args.n)]
    t = time.perf_counter()
    toks = [tokenize(m.text) for m in sample]
    stages["tokenize+normalise"] = time.perf_counter() - t
    t = time.perf_counter()
    hits = [find_hazards(k.words) for k in toks]
    for k, m in zip(toks, sample, strict=True):
        guess_language(k.words, m.language)
    stages["hazard+language"] = time.perf_counter() - t
    t = time.perf_counter()
    relevance.judge([k.text() for k in toks], [k.words for k in toks], hits, model)
    stages["relevance (batch)"] = time.perf_counter() - t
    t = time.perf_counter()
    for k in toks:
        gp.parse(k)
    stages["geoparse"] = time.perf_counter() - t

    t, cpu = time.perf_counter(), time.process_time()
    done = 0
    for start in range(0, len(mentions), args.batch):
        done += len(enrich_mentions(mentions[start:start + args.batch]))
    total, cpu = time.perf_counter() - t, time.process_time() - cpu

    result = {
        "mentions": done, "batch": args.batch, "texts": source, "relevance_method":
            "model+rules" if model.available else "rules", "startup_seconds": round(startup, 2),
        "seconds": round(total, 3), "mentions_per_second": _rate(done, total), "target_per_second": 5000,
        # CPU time: what one worker with a core of its own sustains; wall time suffers on a shared machine.
        "cpu_seconds": round(cpu, 3), "mentions_per_cpu_second": _rate(done, cpu),
        "load_average_1min": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
        "stages_per_second": {k: _rate(len(sample), v) for k, v in stages.items()},
        "python": platform.python_version(), "machine": platform.machine(),
        "when": datetime.now(UTC).isoformat(),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"mention enrichment, one worker ({result['texts']}; relevance: {result['relevance_method']})")
    print(f"  {'stage':24} {'mentions/s':>12}")
    for k, v in result["stages_per_second"].items():
        print(f"  {k:24} {v:>12,.0f}")
    print(f"  {'enrich_mentions, wall':24} {result['mentions_per_second']:>12,.0f}   target 5,000")
    print(f"  {'enrich_mentions, CPU':24} {result['mentions_per_cpu_second']:>12,.0f}   "
          f"(load {result['load_average_1min']} on {result['cpus']} CPUs)")
    print(f"  start-up {startup:.1f} s (gazetteer, model, geotagger); wrote {out}")
    return 0 if result["mentions_per_cpu_second"] >= 5000 else 1


if __name__ == "__main__":
    sys.exit(main())
