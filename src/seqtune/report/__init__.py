"""`seqtune report`: scored runs (summary.json + scores.jsonl) → paper-shaped tables (markdown, CSV) and figures.

Layout: `loading` finds and indexes scored results, `tables` builds the SIT paper's tables, `figures` draws
Figure 3, `describe` writes the provenance sections of report.md, and `pipeline.run_report` ties them together.
Nothing here imports torch; matplotlib is imported only when a figure is drawn.
"""
