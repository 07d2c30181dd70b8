"""`make compat`: export the bank in LLaMA-Factory's format and load it with LLaMA-Factory's own
data loader (installed in var/llamafactory-venv, never a project dependency)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import django

REPO = Path(__file__).resolve().parents[2]
LF_PYTHON = REPO / "var" / "llamafactory-venv" / "bin" / "python"


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quizsite.settings")
    django.setup()
    from django.test.utils import setup_databases, teardown_databases

    from quizbank.exporters.training import export_llamafactory
    from quizbank.selectors import dataset_alpaca, questions_iter
    from quizbank.services import bank_import
    from tests.conftest import DEMO_BANK, SHARED
    from tuning.training.bootstrap import bootstrap_tiny_model

    config = setup_databases(verbosity=0, interactive=False)
    try:
        files = [DEMO_BANK]
        gaokao = SHARED / "datasets" / "gaokao-bench" / "Data" / "Objective_Questions"
        if gaokao.is_dir():
            files += sorted(gaokao.glob("*.json"))
        report = bank_import(paths=files, skip_invalid=True)
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "lf"
            count = export_llamafactory(questions_iter(allow_non_commercial=False), out)
            texts = [text for record in dataset_alpaca() for text in record.values() if text]
            model = Path(folder) / "tiny"
            bootstrap_tiny_model(texts, model)
            print(f"exported {count} records ({report.created} questions imported) to {out}", flush=True)
            result = subprocess.run(
                [
                    str(LF_PYTHON),
                    str(REPO / "tests" / "compat" / "llamafactory_check.py"),
                    str(out),
                    str(model),
                    str(count),
                ],
                capture_output=True,
                text=True,
            )
    finally:
        teardown_databases(config, verbosity=0)
    lines = [line for line in result.stdout.splitlines() if line.startswith("COMPAT")]
    print("\n".join(lines) or result.stderr[-3000:])
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
