"""Bank exports: training data or exchange files, written by quizbank/exporters, for the command
line (export_dataset) and the teachers' download page alike."""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from core.progress import counted
from quizbank.exporters import EXPORT_FORMATS, TRAINING_FORMATS, exporter
from quizbank.selectors import questions_iter

# What a download is called: a folder (llamafactory) or a file beside its dataset_info.json (sharegpt)
# comes as a zip of the same name.
EXPORT_FILE_NAMES = {
    "alpaca": "quizsite-alpaca.json",
    "sharegpt": "quizsite-sharegpt.jsonl",
    "openai": "quizsite-openai.jsonl",
    "llamafactory": "quizsite-llamafactory",
    "gift": "quizsite.gift",
    "moodle-xml": "quizsite.moodle.xml",
    "xlsx": "quizsite.xlsx",
}


def bank_export(
    *,
    fmt: str,
    out: Path,
    subject: str = "",
    split: str = "all",
    allow_non_commercial: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Write the bank in `fmt` to `out` (a file, or a folder for llamafactory); the count written.

    Training data leaves out the questions of exams still open (a model must not learn their keys)
    and, unless allowed, evaluation-only sources (CC BY-NC); exchange files hold every question.
    `on_progress` is told how many questions the exporter has taken so far."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(EXPORT_FORMATS)}")
    training = fmt in TRAINING_FORMATS
    questions = questions_iter(
        subject=subject,
        split=split,
        allow_non_commercial=allow_non_commercial or not training,
        exclude_locked=training,
    )
    return exporter(fmt)(counted(questions, on_progress), out)


def bank_export_download(*, fmt: str, subject: str = "", split: str = "all") -> tuple[IO[bytes], str, int]:
    """The export as one download: an open temporary file (deleted when closed), its name and the
    count written. An export of several files is zipped."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "export"
        root.mkdir()
        count = bank_export(fmt=fmt, out=root / EXPORT_FILE_NAMES[fmt], subject=subject, split=split)
        files = sorted(path for path in root.rglob("*") if path.is_file())
        download = tempfile.TemporaryFile()
        if len(files) == 1:
            with files[0].open("rb") as handle:
                shutil.copyfileobj(handle, download)
            name = files[0].name
        else:
            with zipfile.ZipFile(download, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for path in files:
                    archive.write(path, path.relative_to(root).as_posix())
            name = f"{Path(EXPORT_FILE_NAMES[fmt]).stem.split('.')[0]}.zip"
    download.seek(0)
    return download, name, count
