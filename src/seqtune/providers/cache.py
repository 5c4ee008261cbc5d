"""A disk cache of provider answers, keyed by (model, messages, parameters).

Append-only JSONL: each answer is written and flushed the moment it arrives, so a run killed at any point keeps
every answer it received and a re-run never asks for it again. A truncated last line (the kill came mid-write) is
ignored on load. Failed requests are not cached, so a re-run retries them.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from seqtune.providers.base import ChatRequest, Completion


def request_key(model: str, request: ChatRequest) -> str:
    payload = json.dumps(
        {"model": model, "messages": request.messages, "params": request.params},
        ensure_ascii=False,
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class ResponseCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, Any]] = {}
        self.unreadable_lines = 0
        if self.path.exists():
            self._load()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.path, "a", encoding="utf-8")
        if self.path.stat().st_size and not self._ends_with_newline():
            self._handle.write("\n")  # a killed writer left half a line: start the next entry on its own line

    def _load(self) -> None:
        with open(self.path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    entry = json.loads(line)
                    self._entries[entry["key"]] = entry
                except (json.JSONDecodeError, KeyError, TypeError):
                    self.unreadable_lines += 1

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as handle:
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) == b"\n"

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Completion | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        return Completion(entry["text"], entry.get("finish_reason"), cached=True)

    def put(self, key: str, completion: Completion) -> None:
        if not completion.ok:
            return
        entry = {"key": key, "text": completion.text, "finish_reason": completion.finish_reason}
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self._lock:
            self._entries[key] = entry
            self._handle.write(line)
            self._handle.flush()

    def close(self) -> None:
        with self._lock:
            if not self._handle.closed:
                self._handle.close()
