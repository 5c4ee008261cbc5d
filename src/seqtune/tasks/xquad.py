"""XQuAD (Artetxe et al., 2020): SQuAD v1.1 dev questions professionally translated into 11 languages.

The paper evaluates 4 languages seen in its multilingual training data (de, zh, ru, es) and 6 unseen ones
(ar, el, vi, hi, tr, th). Input: "Passage: <context>\\nQuestion: <question>"; the answer is the final segment,
scored with SQuAD EM/F1 and the paper's lenient "answer contained". For `translate` variants the English XQuAD
version of the same question (same id) is the expected translation when the English file is available.

Sources: a folder holding `xquad.<lang>.json[.gz]` files (e.g. ../shared/data/xquad, or seqtune/samples), a path
pattern with `{lang}`, one file (its language read from the name), the SIT authors' evaluation records
(`xquad_<lang>.json`: "Passage: …\nQuestion: …" inputs, the first gold answer as output; ids are positions), or a
hub id (default `google/xquad`, configs `xquad.<lang>`, split `validation`) through `datasets`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from seqtune.errors import ConfigError, SeqtuneError
from seqtune.metrics.answers import Extraction
from seqtune.records import ErrorPolicy, iter_json_records, read_json, record_position
from seqtune.tasks._text_answers import (
    TEXT_ACCURACY,
    TEXT_METRICS,
    check_text_gold,
    extract_text_answer,
    golds_of,
    text_answer_metrics,
)
from seqtune.tasks.base import CHAINS_WITH_TRANSLATE, TASKS, Example, PromptSpec, Task, hub_rows
from seqtune.tasks.sit_format import sit_xquad_example
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
    metrics = TEXT_METRICS
    accuracy_definition = TEXT_ACCURACY + (
        "; translate-then-answer prompts are scored against the English answer of the same question (gold_lang)"
    )

    options = ("on_error", "languages")

    def check_options(self, options: dict[str, Any]) -> None:
        super().check_options(options)
        unknown = sorted(set(_languages(options)) - set(ALL_LANGUAGES))
        if unknown:
            raise ConfigError(
                f"xquad: unknown language(s) {', '.join(unknown)}; known: {', '.join(ALL_LANGUAGES)}"
            )

    def read(self, source: str | None, **options: Any) -> list[Example]:
        languages = _languages(options)
        if source and Path(source).is_file():
            languages = [_language_of(Path(source))]
        english = self._questions(source, "en", required=False)
        examples: list[Example] = []
        for lang in languages:
            # English is read once: it is also the reference of every other language
            questions = english if lang == "en" and english else self._questions(source, lang, required=True)
            for qid, (context, question, answers) in questions.items():
                meta: dict[str, Any] = {"language_split": language_split(lang)}
                if qid in english and lang != "en":
                    meta["english"] = format_input(*english[qid][:2])
                    meta["english_answers"] = english[qid][2]
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
        if _is_sit_file(path):
            return _sit_questions(path)
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

    def prediction_fields(self, example: Example, spec: PromptSpec) -> dict[str, Any]:
        fields = super().prediction_fields(example, spec)
        english = example.gold if example.lang == "en" else example.meta.get("english_answers")
        if english:
            fields["gold_en"] = english
        return fields

    def check_prediction(self, prediction: dict) -> tuple[str, str] | None:
        return check_text_gold(prediction) or super().check_prediction(prediction)

    def extract(self, lines: list[str], prediction: dict) -> Extraction:
        return extract_text_answer(lines)

    def answer_metrics(self, answer: str | None, prediction: dict) -> dict[str, Any]:
        """Against both golds (same question id): the passage-language one and the English one; the one in use
        is the English answer for translate-then-answer prompts (as the paper scored them)."""
        passage = golds_of(prediction.get("gold"))
        english = golds_of(prediction.get("gold_en"))
        by_gold = {"passage": text_answer_metrics(answer, passage)}
        if english:
            by_gold["english"] = text_answer_metrics(answer, english)
        use_english = "translate" in (prediction.get("steps") or []) and bool(english)
        used = by_gold["english" if use_english else "passage"]
        return {
            "gold_used": english if use_english else passage,
            "gold_lang": "en" if use_english else prediction.get("lang", "en"),
            **used,
            "correct": used["answer_contained"] == 1.0,
            "by_gold": by_gold,
        }


def _languages(options: dict[str, Any]) -> list[str]:
    languages = options.get("languages") or [*SEEN_LANGUAGES, *UNSEEN_LANGUAGES]
    return [languages] if isinstance(languages, str) else list(languages)


def _language_of(path: Path) -> str:
    match = _FILE_NAME.fullmatch(path.name)
    if match and match.group(2) in ALL_LANGUAGES:
        return match.group(2)
    raise ConfigError(f"xquad: cannot tell the language of {path} (expected a name like xquad.de.json)")


# xquad.de.json (SQuAD format, as released) or xquad_de.json (the SIT authors' evaluation records)
_FILE_NAME = re.compile(r"xquad([._])([a-z]{2})\.jsonl?(?:\.gz)?")


def _is_sit_file(path: Path) -> bool:
    match = _FILE_NAME.fullmatch(path.name)
    return bool(match) and match.group(1) == "_"


def _sit_questions(path: Path) -> dict[str, tuple[str, str, list[str]]]:
    """The SIT authors' records (docs/generate.md): no ids, so a question's id is its position; their files list
    the same questions in the same order in every language, so positions pair them across languages."""
    questions = {}
    for location, record in iter_json_records(path, ErrorPolicy("fail")):
        questions[str(record_position(location))] = sit_xquad_example(record, str(path), location)
    if not questions:
        raise SeqtuneError(f"{path}: no records")
    return questions


def _language_file(source: str, lang: str) -> Path | None:
    if "{lang}" in source:
        candidates = [Path(fill(source, {"lang": lang}))]
    else:  # a folder, or one file whose siblings hold the other languages (in the same layout)
        folder = Path(source) if Path(source).is_dir() else Path(source).parent
        separator = "_" if Path(source).is_file() and _is_sit_file(Path(source)) else "."
        names = [f"xquad{separator}{lang}.json", f"xquad{separator}{lang}.json.gz"]
        if separator == "_":
            names.append(f"xquad_{lang}.jsonl")
        candidates = [folder / name for name in names]
    return next((path for path in candidates if path.is_file()), None)
