"""Unicode-aware tokenization shared by ROUGE-L, SQuAD F1 and the following checks.

Scripts written without spaces between words (Chinese/Japanese characters, Thai, Lao, Khmer, Myanmar) are split
into single characters (a base character keeps its combining marks); everything else is split into runs of
letters, digits and combining marks. On ASCII text `rouge_tokens` equals rouge_score's default tokenizer
(lowercase, runs of [a-z0-9]), which drops every non-Latin character and so scores Chinese or Arabic as 0.
"""

from __future__ import annotations

import string
from functools import lru_cache

import regex

# Scripts whose words are not separated by spaces: one token per character.
_CHAR_SCRIPTS = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}"
_TOKEN = regex.compile(rf"(?V1)[{_CHAR_SCRIPTS}]\p{{M}}*|[[\p{{L}}\p{{N}}\p{{M}}]--[{_CHAR_SCRIPTS}]]+")
_WORD = regex.compile(r"[\p{L}\p{N}\p{M}]+")  # the same tokens, ~2× faster, for text without those scripts
CHAR_SCRIPT_RUN = regex.compile(rf"[{_CHAR_SCRIPTS}]\p{{M}}*")
# SQuAD F1 splits only Chinese/Japanese characters: one is a word or a morpheme. A Thai character is a letter, so
# Thai answers keep the official whitespace tokens (no Thai word segmenter is bundled).
_SQUAD_CHAR_RUN = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}]")
# The official SQuAD script removes string.punctuation (which includes symbols such as $ + < = > ^ ` | ~);
# Unicode punctuation (。，「」، ؟ ...) is removed as well so other scripts are normalized the same way.
_PUNCTUATION = regex.compile(rf"[\p{{P}}{regex.escape(string.punctuation)}]")
_ARTICLES = regex.compile(r"\b(a|an|the)\b")


@lru_cache(maxsize=16384)
def rouge_tokens(text: str) -> tuple[str, ...]:
    """Lower-cased word tokens (character tokens for CJK/Thai-like scripts).

    Cached: scoring tokenizes the same input for its ROUGE-L and for its following check.
    """
    text = text.lower()
    return tuple((_TOKEN if CHAR_SCRIPT_RUN.search(text) else _WORD).findall(text))


def squad_normalize(text: str) -> str:
    """The official SQuAD v1.1 normalization (lower, no punctuation, no English articles, single spaces).

    XQuAD's official evaluation uses this same script for every language; only the punctuation set is widened.
    """
    text = _PUNCTUATION.sub("", text.lower())
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def squad_tokens(normalized: str) -> list[str]:
    """Whitespace tokens of a normalized answer; Chinese/Japanese characters become single tokens."""
    tokens: list[str] = []
    for word in normalized.split():
        if _SQUAD_CHAR_RUN.search(word):
            tokens.extend(_split_char_scripts(word))
        else:
            tokens.append(word)
    return tokens


def _split_char_scripts(word: str) -> list[str]:
    """'2015年的NFL' → ['2015', '年', '的', 'nfl']: characters of no-space scripts apart, other runs kept whole."""
    pieces: list[str] = []
    position = 0
    for match in _SQUAD_CHAR_RUN.finditer(word):
        if match.start() > position:
            pieces.append(word[position : match.start()])
        pieces.append(match.group())
        position = match.end()
    if position < len(word):
        pieces.append(word[position:])
    return pieces
