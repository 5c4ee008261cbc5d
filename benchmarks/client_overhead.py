"""The model client's own overhead: requests/s against a server that answers instantly, and the answer cache's
memory and lookup time as it grows to 100k entries.

The server is a minimal asyncio HTTP/1.1 server on 127.0.0.1 in its own process (so it does not share the client's
interpreter lock), answering every POST at once with a fixed chat completion; it stops after --max-requests requests
or --max-seconds seconds, whichever comes first. Measured, each for --seconds:
  - baseline: one request at a time over one keep-alive connection with the standard library (http.client): what
    any client pays at least;
  - seqtune.lm.openai_http (the official openai client + seqtune's pool) at 1, 8 and 64 requests in flight;
  - the answer cache (SQLite): resident memory and file size as it grows to --cache-entries, and the time of a
    fully cached `complete` over all of them (key hashing + lookup + judging, per request).
Run it on an otherwise idle machine; `--cores 0,1` pins client and server to those cores (2 cores shared).
Example:  python benchmarks/client_overhead.py --seconds 5 --cores 0,1
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

ANSWER = json.dumps(
    {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    }
).encode()


def serve(port_queue, max_requests: int, max_seconds: float, cores: list[int] | None) -> None:
    """Answer every request at once until `max_requests` are answered or `max_seconds` have passed."""
    if cores:
        os.sched_setaffinity(0, cores)

    async def main() -> None:
        answered = 0
        done = asyncio.Event()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal answered
            try:
                while not done.is_set():
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = 0
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":", 1)[1])
                    await reader.readexactly(length)
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                        + str(len(ANSWER)).encode()
                        + b"\r\n\r\n"
                        + ANSWER
                    )
                    await writer.drain()
                    answered += 1
                    if answered >= max_requests:
                        done.set()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=256)
        port_queue.put(server.sockets[0].getsockname()[1])
        try:
            await asyncio.wait_for(done.wait(), max_seconds)
        except TimeoutError:
            pass
        server.close()

    asyncio.run(main())


def baseline(port: int, seconds: float) -> dict:
    """One request at a time on one keep-alive connection, standard library only."""
    connection = http.client.HTTPConnection("127.0.0.1", port)
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8})
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        connection.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
        json.loads(connection.getresponse().read())
        count += 1
    elapsed = time.perf_counter() - start
    connection.close()
    return {"requests": count, "seconds": round(elapsed, 2), "requests_per_s": round(count / elapsed)}


def seqtune_client(port: int, concurrency: int, seconds: float) -> dict:
    """As many distinct requests as fit in `seconds`, in rounds of 2,000 through one client (no cache)."""
    from seqtune.lm.base import Decoding, Request
    from seqtune.lm.openai_http import OpenAILM
    from seqtune.lm.settings import LMSettings

    settings = LMSettings(
        backend="openai", model="m", base_url=f"http://127.0.0.1:{port}/v1", concurrency=concurrency
    )
    lm = OpenAILM(settings, reject_incomplete=False)
    count, start, round_ = 0, time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        requests = [
            Request.chat("", f"hello {round_} {i}", Decoding(max_new_tokens=8))
            for i in range(min(2000, 500 * concurrency))
        ]
        answers = lm.complete(requests)
        assert all(answer.text == "ok" for answer in answers), answers[0]
        count += len(requests)
        round_ += 1
    elapsed = time.perf_counter() - start
    lm.close()
    return {
        "concurrency": concurrency,
        "requests": count,
        "seconds": round(elapsed, 2),
        "requests_per_s": round(count / elapsed),
    }


def rss_mib() -> float:
    """Current resident memory of this process."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return round(pages * resource.getpagesize() / 2**20, 1)


def cache_growth(entries: int, folder: Path) -> dict:
    """Memory and file size while the cache fills to `entries`; then a fully cached `complete` over all of them."""
    from seqtune.lm.base import Completion, Decoding, Request
    from seqtune.lm.cache import ResponseCache
    from seqtune.lm.openai_http import OpenAILM
    from seqtune.lm.settings import LMSettings

    path = folder / "cache.sqlite"
    lm = OpenAILM(LMSettings(backend="openai", model="m"), reject_incomplete=False, cache_path=str(path))
    requests = [Request.chat("Paraphrase.", f"sentence number {i} " * 8, Decoding()) for i in range(entries)]
    answer = "a paraphrase of about the length of a sentence, " * 4
    points, start = [], time.perf_counter()
    cache: ResponseCache = lm.cache
    for index, request in enumerate(requests, 1):
        cache.put(lm.cache_key(request), Completion(answer, "stop"))
        if index in {entries // 4, entries // 2, entries}:
            points.append({"entries": index, "rss_mib": rss_mib(), "file_mib": round(_size(path) / 2**20, 1)})
    write_seconds = time.perf_counter() - start
    start = time.perf_counter()
    answers = lm.complete(requests)
    lookup_seconds = time.perf_counter() - start
    assert all(a.cached for a in answers)
    lm.close()
    return {
        "growth": points,
        "writes_per_s": round(entries / write_seconds),
        "cached_complete_us_per_request": round(lookup_seconds / entries * 1e6, 1),
        "rss_after_cached_complete_mib": rss_mib(),
    }


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each throughput measurement")
    parser.add_argument("--concurrency", default="1,8,64")
    parser.add_argument("--cache-entries", type=int, default=100_000)
    parser.add_argument(
        "--max-requests", type=int, default=2_000_000, help="the server stops after this many"
    )
    parser.add_argument("--max-seconds", type=float, default=600, help="the server stops after this long")
    parser.add_argument("--cores", default="", help="pin client and server to these cores, e.g. 0,1")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()

    cores = [int(core) for core in args.cores.split(",")] if args.cores else None
    if cores:
        os.sched_setaffinity(0, cores)
    ports: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(
        target=serve, args=(ports, args.max_requests, args.max_seconds, cores), daemon=True
    )
    server.start()
    port = ports.get(timeout=30)
    results: dict = {
        "python": platform.python_version(),
        "cores": sorted(os.sched_getaffinity(0)),
        "openai": __import__("openai").__version__,
        "baseline_one_at_a_time": baseline(port, args.seconds),
    }
    print(json.dumps({"baseline_one_at_a_time": results["baseline_one_at_a_time"]}), flush=True)
    results["seqtune_openai_client"] = []
    for concurrency in (int(c) for c in args.concurrency.split(",")):
        results["seqtune_openai_client"].append(seqtune_client(port, concurrency, args.seconds))
        print(json.dumps(results["seqtune_openai_client"][-1]), flush=True)
    server.terminate()
    with tempfile.TemporaryDirectory() as folder:
        results["cache"] = cache_growth(args.cache_entries, Path(folder))
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
