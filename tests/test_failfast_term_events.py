"""Fail fast with the multiprocess executor (issue 21 item 5) must not hang on a step's termination event.

A step process that exits while its termination thread holds its `multiprocessing.Event`'s lock leaves that
lock held for good; Dagster's parent then blocked for ever in `term_event.set()` once fail-fast asked it to
interrupt the running steps (seen once in CI, in
test_bad_input::test_failed_delivery_check_stops_every_step_process_with_workers_capped_at_the_cores).
`BoundedTermEvent` bounds that set; `bound_term_events` puts it around every running step's event."""
from __future__ import annotations

import multiprocessing
import os
import time

from assets.runtime.failfast import BoundedTermEvent, bound_term_events


def _exit_holding_the_lock(event) -> None:
    event._cond.acquire()  # what the exiting step's termination thread does, cut short by the process's end
    os._exit(0)


def test_a_term_event_whose_lock_died_with_its_process_is_given_up_within_the_bound():
    ctx = multiprocessing.get_context("spawn")
    event = ctx.Event()
    holder = ctx.Process(target=_exit_holding_the_lock, args=(event,))
    holder.start()
    holder.join(30)
    assert holder.exitcode == 0
    assert not event._cond.acquire(timeout=0.2)  # the lock is held by nobody alive: a plain set() would hang
    t0 = time.perf_counter()
    assert BoundedTermEvent(event, seconds=0.5).set() is False
    assert time.perf_counter() - t0 < 5


def test_a_live_term_event_is_set_and_reads_as_the_event():
    event = multiprocessing.get_context("spawn").Event()
    bounded = BoundedTermEvent(event, seconds=5)
    assert bounded.set() is True
    assert event.is_set() and bounded.is_set()  # other calls go to the event itself


def _multiprocess_execute_shape(term_events):
    """The shape of Dagster's MultiprocessExecutor.execute that fail-fast relies on: `term_events` in its frame."""
    yield "first"
    for key, term_event in term_events.items():
        yield key, term_event


def test_bound_term_events_wraps_the_running_generators_events_and_no_others():
    ctx = multiprocessing.get_context("spawn")
    term_events = {"ingest_files_dq": ctx.Event(), "partb_lines": ctx.Event()}
    events = _multiprocess_execute_shape(term_events)
    assert next(events) == "first"
    assert bound_term_events(events) is True
    assert all(isinstance(e, BoundedTermEvent) for e in term_events.values())
    assert bound_term_events(events) is True  # twice: not wrapped twice
    assert all(not isinstance(e._event, BoundedTermEvent) for e in term_events.values())
    assert bound_term_events(iter(["no frame"])) is False  # another shape: Dagster's own set stands


def test_the_dagster_multiprocess_executor_still_keeps_term_events_in_its_frame():
    """If a Dagster upgrade renames `term_events`, fail-fast loses its bound: this test says so."""
    from dagster._core.executor.multiprocess import MultiprocessExecutor

    assert "term_events" in MultiprocessExecutor.execute.__code__.co_varnames


def _subprocess_error(*cls_names):
    from dagster._core.errors import DagsterSubprocessError
    from dagster._utils.error import SerializableErrorInfo

    return DagsterSubprocessError("During multiprocess execution errors occurred in child processes",
                                  subprocess_error_infos=[SerializableErrorInfo("m", [], c) for c in cls_names])


def test_a_step_process_that_crashed_while_the_stop_interrupted_it_is_the_stop():
    """Seen in CI: after fail-fast asked the multiprocess executor to terminate, a step process still starting
    ended before it reported; Dagster raised a DagsterSubprocessError naming ChildProcessCrashException where the
    run should have ended as RunStopped. Crashes and interruptions are the stop; any other step error is not."""
    from dagster._core.errors import DagsterExecutionInterruptedError

    from assets.runtime.failfast import ended_by_the_stop

    assert ended_by_the_stop(DagsterExecutionInterruptedError())
    assert ended_by_the_stop(_subprocess_error("ChildProcessCrashException"))
    assert ended_by_the_stop(_subprocess_error("ChildProcessCrashException", "DagsterExecutionInterruptedError",
                                               "KeyboardInterrupt"))
    assert not ended_by_the_stop(_subprocess_error("ChildProcessCrashException", "MemoryError"))
    assert not ended_by_the_stop(_subprocess_error())
    assert not ended_by_the_stop(ValueError("not Dagster's"))
