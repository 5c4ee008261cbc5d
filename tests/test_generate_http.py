"""generate through an OpenAI-compatible server: a local http.server on 127.0.0.1 plays vLLM."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from seqtune.config import build
from seqtune.errors import ConfigError, SeqtuneError
from seqtune.generate.config import GenerateConfig
from seqtune.generate.pipeline import run_generate
from test_generate import QUESTIONS  # noqa: F401  (registers the generate_toy task)

SECRET = "sk-test-secret-value"


def answer_for(prompt: str) -> str:
    """What the fake server answers: a function of the prompt, so tests can check every response."""
    question = prompt.split("### Input:\n")[-1].split("\n")[0]
    return f"{question}\nSTOP here\nA"


class FakeServer:
    def __init__(self):
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.refuse: set[str] = set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                server.headers.append(dict(self.headers))
                prompt = body["messages"][-1]["content"]
                if self.path != "/v1/chat/completions" or any(word in prompt for word in server.refuse):
                    self.send_response(400)
                    self.end_headers()
                    self.wfile.write(b'{"error": "bad request"}')
                    return
                text = answer_for(prompt)
                for stop in body.get("stop", []):  # like OpenAI/vLLM: the stop string is not returned
                    text = text.split(stop)[0]
                payload = {
                    "choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]
                }
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server():
    fake = FakeServer()
    yield fake
    fake.httpd.shutdown()


def _config(server, output, **overrides) -> GenerateConfig:
    values = {
        "task": "generate_toy",
        "model": "served-model",
        "output": str(output),
        "backend": "http",
        "base_url": server.url,
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
    assert len(records) == 2 * len(QUESTIONS) == len(server.requests)
    for record in records:
        assert record["prompt"].startswith("Below is an instruction") and record["model"] == "served-model"
        assert record["response"] == answer_for(record["prompt"]).split("STOP")[0]
        assert record["adapter"] is None and record["decoding"]["stop"] == ["STOP"]
    sent = {request["messages"][0]["content"]: request for request in server.requests}
    assert set(sent) == {record["prompt"] for record in records}
    first = server.requests[0]
    assert first["model"] == "served-model" and first["max_tokens"] == 32 and first["temperature"] == 0.0
    assert first["stop"] == ["STOP"] and "top_p" not in first
    assert all(headers["Authorization"] == f"Bearer {SECRET}" for headers in server.headers)
    for written in output.iterdir():
        assert SECRET not in written.read_text(encoding="utf-8"), f"the API key leaked into {written.name}"


def test_http_rerun_uses_saved_predictions_then_the_cache(server, tmp_path):
    output = tmp_path / "run"
    first = run_generate(_config(server, output)).read_bytes()
    asked = len(server.requests)
    assert run_generate(_config(server, output)).read_bytes() == first
    (output / "predictions.jsonl").unlink()
    assert run_generate(_config(server, output)).read_bytes() == first
    assert len(server.requests) == asked, "a re-run asked the server again"
    run_generate(_config(server, output, max_new_tokens=8))
    assert len(server.requests) == 2 * asked, "changed decoding must not reuse old answers"


def test_failed_requests_stop_the_run_and_keep_the_answers(server, tmp_path):
    server.refuse = {QUESTIONS[2]}
    output = tmp_path / "run"
    with pytest.raises(SeqtuneError, match="2 of 14 request"):
        run_generate(_config(server, output))
    assert not (output / "predictions.jsonl").exists()
    assert len((output / "predictions.partial.jsonl").read_text().splitlines()) == 12
    server.refuse = set()
    before = len(server.requests)
    run_generate(_config(server, output))
    assert len(server.requests) - before == 2


def test_forced_response_start_needs_a_backend_that_continues_the_prompt(server, tmp_path):
    with pytest.raises(ConfigError, match="backend=hf"):
        run_generate(_config(server, tmp_path / "run", variants=["neg"]))
    with pytest.raises(ConfigError, match="adapter"):
        _config(server, tmp_path / "run", adapter=str(tmp_path))


def test_no_key_is_sent_unless_one_is_named(server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    run_generate(_config(server, tmp_path / "run"))
    assert server.headers and all("Authorization" not in headers for headers in server.headers)
