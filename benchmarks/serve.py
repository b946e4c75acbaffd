"""Load on ``semsearch serve``: N concurrent clients querying SciFact over HTTP, then the same while a writer
adds documents through the API, against the library called in-process. Prints one table.

    .venv/bin/python benchmarks/serve.py                  # 60 s a phase (about 7 minutes in all)
    .venv/bin/python benchmarks/serve.py --seconds 5      # a quick check

The index: ``--index`` (default ``indexes/bench-serve-scifact``), made if missing by copying
``../main/indexes/bench-scifact-mean-int8-dynamic`` where that exists, else by indexing
``../shared/data/scifact``. The server serves a temporary copy of it (the writer changes it), in a
subprocess (``python -m semsearch serve --port 0``) on a free loopback port. Clients are threads, each
with its own keep-alive connection (the standard library's ``http.client``), sending
``GET /search?q=...&k=10&mode=hybrid`` with the SciFact test queries in turn.

Phases (``--seconds`` each, the writer's until its documents are in):
  in-process  one thread calling ``Index.search(...).to_json()`` on the same index, no server running
  HTTP N      N clients (``--clients``, default 1,4,16)
  + writer    ``--write-readers`` clients while one writer POSTs ``--write-docs`` new documents to
              /documents, ``--write-batch`` per request (one commit each); after each commit it checks
              that every document of it is found (a BM25 search for a word only it holds)
  after       16 clients on the grown index, twice (the server's RSS must not grow from one to the next)
Every answer is checked: status 200, the search JSON shape, every hit whole (a new document's text exactly
as sent). The errors column counts anything else; the run exits 1 if any phase has one.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's semsearch, not an installed one

DATA = ROOT.parent / "shared" / "data" / "scifact"
REUSE = ROOT.parent / "main" / "indexes" / "bench-scifact-mean-int8-dynamic"
TOKEN = "bench-" + os.urandom(12).hex()
LETTERS = "bcfhjkmpqrtvwxz"  # no vowels, s, d, g, l, n or y: no stemmer suffix rule touches the markers


def marker(number: int) -> str:
    """A word only document ``number`` holds (four letters after "zq")."""
    letters = ""
    for _ in range(4):
        number, digit = divmod(number, len(LETTERS))
        letters += LETTERS[digit]
    return "zq" + letters


@dataclass
class Phase:
    name: str
    clients: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # ms
    errors: list[str] = field(default_factory=list)
    rss_mb: float | None = None
    note: str = ""

    def row(self) -> str:
        times = np.array(self.latencies) if self.latencies else np.array([float("nan")])
        rss = f"{self.rss_mb:.0f}" if self.rss_mb is not None else "-"
        return (
            f"| {self.name} | {self.clients} | {len(self.latencies)} | {len(self.latencies) / self.seconds:.1f} | "
            f"{np.percentile(times, 50):.1f} | {np.percentile(times, 99):.1f} | {len(self.errors)} | {rss} |"
        )


class Client:
    """One keep-alive connection; JSON in and out."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=120)

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        sent = {"Content-Type": "application/json", **(headers or {})} if data is not None else dict(headers or {})
        for attempt in (1, 2):
            try:
                self.connection.request(method, path, body=data, headers=sent)
                response = self.connection.getresponse()
                content = response.read()
                return response.status, json.loads(content) if content else None
            except (http.client.HTTPException, ConnectionError) as exc:  # a keep-alive the server closed
                self.connection.close()
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
                if attempt == 2:
                    return 0, {"error": {"type": "connection", "message": repr(exc)}}
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.connection.close()


def search_path(query: str, k: int) -> str:
    return "/search?" + urllib.parse.urlencode({"q": query, "k": k, "mode": "hybrid"})


def check_result(status: int, body: Any, expected_texts: dict[str, str]) -> str | None:
    """None when the answer is a whole search result, else what is wrong with it."""
    if status != 200:
        return f"status {status}: {body}"
    if not isinstance(body, dict) or not isinstance(body.get("hits"), list) or "senses" not in body:
        return f"not a search result: {str(body)[:200]}"
    for hit in body["hits"]:
        if not isinstance(hit.get("text"), str) or not hit["text"] or not isinstance(hit.get("metadata"), dict):
            return f"partial hit {hit.get('id')}"
        wanted = expected_texts.get(hit["id"])
        if wanted is not None and hit["text"] != wanted:
            return f"partial document {hit['id']}"
    return None


def readers(url: str, phase: Phase, queries: list[str], until: threading.Event | float, k: int,
            expected_texts: dict[str, str]) -> None:  # fmt: skip
    """``phase.clients`` threads searching until the deadline (a time) or the event."""
    lock = threading.Lock()

    def run(number: int) -> None:
        client = Client(url)
        mine: list[float] = []
        wrong: list[str] = []
        position = number * 37
        while not (until.is_set() if isinstance(until, threading.Event) else time.monotonic() >= until):
            query = queries[position % len(queries)]
            position += 1
            started = time.perf_counter()
            status, body = client.call("GET", search_path(query, k))
            mine.append((time.perf_counter() - started) * 1000)
            problem = check_result(status, body, expected_texts)
            if problem:
                wrong.append(problem)
        client.close()
        with lock:
            phase.latencies.extend(mine)
            phase.errors.extend(wrong)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(phase.clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    phase.seconds = time.monotonic() - started


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def in_process(directory: Path, queries: list[str], seconds: float, k: int) -> Phase:
    import semsearch

    index = semsearch.open(directory)
    index.search(queries[0], k=k, mode="hybrid")  # warm-up: the model, vectors, BM25
    phase = Phase("in-process (library)", 1)
    deadline = time.monotonic() + seconds
    position = 0
    started = time.monotonic()
    while time.monotonic() < deadline:
        query = queries[position % len(queries)]
        position += 1
        begun = time.perf_counter()
        index.search(query, k=k, mode="hybrid").to_json()
        phase.latencies.append((time.perf_counter() - begun) * 1000)
    phase.seconds = time.monotonic() - started
    return phase


def start_server(directory: Path, threads: int | None) -> tuple[subprocess.Popen[str], str, list[str]]:
    command = [sys.executable, "-m", "semsearch", "serve", "--index", f"bench={directory}", "--port", "0"]
    if threads:
        command += ["--threads", str(threads)]
    env = {**os.environ, "SEMSEARCH_WRITE_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    assert process.stderr is not None
    lines: list[str] = []
    while True:
        line = process.stderr.readline()
        if not line:
            raise SystemExit("the server did not start:\n" + "".join(lines))
        lines.append(line)
        found = re.search(r"at (http://\S+)/ \(", line)
        if found:
            break
    threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True).start()  # type: ignore[arg-type]
    return process, found.group(1), lines


def writer(url: str, docs: list[dict[str, Any]], batch: int, k: int, report: dict[str, Any]) -> None:
    """POST ``docs`` ``batch`` at a time; after each commit, each document must be found by its marker."""
    client = Client(url)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    post_ms: list[float] = []
    found = unsearchable = 0
    problems: list[str] = []
    for begin in range(0, len(docs), batch):
        part = docs[begin : begin + batch]
        started = time.perf_counter()
        status, body = client.call("POST", "/documents", {"documents": part}, auth)
        post_ms.append((time.perf_counter() - started) * 1000)
        if status != 200 or body.get("added") != len(part):
            problems.append(f"POST /documents: {status} {str(body)[:300]}")
            continue
        for doc in part:
            status, body = client.call("GET", "/search?" + urllib.parse.urlencode(
                {"q": doc["marker"], "k": 1, "mode": "bm25"}))  # fmt: skip
            hits = body.get("hits", []) if status == 200 else []
            if hits and hits[0]["id"] == doc["id"] and hits[0]["text"] == doc["text"]:
                found += 1
            else:
                unsearchable += 1
                problems.append(f"{doc['id']} not found after its commit: {status} {str(body)[:200]}")
    client.close()
    report.update(post_ms=post_ms, found=found, unsearchable=unsearchable, problems=problems)


def new_documents(count: int) -> list[dict[str, Any]]:
    """``count`` new documents: SciFact texts (cycled) each led by its own marker word."""
    texts = []
    with (DATA / "corpus.jsonl").open() as lines:
        for line in lines:
            row = json.loads(line)
            texts.append(f"{row.get('title', '')} {row['text']}".strip())
            if len(texts) >= count:
                break
    docs = []
    for number in range(count):
        word = marker(number)
        docs.append({"id": f"new-{number:04d}", "text": f"{word} {texts[number % len(texts)]}", "marker": word,
                     "batch": number})  # fmt: skip
    return docs


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return "unknown CPU"
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    name = fields.get("Model name", "unknown CPU").strip()
    return f"{name}, {os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=ROOT / "indexes" / "bench-serve-scifact")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each phase")
    parser.add_argument("--clients", default="1,4,16", help="client counts of the read phases")
    parser.add_argument("--write-docs", type=int, default=1000)
    parser.add_argument("--write-batch", type=int, default=100, help="documents per POST (one commit each)")
    parser.add_argument("--write-readers", type=int, default=4, help="clients searching while the writer writes")
    parser.add_argument("--server-threads", type=int, default=None, help="the server's --threads")
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args()
    clients = [int(n) for n in args.clients.split(",")]

    from semsearch.evaluation import load_qrels, load_queries

    if not (args.index / "manifest.json").is_file():
        if (REUSE / "manifest.json").is_file():
            print(f"copying {REUSE} to {args.index}", flush=True)
            shutil.copytree(REUSE, args.index, ignore=shutil.ignore_patterns(".lock"))
        else:
            from semsearch.ingest import IndexOptions, build_index

            print(f"indexing {DATA} into {args.index}", flush=True)
            build_index(DATA, args.index, IndexOptions())
    qrels = load_qrels(DATA / "qrels" / "test.tsv")
    queries = [text for qid, text in load_queries(DATA / "queries.jsonl").items() if qid in qrels]
    docs = new_documents(args.write_docs)
    expected = {doc["id"]: doc["text"] for doc in docs}

    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    served = work / "served"
    shutil.copytree(args.index, served, ignore=shutil.ignore_patterns(".lock"))
    phases: list[Phase] = []
    print(f"in-process, {args.seconds:g} s", flush=True)
    phases.append(in_process(served, queries, args.seconds, args.k))

    process, url, log = start_server(served, args.server_threads)
    report: dict[str, Any] = {}
    try:
        pid = process.pid
        rss_start = rss_mb(pid)
        for count in clients:
            print(f"HTTP, {count} clients, {args.seconds:g} s", flush=True)
            phase = Phase("HTTP", count)
            readers(url, phase, queries, time.monotonic() + args.seconds, args.k, expected)
            phase.rss_mb = rss_mb(pid)
            phases.append(phase)

        print(f"HTTP while writing {len(docs)} documents, {args.write_readers} clients", flush=True)
        done = threading.Event()
        phase = Phase(f"HTTP + writer ({len(docs)} docs, {args.write_batch} a commit)", args.write_readers)

        def write_then_stop() -> None:
            try:
                writer(url, docs, args.write_batch, args.k, report)
            finally:
                done.set()

        writing = threading.Thread(target=write_then_stop)
        writing.start()
        readers(url, phase, queries, done, args.k, expected)
        writing.join()
        phase.rss_mb = rss_mb(pid)
        phases.append(phase)

        for name in ("HTTP after the writes", "HTTP after the writes, again"):
            print(f"{name}, 16 clients, {args.seconds:g} s", flush=True)
            phase = Phase(name, 16)
            readers(url, phase, queries, time.monotonic() + args.seconds, args.k, expected)
            phase.rss_mb = rss_mb(pid)
            phases.append(phase)
    finally:
        process.terminate()
        process.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"`benchmarks/serve.py {' '.join(sys.argv[1:])}`".replace(" `", "`"))
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    threads = args.server_threads or "default"
    print(f"{when}; {cpu_name()}; index {args.index.name}, {len(queries)} queries, k={args.k}, hybrid; "
          f"server threads: {threads}")  # fmt: skip
    print()
    print("| phase | clients | requests | throughput (q/s) | p50 ms | p99 ms | errors | server RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for phase in phases:
        print(phase.row())
    inproc = float(np.percentile(phases[0].latencies, 50))
    http_one = next((p for p in phases if p.name == "HTTP" and p.clients == 1), None)
    print()
    if http_one is not None and http_one.latencies:
        over_http = float(np.percentile(http_one.latencies, 50))
        print(f"- HTTP overhead per query at N = 1: {over_http - inproc:.1f} ms at p50 "
              f"({over_http:.1f} ms over HTTP, {inproc:.1f} ms in-process).")  # fmt: skip
    post = report.get("post_ms", [])
    if post:
        print(f"- Writer: {len(post)} POSTs of up to {args.write_batch} documents, {sum(post) / 1000:.1f} s in all "
              f"(p50 {np.percentile(post, 50) / 1000:.1f} s a commit); {report['found']} of {len(docs)} documents "
              f"found by their own word right after their commit.")  # fmt: skip
    print(
        f"- Server RSS: {rss_start:.0f} MB after start-up, "
        + ", ".join(f"{p.rss_mb:.0f}" for p in phases if p.rss_mb is not None)
        + " MB after each phase."
    )
    failures = [e for p in phases for e in p.errors] + report.get("problems", [])
    if failures:
        print(f"- {len(failures)} failures, e.g.: " + "; ".join(failures[:5]))
        server_errors = [line for line in log if "Error" in line or "Traceback" in line]
        if server_errors:
            print("  server log: " + " | ".join(line.strip() for line in server_errors[:5]))
        raise SystemExit(1)


if __name__ == "__main__":
    main()
