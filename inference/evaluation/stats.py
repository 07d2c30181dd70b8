"""The statistics of comparing versions (pure Python): intervals, McNemar's exact test, paired
bootstrap, and chrF."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Sequence

from quizbank.normalize import normalize_text

Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, *, z: float = Z95) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion (sound at 0%, 100% and small n)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4))


def mcnemar_exact(only_first: int, only_second: int) -> float:
    """Two-sided exact McNemar p-value for paired right/wrong outcomes: `only_first` items right for
    the first version only, `only_second` for the second only (the binomial test on the discordant
    pairs, p = 1/2)."""
    n = only_first + only_second
    if n == 0:
        return 1.0
    k = min(only_first, only_second)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_bootstrap(
    first: Sequence[float],
    second: Sequence[float],
    *,
    statistic: Callable[[Sequence[int]], tuple[float, float]] | None = None,
    resamples: int = 2000,
    seed: int = 0,
) -> float:
    """Two-sided p-value that the second's statistic differs from the first's, by resampling items
    with replacement (the same items for both). By default the statistic is the mean of each list;
    `statistic(indices)` may compute both values itself (QWK over the resampled items)."""
    n = len(first)
    if n == 0:
        return 1.0

    def means(indices: Sequence[int]) -> tuple[float, float]:
        return (sum(first[i] for i in indices) / len(indices), sum(second[i] for i in indices) / len(indices))

    measure = statistic or means
    a, b = measure(range(n))
    observed = b - a
    if observed == 0:
        return 1.0
    rng = random.Random(seed)
    opposite = 0
    for _ in range(resamples):
        indices = [rng.randrange(n) for _ in range(n)]
        x, y = measure(indices)
        # the share of resamples where the difference vanishes or changes sign
        if (y - x) * observed <= 0:
            opposite += 1
    return min(1.0, 2 * (opposite + 1) / (resamples + 1))


def chrf(candidate: str, reference: str, *, max_order: int = 6, beta: float = 2.0) -> float:
    """chrF: the F-score (recall weighted by beta) of character n-grams, n = 1..max_order, averaged
    over the orders both strings are long enough for (Popović 2015; spaces ignored)."""
    a = normalize_text(candidate).replace(" ", "")
    b = normalize_text(reference).replace(" ", "")
    if not a or not b:
        return 1.0 if a == b else 0.0
    scores = []
    for order in range(1, max_order + 1):
        grams_a = Counter(a[i : i + order] for i in range(len(a) - order + 1))
        grams_b = Counter(b[i : i + order] for i in range(len(b) - order + 1))
        if not grams_a or not grams_b:
            break
        overlap = sum((grams_a & grams_b).values())
        precision, recall = overlap / sum(grams_a.values()), overlap / sum(grams_b.values())
        if precision + recall == 0:
            scores.append(0.0)
            continue
        scores.append((1 + beta**2) * precision * recall / (beta**2 * precision + recall))
    return sum(scores) / len(scores) if scores else 0.0
