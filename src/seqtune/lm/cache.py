"""One disk cache of model answers for every LM: SQLite, keyed by a hash of (LM identity, request).

Each answer is committed the moment it arrives, so a run killed at any point keeps every answer it received and a
re-run never asks for it again (SQLite's journal makes a kill mid-write lose at most that one answer, never the
file). A lookup reads one row through the key's index: the file is never read whole, and nothing is kept in memory
but SQLite's own bounded page cache. Failed requests and rejected answers (empty, cut off by the token limit, a lone
surrogate; see lm/base.py `judge_answer`) are not cached, so a re-run asks for them again.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from seqtune.errors import SeqtuneError
from seqtune.lm.base import Completion
from seqtune.records import cannot_write


class ResponseCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # answers may arrive on the client's worker threads; the lock serialises them
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            # WAL + NORMAL: a commit survives the process being killed (not a power cut) without an fsync each
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, text TEXT NOT NULL, finish_reason TEXT)"
            )
        except sqlite3.DatabaseError as error:
            if "not a database" in str(error):
                raise SeqtuneError(
                    f"cache {self.path}: not a seqtune answer cache (SQLite); name another cache_path"
                ) from None
            raise SeqtuneError(f"{self.path}: cannot write: {error}") from None
        except OSError as error:  # a file where a folder should be
            raise cannot_write(self.path, error) from None

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def get(self, key: str) -> Completion | None:
        with self._lock:
            row = self._db.execute("SELECT text, finish_reason FROM answers WHERE key = ?", (key,)).fetchone()
        return None if row is None else Completion(row[0], row[1], cached=True)

    def put(self, key: str, completion: Completion) -> None:
        if not completion.ok:
            return
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO answers VALUES (?, ?, ?)",
                (key, completion.text, completion.finish_reason),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
