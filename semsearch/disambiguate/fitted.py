"""Written by benchmarks/disambiguation_fit.py --write (RAMDocs dev only); do not edit by hand."""

FITTED = {
    "pair": {
        "features": ["overlap", "mention_cosine", "few_terms", "window_cosine"],
        "weights": [6.457632, 0.0, -0.480975, -1.099241],
        "bias": -1.15053,
    },
    "query": {
        "features": ["second_relevance", "separation", "leader_cosine", "leader_overlap", "senses"],
        "weights": [1.900654, 2.173955, 0.0, 0.672861, 1.30139],
        "bias": -7.340783,
    },
    "relevant": 1.2,
    "strong": 1.4,
    "link": 0.6,
}
