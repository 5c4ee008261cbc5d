"""Data sources for augment: instruction data, parallel corpora, caption annotations."""
