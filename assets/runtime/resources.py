"""The Dagster resource every asset uses: where the run reads and writes, and the methodology.

For the length of a run (in the default in-process executor: from the first step to the last) it
holds the output folder's lock (one run per OUT), after checking OUT can be written and applying
the cleaning rule of `pipelines.engine.outfolder`, and it hashes the input files once (provenance)."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import MISSING

from dagster import ConfigurableResource, DagsterEventType, InitResourceContext
from pydantic import Field, PrivateAttr, create_model

from pipelines.engine.methodology import Methodology, load_methodology
from pipelines.engine.outfolder import UNPUBLISHED_TAG, OutputLock, clean_leftovers, prepare_output
from pipelines.engine.provenance import input_manifest_written, manifest_digest, staged_input_manifest
from assets.runtime.remote import RemoteError, StepSync, open_sync
from assets.runtime.runrecord import TAG_PREFIX, settle_dead_run
from pipelines.engine.settings import RunSettings, Setting, run_settings


def _config_field(s: Setting):
    """A setting as a config field of the resource: its plain type, its default when unset (the
    environment's: what `dagster dev` and scheduled runs use), and its help text."""
    if s.env_default is MISSING:
        return s.plain_type, Field(description=s.help)
    return s.plain_type, Field(default=s.to_plain(s.env_default), description=s.help)


# One config field per run setting, generated from RunSettings (pipelines.engine.settings): nothing to add here
# when a setting is added there.
_AsmSettingsConfig = create_model("AsmSettingsConfig", __base__=ConfigurableResource,
                                  **{s.name: _config_field(s) for s in run_settings()})


class AsmResource(_AsmSettingsConfig):
    """Run configuration (set by `asm run`, or ASM_* environment variables under `dagster dev`): one
    config field per run setting (pipelines.engine.settings.run_settings)."""

    _run_id: str = PrivateAttr(default="")
    _inputs: list = PrivateAttr(default_factory=list)

    @contextmanager
    def yield_for_execution(self, context: InitResourceContext):
        # Every table of a run is staged under OUT/.staging/<run id>/ and published only when every
        # blocking check passed (issue 6); see RunSettings.table_path.
        self._run_id = context.run_id or ""
        if not self._run_id:
            yield self
            return
        settings = self.settings()
        prepare_output(settings.out_dir)
        with OutputLock(settings.out_dir, self._run_id) as lock:
            if lock.previous:
                context.log.warning(lock.stale_message())
                if context.instance is not None:
                    settle_dead_run(context.instance, lock.previous.get("run_id", ""), lock.stale_message())
            # Once per run: a multiprocess run initializes this resource in every step's process; only
            # its first step (before the input manifest exists) cleans, never a step sharing the lock.
            if not lock.shared and not input_manifest_written(settings.staging_dir):
                cleaned = clean_leftovers(settings.warehouse, settings.keep_snapshots)
                if cleaned.removed:
                    context.log.info(f"cleaned leftovers of earlier runs: {', '.join(cleaned.removed)}")
                if cleaned.unpublished and context.instance is not None:  # listed in run_summary.json (issue 21)
                    context.instance.add_run_tags(self._run_id, {
                        f"{TAG_PREFIX}{UNPUBLISHED_TAG}": ",".join(cleaned.unpublished)})
            sync = _remote_pull(context, settings)  # issue 12: tables from the object store, if one is set
            self._inputs = staged_input_manifest(settings.input_dir, settings.staging_dir, not self.quiet)
            if context.instance is not None:  # the input as a run tag: runs on the same input share it
                digest = manifest_digest(self._inputs)
                context.instance.add_run_tags(self._run_id, {f"{TAG_PREFIX}input_digest": digest})
            yield self
            _remote_push(context, sync)

    def settings(self) -> RunSettings:
        values = {s.name: s.from_plain(getattr(self, s.name)) for s in run_settings()}
        return RunSettings(**values, run_tag=self._run_id)

    def methodology(self) -> Methodology:
        return load_methodology(self.performance_year, self.config_file or None)

    def input_manifest(self) -> list[dict]:
        """Name, size and SHA-256 of every input file, as hashed when the run started."""
        return self._inputs

    @classmethod
    def from_settings(cls, settings: RunSettings) -> "AsmResource":
        return cls(**{s.name: s.to_plain(getattr(settings, s.name)) for s in run_settings()})


# --------------------------------------------------------------------------------------------
# The object store (assets.runtime.remote): pull before a step, push after a successful one

PUSH_FAILED = "remote push failed"


def _remote_pull(context: InitResourceContext, settings: RunSettings) -> StepSync | None:
    sync = open_sync(settings.remote_url, settings.out_dir, settings.run_tag, settings.keep_snapshots)
    if sync is None:
        return None
    earlier = push_failure(context.instance, settings.run_tag) if context.instance is not None else ""
    if earlier:  # its tables are not in the store: reading on would fall back to older published tables
        raise RemoteError(f"an earlier step of this run could not push its tables ({earlier}); run again")
    selection = context.dagster_run.asset_selection if context.dagster_run is not None else None
    writes = {key.to_user_string() for key in selection} if selection is not None else None  # None: every asset
    context.log.info(sync.pull(writes).line(f"pulled from {sync.store.url}"))
    return sync


def _remote_push(context: InitResourceContext, sync: StepSync | None) -> None:
    """Dagster tears a resource down after the step, even a failed one, and a teardown error does not
    fail the step: a failed push is logged (PUSH_FAILED), and later steps and `asm run` refuse to go on."""
    if sync is None or _step_failed(context):
        return
    try:
        context.log.info(sync.push().line(f"pushed to {sync.store.url}"))
    except RemoteError as exc:
        context.log.error(f"{PUSH_FAILED}: {exc}")
        raise


def _step_failed(context: InitResourceContext) -> bool:
    """Whether a step of this run failed while the resource was up (then nothing is pushed)."""
    instance = context.instance
    return instance is not None and bool(instance.get_records_for_run(
        context.run_id, of_type=DagsterEventType.STEP_FAILURE, limit=1).records)


def push_failure(instance, run_id: str) -> str:
    """The one-line reason of a failed push in run `run_id`, or ''."""
    for entry in instance.all_logs(run_id):
        if entry.level >= 40 and (entry.user_message or "").startswith(PUSH_FAILED):
            return entry.user_message.removeprefix(f"{PUSH_FAILED}: ")
    return ""
