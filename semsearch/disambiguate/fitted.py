"""Written by benchmarks/disambiguation_fit.py --write (RAMDocs dev only); do not edit by hand."""

FITTED = {
    "pair": {
        "features": ["overlap", "mention_cosine", "few_terms", "window_cosine"],
        "weights": [6.0, 4.0, 0.0, 0.0],
        "bias": -4.5,
    },
    "query": {
        "features": ["second_relevance", "separation", "leader_cosine", "leader_overlap", "senses"],
        "weights": [1.0, 1.0, 0.0, 0.0, 0.0],
        "bias": -1.0,
    },
    "relevant": 1.3,
    "strong": 1.5,
    "link": 0.5,
}
