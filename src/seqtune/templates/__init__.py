"""Prompt templates and step verbalization banks, stored as JSON data files in this folder (see README.md).

`fill` is the one way text from data enters a template: placeholders are `{name}` and only the names given are
replaced, in one pass, so braces inside inputs are never interpreted (no `str.format`).
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def fill(template: str, values: dict[str, str]) -> str:
    """Replace `{name}` for every name in `values`; other braces are left exactly as they are."""
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)] if m.group(1) in values else m.group(0), template)


@cache
def load_bundled(name: str) -> Any:
    """A JSON data file shipped in seqtune/templates/ (e.g. "alpaca.json", "steps.json")."""
    return json.loads(resources.files(__name__).joinpath(name).read_text(encoding="utf-8"))
