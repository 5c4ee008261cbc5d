"""LLM-judged following, quality and pairwise win rates of open-ended responses (SeqEval; docs/seqeval.md)."""
