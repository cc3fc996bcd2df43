"""A signal that arrives while DuckDB runs one of our queries (a backup's digests, a quality gate) still stops the
run as interrupted: DuckDB drops the handler's exception and raises `RuntimeError: Query interrupted`, which
`lost_interrupt` turns back into the interrupt (real DuckDB, a real signal to this process). So does an error
raised while the interrupt was being handled, and either one wrapped by dbt."""

import os
import queue
import signal
import threading

import duckdb
import pytest
from dbt_common.exceptions import DbtRuntimeError

from navigator_orchestrator.interrupts import Terminated, exit_code, lost_interrupt, sigterm_interrupts

LONG_QUERY = "select sum(md5_number(i::VARCHAR) & 1) from range(1000000000) t(i)"
# One DuckDB thread: the main thread then runs every task and checks for signals between them. With several, a
# signal was sometimes noticed only after 120-150 s (seen in 2 of 6 runs); a run's own queries are short.


@pytest.mark.parametrize("signum, kind, code",
                         [(signal.SIGTERM, Terminated, 143), (signal.SIGINT, KeyboardInterrupt, 130)])
def test_a_signal_during_a_duckdb_query_is_still_an_interrupt(signum, kind, code):
    with duckdb.connect(config={"threads": 1}) as con, sigterm_interrupts():
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signum))
        timer.start()
        with pytest.raises(RuntimeError, match="interrupted") as raised:
            con.execute(LONG_QUERY).fetchall()
        timer.join()
        try:  # as dbt-duckdb wraps an error of a query dbt runs
            raise DbtRuntimeError(str(raised.value)) from raised.value
        except DbtRuntimeError as error:
            wrapped = error
    interrupt = lost_interrupt(raised.value)
    assert type(interrupt) is kind and exit_code(interrupt) == code
    assert type(lost_interrupt(wrapped)) is kind


def test_an_error_raised_while_handling_a_signal_is_the_interrupt():
    """What dbt-duckdb did once in CI: SIGTERM stopped dbt waiting on its job queue, dbt cancelled the queries of
    its threads, and a thread had just closed its connection: `Connection already closed!` replaced the interrupt
    and the run ended `failed` (exit 1) instead of `interrupted` (143)."""
    closed = duckdb.connect()
    cursor = closed.cursor()
    closed.close()
    with sigterm_interrupts():
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM))
        timer.start()
        try:
            queue.Queue().get()  # dbt's main thread, waiting for the next finished node
        except KeyboardInterrupt:
            with pytest.raises(duckdb.ConnectionException, match="already closed") as raised:
                cursor.interrupt()  # dbt-duckdb's cancel of that connection
        timer.join()
    interrupt = lost_interrupt(raised.value)
    assert type(interrupt) is Terminated and exit_code(interrupt) == 143


def test_other_errors_are_not_taken_for_an_interrupt():
    with sigterm_interrupts():
        assert lost_interrupt(RuntimeError("Query interrupted")) is None  # no signal came
        assert lost_interrupt(ValueError("interrupted")) is None
        try:
            raise ValueError("a model failed") from RuntimeError("Conversion Error")
        except ValueError as error:
            assert lost_interrupt(error) is None
    assert lost_interrupt(None) is None
