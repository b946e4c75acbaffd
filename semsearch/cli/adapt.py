"""``semsearch adapt``: adapt the encoder to a corpus, never making it worse (the gate decides)."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from semsearch.adaptation.options import AdaptOptions
from semsearch.cli.common import corpus_fields, field_map, json_output, quiet_libraries, skip_bad_option, user_errors
from semsearch.models import DEFAULT_MODEL

DEFAULTS = AdaptOptions()


@click.command()
@click.argument("corpus_source", metavar="CORPUS", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Model directory to write.")
@click.option("--base", default=DEFAULT_MODEL, show_default=True, help="Model to adapt (a directory, or the default).")
@click.option("--seed", default=DEFAULTS.seed, show_default=True, help="Seed of the split, the sampling, the training.")
@click.option("--max-steps", type=click.IntRange(min=1), default=None, help="Ceiling on each stage's steps.")
@click.option("--max-minutes", type=click.FloatRange(min=0, min_open=True), default=None, help="Wall-clock budget.")
@click.option("--mlm-steps", type=click.IntRange(min=0), default=DEFAULTS.mlm.steps, show_default=True,
              help="Masked-LM steps (0 skips stage 1).")  # fmt: skip
@click.option("--steps", type=click.IntRange(min=1), default=DEFAULTS.contrastive.steps, show_default=True,
              help="Contrastive steps (a ceiling).")  # fmt: skip
@click.option("--blend", type=click.FloatRange(0, 1), default=DEFAULTS.blend, show_default=True,
              help="Share of the trained weights in the adapted encoder; the rest is the base's.")  # fmt: skip
@click.option("--lexical-weight", type=click.FloatRange(min=0), default=DEFAULTS.contrastive.lexical_weight,
              show_default=True, help="BM25's weight in the contrastive logits (see docs/adaptation.md).")  # fmt: skip
@click.option("--work-dir", type=click.Path(path_type=Path), default=None, help="[default: OUT.work]")
@click.option("--keep-work", is_flag=True, help="Keep checkpoints and the stage-1 model after success.")
@corpus_fields
@skip_bad_option
@json_output
@user_errors
def adapt(corpus_source: Path, out: Path, mlm_steps: int, steps: int, lexical_weight: float, id_field: str | None,
          text_field: str | None, title_field: str | None, as_json: bool, **options: Any) -> None:  # fmt: skip
    """Adapt the encoder to CORPUS (masked-LM, contrastive + distillation, blend with the base); write --out.

    A slice of CORPUS is held out; the adapted encoder replaces the base only if it finds those
    documents better. Either way --out is a model directory for 'index --model'. Interrupted? Run the
    same command again: it resumes from its last checkpoint.
    """
    # Idle OpenMP threads sleep instead of spinning. Set before torch loads; on a shared 2-core machine
    # spinning cost 40% more CPU per training step for the same work (benchmarks/RESULTS.md, adaptation).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    quiet_libraries()
    from semsearch.adaptation import adapt as run_adapt

    settings = replace(
        DEFAULTS,
        mlm=replace(DEFAULTS.mlm, steps=mlm_steps),
        contrastive=replace(DEFAULTS.contrastive, steps=steps, lexical_weight=lexical_weight),
        fields=field_map(id_field, text_field, title_field),
        progress=not as_json,
        **options,
    )
    result = run_adapt(corpus_source, out, settings)
    click.echo(json.dumps(result.report) if as_json else result.summary)
