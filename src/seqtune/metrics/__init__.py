"""Metrics used by `seqtune score`: ROUGE-L, SQuAD EM/F1 + answer contained, following checks, BERTScore.

Bump METRICS_VERSION whenever a definition or threshold changes: it is written into every summary.json so that
reports never mix numbers computed under different definitions.
"""

METRICS_VERSION = "2"
