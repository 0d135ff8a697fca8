"""Check records written by dlbricks.check (DLBRICKS_CHECK_RECORD), read back line by line."""
from __future__ import annotations

import json
import os

MAX_RECORD_BYTES = 32 * 1024 * 1024  # per segment; records beyond this are dropped and flagged


class RecordReader:
    """Reads the check records appended since the last call (the check-record protocol)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.offset = 0

    def new_records(self) -> tuple[list, bool]:
        """(records, overflowed): parsed JSON lines written since the last call."""
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read(MAX_RECORD_BYTES + 1)
                self.offset = fh.seek(0, os.SEEK_END)
        except FileNotFoundError:
            return [], False
        overflow = len(data) > MAX_RECORD_BYTES
        records = []
        for line in data[:MAX_RECORD_BYTES].splitlines():
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except ValueError:
                records.append({"garbled": True})
        return records, overflow
