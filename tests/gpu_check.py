"""The training code on a CUDA machine, without Django: the tiny model is bootstrapped from the demo
bank, then tuned with LoRA, freeze, full fine-tuning and QLoRA (4-bit, bitsandbytes) using the settings
`preset` chooses for the hardware it finds (bf16 where supported, larger batches on big GPUs), and on
two devices (LoRA, torchrun) where there are two; each merged result (a QLoRA adapter merged into the
base loaded again unquantised) is checked to answer the bank. Prints one JSON line per method, then the verdict: exit status 1, with
each failed check named beside its threshold, when any result falls below the floors in `FLOORS`.

    python tests/gpu_check.py [OUT_DIR]

Run where `torch.cuda.is_available()`; on a CPU machine it stops at once (exit status 2).
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

METHODS = ("full", "lora", "freeze", "qlora")
TWO_DEVICES = "lora_2_devices"  # checked where the machine has two GPUs
# Floors, not targets: what a working run clears with room to spare on the tiny model and the 100-question
# demo bank (memorise preset: trained until its loss is 0.01), and what a broken one (nothing learnt, a bad
# merge, the model left on the CPU, a stalled loop) falls under.
FLOORS = {
    # the last logged training loss at most this fraction of the first
    "loss_fall": 0.5,
    # greedy answers of the merged model starting with the trained output's first line, of 20
    "answers_right_of_20": {"full": 16, "lora": 12, "freeze": 8, "qlora": 10, TWO_DEVICES: 12},
    # trained tokens per second over the whole run (training, merge and held-out evaluation)
    "tokens_per_s": 1000,
}


def verdict(results: list[dict], *, methods: tuple[str, ...] = METHODS) -> list[str]:
    """Each check a method's result fails, as `<method>: <check> <value> <comparison> <threshold>`;
    empty when every method ran and cleared every floor."""
    failures = []
    by_method = {result.get("method"): result for result in results}
    for method in methods:
        if by_method.get(method, {}).get("error"):
            failures.append(f"{method}: {by_method[method]['error']}")
            continue
        result = by_method.get(method)
        if result is None:
            failures.append(f"{method}: no result")
            continue
        first, last = result.get("first_loss"), result.get("final_loss")
        if first is None or last is None or result.get("logged_losses", 0) < 2:
            failures.append(f"{method}: loss logged {result.get('logged_losses', 0)} times, at least 2 needed")
        elif not (math.isfinite(first) and math.isfinite(last)) or last > FLOORS["loss_fall"] * first:
            failures.append(
                f"{method}: final loss {last:.4g} above {FLOORS['loss_fall']} x first loss {first:.4g} "
                f"(= {FLOORS['loss_fall'] * first:.4g}): the loss did not fall"
            )
        right, floor = result.get("answers_right_of_20", 0), FLOORS["answers_right_of_20"][method]
        if right < floor:
            failures.append(f"{method}: answers_right_of_20 {right} below {floor}")
        speed = result.get("tokens_per_s", 0)
        if speed < FLOORS["tokens_per_s"]:
            failures.append(f"{method}: tokens_per_s {speed} below {FLOORS['tokens_per_s']}")
        if method != TWO_DEVICES and not result.get("max_memory_gib"):
            failures.append(f"{method}: max_memory_gib {result.get('max_memory_gib')}: nothing was trained on the GPU")
    return failures


def main() -> int:
    import torch

    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check", file=sys.stderr)
        return 2
    from quizbank import prompts
    from tuning.training.bootstrap import bootstrap_tiny_model
    from tuning.training.hardware import detect_hardware

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="gpu-check-"))
    bank = json.loads((REPO / "fixtures" / "demo_bank.json").read_text(encoding="utf-8"))
    records = [
        prompts.instruction_record(
            qtype=q["type"], stem=q["stem"], options=q["options"], answer=q["answer"], explanation=q["explanation"]
        )
        for q in bank["questions"]
    ]
    data = out / "demo.json"
    out.mkdir(parents=True, exist_ok=True)
    data.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    hardware = detect_hardware()
    print(json.dumps({"device": torch.cuda.get_device_name(0), "hardware": hardware.__dict__}), flush=True)

    base = out / "base"
    bootstrap_tiny_model([text for record in records for text in record.values() if text], base)
    methods = METHODS + ((TWO_DEVICES,) if torch.cuda.device_count() >= 2 else ())
    results = []
    for method in methods:
        result = _train_and_check(method, base=base, data=data, out=out, records=records, hardware=hardware)
        results.append(result)
        print(json.dumps(result), flush=True)
    failures = verdict(results, methods=methods)
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    print(json.dumps({"passed": not failures, "failures": failures, "floors": FLOORS}), flush=True)
    return 1 if failures else 0


def _train_and_check(method: str, *, base: Path, data: Path, out: Path, records: list[dict], hardware) -> dict:
    """One method trained, merged and asked the first 20 questions; an exception is a failed result."""
    import torch

    from tuning.training.config import TuningConfig, preset
    from tuning.training.workflow import run_training

    kind = "lora" if method in ("qlora", TWO_DEVICES) else method
    values = preset(kind, dataset_size=len(records), hardware=hardware, memorise=True)
    if method == "qlora":
        values["quantization_bit"] = 4
    if method == TWO_DEVICES:
        values["devices"] = 2
    torch.cuda.reset_peak_memory_stats()
    started = time.monotonic()
    try:
        config = TuningConfig(
            model_name_or_path=str(base), dataset_path=str(data), output_dir=str(out / method), **values
        )
        result = run_training(config, hardware=hardware)
    except Exception as exc:  # a method that cannot run is a failed check, and the others still run
        return {"method": method, "error": f"{type(exc).__name__}: {exc}"[:500]}
    seconds = time.monotonic() - started
    losses = [loss for _, loss in result.metrics.get("loss_history") or []]
    return {
        "method": method,
        "bf16": config.bf16,
        "batch": config.per_device_train_batch_size,
        "seconds": round(seconds, 1),
        "train_loss": result.metrics.get("train_loss"),
        "first_loss": losses[0] if losses else None,
        "final_loss": losses[-1] if losses else None,
        "logged_losses": len(losses),
        "steps": result.metrics.get("steps"),
        "tokens_per_s": round(result.metrics["train_tokens_per_epoch"] * result.metrics["epochs"] / seconds),
        "answers_right_of_20": _answered(result.model_dir, records[:20]),
        # torchrun's processes train on their own devices: this process's peak says nothing of them
        "max_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if method != TWO_DEVICES else None,
    }


def _answered(model_dir: Path, records: list[dict]) -> int:
    """Greedy answers of the merged model on the GPU that start with the trained output's first line."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from quizbank import prompts

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16).to("cuda").eval()
    right = 0
    for record in records:
        ids = tokenizer.apply_chat_template(
            prompts.prompt_messages(record), add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to("cuda")
        with torch.no_grad():
            output = model.generate(**ids, max_new_tokens=24, do_sample=False)
        text = tokenizer.decode(output[0][ids["input_ids"].shape[1] :], skip_special_tokens=True)
        right += text.strip().startswith(record["output"].splitlines()[0].strip())
    return right


if __name__ == "__main__":
    sys.exit(main())
