"""The option types: Fusion's text form, its checks and its JSON."""

from __future__ import annotations

import pytest

from semsearch.errors import OptionError
from semsearch.types import Fusion, FusionMethod, Normalisation


def test_fusion_is_written_as_text_and_read_back() -> None:
    assert Fusion.parse("rrf") == Fusion() and str(Fusion()) == "rrf"
    assert Fusion.parse("convex") == Fusion(FusionMethod.CONVEX, 0.5, Normalisation.MINMAX)
    assert Fusion.parse(" Convex:0.4:zscore ") == Fusion(FusionMethod.CONVEX, 0.4, Normalisation.ZSCORE)
    for fusion in (Fusion(), Fusion.parse("convex:0.35"), Fusion.parse("convex:1:zscore")):
        assert Fusion.parse(str(fusion)) == fusion and Fusion.from_json(fusion.to_json()) == fusion
    assert Fusion.parse(Fusion.parse("convex:0.2")) == Fusion.parse("convex:0.2")
    assert Fusion("convex", 0.3, "zscore").method is FusionMethod.CONVEX  # type: ignore[arg-type]
    assert Fusion.from_json(None) == Fusion()  # a manifest that recorded nothing: RRF


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("convex:1.5", "from 0 to 1"),
        ("convex:heavy", "not a number"),
        ("convex:0.5:l2", "'minmax', 'zscore'"),
        ("rrf:60", "expected 'rrf' or 'convex"),
        ("linear", "expected 'rrf' or 'convex"),
        (0.5, "got float"),
    ],
)
def test_a_bad_fusion_is_refused_naming_the_parameter(text: object, says: str) -> None:
    with pytest.raises(OptionError, match="fusion") as error:
        Fusion.parse(text)
    assert says in str(error.value)


def test_feedback_is_part_of_a_fusion_in_text_and_json() -> None:
    fed = Fusion.parse("convex:0.4:zscore+feedback")
    assert fed == Fusion(FusionMethod.CONVEX, 0.4, Normalisation.ZSCORE, feedback=True)
    assert str(fed) == "convex:0.4:zscore+feedback" and Fusion.parse(str(fed)) == fed
    assert Fusion.parse("RRF+feedback") == Fusion(feedback=True) and str(Fusion(feedback=True)) == "rrf+feedback"
    assert Fusion.from_json(fed.to_json()) == fed and Fusion.from_json({"method": "rrf"}).feedback is False
    with pytest.raises(OptionError, match="feedback"):
        Fusion.parse("convex+feedbak")
    with pytest.raises(OptionError, match="True or False"):
        Fusion(feedback="yes")  # type: ignore[arg-type]
