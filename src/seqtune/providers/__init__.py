"""Where generated intermediate text comes from (see providers/base.py)."""
