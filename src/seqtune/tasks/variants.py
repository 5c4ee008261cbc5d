"""Prompt variants shared by every task: which intermediate steps the instruction asks for, and how.

A variant name is a chain plus optional suffixes:
- chains: `plain` (non-sequential), `repeat`, `paraphrase`, `translate` (each then answer), `repeat_paraphrase`
  (R+P+A) and `paraphrase_repeat_paraphrase` (P+R+P+A);
- `-unseen`: the steps are phrased with the bank's verbalizations marked "unseen" (never used in training data)
  instead of the "seen" ones;
- `-neg`: the intermediate text of ANOTHER example is forced as the start of the response (`response_prefix`),
  the text analogue of the paper's SIT (neg.) analysis.
Suffixes combine in this order: `repeat-unseen-neg`.
"""

from __future__ import annotations

from dataclasses import dataclass

from seqtune.augment.compose import compose_instruction
from seqtune.errors import ConfigError
from seqtune.steps.base import verbalizations

CHAINS: dict[str, tuple[str, ...]] = {
    "plain": (),
    "repeat": ("repeat",),
    "paraphrase": ("paraphrase",),
    "translate": ("translate",),
    "repeat_paraphrase": ("repeat", "paraphrase"),
    "paraphrase_repeat_paraphrase": ("paraphrase", "repeat", "paraphrase"),
}
UNSEEN_SUFFIX = "-unseen"
NEG_SUFFIX = "-neg"


@dataclass(frozen=True)
class Variant:
    name: str
    chain: str
    steps: tuple[str, ...]
    unseen: bool = False
    negative: bool = False

    @property
    def split(self) -> str:
        """ "seen"/"unseen" verbalizations; "" for the non-sequential prompt."""
        if not self.steps:
            return ""
        return "unseen" if self.unseen else "seen"


def parse_variant(name: str) -> Variant:
    chain, negative, unseen = name, False, False
    if chain.endswith(NEG_SUFFIX):
        chain, negative = chain.removesuffix(NEG_SUFFIX), True
    if chain.endswith(UNSEEN_SUFFIX):
        chain, unseen = chain.removesuffix(UNSEEN_SUFFIX), True
    if chain not in CHAINS or (not CHAINS[chain] and (unseen or negative)):
        raise ConfigError(
            f"unknown prompt variant '{name}'; known: {', '.join(variant_names(tuple(CHAINS)))}"
        )
    return Variant(name, chain, CHAINS[chain], unseen, negative)


def variant_names(chains: tuple[str, ...]) -> list[str]:
    """Every variant of the given chains: the chain, then its -unseen, -neg and -unseen-neg forms."""
    names: list[str] = []
    for chain in chains:
        names.append(chain)
        if CHAINS[chain]:
            names += [chain + UNSEEN_SUFFIX, chain + NEG_SUFFIX, chain + UNSEEN_SUFFIX + NEG_SUFFIX]
    return names


def sequential_instruction(variant: Variant, instruction: str) -> tuple[str, str]:
    """(instruction text, template ids) — e.g. ("First repeat the input, then answer …", "repeat/paper").

    Each step uses the first verbalization of the wanted split in bank order (the bank lists the paper's own
    wording first), so a variant always means the same prompt.
    """
    chosen = [verbalizations(step, variant.split)[0] for step in variant.steps]
    text = compose_instruction([v.text for v in chosen], instruction)
    return text, "+".join(v.id for v in chosen)
