"""Prompt templates: how an (instruction, input) pair becomes the text a model sees.

The template a model was trained with is saved next to its adapter/weights as `prompt_template.json` and read
back by `generate`, so evaluation always prompts a model the way it was trained.
Two kinds: `text` (Alpaca-style strings with {instruction}/{input}) and `chat` (the tokenizer's own chat
template; the instruction and input become one user turn).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from seqtune.errors import ConfigError
from seqtune.records import write_json
from seqtune.templates import fill, load_bundled

TEMPLATE_FILE = "prompt_template.json"


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    kind: str = "text"
    prompt_input: str = ""
    prompt_no_input: str = ""
    response_split: str = ""
    description: str = ""

    def user_message(self, instruction: str, input_text: str) -> str:
        """The single user turn used by `chat` templates."""
        return f"{instruction}\n\n{input_text}" if input_text else instruction

    def render(self, instruction: str, input_text: str = "", tokenizer=None) -> str:
        """The full prompt, ending where the model's response begins."""
        if self.kind == "chat":
            if tokenizer is None or not getattr(tokenizer, "chat_template", None):
                raise ConfigError("prompt template 'chat' needs a tokenizer that has a chat template")
            messages = [{"role": "user", "content": self.user_message(instruction, input_text)}]
            return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        template = self.prompt_input if input_text else self.prompt_no_input
        return fill(template, {"instruction": instruction, "input": input_text})

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / TEMPLATE_FILE
        write_json(path, asdict(self))
        return path


CHAT = PromptTemplate(
    name="chat", kind="chat", description="The model's own chat template (tokenizer.chat_template)."
)


def get_template(name_or_path: str) -> PromptTemplate:
    """`alpaca`, `chat`, or a path to a JSON file with the PromptTemplate fields."""
    if name_or_path == "chat":
        return CHAT
    if name_or_path == "alpaca":
        return PromptTemplate(kind="text", **load_bundled("alpaca.json"))
    path = Path(name_or_path)
    if not path.is_file():
        raise ConfigError(
            f"unknown prompt template '{name_or_path}': use alpaca, chat or a path to a JSON file"
        )
    try:
        return PromptTemplate(**json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, TypeError) as exc:
        raise ConfigError(f"{path}: not a valid prompt template ({exc})") from None


def load_saved_template(model_folder: str | Path) -> PromptTemplate | None:
    """The template saved by `seqtune train` beside a model or adapter, if there is one."""
    path = Path(model_folder) / TEMPLATE_FILE
    return get_template(str(path)) if path.is_file() else None
