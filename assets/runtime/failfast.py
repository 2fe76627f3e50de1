"""Fail fast (issue 21 item 5): a failed blocking check stops the whole run within seconds.

Dagster skips only the steps downstream of a failed blocking check; every other branch would go on
computing tables that are never published (`publish` needs every check). So the run's executor (Dagster's
in-process one, or the multiprocess one with --workers > 1) is wrapped: once the step of a failed
blocking (ERROR) check has ended, its failure hooks included (OUT/run_summary.json is written), no other
step starts:
- in one process, `RunStopped` is raised where the executor stands (no step is running then);
- with the multiprocess executor, the run is terminated the way Dagster terminates a run (the running
  steps are interrupted and their processes end), then `RunStopped` is raised. A step process still
  starting when the interrupt comes may end before it reports (Dagster then raises a subprocess error
  naming a ChildProcessCrashException, seen in CI): that too is the stop (`ended_by_the_stop`).
With the multiprocess executor, each step's termination event is first wrapped so that setting it cannot hang:
a step process that exits while its termination thread holds the event's lock (a race inside Dagster: the
process's own last `term_event.set()` wakes that daemon thread, and the process may end before the thread
lets go) leaves the lock held forever, and Dagster's unbounded `term_event.set()` then blocked the run.
Either way the run ends as a Dagster run failure whose error is `RunStopped`'s one line; the reason people
read stays the check's summary, naming the check and the file (assets.runtime.runrecord.failure_reason).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Iterator

from dagster import (DagsterEvent, DagsterEventType, Executor, ExecutorDefinition, executor, in_process_executor,
                     multiple_process_executor_requirements, multiprocess_executor)
from dagster._core.errors import DagsterExecutionInterruptedError, DagsterSubprocessError
from dagster._core.events import EngineEventData

STOPPED = "run stopped at a failed blocking check"
_HOOK_EVENTS = {DagsterEventType.HOOK_COMPLETED, DagsterEventType.HOOK_ERRORED, DagsterEventType.HOOK_SKIPPED}


class RunStopped(Exception):
    """A failed blocking check stopped the run (str(): the one line, check and file named)."""


@dataclass
class _Stop:
    """The failed blocking check a run stops at, and how much of its step is still to come."""

    step_key: str
    summary: str
    hooks_left: int | None = None  # set by the step's failure: its hooks' events still to come

    @property
    def message(self) -> str:
        return f"{STOPPED}: {self.summary}"

    @property
    def step_over(self) -> bool:
        return self.hooks_left is not None and self.hooks_left <= 0


def _failed_blocking_check(event: DagsterEvent) -> str | None:
    """The summary of a failed blocking ERROR check evaluation, else None."""
    if event.event_type != DagsterEventType.ASSET_CHECK_EVALUATION:
        return None
    e = event.event_specific_data
    if e.passed or not e.blocking or e.severity is None or e.severity.value != "ERROR":
        return None
    summary = e.metadata.get("summary") if e.metadata else None
    return str(getattr(summary, "value", summary) or f"check {e.asset_key.to_user_string()}/{e.check_name} failed")


def _request_termination() -> None:
    """What a termination signal does to a running Dagster run (`capture_interrupts`): the multiprocess
    executor sees it at its next turn, stops launching steps, interrupts the running ones and waits for
    their processes. Set directly: the signal itself would reach a run started off the main thread as a
    KeyboardInterrupt."""
    from dagster._utils.interrupts import _received_interrupt

    _received_interrupt["received"] = True


TERM_EVENT_SET_SECONDS = 5.0  # a live step process lets go of its termination event's lock at once


class BoundedTermEvent:
    """A step's termination event (a `multiprocessing.Event`) whose `set()` gives up after `seconds`.

    The set runs in a daemon thread: if the lock was left held by a step process that has exited (module
    doc), that thread stays blocked and the run goes on; the process it would have interrupted is gone."""

    def __init__(self, event: Any, seconds: float = TERM_EVENT_SET_SECONDS):
        self._event = event
        self._seconds = seconds

    def set(self) -> bool:
        """Set the event; False if its lock was not had within the bound."""
        setter = threading.Thread(target=self._event.set, name="fail-fast-term-event", daemon=True)
        setter.start()
        setter.join(self._seconds)
        return not setter.is_alive()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._event, name)


def bound_term_events(events: Iterator[DagsterEvent]) -> bool:
    """Wrap the termination events of the multiprocess executor's running `events` generator in
    `BoundedTermEvent` (they live in its frame as `term_events`, step key -> event). False where this Dagster
    keeps them otherwise: its own unbounded set then stands."""
    frame = getattr(events, "gi_frame", None)
    term_events = frame.f_locals.get("term_events") if frame is not None else None
    if not isinstance(term_events, dict):
        return False
    for key, event in list(term_events.items()):
        if not isinstance(event, BoundedTermEvent):
            term_events[key] = BoundedTermEvent(event)
    return True


# How a step process interrupted by the stop can end: interrupted, or gone before it reported (a process
# still starting when the interrupt came exits without its last event: Dagster's ChildProcessCrashException)
_INTERRUPTED = {"DagsterExecutionInterruptedError", "KeyboardInterrupt", "ChildProcessCrashException"}


def ended_by_the_stop(error: Exception) -> bool:
    """Whether the multiprocess executor's `error`, raised after the stop asked it to terminate, is only that
    termination: its own interruption, or a subprocess error whose every step process was interrupted or
    crashed. Any other error in a step process is raised as it is."""
    if isinstance(error, DagsterExecutionInterruptedError):
        return True
    return (isinstance(error, DagsterSubprocessError) and bool(error.subprocess_error_infos)
            and all(info.cls_name in _INTERRUPTED for info in error.subprocess_error_infos))


class FailFastExecutor(Executor):
    """`inner`'s execution, stopped once the step of a failed blocking check has ended (module doc)."""

    def __init__(self, inner: Executor, *, multiprocess: bool):
        self._inner = inner
        self._multiprocess = multiprocess

    @property
    def retries(self):
        return self._inner.retries

    @property
    def step_dependency_config(self):
        return self._inner.step_dependency_config

    def execute(self, plan_context, execution_plan) -> Iterator[DagsterEvent]:
        events = self._inner.execute(plan_context, execution_plan)
        stop: _Stop | None = None
        stopping = False
        throw: Exception | None = None
        while True:
            try:
                event = events.throw(throw) if throw is not None else next(events)
            except StopIteration:
                return
            except (DagsterExecutionInterruptedError, DagsterSubprocessError) as error:
                if stopping and ended_by_the_stop(error):  # the termination this class requested
                    raise RunStopped(stop.message) from None
                raise
            throw = None
            yield event
            if stopping:  # the inner executor winds down: pass its events on
                continue
            stop = self._track(stop, event, plan_context, execution_plan)
            if stop is not None and stop.step_over:
                stopping = True
                yield DagsterEvent.engine_event(plan_context, f"{stop.message}; no other step starts",
                                                EngineEventData())
                if self._multiprocess:
                    bound_term_events(events)
                    _request_termination()
                else:
                    throw = RunStopped(stop.message)

    @staticmethod
    def _track(stop: _Stop | None, event: DagsterEvent, plan_context, execution_plan) -> _Stop | None:
        if stop is None:
            summary = _failed_blocking_check(event)
            return _Stop(event.step_key, summary) if summary is not None else None
        if event.step_key != stop.step_key:
            return stop
        if event.event_type == DagsterEventType.STEP_FAILURE:
            handle = execution_plan.get_step_by_key(stop.step_key).node_handle
            stop.hooks_left = len(plan_context.job.get_definition().get_all_hooks_for_handle(handle) or ())
        elif event.event_type in _HOOK_EVENTS and stop.hooks_left is not None:
            stop.hooks_left -= 1
        return stop


@executor(name="in_process", config_schema=in_process_executor.config_schema)
def fail_fast_in_process_executor(init_context) -> Executor:
    """Dagster's in-process executor (every step in the run's process), stopped at a failed blocking check."""
    return FailFastExecutor(in_process_executor.executor_creation_fn(init_context), multiprocess=False)


@executor(name="multiprocess", config_schema=multiprocess_executor.config_schema,
          requirements=multiple_process_executor_requirements())
def fail_fast_multiprocess_executor(init_context) -> Executor:
    """Dagster's multiprocess executor (each step in its own process), stopped at a failed blocking check."""
    return FailFastExecutor(multiprocess_executor.executor_creation_fn(init_context), multiprocess=True)


def fail_fast_executor(workers: int) -> ExecutorDefinition:
    """The executor of a run with `workers` steps at once (1: in this process)."""
    if workers <= 1:
        return fail_fast_in_process_executor
    return fail_fast_multiprocess_executor.configured({"max_concurrent": workers}, name="multiprocess")
