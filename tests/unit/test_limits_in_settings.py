"""Every limit is defined once, in Settings: the defaults and ceilings the models apply without
the settings' context are read from it, and the gateway's process tuning follows its setting."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from gateway.app import tune_garbage_collector
from gateway.requests import SubmitTransactionBatch
from shared.contract.messages import SubmitTransaction
from shared.settings import Settings


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    yield before
    gc.set_threshold(*before)
    gc.unfreeze()


def test_the_gateway_collects_the_youngest_generation_at_the_configured_threshold(
    thresholds: tuple[int, int, int],
) -> None:
    tune_garbage_collector(Settings(gateway_gc_threshold_allocations=12_345))
    assert gc.get_threshold() == (12_345, thresholds[1], thresholds[2])
    tune_garbage_collector(Settings(gateway_gc_threshold_allocations=0))  # 0: left as it is
    assert gc.get_threshold() == (12_345, thresholds[1], thresholds[2])
    assert Settings().gateway_gc_threshold_allocations == 20_000


def test_defaults_and_ceilings_are_read_from_the_settings() -> None:
    assert Settings.default_of("reference_id_length_max") == Settings().reference_id_length_max
    assert Settings.ceiling_of("reference_id_length_max") == 1024
    with pytest.raises(ValueError, match="no ceiling"):
        Settings.ceiling_of("request_body_bytes_max")


def operations(count: int) -> list[dict[str, object]]:
    return [{"type": "Issue", "to": "w1", "amount": "1"}] * count


def test_a_model_validated_without_context_applies_the_settings_defaults() -> None:
    defaults = Settings()
    SubmitTransaction.model_validate(
        {"referenceId": "r" * defaults.reference_id_length_max, "operations": operations(1)}
    )
    SubmitTransaction.model_validate(
        {"referenceId": "r", "operations": operations(defaults.operations_per_transaction_max)}
    )
    with pytest.raises(ValidationError, match="at most 128 characters"):
        SubmitTransaction.model_validate({"referenceId": "r" * 129, "operations": operations(1)})
    with pytest.raises(ValidationError, match="at most 100 operations"):
        SubmitTransaction.model_validate({"referenceId": "r", "operations": operations(101)})
    SubmitTransactionBatch.model_validate({"transactions": [{}] * 1000})
    with pytest.raises(ValidationError, match="at most 1000 transactions"):
        SubmitTransactionBatch.model_validate({"transactions": [{}] * 1001})
