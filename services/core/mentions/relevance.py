"""Relevance: does a post describe a disaster happening now (impact, need, warning) or is it chatter?

Two parts, because each fails differently:
- rules: hazard words plus impact/need cues, minus chatter cues (jokes, hiking, politics, history). They
  know nothing about topics the lexicon misses but work with no data at all;
- a small model: TF-IDF word 1-2-grams, logistic regression, trained ONLY on the
  labelled volcano tweets. That data may not ship with Siaga, so the model is fitted at first use from
  `$SIAGA_SOCIAL_DATA` (a directory), else `$SIAGA_SHARED_DATA/social`, else `<repo>/../shared/data/social`,
  and cached under `var/models/` (git-ignored), keyed by the data's hash and the library versions.
  Without the data the rules answer alone and every result says `relevance_method="rules"`.

The score is a blend (model 0.7, rules 0.3 by default): the model knows the volcano topic well but has
never seen a flood or a Tetum post, the rules carry those.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from services.core.mentions.lexicon import HazardHit
from services.core.mentions.wordlists import CHATTER_CUES, IMPACT_CUES
from services.core.shared import Shared

log = logging.getLogger("siaga.mentions.relevance")

REPO = Path(__file__).resolve().parents[3]
DATA_FILE = "volcano_tweets_labelled.csv"
MODEL_VERSION = 2
MODEL_WEIGHT = 0.7
THRESHOLD = 0.5
_HISTORY = re.compile(r"\b(1[0-9]{3}|19[0-9]{2}|200[0-9]|201[0-9])\b|\bsejarah\b|\bdulu\b|\bhistory\b")

RelevanceMethod = Literal["model+rules", "rules"]


@dataclass(frozen=True, slots=True)
class Relevance:
    relevant: bool
    score: float
    method: RelevanceMethod


def rule_score(words: Sequence[str], hazards: Sequence[HazardHit]) -> float:
    """A score in [0, 1] from words alone: hazard named, impact or need described, no chatter cues."""
    s = 0.15
    if hazards:
        s += 0.35
    impact = sum(1 for w in words if w in IMPACT_CUES)
    chatter = sum(1 for w in words if w in CHATTER_CUES)
    s += min(impact, 3) * 0.12
    s -= min(chatter, 2) * 0.2
    if _HISTORY.search(" ".join(words)):
        s -= 0.2
    return max(0.0, min(1.0, s))


def social_data_dir() -> Path:
    env = os.environ.get("SIAGA_SOCIAL_DATA")
    if env:
        return Path(env)
    shared = os.environ.get("SIAGA_SHARED_DATA")
    return Path(shared) / "social" if shared else REPO.parent / "shared" / "data" / "social"


def model_dir() -> Path:
    return Path(os.environ.get("SIAGA_MODEL_DIR") or REPO / "var" / "models")


def load_labelled(path: Path | None = None) -> tuple[list[str], list[int]]:
    """Texts and labels of the labelled tweets (csv `text,label`)."""
    import pandas as pd

    df = pd.read_csv(path or social_data_dir() / DATA_FILE)
    df = df.dropna(subset=["text", "label"])
    return df["text"].astype(str).tolist(), df["label"].astype(int).tolist()


def word_ngrams(text: str) -> list[str]:
    """Words and word pairs of an already normalised text (split on spaces: no second tokeniser)."""
    words = text.split()
    return words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]


def build_model() -> Any:
    """The unfitted pipeline; one place so evaluation and serving use the same thing.

    Word 1-2-grams only: character n-grams scored the same cross-validated F1 here at four times the cost
    per post (about 210 vs 50 microseconds), and the worker must sustain 5,000 posts/s."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    return Pipeline([("features", TfidfVectorizer(analyzer=word_ngrams, sublinear_tf=True, lowercase=False)),
                     ("lr", LogisticRegression(C=4.0, class_weight="balanced", max_iter=2000))])


def dedupe(texts: Sequence[str], labels: Sequence[int]) -> tuple[list[str], list[int]]:
    """Drop repeated texts (retweets, copy-paste): left in, they leak across cross-validation folds."""
    seen: dict[str, list[int]] = {}
    order: list[str] = []
    for t, y in zip(texts, labels, strict=True):
        if t not in seen:
            order.append(t)
            seen[t] = []
        seen[t].append(y)
    return order, [round(sum(seen[t]) / len(seen[t]) + 1e-9) for t in order]


class RelevanceModel:
    """The fitted classifier on normalised text, or None-equivalent when the data is absent."""

    def __init__(self, pipeline: Any | None) -> None:
        self.pipeline = pipeline

    @property
    def available(self) -> bool:
        return self.pipeline is not None

    def proba(self, normalised_texts: Sequence[str]) -> list[float]:
        if self.pipeline is None or not normalised_texts:
            return [0.0] * len(normalised_texts)
        return self.pipeline.predict_proba(list(normalised_texts))[:, 1].tolist()


def fit_model(texts: Sequence[str], labels: Sequence[int]) -> Any:
    from services.core.mentions.normalise import normalise_text

    pipe = build_model()
    pipe.fit([normalise_text(t) for t in texts], list(labels))
    return pipe


def _cache_path(data_path: Path) -> Path:
    import sklearn

    digest = hashlib.sha256(data_path.read_bytes()).hexdigest()[:16]
    return model_dir() / f"mention_relevance-v{MODEL_VERSION}-{digest}-skl{sklearn.__version__}.pkl"


def load_or_train(data_path: Path | None = None) -> RelevanceModel:
    """Fitted model from the cache, or fitted now from the labelled data and cached; rules-only if no data.

    The cache is a pickle we wrote ourselves under var/models; it is never read from anywhere else."""
    path = data_path or social_data_dir() / DATA_FILE
    if not path.is_file():
        log.warning("relevance: %s not found, using rules only", path)
        return RelevanceModel(None)
    cache = _cache_path(path)
    if cache.is_file():
        try:
            with cache.open("rb") as f:
                return RelevanceModel(pickle.load(f))
        except Exception:  # noqa: BLE001 - a stale or partial cache is refitted, not fatal
            log.warning("relevance: unreadable cache %s, refitting", cache)
    texts, labels = dedupe(*load_labelled(path))
    pipe = fit_model(texts, labels)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".tmp{os.getpid()}")
        with tmp.open("wb") as f:
            pickle.dump(pipe, f, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(cache)
    except OSError as err:  # read-only filesystem: serve from memory
        log.warning("relevance: cannot cache model at %s: %s", cache, err)
    return RelevanceModel(pipe)


def combine(model_p: float | None, rules: float, weight: float = MODEL_WEIGHT) -> float:
    if model_p is None:
        return rules
    return weight * model_p + (1 - weight) * rules


def judge(normalised: Sequence[str], words: Sequence[Sequence[str]], hazards: Sequence[Sequence[HazardHit]],
          model: RelevanceModel | None = None) -> list[Relevance]:
    """Relevance of a batch: the model vectorises all texts at once (the cost is in the transform)."""
    m = model if model is not None else get_model()
    rules = [rule_score(w, h) for w, h in zip(words, hazards, strict=True)]
    if m.available:
        probs = m.proba(normalised)
        scores = [combine(p, r) for p, r in zip(probs, rules, strict=True)]
        method: RelevanceMethod = "model+rules"
    else:
        scores, method = rules, "rules"
    return [Relevance(s >= THRESHOLD, round(s, 4), method) for s in scores]


_shared: Shared[RelevanceModel] = Shared(lambda: load_or_train())


def get_model() -> RelevanceModel:
    return _shared.get()


def set_model(model: RelevanceModel | None) -> None:
    """For tests: force rules-only (RelevanceModel(None)) or a specific model."""
    _shared.set(model)
