"""`seqtune train`: LoRA or full fine-tuning of a causal LM on Alpaca-format or sequential data (TRL SFTTrainer).

Light at import time: torch, transformers, peft and trl are imported inside the functions that need them.
"""
