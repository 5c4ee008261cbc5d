"""generate through an OpenAI-compatible server: the suite's fake server (tests/fake_openai.py) plays vLLM."""

import json
import sqlite3
from pathlib import Path

import pytest

from fake_openai import FakeOpenAI
from seqtune.config import build
from seqtune.errors import ConfigError, SeqtuneError
from seqtune.generate.config import GenerateConfig
from seqtune.generate.pipeline import run_generate

SECRET = "sk-test-secret-value"
CSQA = Path(__file__).resolve().parents[1] / "src" / "seqtune" / "samples" / "commonsense_qa.dev.jsonl"
N = 7  # examples read from the sample


def answer_for(messages: list[dict]) -> str:
    """What the server answers: a function of the prompt, so tests can check every response."""
    question = messages[-1]["content"].split("### Input:\n")[-1].split("\n")[0]
    return f"{question}\nSTOP here\nA"


def _stem(line: str) -> str:
    return json.loads(line)["question"]["stem"]


QUESTIONS = [_stem(line) for line in CSQA.read_text(encoding="utf-8").splitlines()[:N]]


@pytest.fixture
def server():
    with FakeOpenAI(answer=answer_for) as fake:
        yield fake


def _config(server, output, **overrides) -> GenerateConfig:
    values = {
        "task": "commonsense_qa",
        "data": str(CSQA),
        "limit": N,
        "model": "served-model",
        "output": str(output),
        "backend": "openai",
        "base_url": server.base_url,
        "variants": ["plain", "repeat"],
        "max_new_tokens": 32,
        "concurrency": 3,
    }
    return build(GenerateConfig, {**values, **overrides})


def test_http_backend_generates_through_the_server(server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    output = tmp_path / "run"
    path = run_generate(_config(server, output, stop=["STOP"], api_key_env="OPENAI_API_KEY"))
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 2 * N == len(server.bodies)
    for record in records:
        assert record["prompt"].startswith("Below is an instruction") and record["model"] == "served-model"
        expected = answer_for([{"role": "user", "content": record["prompt"]}]).split("STOP")[0]
        assert record["response"] == expected
        assert record["adapter"] is None and record["decoding"]["stop"] == ["STOP"]
    sent = {request["messages"][0]["content"]: request for request in server.bodies}
    assert set(sent) == {record["prompt"] for record in records}
    first = server.bodies[0]
    assert first["model"] == "served-model" and first["max_tokens"] == 32 and first["temperature"] == 0.0
    assert first["stop"] == ["STOP"] and "top_p" not in first
    assert all(headers["Authorization"] == f"Bearer {SECRET}" for headers in server.headers_seen)
    for written in output.iterdir():
        assert SECRET.encode() not in written.read_bytes(), f"the API key leaked into {written.name}"


def test_http_rerun_uses_saved_predictions_then_the_cache(server, tmp_path):
    output = tmp_path / "run"
    first = run_generate(_config(server, output)).read_bytes()
    asked = server.received
    assert run_generate(_config(server, output)).read_bytes() == first
    (output / "predictions.jsonl").unlink()
    assert run_generate(_config(server, output)).read_bytes() == first
    assert server.received == asked, "a re-run asked the server again"
    run_generate(_config(server, output, max_new_tokens=8))
    assert server.received == 2 * asked, "changed decoding must not reuse old answers"


def test_failed_requests_stop_the_run_and_keep_the_answers(server, tmp_path):
    server.faults_for = {QUESTIONS[2]: "400"}
    output = tmp_path / "run"
    with pytest.raises(SeqtuneError, match=f"2 of {2 * N} request"):
        run_generate(_config(server, output))
    assert not (output / "predictions.jsonl").exists()
    assert len((output / "predictions.partial.jsonl").read_text().splitlines()) == 2 * N - 2
    server.faults_for = {}
    before = server.received
    run_generate(_config(server, output))
    assert server.received - before == 2


def test_forced_response_start_needs_a_backend_that_continues_the_prompt(server, tmp_path):
    with pytest.raises(ConfigError, match="backend=hf, or endpoint=completions"):
        run_generate(_config(server, tmp_path / "run", variants=["repeat-neg"]))
    # plain completions continue the prompt as written: the forced start is sent, and not part of the response
    path = run_generate(_config(server, tmp_path / "run", variants=["repeat-neg"], endpoint="completions"))
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert sorted(body["prompt"] for body in server.bodies) == sorted(record["prompt"] for record in records)
    assert all(record["prompt"].endswith(record["response_prefix"]) for record in records)
    with pytest.raises(ConfigError, match="adapter"):
        _config(server, tmp_path / "run", adapter=str(tmp_path))


def test_no_key_is_sent_unless_one_is_named(server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    run_generate(_config(server, tmp_path / "run"))
    assert server.headers_seen and all("Authorization" not in headers for headers in server.headers_seen)


def test_a_key_echoed_in_an_error_body_is_masked(server, tmp_path, monkeypatch):
    monkeypatch.setenv("MY_SERVER_KEY", SECRET)
    server.faults_for = {QUESTIONS[0]: "echo_key"}
    output = tmp_path / "run"
    with pytest.raises(SeqtuneError) as failure:
        run_generate(_config(server, output, api_key_env="MY_SERVER_KEY"))
    assert "HTTP 401" in str(failure.value) and SECRET not in str(failure.value)
    for written in output.iterdir():
        assert SECRET.encode() not in written.read_bytes(), f"the API key leaked into {written.name}"


def test_a_named_key_variable_that_is_not_set_is_a_config_error(server, tmp_path, monkeypatch):
    monkeypatch.delenv("MY_SERVER_KEY", raising=False)
    with pytest.raises(ConfigError, match="MY_SERVER_KEY"):
        run_generate(_config(server, tmp_path / "run", api_key_env="MY_SERVER_KEY"))
    assert server.received == 0


def test_empty_and_truncated_answers_are_kept_as_model_outputs(server, tmp_path):
    """For generate an empty or length-cut response is what the model said: kept, scored, cached."""
    server.faults_for = {QUESTIONS[0]: "empty", QUESTIONS[1]: "length"}
    path = run_generate(_config(server, tmp_path / "run", variants=["plain"]))
    responses = [json.loads(line)["response"] for line in path.read_text(encoding="utf-8").splitlines()]
    assert responses[0] == "" and responses[1] and len(responses) == N


def test_a_lone_surrogate_in_an_answer_is_a_failed_request_not_a_crash(server, tmp_path):
    server.faults_for = {QUESTIONS[0]: "surrogate"}
    output = tmp_path / "run"
    with pytest.raises(SeqtuneError, match="1 of 7 request.*lone surrogate"):
        run_generate(_config(server, output, variants=["plain"]))
    with sqlite3.connect(output / "lm_cache.sqlite") as cache:
        assert cache.execute("SELECT COUNT(*) FROM answers").fetchone()[0] == N - 1
