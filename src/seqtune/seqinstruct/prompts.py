"""The prompt files of Seq-Instruct: bundled defaults (prompts/*.txt, our own wording of the method) or the user's.

A prompt file is the text of one user message with the placeholders {instruction} and {input}, filled with
`seqtune.templates.fill` (braces in the data are never interpreted). Each prompt's sha256 goes into every output
record and the manifest, so data written with different prompts can be told apart.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from seqtune.errors import ConfigError
from seqtune.templates import fill

if TYPE_CHECKING:
    from seqtune.seqinstruct.config import SeqInstructConfig

NO_INPUT = "(none)"
"""What {input} becomes in the classify and rewrite prompts for a record without input (respond: empty)."""


@dataclass(frozen=True)
class Prompt:
    name: str
    text: str
    source: str
    """The user's file, or "bundled:<name>.txt"."""
    sha256: str

    def render(self, instruction: str, input_text: str) -> str:
        return fill(self.text, {"instruction": instruction, "input": input_text}).strip()


def _read(name: str, path: str | None) -> tuple[bytes, str]:
    if path is None:
        return resources.files(__package__).joinpath(
            "prompts", f"{name}.txt"
        ).read_bytes(), f"bundled:{name}.txt"
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{name}_prompt: no such file: {path}")
    try:
        return file.read_bytes(), path
    except OSError as error:
        raise ConfigError(f"{name}_prompt: {path}: cannot read ({error.strerror})") from None


def load_prompts(config: SeqInstructConfig) -> dict[str, Prompt]:
    """Every prompt the run uses, by name; a file that is not UTF-8 text with {instruction} is a ConfigError."""
    prompts = {}
    for name, path in config.prompt_files.items():
        raw, source = _read(name, path)
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise ConfigError(f"{name}_prompt: {source}: not UTF-8 text (byte {error.start})") from None
        if "{instruction}" not in text:
            raise ConfigError(f"{name}_prompt: {source}: has no {{instruction}} placeholder")
        prompts[name] = Prompt(name, text, source, hashlib.sha256(raw).hexdigest())
    return prompts
