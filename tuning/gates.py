"""The checks a promotion must pass, registered by the apps that measure versions.

Tuning decides who is active; it does not measure versions itself (inference scores them on its
evaluation suites). An app registers a gate at start-up (`register(gate)`); `version_promote` asks
every gate before it makes a candidate active, and refuses when one names a refusal. A gate compares
the candidate with the active version on the same items and names what it found: the suite, the
measure, both values and the p-value of the difference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tuning.models import ModelVersion


@dataclass(frozen=True)
class Refusal:
    suite: str
    measure: str  # answer_accuracy | explanation_fidelity | grading_qwk
    candidate: float
    active: float
    p_value: float
    n: int
    test: str  # mcnemar-exact | paired-bootstrap

    @property
    def message(self) -> str:
        return (
            f"on suite {self.suite}, {self.measure} falls from {self.active:.3f} to {self.candidate:.3f} "
            f"over {self.n} paired items ({self.test}, p={self.p_value:.4g})"
        )

    def as_dict(self) -> dict:
        return asdict(self) | {"message": self.message}


Gate = Callable[["ModelVersion", "ModelVersion"], list[Refusal]]

_gates: dict[str, Gate] = {}


def register(name: str, gate: Gate) -> None:
    """Add (or replace) a gate; called from an AppConfig.ready."""
    _gates[name] = gate


def refusals(candidate: ModelVersion, active: ModelVersion) -> list[Refusal]:
    """What every registered gate holds against making `candidate` active in place of `active`."""
    found: list[Refusal] = []
    for gate in _gates.values():
        found.extend(gate(candidate, active))
    return found
