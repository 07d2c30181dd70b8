"""The CUDA check's verdict: results that clear its floors pass, and each kind of bad result fails
with the check named beside its value and threshold. No GPU needed."""

from __future__ import annotations

import pytest

from tests.gpu_check import FLOORS, METHODS, verdict


def good(method: str) -> dict:
    return {
        "method": method,
        "first_loss": 9.5,
        "final_loss": 0.02,
        "logged_losses": 40,
        "answers_right_of_20": 20,
        "tokens_per_s": 50_000,
        "max_memory_gib": 1.2,
    }


def test_results_above_every_floor_pass():
    assert verdict([good(method) for method in METHODS]) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"final_loss": 9.0}, "lora: final loss 9 above 0.5 x first loss 9.5"),
        ({"final_loss": float("nan")}, "lora: final loss nan above"),
        ({"logged_losses": 1}, "lora: loss logged 1 times, at least 2 needed"),
        ({"first_loss": None, "final_loss": None, "logged_losses": 0}, "lora: loss logged 0 times"),
        ({"answers_right_of_20": 3}, f"lora: answers_right_of_20 3 below {FLOORS['answers_right_of_20']['lora']}"),
        ({"tokens_per_s": 10}, f"lora: tokens_per_s 10 below {FLOORS['tokens_per_s']}"),
        ({"max_memory_gib": 0.0}, "lora: max_memory_gib 0.0: nothing was trained on the GPU"),
    ],
)
def test_a_result_below_its_floor_fails_naming_the_check(change, expected):
    results = [good("full"), good("lora") | change, good("freeze"), good("qlora")]
    failures = verdict(results)
    assert len(failures) == 1, failures
    assert failures[0].startswith(expected), failures


def test_a_method_that_did_not_report_fails():
    assert verdict([good("full"), good("lora"), good("qlora")]) == ["freeze: no result"]


def test_the_floor_itself_passes():
    at_floor = [
        good(method)
        | {
            "final_loss": FLOORS["loss_fall"] * 9.5,
            "answers_right_of_20": FLOORS["answers_right_of_20"][method],
            "tokens_per_s": FLOORS["tokens_per_s"],
        }
        for method in METHODS
    ]
    assert verdict(at_floor) == []


def test_a_method_that_could_not_run_fails_with_its_error():
    results = [good(method) for method in METHODS if method != "qlora"]
    results.append({"method": "qlora", "error": "ImportError: bitsandbytes is not installed"})
    assert verdict(results) == ["qlora: ImportError: bitsandbytes is not installed"]


def test_two_devices_are_checked_only_where_asked():
    from tests.gpu_check import TWO_DEVICES

    results = [good(method) for method in METHODS]
    assert verdict(results) == []
    assert verdict(results, methods=(*METHODS, TWO_DEVICES)) == [f"{TWO_DEVICES}: no result"]
    two = {**good("lora"), "method": TWO_DEVICES, "max_memory_gib": None}
    assert verdict([*results, two], methods=(*METHODS, TWO_DEVICES)) == []
