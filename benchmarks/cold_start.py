"""Cold start of the command line: wall time and peak memory of one `semsearch` call in a fresh process.

    .venv/bin/python benchmarks/cold_start.py                     # this checkout
    .venv/bin/python benchmarks/cold_start.py --before /tmp/old   # and another checkout, in the same run

Each case runs `python -m semsearch ...` in a new process (the model cache warm, the OS page cache warm: a
second call of the same command, as a user's second command is), several times; the table gives the median
wall time and the largest peak RSS. With --before, the same cases run from that checkout too (its package
on PYTHONPATH, same interpreter and libraries), so the two columns are measured on the same machine in the
same run. The index is the bundled sample, built once by this checkout (both versions read it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from semsearch.runtime import cpu

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "scifact-sample"
QUERY = "vitamin D deficiency and the risk of infection"


def cases(index: Path) -> list[tuple[str, list[str], str]]:
    """(name, arguments, what the aim is) for every case."""
    missing = index.parent / "no-such-index"
    return [
        ("--help", ["--help"], ""),
        ("argument error (-k 0)", ["search", QUERY, "--index", str(index), "-k", "0"], "< 0.5 s"),
        ("error: no index", ["search", QUERY, "--index", str(missing)], "< 0.5 s"),
        ("search --mode bm25", ["search", QUERY, "--index", str(index), "--mode", "bm25"], "< 1.5 s"),
        ("search --mode dense", ["search", QUERY, "--index", str(index), "--mode", "dense"], ""),
        ("search (hybrid)", ["search", QUERY, "--index", str(index)], "< 3 s"),
        ("info", ["info", "--index", str(index)], ""),
    ]


def run_once(checkout: Path, arguments: list[str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MB, exit status) of one call."""
    env = {**os.environ, "PYTHONPATH": str(checkout), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "semsearch", *arguments], cwd=checkout, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    return wall, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def measure(checkout: Path, arguments: list[str], repeats: int) -> tuple[float, float, int]:
    run_once(checkout, arguments)  # warm the page cache and any model cache
    runs = [run_once(checkout, arguments) for _ in range(repeats)]
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs), runs[-1][2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, default=None, help="Another checkout to measure beside this one.")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="semsearch-cold-"))
    try:
        index = work / "sample"
        subprocess.run(
            [sys.executable, "-m", "semsearch", "index", str(SAMPLE), "--index", str(index)], check=True, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        checkouts = [("before", args.before)] if args.before else []
        checkouts.append(("now", ROOT))
        header = "| command | aim |" + "".join(f" {name} wall s | {name} peak MB |" for name, _ in checkouts)
        print(f"CPU: {cpu.model_name()}, {os.cpu_count()} cores; median of {args.repeats} warm runs each")
        print(header)
        print("|---|---|" + "---|---|" * len(checkouts))
        for name, arguments, aim in cases(index):
            row = f"| {name} | {aim} |"
            for _, checkout in checkouts:
                wall, peak, code = measure(checkout, arguments, args.repeats)
                shown = f"{wall:.2f}" + (f" (exit {code})" if code else "")
                row += f" {shown} | {peak:.0f} |"
            print(row, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
