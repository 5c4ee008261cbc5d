"""OpenAIChatClient + disk cache against a real HTTP server on 127.0.0.1 with injected faults."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from seqtune.data.instructions import iter_instruction_records
from seqtune.providers.base import ChatRequest, ProviderSettings, build_provider
from seqtune.providers.cache import ResponseCache, request_key
from seqtune.providers.openai_http import OpenAIChatClient
from seqtune.records import ErrorPolicy

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "augment"))
from fake_openai import FakeOpenAI  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "src" / "seqtune" / "samples" / "alpaca.jsonl"


def _requests(texts):
    return [
        ChatRequest.system_user("Paraphrase the input sentence given by user.", t, temperature=0.0)
        for t in texts
    ]


def _client(server, tmp_path=None, **kwargs):
    cache = ResponseCache(tmp_path / "cache.jsonl") if tmp_path else None
    options = {"concurrency": 4, "max_retries": 4, "timeout_s": 5.0, "backoff_s": 0.01, **kwargs}
    return OpenAIChatClient(server.base_url, "fake-model", cache=cache, **options)


def test_answers_in_order_and_key_only_in_header(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQTUNE_TEST_KEY", "sk-secret-123")
    with FakeOpenAI() as server:
        client = _client(server, tmp_path, api_key_env="SEQTUNE_TEST_KEY")
        results = client.complete(_requests(["a", "b", "c"]))
        client.close()
    assert [r.text for r in results] == ["PARAPHRASE: a", "PARAPHRASE: b", "PARAPHRASE: c"]
    assert all(r.finish_reason == "stop" and r.ok for r in results)
    assert all(h.get("Authorization") == "Bearer sk-secret-123" for h in server.headers_seen)
    assert "sk-secret" not in (tmp_path / "cache.jsonl").read_text()


def test_retries_500_malformed_and_timeout():
    with FakeOpenAI(faults=["500", "malformed", "timeout"], timeout_sleep=1.0) as server:
        client = _client(server, concurrency=1, timeout_s=0.3)
        (result,) = client.complete(_requests(["hello"]))
    assert result.text == "PARAPHRASE: hello"
    assert server.received == 4
    assert client.stats["retries"] == 3 and client.stats["failures"] == 0


def test_429_waits_for_retry_after():
    with FakeOpenAI(faults=["429"], retry_after="1") as server:
        client = _client(server, concurrency=1)
        (result,) = client.complete(_requests(["x"]))
    assert result.ok and server.received == 2
    assert server.request_times[1] - server.request_times[0] >= 0.9


def test_gives_up_with_an_error_after_max_retries():
    with FakeOpenAI(faults=["500"] * 10) as server:
        client = _client(server, max_retries=2)
        (result,) = client.complete(_requests(["x"]))
    assert not result.ok and result.text is None and "HTTP 500" in result.error
    assert server.received == 3 and client.stats["failures"] == 1


def test_connection_refused_is_an_error_not_an_exception():
    client = OpenAIChatClient("http://127.0.0.1:9/v1", "m", max_retries=1, backoff_s=0.01, timeout_s=0.5)
    (result,) = client.complete(_requests(["x"]))
    assert not result.ok and "connection" in result.error


def test_cache_prevents_repeat_requests_and_survives_a_torn_line(tmp_path):
    texts = [f"sentence {i}" for i in range(12)]
    with FakeOpenAI() as server:
        first = _client(server, tmp_path)
        first.complete(_requests(texts))
        first.close()
        assert server.received == 12
        # a kill in the middle of a write leaves half a line at the end of the cache
        with open(tmp_path / "cache.jsonl", "a", encoding="utf-8") as handle:
            handle.write('{"key": "abc", "te')
        second = _client(server, tmp_path)
        results = second.complete(_requests(texts + ["new one"]))
        second.close()
    assert server.received == 13  # only the new sentence was asked
    assert second.cache.unreadable_lines == 1
    assert [r.cached for r in results] == [True] * 12 + [False]
    assert results[-1].text == "PARAPHRASE: new one"
    reloaded = ResponseCache(tmp_path / "cache.jsonl")
    assert len(reloaded) == 13 and reloaded.unreadable_lines == 1


def test_cache_key_depends_on_model_messages_and_params():
    base = ChatRequest.system_user("s", "u", temperature=0.0)
    keys = {
        request_key("m", base),
        request_key("m2", base),
        request_key("m", ChatRequest.system_user("s", "u2", temperature=0.0)),
        request_key("m", ChatRequest.system_user("s", "u", temperature=0.7)),
    }
    assert len(keys) == 4
    assert request_key("m", base) == request_key("m", ChatRequest.system_user("s", "u", temperature=0.0))


def test_registry_builds_the_http_client(tmp_path):
    provider = build_provider(
        "openai",
        ProviderSettings(model="m", base_url="http://127.0.0.1:1/v1", cache_path=str(tmp_path / "c.jsonl")),
    )
    assert isinstance(provider, OpenAIChatClient) and provider.url == "http://127.0.0.1:1/v1/chat/completions"
    provider.close()


def test_killed_run_resumes_without_asking_twice(tmp_path):
    output = tmp_path / "out.jsonl"
    command = [
        sys.executable,
        "-m",
        "seqtune.cli",
        "augment",
        str(SAMPLE),
        "--steps",
        "paraphrase",
        "--output",
        str(output),
        "--provider-model",
        "fake",
        "--provider-concurrency",
        "4",
    ]
    with_input = sum(r.has_input for r in iter_instruction_records(str(SAMPLE), ErrorPolicy()))
    cache = tmp_path / "out.cache.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    with FakeOpenAI() as server:
        command += ["--provider-base-url", server.base_url]
        server.answer_limit = 40  # the server stalls after 40 answers; then the run is killed
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
            cache.exists() and len(cache.read_text().splitlines()) >= 40
        ):
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert not output.exists()  # nothing half-written
        assert sum(server.answered.values()) == 40
        server.answer_limit = None
        server.released.set()
        finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    records = [json.loads(line) for line in output.read_text().splitlines()]
    sequential = [r for r in records if r["kind"] == "sequential"]
    assert len(sequential) == len({r["source_id"] for r in sequential}) > 0
    assert all(r["steps"][0]["target"] == "PARAPHRASE: " + r["input"].strip() for r in sequential)
    assert max(server.answered.values()) == 1  # no input was answered twice
    assert sum(server.answered.values()) == len(server.answered) == len({r["input"] for r in sequential})
    assert len(sequential) == with_input
