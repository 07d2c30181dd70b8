"""Task metrics for tuned models (pure Python: the web process and the worker both use them)."""

from __future__ import annotations

from quizbank.normalize import normalize_text


def rouge_l_chars(candidate: str, reference: str) -> float:
    """Character-level ROUGE-L F1 (Chinese has no spaces to split words on)."""
    a, b = normalize_text(candidate), normalize_text(reference)
    if not a or not b:
        return 1.0 if a == b else 0.0
    previous = [0] * (len(b) + 1)
    for char in a:
        current = [0]
        for index, other in enumerate(b, start=1):
            current.append(previous[index - 1] + 1 if char == other else max(previous[index], current[-1]))
        previous = current
    lcs = previous[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(a), lcs / len(b)
    return 2 * precision * recall / (precision + recall)


def quadratic_weighted_kappa(first: list[int], second: list[int], *, min_score: int, max_score: int) -> float:
    """Agreement of two graders on integer scores (1: perfect, 0: chance)."""
    n = max_score - min_score + 1
    if not first or n < 2:
        return 1.0
    observed = [[0.0] * n for _ in range(n)]
    for a, b in zip(first, second, strict=True):
        observed[a - min_score][b - min_score] += 1
    total = len(first)
    hist_a = [sum(row) for row in observed]
    hist_b = [sum(observed[i][j] for i in range(n)) for j in range(n)]
    numerator = denominator = 0.0
    for i in range(n):
        for j in range(n):
            weight = (i - j) ** 2 / (n - 1) ** 2
            numerator += weight * observed[i][j]
            denominator += weight * hist_a[i] * hist_b[j] / total
    return 1.0 - numerator / denominator if denominator else 1.0
