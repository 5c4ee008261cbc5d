"""seqtune: sequential instruction tuning toolkit."""

__version__ = "0.1.0"
