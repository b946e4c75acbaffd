"""Texts and term statistics the disambiguation tests share: two towns called Broken Bow and unrelated
documents (tests/disambiguate)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from semsearch.disambiguate import Candidate

NEBRASKA = [
    "Broken Bow is a city in Custer County, Nebraska, United States. The population was 3,559 at the 2010 "
    "census. It is the county seat of Custer County and lies in the Sandhills near the Middle Loup River.",
    "Broken Bow, Nebraska hosts the Custer County Fair every August. Visitors from Lincoln and Omaha come for "
    "the Sandhills, the Middle Loup River and the Nebraska National Forest at Halsey.",
    "The Broken Bow Municipal Airport serves Custer County in Nebraska. Flights link Broken Bow with Lincoln "
    "and Omaha across the Sandhills; Halsey and Anselmo are the nearest villages.",
]
OKLAHOMA = [
    "Broken Bow is a city in McCurtain County, Oklahoma. The population was 4,120 at the 2020 "
    "census. It lies near Broken Bow Lake, Beavers Bend State Park and the Kiamichi Mountains.",
    "Broken Bow Lake in McCurtain County, Oklahoma was built by the Army Corps of Engineers on the Mountain "
    "Fork River. Beavers Bend State Park and the Ouachita National Forest surround Hochatown.",
    "Hochatown and Broken Bow, Oklahoma draw visitors to Beavers Bend, the Mountain Fork River and the "
    "Kiamichi Mountains of McCurtain County, close to Idabel and the Texas line.",
]
OTHER = [
    "Vitamin D deficiency was linked to respiratory infection in a Finnish cohort studied at Helsinki.",
    "Miles Davis recorded Kind of Blue in New York with John Coltrane and Bill Evans for Columbia Records.",
    "The Danube flows through Vienna, Bratislava, Budapest and Belgrade before reaching the Black Sea.",
    "Photosynthesis converts light into chemical energy in the chloroplasts of green plants and algae.",
    "The Treaty of Westphalia ended the Thirty Years War and reshaped the Holy Roman Empire in 1648.",
    "Marie Curie won Nobel Prizes in physics and chemistry for her work on radioactivity in Paris.",
    "Glaciers in Greenland and Antarctica hold most of the fresh water on Earth as ice sheets.",
    "The Apollo program landed astronauts from Houston mission control on the Moon between 1969 and 1972.",
]
QUERY = "What is the population of Broken Bow?"


class Counts:
    """Term statistics of a small corpus, lower-cased words as terms (a TermStatistics)."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.df = Counter(w for text in texts for w in {m.lower() for m in re.findall(r"\b\w\w+\b", text)})
        self.num_docs = len(texts)

    def normalize(self, words: Sequence[str]) -> list[str]:
        return [w.lower() for w in words]

    def document_frequencies(self, terms: Sequence[str]) -> list[int | None]:
        return [self.df.get(t) for t in terms]


CORPUS = Counts(NEBRASKA + OKLAHOMA + OTHER)


def candidates(texts: Sequence[str], dense: Sequence[float], lexical: Sequence[float]) -> list[Candidate]:
    return [Candidate(t, d, b) for t, d, b in zip(texts, dense, lexical, strict=True)]
