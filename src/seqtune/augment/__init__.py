"""`seqtune augment`: instruction records → sequential-instruction records (see docs/augment.md)."""
