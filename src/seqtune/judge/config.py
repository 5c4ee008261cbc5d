"""`seqtune judge` configuration: what is judged and how; the judge model part (backend, model, base_url,
api_key_env, concurrency, retries, timeout, cache ...) is the shared `LMSettings`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from seqtune.config import Range
from seqtune.errors import ConfigError
from seqtune.lm.settings import LMSettings


@dataclass
class JudgeConfig(LMSettings):
    predictions: list[str] = field(default_factory=list)
    """predictions.jsonl files written by `seqtune generate` (or folders holding one), one or more arms; every
    response is judged for following and quality."""
    baseline: str = ""
    """predictions.jsonl (or its folder) of arm B, e.g. the IT model: every arm in `predictions` is compared with
    it, prompt by prompt (same task, variant and id), each pair judged in both orders; its responses are also
    judged one by one. Empty = no pairwise judging."""
    output: str = ""
    """Folder for judgments.jsonl, judge_summary.json and judgments.jsonl.manifest.json (and the answer cache);
    empty = a `judge` folder beside the first predictions file, where `seqtune report` finds it."""
    per_response: bool = True
    """Judge every response on its own (following and a 1-5 quality score)."""
    single_prompt: str = ""
    """JSON file of the per-response judge prompt ({system, user} with {instruction} and {response}); empty =
    the packaged seqtune/judge/prompts/single.json."""
    pairwise_prompt: str = ""
    """JSON file of the pairwise judge prompt ({system, user} with {instruction}, {first} and {second}); empty =
    the packaged seqtune/judge/prompts/pairwise.json."""
    max_new_tokens: Annotated[int, Range(ge=1)] = 512
    """Most tokens of one judge reply (reasons, then the verdict)."""
    temperature: Annotated[float, Range(ge=0)] = 0.0
    """Judge sampling temperature; 0 = greedy, so a verdict is reproducible."""
    seed: int = 0
    """Random seed (sampling)."""
    on_error: Literal["fail", "skip"] = "fail"
    """fail: stop at the first bad prediction record; skip: count it by reason and go on."""

    def validate(self) -> None:
        self.validate_lm(allowed=("hf", "openai"))
        if not self.model:
            raise ConfigError(f"model: the judge model is required with backend={self.backend}")
        if not self.predictions:
            raise ConfigError("judge: give at least one predictions file (or eval folder)")
        if not self.per_response and not self.baseline:
            raise ConfigError("judge: nothing to do: per_response is off and no baseline is given")
        from seqtune.judge.pipeline import PAIR_FIELDS, SINGLE_FIELDS, load_prompt

        # read now, so that a run finds a bad prompt file before it trains and generates
        load_prompt(self.single_prompt, "single.json", SINGLE_FIELDS)
        load_prompt(self.pairwise_prompt, "pairwise.json", PAIR_FIELDS)
