"""Any OpenAI-compatible server (OpenAI, vLLM, TGI, SGLang) through the official `openai` client.

The client does the HTTP work: connection pooling, timeouts, and retries with exponential backoff on connection
errors, timeouts, 408/409/429 and 5xx, honouring Retry-After. This module adds bounded concurrency (a thread pool
with a bounded window of requests in flight, answers handed to the caller as they arrive), a retry of malformed
answers (a 200 whose body is not a completion, which the client does not retry), and the API-key policy.

API keys (one policy for every caller): a key is sent only when the settings name its environment variable for
this server (no default, so a key meant for one server never reaches another); a named variable that is unset is a
config error. The openai client would otherwise pick up OPENAI_API_KEY, OPENAI_ADMIN_KEY, OPENAI_ORG_ID,
OPENAI_PROJECT_ID and OPENAI_CUSTOM_HEADERS from the environment and send them to any base URL, so every outgoing
request is rewritten to carry only the protocol's own headers and, when one is named, this server's key. The key
is masked in every error text, since some servers echo the Authorization header in their error bodies.

Images (`Request.images`, chat endpoint only): each is sent in the last user message as an `image_url` content part
holding a base64 data URI, its MIME type read from the file's first bytes (vLLM, SGLang and OpenAI accept this
form); a missing or unreadable image fails that request only. A forced response start (`response_prefix`): the
completions endpoint gets it appended to the prompt; the chat endpoint, with `continue_final_message`, as a final
assistant message with vLLM's `continue_final_message: true, add_generation_prompt: false`, so the server
continues it and answers only the continuation.
"""

from __future__ import annotations

import base64
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from seqtune.errors import ConfigError
from seqtune.lm.base import LM, LMS, Completion, Done, Request, failed, image_mime, truncate_at_stop
from seqtune.lm.settings import LMSettings, api_key

MASK = "***"
_ERROR_CHARS = 300  # of a server's error body in a message: enough to read the reason, not a whole page
# headers the protocol needs; anything else the client would add from the environment is dropped
_KEPT_HEADERS = {
    "host",
    "accept",
    "accept-encoding",
    "connection",
    "content-type",
    "content-length",
    "user-agent",
}


class MalformedAnswer(Exception):
    """A 200 answer that holds no completion text."""


class Unsendable(Exception):
    """A request that cannot be sent as asked (its image is missing or not an image): it fails, unretried."""


def image_part(path: str) -> dict:
    """An OpenAI `image_url` content part holding the file as a base64 data URI."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise Unsendable(f"image not found: {path}") from None
    except OSError as exc:
        raise Unsendable(f"image {path} cannot be read ({exc.strerror})") from None
    mime = image_mime(data[:12])
    if mime is None:
        raise Unsendable(f"image {path}: not a PNG, JPEG, GIF, BMP or WebP file")
    url = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    return {"type": "image_url", "image_url": {"url": url}}


def chat_messages(request: Request, continue_final_message: bool) -> list[dict]:
    """The request's messages (a written prompt as one user message), its images before the text of the last user
    message, and its forced response start as an assistant message to continue when the server is told to."""
    messages = [dict(m) for m in request.messages] or [{"role": "user", "content": request.prompt or ""}]
    if request.images:
        users = [i for i, m in enumerate(messages) if m["role"] == "user"]
        if not users:
            raise Unsendable("images go with a user message, and the request has none")
        last_user = users[-1]
        text = messages[last_user]["content"]
        parts = [image_part(path) for path in request.images]
        messages[last_user]["content"] = [*parts, {"type": "text", "text": text}]
    if request.response_prefix and continue_final_message:
        messages.append({"role": "assistant", "content": request.response_prefix})
    return messages


def request_params(request: Request) -> dict:
    """OpenAI request fields for the request's decoding (sampling fields only when sampling, so greedy requests
    stay minimal)."""
    decoding = request.decoding
    params: dict = {"max_tokens": decoding.max_new_tokens, "temperature": decoding.temperature}
    if not decoding.greedy:
        params.update(top_p=decoding.top_p, seed=decoding.seed)
    if decoding.min_new_tokens:
        params["min_tokens"] = decoding.min_new_tokens  # a vLLM extension; OpenAI rejects it
    if decoding.stop:
        params["stop"] = list(decoding.stop)
    return params


class OpenAILM(LM):
    name = "openai"

    def __init__(
        self, settings: LMSettings, *, reject_incomplete: bool = True, cache_path: str | None = None
    ):
        if not settings.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base_url '{settings.base_url}': expected http://host:port/v1 or https://...")
        self._key = api_key(settings.api_key_env)  # before anything else: an unset variable is a config error
        super().__init__(settings.model, reject_incomplete=reject_incomplete, cache_path=cache_path)
        self.endpoint = settings.endpoint
        self.continue_final_message = settings.continue_final_message
        # plain completions continue the text as written, so a forced response start works there; the chat
        # endpoint continues a final assistant message only when the server is told to (vLLM)
        self.continues_prompt = settings.endpoint == "completions" or self.continue_final_message  # type: ignore[misc]
        self.sees_images = settings.endpoint == "chat"  # type: ignore[misc]  # completions take text only
        self.base_url = settings.base_url.rstrip("/")
        self.path = "/chat/completions" if self.endpoint == "chat" else "/completions"
        self.url = self.base_url + self.path
        self.concurrency = settings.concurrency
        self.max_retries = settings.max_retries
        self.timeout_s = settings.timeout_s
        self._client = None
        self._lock = threading.Lock()

    def identity(self) -> dict:
        # the endpoint changes what the model reads (a chat template or not); the server's address does not
        identity = {**super().identity(), "endpoint": self.endpoint}
        if self.continue_final_message:  # the forced start is sent, so the answer differs
            identity["continue_final_message"] = True
        return identity

    @property
    def client(self):
        if self._client is None:
            import openai

            http_client = openai.DefaultHttpxClient(event_hooks={"request": [self._only_our_headers]})
            self._client = openai.OpenAI(
                api_key=self._key or "unused",  # never sent: _only_our_headers sets or drops Authorization
                admin_api_key="",
                organization="",
                project="",
                base_url=self.base_url,
                timeout=self.timeout_s,
                max_retries=self.max_retries,
                http_client=http_client,
            )
        return self._client

    def _count(self, name: str) -> None:
        with self._lock:  # counted on the pool's threads
            self.stats[name] += 1

    def _only_our_headers(self, request) -> None:
        self._count("requests")
        if request.headers.get("x-stainless-retry-count", "0") != "0":
            self._count("retries")
        for name in list(request.headers):
            if name.lower() not in _KEPT_HEADERS and not name.lower().startswith("x-stainless-"):
                del request.headers[name]
        if self._key:
            request.headers["Authorization"] = f"Bearer {self._key}"

    def _complete(self, requests: list[Request], done: Done) -> None:
        window = 4 * self.concurrency  # requests queued at once: bounded memory however many are asked
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            running: dict[Future, int] = {}
            queue = iter(range(len(requests)))
            while True:
                for index in queue:
                    running[pool.submit(self.complete_one, requests[index])] = index
                    if len(running) >= window:
                        break
                if not running:
                    return
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                # reported from this thread: the cache and the caller's files are written by one thread only
                positions = [running.pop(future) for future in finished]
                done(positions, [future.result() for future in finished])

    def complete_one(self, request: Request) -> Completion:
        """One request with the client's retries (and ours for malformed answers); never raises."""
        import openai

        try:
            body = self._body(request)
        except Unsendable as error:
            return failed("failed", str(error))
        last_error = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                self._count("retries")
            try:
                return self._ask(body, request)
            except (MalformedAnswer, ValueError) as error:  # ValueError: a body that is not JSON
                last_error = f"malformed answer ({error})"
            except openai.APIStatusError as error:
                # the whole body: the key is masked before the message is shortened, so no part of it survives
                last_error = self._mask(f"HTTP {error.status_code}: {error.response.text}")
                break
            except openai.APITimeoutError:
                last_error = f"timed out after {self.timeout_s:g} s"
                break
            except openai.APIConnectionError as error:
                last_error = self._mask(f"connection problem: {error.__cause__ or error}")
                break
        return failed("failed", last_error[:_ERROR_CHARS])

    def _body(self, request: Request) -> dict:
        if self.endpoint == "completions":
            if request.images:
                raise Unsendable("endpoint=completions sends text only: use endpoint=chat for images")
            return {"model": self.model, "prompt": self.prompt_text(request), **request_params(request)}
        messages = chat_messages(request, self.continue_final_message)
        body = {"model": self.model, "messages": messages, **request_params(request)}
        if request.response_prefix and self.continue_final_message:
            # vLLM refuses continue_final_message with add_generation_prompt (its default) on
            body.update(continue_final_message=True, add_generation_prompt=False)
        return body

    def _ask(self, body: dict, request: Request) -> Completion:
        import openai

        # the client's untyped post: its retries, timeouts and Retry-After handling without building typed request
        # and response objects, which doubles the client's cost per request (benchmarks/client_overhead.py)
        answer = self.client.post(self.path, body=body, cast_to=object)
        try:
            choice = answer["choices"][0]
            text = choice["message"]["content"] if self.endpoint == "chat" else choice["text"]
            finish_reason = choice.get("finish_reason")
        except (openai.APIResponseValidationError, KeyError, IndexError, TypeError, AttributeError) as error:
            raise MalformedAnswer(f"{error.__class__.__name__}: {error}") from None
        if text is None and finish_reason is not None:
            # a finished answer without text, e.g. a reasoning model that spent max_tokens thinking (vLLM): no
            # retry would change it; it is judged as empty or cut off like any answer
            text = ""
        if not isinstance(text, str):
            raise MalformedAnswer("the answer holds no text")
        # servers honour stop strings; cutting here too keeps a server that does not from changing the answer
        return Completion(truncate_at_stop(text, request.decoding.stop), finish_reason)

    def _mask(self, text: str) -> str:
        return text.replace(self._key, MASK) if self._key else text

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        super().close()

    def describe(self) -> dict:
        return {**super().describe(), "base_url": self.base_url, "endpoint": self.endpoint}


@LMS.register("openai")
def from_settings(settings: LMSettings, *, reject_incomplete: bool, cache_path: str | None) -> OpenAILM:
    return OpenAILM(settings, reject_incomplete=reject_incomplete, cache_path=cache_path)
