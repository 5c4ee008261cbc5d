"""Prompt variants shared by every task: which intermediate steps the instruction asks for, and how.

A variant name is a chain plus optional suffixes:
- chains: `plain` (non-sequential), `repeat`, `paraphrase`, `translate`, `caption` (each then answer),
  `repeat_paraphrase` (R+P+A) and `paraphrase_repeat_paraphrase` (P+R+P+A);
- `-unseen`, `-unseen2`, `-unseen3`: the steps are phrased with the bank's first, second or third verbalization
  marked "unseen" (never used in training data) instead of the "seen" ones — the three unseen templates of the
  paper's §5.2;
- `-neg`: the intermediate text of ANOTHER example is forced as the start of the response (`response_prefix`),
  the text analogue of the paper's SIT (neg.) analysis.
Suffixes combine in this order: `repeat-unseen-neg`.
"""

from __future__ import annotations

from dataclasses import dataclass

from seqtune.errors import ConfigError
from seqtune.sequential import compose_instruction
from seqtune.steps.base import verbalizations

CHAINS: dict[str, tuple[str, ...]] = {
    "plain": (),
    "repeat": ("repeat",),
    "paraphrase": ("paraphrase",),
    "translate": ("translate",),
    "caption": ("caption",),
    "repeat_paraphrase": ("repeat", "paraphrase"),
    "paraphrase_repeat_paraphrase": ("paraphrase", "repeat", "paraphrase"),
}
UNSEEN_SUFFIX = "-unseen"
NEG_SUFFIX = "-neg"
UNSEEN_TEMPLATES = 3
"""How many unseen phrasings a variant can ask for (`-unseen`, `-unseen2`, `-unseen3`)."""


@dataclass(frozen=True)
class Variant:
    name: str
    chain: str
    steps: tuple[str, ...]
    unseen: bool = False
    negative: bool = False
    template: int = 0
    """Which verbalization of the split, in bank order (`-unseen2` → 1)."""

    @property
    def split(self) -> str:
        """ "seen"/"unseen" verbalizations; "" for the non-sequential prompt."""
        if not self.steps:
            return ""
        return "unseen" if self.unseen else "seen"


def parse_variant(name: str) -> Variant:
    chain, negative, unseen, template = name, False, False, 0
    if chain.endswith(NEG_SUFFIX):
        chain, negative = chain.removesuffix(NEG_SUFFIX), True
    for number in range(UNSEEN_TEMPLATES, 0, -1):
        suffix = UNSEEN_SUFFIX + (str(number) if number > 1 else "")
        if chain.endswith(suffix):
            chain, unseen, template = chain.removesuffix(suffix), True, number - 1
            break
    if chain not in CHAINS or (not CHAINS[chain] and (unseen or negative)) or (negative and template):
        raise ConfigError(
            f"unknown prompt variant '{name}'; known: {', '.join(variant_names(tuple(CHAINS)))}"
        )
    return Variant(name, chain, CHAINS[chain], unseen, negative, template)


def variant_names(chains: tuple[str, ...]) -> list[str]:
    """Every variant of the given chains: the chain, then its -unseen(2, 3), -neg and -unseen-neg forms."""
    names: list[str] = []
    for chain in chains:
        names.append(chain)
        if CHAINS[chain]:
            unseen = [
                chain + UNSEEN_SUFFIX + (str(n) if n > 1 else "") for n in range(1, UNSEEN_TEMPLATES + 1)
            ]
            names += [*unseen, chain + NEG_SUFFIX, chain + UNSEEN_SUFFIX + NEG_SUFFIX]
    return names


def sequential_instruction(variant: Variant, instruction: str) -> tuple[str, str]:
    """(instruction text, template ids) — e.g. ("First repeat the input, then answer …", "repeat/paper").

    Each step uses the variant's verbalization of the wanted split in bank order (the first for the seen split:
    the bank lists the paper's own wording first), so a variant always means the same prompt.
    """
    chosen = []
    for step in variant.steps:
        bank = verbalizations(step, variant.split)
        if variant.template >= len(bank):
            raise ConfigError(
                f"variant '{variant.name}': the step bank has only {len(bank)} {variant.split} phrasing(s) of '{step}'"
            )
        chosen.append(bank[variant.template])
    text = compose_instruction([v.text for v in chosen], instruction)
    return text, "+".join(v.id for v in chosen)
