"""The one fake OpenAI server of the test suite: a real HTTP server on 127.0.0.1 speaking chat completions and
plain completions (a plain completion's prompt is answered as if it were the one user message).

Answers are a function of the request (`answer(messages)`; default "PARAPHRASE: <user text>", or
"ENGLISH: <user text>" for translate requests), so outputs built from them can be checked exactly. Stop strings
are honoured as OpenAI/vLLM do (the stop string is not returned).

Vision and forced starts, as vLLM takes them: a message's content may be a list of parts (`text` parts are joined
into the text `answer` sees; `image_url` parts must be base64 data URIs and are recorded, decoded, in `images` as
(mime type, bytes)); a final assistant message is continued only with `continue_final_message: true` and
`add_generation_prompt: false`, and the answer does not repeat it. Otherwise it is a 400: vLLM refuses the two
flags together, and without them it would answer afresh after the message, which seqtune never wants.

Faults: `faults` is consumed one per request; `faults_for` maps a substring of the user text to the fault every
request containing it gets. Kinds: "500", "429" (with Retry-After), "timeout" (no answer before the client gives
up), "malformed" (200 with a body that is not a completion), "empty" (200 with an empty answer), "length" (200,
cut off by the token limit), "null_length" (200, content null and finish_reason "length": a reasoning model
that spent its tokens thinking, as vLLM answers), "surrogate" (200, the answer holds a lone surrogate, legal JSON), "echo_key" (401
whose body echoes the Authorization header, as some proxies do), "400" (a refused request), or "ok".
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def answer_for(messages: list[dict]) -> str:
    system = next((m["content"] for m in messages if m["role"] == "system"), "")
    user = next((m["content"] for m in messages if m["role"] == "user"), "")
    return ("ENGLISH: " if "Translate" in system else "PARAPHRASE: ") + user


def flatten(message: dict, images: list) -> dict:
    """The message with its content parts as one text; the data-URI images appended to `images`."""
    content = message["content"]
    if isinstance(content, str):
        return message
    texts = []
    for part in content:
        if part["type"] == "text":
            texts.append(part["text"])
        else:
            header, data = part["image_url"]["url"].split(",", 1)
            if not (header.startswith("data:") and header.endswith(";base64")):
                raise ValueError(f"not a base64 data URI: {header}")
            images.append((header[len("data:") : -len(";base64")], base64.b64decode(data, validate=True)))
    return {**message, "content": "\n".join(texts)}


class FakeOpenAI:
    def __init__(
        self,
        faults: list[str] | None = None,
        *,
        faults_for: dict[str, str] | None = None,
        answer: Callable[[list[dict]], str] = answer_for,
        retry_after: str = "1",
        timeout_sleep: float = 1.0,
    ):
        self.faults = list(faults or [])
        self.faults_for = dict(faults_for or {})
        self.answer = answer
        self.retry_after = retry_after
        self.timeout_sleep = timeout_sleep
        self.lock = threading.Lock()
        self.received = 0
        self.answered: Counter[str] = Counter()  # user text → number of 200 answers
        self.headers_seen: list[dict] = []
        self.bodies: list[dict] = []  # every request body that parsed, in arrival order
        self.images: list[tuple[str, bytes]] = []  # (mime type, bytes) of every image received
        self.request_times: list[float] = []
        self.answer_limit: int | None = None  # after this many answers, hold requests (a stalled server)
        self.released = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802 (http.server's name)
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    request = json.loads(raw)
                except ValueError:
                    return self._send(400, b'{"error": "body is not JSON"}')
                chat = self.path == "/v1/chat/completions"
                images: list[tuple[str, bytes]] = []
                try:
                    messages = (
                        [flatten(m, images) for m in request["messages"]]
                        if chat
                        else [{"role": "user", "content": request.get("prompt")}]
                    )
                except (ValueError, KeyError, TypeError):
                    return self._send(400, b'{"error": "bad content part"}')
                continues = chat and messages[-1]["role"] == "assistant"
                if continues and not (
                    request.get("continue_final_message") and request.get("add_generation_prompt") is False
                ):
                    return self._send(
                        400, b'{"error": "a final assistant message needs continue_final_message"}'
                    )
                user = next(m["content"] for m in reversed(messages) if m["role"] == "user")
                with server.lock:
                    server.images.extend(images)
                    server.received += 1
                    server.headers_seen.append(dict(self.headers))
                    server.bodies.append(request)
                    server.request_times.append(time.monotonic())
                    fault = server.faults.pop(0) if server.faults else "ok"
                    fault = next((f for text, f in server.faults_for.items() if text in user), fault)
                    hold = (
                        server.answer_limit is not None
                        and sum(server.answered.values()) >= server.answer_limit
                    )
                if hold:
                    server.released.wait(30)
                    return  # never answered: the client was killed meanwhile
                if self.path not in ("/v1/chat/completions", "/v1/completions") or fault == "400":
                    return self._send(400, b'{"error": "bad request"}')
                if fault == "500":
                    return self._send(500, b'{"error": "boom"}')
                if fault == "429":
                    return self._send(429, b'{"error": "slow down"}', {"Retry-After": server.retry_after})
                if fault == "timeout":
                    time.sleep(server.timeout_sleep)
                    return self._send(500, b"late")
                if fault == "malformed":
                    return self._send(200, b'{"choices": [{"message": {}}]')
                if fault == "echo_key":
                    echoed = f'{{"error": "invalid key: {self.headers.get("Authorization", "")}"}}'
                    return self._send(401, echoed.encode())
                text = server.answer(messages)
                for stop in request.get("stop", []):
                    text = text.split(stop)[0]
                finish = "stop"
                if fault == "empty":
                    text = ""
                elif fault == "length":
                    text, finish = text[: max(1, len(text) // 2)], "length"
                with server.lock:
                    server.answered[user] += 1
                if fault == "null_length":
                    text, finish = None, "length"
                answer = {"message": {"role": "assistant", "content": text}} if chat else {"text": text}
                payload = {
                    "id": "x",
                    "object": "chat.completion" if chat else "text_completion",
                    "created": 0,
                    "model": request["model"],
                    "choices": [{"index": 0, **answer, "finish_reason": finish}],
                }
                body = json.dumps(payload, ensure_ascii=True).encode()
                if fault == "surrogate":  # "\\ud800" alone: json.dumps cannot write it, so splice it in
                    field = b'"content": "' if chat else b'"text": "'
                    body = body.replace(field, field + b"\\ud800", 1)
                self._send(200, body)

            def _send(self, status, body, headers=None):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()
