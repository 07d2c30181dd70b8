"""`make bench`: speed measures taken side by side in one run, one line each:

    BENCH <name> ratio=<x> goal=<y> <key>=<value>...

Runs against the active model version (make setup-demo creates one), with its own vLLM server.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import django


def bench_explain_concurrency(server_url: str) -> str:
    """Explanations with requests in flight together (continuous batching) vs one at a time."""
    from inference.client import ModelClient
    from inference.services import question_chat_request
    from quizbank.selectors import question_list

    questions = question_list(qtype="single_choice")[:48]
    requests_ = [question_chat_request(question, max_tokens=96) for question in questions]
    client = ModelClient(urls=[server_url], model="quizsite", timeout=120)
    client.chat(**requests_[0])  # warm-up
    started = time.monotonic()
    for request in requests_:
        client.chat(**request)
    sequential = time.monotonic() - started
    started = time.monotonic()
    results = client.chat_many(requests_, concurrency=16)
    concurrent = time.monotonic() - started
    failed = sum(isinstance(result, Exception) for result in results)
    ratio = sequential / concurrent
    return (
        f"BENCH explain_concurrency ratio={ratio:.2f} goal=2.0 n={len(requests_)} sequential_s={sequential:.2f} "
        f"concurrent_s={concurrent:.2f} req_per_s={len(requests_) / concurrent:.1f} failed={failed}"
    )


BENCHES = {"explain_concurrency": bench_explain_concurrency}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", choices=sorted(BENCHES), default=None)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quizsite.settings")
    django.setup()
    from pathlib import Path

    from tests.conftest import VLLMServer
    from tuning.models import ModelVersion

    version = ModelVersion.objects.filter(is_active=True).first()
    if version is None:
        print("no active model version: run `make setup-demo` first", file=sys.stderr)
        return 2
    log = Path("var") / "bench-vllm.log"
    server = VLLMServer(Path(version.path), version.name, log)
    try:
        server.wait_ready()
        for name, bench in BENCHES.items():
            if args.only in (None, name):
                print(bench(server.url), flush=True)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
