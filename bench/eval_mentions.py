"""Evaluate the mention core on real data: relevance (cross-validated F1) and geoparsing (PetaBencana).

    PYTHONPATH=. python bench/eval_mentions.py [--folds 5] [--out bench/results/mentions_eval.json]

Relevance: the labelled volcano tweets, duplicates removed (copies across folds would inflate the score),
stratified k-fold; the model and the blend refitted per fold. Baselines: always-relevant and "a hazard
word is present". A leak check refits with the words the dataset was scraped by (pendaki*, "naik gunung")
masked, since almost every negative tweet is about hiking.

Geoparsing: PetaBencana flood reports (Jakarta, Feb 2017) have a text and the reporter's point. The text is
geoparsed WITHOUT the point (text-only geoparsing: in the product a post's own point is a legitimate input,
here it is the truth and would be cheating); the truth is the regency the geotagger puts the point in.
Answers are what the product gives, i.e. at its confidence threshold (`geoparse.MIN_CONFIDENCE`, below which
`Geoparser.parse` withholds an answer). Precision = share of answers naming a regency whose regency is the
point's; coverage = share of non-empty texts answered (at regency level, and at any level). Stricter
thresholds are reported too, with their coverage, so the trade-off is visible.
The datasets are read from `<repo>/../shared/data` (or `$SIAGA_SHARED_DATA`); they do not ship.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from services.core.admin_data import shared_data_dir  # noqa: E402
from services.core.mentions import relevance  # noqa: E402
from services.core.mentions.lexicon import find_hazards  # noqa: E402
from services.core.mentions.normalise import tokenize  # noqa: E402

PETABENCANA = "reports/petabencana_jakarta_2017-02.geojson"
_LEAK = re.compile(r"\S*(?:pendak|mendaki)\S*|naik gunung")


def _f1(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import f1_score, precision_score, recall_score

    return {"f1": round(float(f1_score(y, pred)), 4), "precision": round(float(precision_score(y, pred)), 4),
            "recall": round(float(recall_score(y, pred)), 4)}


def evaluate_relevance(folds: int = 5, seed: int = 0) -> dict[str, Any]:
    from sklearn.model_selection import StratifiedKFold

    path = relevance.social_data_dir() / relevance.DATA_FILE
    texts_all, labels_all = relevance.load_labelled(path)
    texts, labels = relevance.dedupe(texts_all, labels_all)
    y = np.array(labels)
    toks = [tokenize(t) for t in texts]
    hits = [find_hazards(t.words) for t in toks]
    norm = [t.text() for t in toks]
    rules = np.array([relevance.rule_score(t.words, h) for t, h in zip(toks, hits, strict=True)])
    masked = [_LEAK.sub(" ", s) for s in norm]
    rules_masked = np.array([relevance.rule_score(s.split(), h) for s, h in zip(masked, hits, strict=True)])

    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    p_model, p_masked = np.zeros(len(y)), np.zeros(len(y))
    t0 = time.perf_counter()
    for train, test in skf.split(norm, y):
        for source, target in ((norm, p_model), (masked, p_masked)):
            pipe = relevance.build_model()
            pipe.fit([source[i] for i in train], y[train])
            target[test] = pipe.predict_proba([source[i] for i in test])[:, 1]
    fit_s = (time.perf_counter() - t0) / (2 * folds)
    th = relevance.THRESHOLD
    blend = relevance.combine(p_model, rules)
    blend_masked = relevance.combine(p_masked, rules_masked)
    return {
        "data": str(path), "rows": len(texts_all), "unique_rows": len(texts), "positives": int(y.sum()),
        "folds": folds, "seed": seed, "threshold": th, "model_weight": relevance.MODEL_WEIGHT,
        "mean_fit_seconds": round(fit_s, 2),
        "model": _f1(y, p_model >= th),
        "blend_model_rules": _f1(y, blend >= th),
        "rules_only": _f1(y, rules >= th),
        "baseline_always_relevant": _f1(y, np.ones_like(y)),
        "baseline_hazard_word": _f1(y, np.array([bool(h) for h in hits])),
        "leak_check_scrape_words_masked": {"model": _f1(y, p_masked >= th),
                                           "blend_model_rules": _f1(y, blend_masked >= th),
                                           "rules_only": _f1(y, rules_masked >= th)},
    }


def load_petabencana(path: Path | None = None) -> list[dict[str, Any]]:
    """(text, lon, lat, source) of every report with a text."""
    data = json.loads((path or shared_data_dir() / PETABENCANA).read_text())
    out = []
    for f in data["features"]:
        text = (f["properties"].get("text") or "").strip()
        lon, lat = f["geometry"]["coordinates"][:2]
        if text:
            out.append({"text": text, "lon": float(lon), "lat": float(lat),
                        "source": f["properties"]["source"]})
    return out


def evaluate_geoparse(rows: list[dict[str, Any]] | None = None,
                      min_confidence: float = 0.0) -> dict[str, Any]:
    """`min_confidence` filters further than the product does (0: exactly the product's answers)."""
    from services.core.geotag import get_geotagger
    from services.core.mentions.geoparse import get_geoparser

    rows = rows if rows is not None else load_petabencana()
    truth = get_geotagger().tag_points([r["lon"] for r in rows], [r["lat"] for r in rows])
    gp = get_geoparser()
    answered = regency_answers = correct = province_answers = province_correct = 0
    by_conf: dict[str, list[int]] = {"0.5": [0, 0], "0.6": [0, 0], "0.7": [0, 0]}
    wrong: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for r, true in zip(rows, truth, strict=True):
        res = gp.parse(tokenize(r["text"]))  # text only: the report's point is never passed
        geo = res.geo
        if geo.most_specific is None or res.confidence < min_confidence:
            continue
        answered += 1
        province_answers += 1
        province_correct += int(geo.adm1 == true.adm1)
        if geo.adm2 is None:
            continue
        regency_answers += 1
        ok = geo.adm2 == true.adm2
        correct += int(ok)
        for k, v in by_conf.items():
            if res.confidence >= float(k):
                v[0] += 1
                v[1] += int(ok)
        if not ok and len(wrong) < 40:
            wrong.append({"text": r["text"][:140], "answer": geo.adm2_name, "truth": true.adm2_name,
                          "confidence": res.confidence, "why": geo.reason})
    elapsed = time.perf_counter() - t0
    n = len(rows)
    return {
        "point_withheld": True, "min_confidence": gp.min_confidence,
        "texts": n, "unique_texts": len({r["text"] for r in rows}),
        "answered": answered, "coverage_any_level": round(answered / n, 4) if n else 0.0,
        "regency_answers": regency_answers, "coverage_regency": round(regency_answers / n, 4) if n else 0.0,
        "regency_precision": round(correct / regency_answers, 4) if regency_answers else None,
        "province_precision": round(province_correct / province_answers, 4) if province_answers else None,
        "regency_precision_by_min_confidence": {
            k: {"answers": v[0], "precision": round(v[1] / v[0], 4) if v[0] else None,
                "coverage_regency": round(v[0] / n, 4) if n else 0.0}
            for k, v in by_conf.items()},
        "texts_per_second": round(n / elapsed, 1) if elapsed else None,
        "wrong_examples": wrong,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "mentions_eval.json"))
    args = ap.parse_args(argv)
    result: dict[str, Any] = {}
    if (relevance.social_data_dir() / relevance.DATA_FILE).is_file():
        result["relevance"] = evaluate_relevance(args.folds)
    else:
        result["relevance"] = {"skipped": f"no {relevance.DATA_FILE} under {relevance.social_data_dir()}"}
    if (shared_data_dir() / PETABENCANA).is_file():
        result["geoparse_petabencana"] = evaluate_geoparse()
    else:
        result["geoparse_petabencana"] = {"skipped": f"no {PETABENCANA} under {shared_data_dir()}"}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")

    rel = result["relevance"]
    if "model" in rel:
        print(f"relevance ({rel['unique_rows']} unique labelled tweets, {rel['folds']}-fold stratified CV)")
        print(f"  {'':34} {'F1':>6} {'prec':>6} {'recall':>6}")
        rows = [("model (tf-idf + logreg)", rel["model"]),
                ("blend model+rules (shipped)", rel["blend_model_rules"]),
                ("rules only (no data)", rel["rules_only"]),
                ("baseline: always relevant", rel["baseline_always_relevant"]),
                ("baseline: hazard word present", rel["baseline_hazard_word"]),
                ("leak check: model, scrape words masked", rel["leak_check_scrape_words_masked"]["model"])]
        for name, m in rows:
            print(f"  {name:34} {m['f1']:>6.3f} {m['precision']:>6.3f} {m['recall']:>6.3f}")
    geo = result["geoparse_petabencana"]
    if "texts" in geo:
        print(f"geoparse (PetaBencana Jakarta, {geo['texts']} texts, text only: point withheld; "
              f"product threshold confidence >= {geo['min_confidence']})")
        print(f"  regency precision {geo['regency_precision']}  ({geo['regency_answers']} answers)")
        print(f"  coverage: regency {geo['coverage_regency']}, any level {geo['coverage_any_level']}")
        for k, v in geo["regency_precision_by_min_confidence"].items():
            print(f"  confidence >= {k}: precision {v['precision']} ({v['answers']} answers, "
                  f"coverage {v['coverage_regency']})")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
