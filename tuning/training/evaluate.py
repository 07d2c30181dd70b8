"""Task metrics of a trained model on held-out records: the answer it generates and its 解析."""

from __future__ import annotations

import torch

from quizbank import prompts
from tuning.metrics import rouge_l_chars
from tuning.training.data import prompt_ids


@torch.no_grad()
def evaluate_records(model, tokenizer, records: list[dict], *, max_new_tokens: int = 160) -> dict:
    """Greedy answers for each record: answer accuracy and character-level ROUGE-L of the explanation."""
    model.eval()
    correct = fidelity = 0.0
    for record in records:
        ids = torch.tensor([prompt_ids(tokenizer, record)], device=model.device)
        output = model.generate(
            ids,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        generated = prompts.parse_output(tokenizer.decode(output[0][ids.shape[1] :], skip_special_tokens=True))
        reference = prompts.parse_output(record["output"])
        correct += generated.answer is not None and generated.answer == reference.answer
        fidelity += rouge_l_chars(generated.explanation, reference.explanation)
    n = len(records)
    return {
        "n": n,
        "answer_accuracy": round(correct / n, 4) if n else None,
        "explanation_rouge_l": round(fidelity / n, 4) if n else None,
    }
