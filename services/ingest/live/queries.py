"""What the live clients search for, written the way each platform wants it, from the mention lexicon's seeds
(`SEARCH_SEEDS`): the clients then ask only for posts enrich recognises, in Bahasa Indonesia and Tetum."""

from __future__ import annotations

from services.core.mentions.lexicon import SEARCH_SEEDS

X_QUERY_MAX = 512  # characters in a query of X's recent search (basic access); checked by its test


def x_search_query() -> str:
    """The seeds as one X recent-search query, retweets left out (a retweet is no new witness).

    A seed that contains a shorter seed as a word ("banjir bandang" and "banjir") adds nothing to a keyword
    search and is left out.
    """
    seeds = [t for terms in SEARCH_SEEDS.values() for t in terms]
    kept = [t for t in seeds if not any(o != t and f" {o} " in f" {t} " for o in seeds)]
    return "(" + " OR ".join(f'"{t}"' if " " in t else t for t in kept) + ") -is:retweet"


def mastodon_hashtags() -> list[str]:
    """The seeds as hashtags: a hashtag is one word, so "gunung meletus" is #gunungmeletus."""
    return list(dict.fromkeys(t.replace(" ", "") for terms in SEARCH_SEEDS.values() for t in terms))
