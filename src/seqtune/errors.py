"""Error types. The CLI turns any SeqtuneError into one line on stderr and exit code 2 — never a traceback."""


class SeqtuneError(Exception):
    """A problem the user can fix (bad input, bad config, missing file)."""


class ConfigError(SeqtuneError):
    """A configuration value is missing, unknown or of the wrong type."""


class RecordError(SeqtuneError):
    """One input record is unusable. `reason` is a short stable key used to count skips."""

    def __init__(self, source: str, location: str, reason: str, detail: str, field: str | None = None):
        self.source = source
        self.location = location
        self.reason = reason
        self.field = field
        where = f"{source}:{location}" if location else source
        field_part = f" field '{field}':" if field else ""
        super().__init__(f"{where}:{field_part} {detail}")
