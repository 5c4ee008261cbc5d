"""Seq-Instruct (`seqtune seqinstruct`): sequential instructions written by an LLM from any instruction data.

Per record and round: the model classifies the instruction (decompose / add a prefix task / add a suffix task /
keep), rewrites it with the chosen operation's prompt, and finally answers every final instruction (docs/seqinstruct.md).
`prompts/` holds the default prompt files; `parsing.py` reads the model's replies; `pipeline.py` is the stage.
"""
