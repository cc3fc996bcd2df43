"""A signal that arrives while DuckDB runs one of our queries (a backup's digests, a quality gate) still stops the
run as interrupted: DuckDB drops the handler's exception and raises `RuntimeError: Query interrupted`, which
`lost_interrupt` turns back into the interrupt (real DuckDB, a real signal to this process). So does an error
raised while the interrupt was being handled, and either one wrapped by dbt."""

import os
import queue
import signal
import sys
import threading
import time
import weakref

import duckdb
import pytest
from dbt_common.exceptions import DbtRuntimeError

from navigator_orchestrator.dbt_layer.dbt_runner import DbtRunner
from navigator_orchestrator.safety.interrupts import Terminated, exit_code, lost_interrupt, sigterm_interrupts

LONG_QUERY = "select sum(md5_number(i::VARCHAR) & 1) from range(1000000000) t(i)"
# One DuckDB thread: the main thread then runs every task and checks for signals between them. With several, a
# signal was sometimes noticed only after 120-150 s (seen in 2 of 6 runs); a run's own queries are short.


def signal_when(ready, signum: int, seen: list) -> threading.Thread:
    """A thread that sends `signum` to this process as soon as `ready()` returns something true (appended to
    `seen`), polled every few milliseconds for at most a minute (then nothing is sent, and the test fails)."""
    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = ready()
            if state:
                seen.append(state)
                os.kill(os.getpid(), signum)
                return
            time.sleep(0.002)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def query_running(con: duckdb.DuckDBPyConnection):
    """The query on `con` has started and made progress: DuckDB's own progress, in percent (-1 before it starts;
    computed only with the progress bar on, which `running_connection` turns on without printing it)."""
    progress = con.query_progress()
    return progress if 0 < progress < 100 else None


def running_connection() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"threads": 1})
    con.execute("set enable_progress_bar = true")
    con.execute("set enable_progress_bar_print = false")
    return con


@pytest.mark.parametrize("signum, kind, code",
                         [(signal.SIGTERM, Terminated, 143), (signal.SIGINT, KeyboardInterrupt, 130)])
def test_a_signal_during_a_duckdb_query_is_still_an_interrupt(signum, kind, code):
    progress: list = []
    with running_connection() as con, sigterm_interrupts():
        sender = signal_when(lambda: query_running(con), signum, progress)
        with pytest.raises(RuntimeError, match="interrupted") as raised:
            con.execute(LONG_QUERY).fetchall()
        sender.join()
        assert progress, "no signal was sent: the query never showed progress"
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
    waiting: list = []
    with sigterm_interrupts():
        sender = signal_when(lambda: main_thread_inside(queue.Queue.get), signal.SIGTERM, waiting)
        try:
            queue.Queue().get(timeout=120)  # dbt's main thread, waiting for the next finished node
        except KeyboardInterrupt:
            with pytest.raises(duckdb.ConnectionException, match="already closed") as raised:
                cursor.interrupt()  # dbt-duckdb's cancel of that connection
        sender.join()
    assert waiting, "no signal was sent: the main thread never waited in Queue.get"
    interrupt = lost_interrupt(raised.value)
    assert type(interrupt) is Terminated and exit_code(interrupt) == 143


def main_thread_inside(function) -> bool:
    """Whether the main thread is running `function` now (its frame is on the main thread's stack)."""
    frame = sys._current_frames().get(threading.main_thread().ident)
    while frame is not None:
        if frame.f_code is function.__code__:
            return True
        frame = frame.f_back
    return False


def test_dbt_failing_to_cancel_on_sigterm_still_stops_as_interrupted(tmp_path):
    """The same in real dbt, made certain: a seed's thread closes its connection's handle (its state still open,
    as in the race) and SIGTERM reaches dbt's main thread; dbt's cancel of that connection fails, dbt returns that
    error, and the runner raises the interrupt, not `dbt seed failed`."""
    from dbt.adapters.factory import FACTORY

    runner = DbtRunner(db_path=tmp_path / "sim.duckdb", work_dir=tmp_path / "dbt", threads=1)
    runner.parse()
    seed_threads, cancelling, invocation_over = [], threading.Event(), threading.Event()

    def race(event) -> None:
        name = event.info.name
        if name == "SQLQuery" and event.data.node_info.unique_id and not seed_threads:  # a query of the seed
            seed_threads.append(threading.current_thread())
            FACTORY.adapters["duckdb"].connections.get_thread_connection().handle.close()
            signal.pthread_kill(threading.main_thread().ident, signal.SIGTERM)
            invocation_over.wait(timeout=60)  # the seed goes on (and fails) only once dbt gave up
        elif name == "ArtifactWritten" and threading.current_thread() is threading.main_thread():
            cancelling.set()  # dbt's interrupt handler: run_results.json, then the cancel of every connection

    with sigterm_interrupts(), pytest.raises(Terminated):
        try:
            runner._invoke("seed", ["--select", "config_job_levels"], callbacks=[race])
        finally:
            invocation_over.set()
            for thread in seed_threads:
                thread.join(timeout=60)
    assert seed_threads and cancelling.is_set(), "the race was not set up: no seed query, or dbt never cancelled"
    log = (tmp_path / "dbt" / "logs" / "dbt.log").read_text()
    assert "Connection already closed!" in log  # dbt's cancel failed, the case this test is about


def test_a_thread_still_querying_when_dbt_stops_on_ctrl_c_is_no_database_error(tmp_path):
    """What a run did once in the suite: Ctrl-C reached dbt's main thread while it started a pool thread to list a
    schema (inside `Thread.start`), so the pool never joined that thread, which went on querying through a cursor
    of dbt-duckdb's connection; closing the connection after dbt gave up then failed ("connection is busy with
    another call") and the run ended `failed` (exit 1, "database error") instead of `interrupted` (130). Made
    certain here: a thread of the test runs a long query on that connection's cursor, then SIGINT reaches dbt."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    runner = DbtRunner(db_path=tmp_path / "sim.duckdb", work_dir=tmp_path / "dbt", threads=1)
    runner.parse()
    strays, querying = [], threading.Event()

    def stray_query(cursor) -> None:
        querying.set()
        with pytest.raises(duckdb.InterruptException):
            cursor.execute(LONG_QUERY).fetchall()

    def race(event) -> None:
        if event.info.name == "SQLQuery" and event.data.node_info.unique_id and not strays:  # a query of the seed
            environment = DuckDBConnectionManager._ENV
            cursor = environment.conn.cursor()
            thread = threading.Thread(target=stray_query, args=(cursor,))
            strays.append((environment, cursor, thread))
            thread.start()
            querying.wait(timeout=60)
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    try:
        with sigterm_interrupts(), pytest.raises(KeyboardInterrupt) as raised:
            runner._invoke("seed", ["--select", "config_job_levels"], callbacks=[race])
    finally:
        for environment, cursor, thread in strays:
            cursor.interrupt()
            thread.join(timeout=60)
            environment.close()
    assert strays, "the race was not set up: no seed query"
    assert type(raised.value) is KeyboardInterrupt and exit_code(raised.value) == 130
    assert isinstance(raised.value.__cause__, duckdb.Error) and "busy" in str(raised.value.__cause__)


@pytest.mark.parametrize("signum, kind", [(signal.SIGTERM, Terminated), (signal.SIGINT, KeyboardInterrupt)])
def test_a_signal_whose_handler_ran_in_a_weakref_callback_is_sent_again(signum, kind):
    """What a run did once in the suite: SIGTERM's handler ran inside a weakref callback (a WeakKeyDictionary's
    clean-up), where Python prints an exception and drops it, and the run went on to exit 0. Made certain here (a
    real signal, a real weakref callback); the block must still stop on that signal, and soon."""
    class Held:
        pass

    inside = []

    def callback(_ref) -> None:
        try:
            os.kill(os.getpid(), signum)  # the handler runs as soon as the call returns: inside the callback
            for _ in range(100_000):
                pass
        except KeyboardInterrupt:
            inside.append(True)
            raise

    laps = 0
    deadline = time.monotonic() + 60
    with pytest.raises(kind):
        with sigterm_interrupts():
            held = Held()
            keep = weakref.ref(held, callback)
            del held  # the callback runs now; the interrupt raised inside it does not leave it
            while time.monotonic() < deadline:  # the run going on (a signal lost for good: DID NOT RAISE)
                laps += 1
                time.sleep(0.01)
    # checked after the block: inside it, a failed check would leave the signal sent again to the default handler
    assert inside, "the race was not set up: the handler did not run inside the callback"
    assert laps > 0 and keep() is None  # it stopped the run going on after the callback, sent again


def test_other_errors_are_not_taken_for_an_interrupt():
    with sigterm_interrupts():
        assert lost_interrupt(RuntimeError("Query interrupted")) is None  # no signal came
        assert lost_interrupt(ValueError("interrupted")) is None
        try:
            raise ValueError("a model failed") from RuntimeError("Conversion Error")
        except ValueError as error:
            assert lost_interrupt(error) is None
    assert lost_interrupt(None) is None
