"""XQuAD (Artetxe et al., 2020): SQuAD v1.1 dev questions professionally translated into 11 languages.

The paper evaluates 4 languages seen in its multilingual training data (de, zh, ru, es) and 6 unseen ones
(ar, el, vi, hi, tr, th). Input: "Passage: <context>\\nQuestion: <question>"; the answer is the final segment,
scored with SQuAD EM/F1 and the paper's lenient "answer contained". For `translate` variants the English XQuAD
version of the same question (same id) is the expected translation when the English file is available.

Sources: a folder holding `xquad.<lang>.json[.gz]` files (e.g. ../shared/data/xquad, or seqtune/samples), a path
pattern with `{lang}`, one file (its language read from the name), or a hub id (default `google/xquad`, configs
`xquad.<lang>`, split `validation`) through `datasets`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqtune.errors import ConfigError, SeqtuneError
from seqtune.records import read_json
from seqtune.tasks._text_answers import extract_text_answer, text_answer_metrics
from seqtune.tasks.base import CHAINS_WITH_TRANSLATE, TASKS, Example, Task, hub_rows
from seqtune.templates import fill

HUB_ID = "google/xquad"
SEEN_LANGUAGES = ("de", "zh", "ru", "es")
UNSEEN_LANGUAGES = ("ar", "el", "vi", "hi", "tr", "th")
ALL_LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")


def format_input(context: str, question: str) -> str:
    return f"Passage: {context}\nQuestion: {question}"


def language_split(lang: str) -> str:
    """ "seen"/"unseen" in the paper's multilingual training data; "" for languages the paper did not test."""
    return "seen" if lang in SEEN_LANGUAGES else "unseen" if lang in UNSEEN_LANGUAGES else ""


@TASKS.register("xquad")
class XQuAD(Task):
    name = "xquad"
    instruction = (
        "Answer the question from the given passage. Your answer should be directly extracted from the passage, "
        "and it should be a single entity, name, or number, not a sentence."
    )
    chains = CHAINS_WITH_TRANSLATE

    def read(self, source: str | None, **options: Any) -> list[Example]:
        languages = options.get("languages") or [*SEEN_LANGUAGES, *UNSEEN_LANGUAGES]
        if isinstance(languages, str):
            languages = [languages]
        unknown = sorted(set(languages) - set(ALL_LANGUAGES))
        if unknown:
            raise ConfigError(
                f"xquad: unknown language(s) {', '.join(unknown)}; known: {', '.join(ALL_LANGUAGES)}"
            )
        if source and Path(source).is_file():
            languages = [_language_of(Path(source))]
        english = self._questions(source, "en", required=False)
        examples: list[Example] = []
        for lang in languages:
            for qid, (context, question, answers) in self._questions(source, lang, required=True).items():
                meta: dict[str, Any] = {"language_split": language_split(lang)}
                if qid in english and lang != "en":
                    meta["english"] = format_input(*english[qid][:2])
                examples.append(
                    Example(f"{lang}/{qid}", format_input(context, question), answers, lang, meta)
                )
        return examples

    def _questions(
        self, source: str | None, lang: str, *, required: bool
    ) -> dict[str, tuple[str, str, list[str]]]:
        """qid → (context, question, answer texts) for one language."""
        if source is None or not (Path(source).exists() or "{lang}" in source):
            return self._hub_questions(source or HUB_ID, lang, required)
        path = _language_file(source, lang)
        if path is None:
            if required:
                raise SeqtuneError(f"xquad: no file for language '{lang}' at {source}")
            return {}
        document = read_json(path)
        questions = {}
        try:
            for article in document.get("data", []) if isinstance(document, dict) else []:
                for paragraph in article.get("paragraphs", []):
                    for qa in paragraph.get("qas", []):
                        answers = [a["text"] for a in qa.get("answers", []) if isinstance(a.get("text"), str)]
                        questions[qa["id"]] = (paragraph["context"], qa["question"], answers)
        except (KeyError, TypeError, AttributeError) as exc:
            raise SeqtuneError(f"{path}: not in SQuAD v1.1 format (missing or wrong {exc})") from None
        if not questions:
            raise SeqtuneError(f"{path}: no SQuAD-format questions (data[].paragraphs[].qas[])")
        return questions

    def _hub_questions(self, hub_id: str, lang: str, required: bool) -> dict[str, tuple[str, str, list[str]]]:
        try:
            rows = hub_rows(hub_id, f"xquad.{lang}", split="validation")
        except SeqtuneError:
            if required:
                raise
            return {}  # without the English reference, translate steps have no expected text
        return {row["id"]: (row["context"], row["question"], list(row["answers"]["text"])) for row in rows}

    def extract_answer(self, text: str, prediction: dict) -> str | None:
        return extract_text_answer(text)

    def answer_metrics(self, answer: str | None, prediction: dict) -> dict[str, Any]:
        return text_answer_metrics(answer, prediction)


def _language_of(path: Path) -> str:
    parts = path.name.split(".")
    if len(parts) >= 3 and parts[0] == "xquad" and parts[1] in ALL_LANGUAGES:
        return parts[1]
    raise ConfigError(f"xquad: cannot tell the language of {path} (expected a name like xquad.de.json)")


def _language_file(source: str, lang: str) -> Path | None:
    if "{lang}" in source:
        candidates = [Path(fill(source, {"lang": lang}))]
    elif Path(source).is_dir():
        candidates = [Path(source) / f"xquad.{lang}.json", Path(source) / f"xquad.{lang}.json.gz"]
    else:  # one file: its siblings hold the other languages
        folder = Path(source).parent
        candidates = [folder / f"xquad.{lang}.json", folder / f"xquad.{lang}.json.gz"]
    return next((path for path in candidates if path.is_file()), None)
