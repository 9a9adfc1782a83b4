"""What the consumer says while it waits for the broker (ledger/consumer.py, broker_problem)."""

import logging

from kafka.errors import (
    CoordinatorLoadInProgressError,
    CoordinatorNotAvailableError,
    KafkaConnectionError,
    KafkaTimeoutError,
)

from provenance_ledger.ledger.consumer import NOT_READY_ROUTINE_S, broker_problem

BOOTSTRAP = "127.0.0.1:9092"


def test_a_broker_still_loading_its_groups_is_not_reported_missing() -> None:
    for exc in (CoordinatorLoadInProgressError(), CoordinatorNotAvailableError()):
        message, level = broker_problem(BOOTSTRAP, exc, waited_s=1.0)
        assert message.startswith(f"the broker at {BOOTSTRAP} is not ready yet: ")
        assert type(exc).__name__ in message
        assert level == logging.INFO


def test_a_broker_not_ready_for_long_is_a_warning() -> None:
    message, level = broker_problem(
        BOOTSTRAP, CoordinatorLoadInProgressError(), waited_s=NOT_READY_ROUTINE_S
    )
    assert message.startswith(f"the broker at {BOOTSTRAP} is not ready yet: ")
    assert level == logging.WARNING


def test_no_answer_is_a_missing_broker_and_a_warning() -> None:
    unanswered = KafkaTimeoutError(f"Unable to bootstrap from {BOOTSTRAP}"), KafkaConnectionError()
    for exc in unanswered:
        message, level = broker_problem(BOOTSTRAP, exc, waited_s=0.0)
        assert message.startswith(f"no broker at {BOOTSTRAP}: ")
        assert level == logging.WARNING
