"""Exporters: the bank as training data (alpaca, sharegpt, openai, llamafactory) or exchange files
(gift, moodle-xml, xlsx). Each module has `export(questions, out: Path) -> int` (count written)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from pathlib import Path

EXPORTER_MODULES = {
    "alpaca": "quizbank.exporters.training",
    "sharegpt": "quizbank.exporters.training",
    "openai": "quizbank.exporters.training",
    "llamafactory": "quizbank.exporters.training",
    "gift": "quizbank.exporters.gift",
    "moodle-xml": "quizbank.exporters.moodle_xml",
    "xlsx": "quizbank.exporters.xlsx",
}
EXPORT_FORMATS = tuple(EXPORTER_MODULES)
TRAINING_FORMATS = ("alpaca", "sharegpt", "openai", "llamafactory")


def exporter(name: str) -> Callable[[Iterable, Path], int]:
    module = importlib.import_module(EXPORTER_MODULES[name])
    if module.__name__.endswith("training"):
        return getattr(module, f"export_{name}")
    return module.export
