"""How far a running import has read, kept in a file beside its upload rather than on its job row.

The import writes the bank in one transaction (all or nothing), so a count written to the job row
inside it is seen only when it commits, and on SQLite no second connection may write while it runs.
The file is replaced whole at each tick (never half-written) and goes with the upload's folder.
"""

from __future__ import annotations

import os
from pathlib import Path

PROGRESS_FILE_NAME = ".rows-read"


def progress_path(file_path: str | Path) -> Path:
    return Path(file_path).parent / PROGRESS_FILE_NAME


def progress_write(file_path: str | Path, rows: int) -> None:
    path = progress_path(file_path)
    partial = path.with_name(f"{PROGRESS_FILE_NAME}.partial")
    partial.write_text(str(rows), encoding="ascii")
    os.replace(partial, path)


def progress_read(file_path: str | Path) -> int | None:
    """The rows read so far, or None when the import has written no tick (or its folder is gone)."""
    try:
        return int(progress_path(file_path).read_text(encoding="ascii"))
    except (OSError, ValueError):
        return None
