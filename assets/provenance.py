"""Run provenance and the run summary, written by the job itself so a CLI, UI or scheduled run all
leave the same record:

- `run_provenance`: what an auditor cites (run id, input folder, every input file's name, size and
  SHA-256, config file, methodology label and fingerprint, package version, git commit, each asset's
  code version); in publish's metadata, the snapshot's provenance.json and run_summary.json;
- the `run_summary` asset (after publish) and the failure hook (any failed step) write
  OUT/run_summary.json from the run's events in the instance (assets.runtime.runrecord).
"""
from __future__ import annotations

from dagster import AssetDep, HookContext, MaterializeResult, MetadataValue, asset, failure_hook

from assets._common import code_references
from pipelines.engine.provenance import manifest_digest, run_identity, stage_code_version
from assets.runtime.resources import AsmResource
from assets.runtime.runrecord import build_summary, performance_year_warnings, write_summary
from pipelines.engine.scoring.risk import hcc_library_version
from pipelines.engine.warehouse import write_text

RUN_SUMMARY_ASSET = "run_summary"
SOURCES = ("assets/runtime/runrecord.py", "pipelines/engine/provenance.py", "pipelines/engine/errors.py")


def run_provenance(context, asm: AsmResource, code_versions: dict[str, str]) -> dict:
    settings, m = asm.settings(), asm.methodology()
    inputs = asm.input_manifest()
    return {
        "run_id": context.run_id,
        **run_identity(settings.input_dir, settings.out_dir, settings.performance_year, settings.config_file, m),
        "input_files": inputs, "input_digest": manifest_digest(inputs),
        "hcc_library": hcc_library_version(), "code_versions": code_versions,
        # issue 21: what the run was told to accept although the gates would stop it
        "accepted": {"incomplete": list(settings.accept_incomplete), "amounts": settings.accept_amounts},
    }


def provenance_metadata(p: dict) -> dict:
    files = "| file | bytes | SHA-256 |\n|---|---|---|\n" + "\n".join(
        f"| {f['file']} | {f['bytes']} | {f['sha256']} |" for f in p["input_files"])
    return {
        "run_id": p["run_id"], "input_dir": MetadataValue.path(p["input_dir"]),
        "input_files": MetadataValue.md(files), "input_digest": p["input_digest"],
        "config_file": p["config_file"] or "none (data/methodology/methodology.toml)",
        "methodology_label": p["methodology_label"], "methodology_fingerprint": p["methodology_fingerprint"],
        "package_version": p["package_version"], "git_commit": p["git_commit"] or "not a git checkout",
        "code_versions": MetadataValue.json(p["code_versions"]),
        "accepted": MetadataValue.json(p["accepted"]),
    }


def run_summary_asset(code_versions: dict[str, str]):
    @asset(name=RUN_SUMMARY_ASSET, deps=[AssetDep("publish")], group_name="publish", kinds={"json"},
           description="OUT/run_summary.json: outcome, provenance, every table's metadata and every check "
                       "result of this run (also copied into the published snapshot).",
           code_version=stage_code_version(SOURCES, "run"), metadata=code_references("assets/provenance.py", SOURCES))
    def run_summary(context, asm: AsmResource):
        settings = asm.settings()
        summary = build_summary(context.instance, context.run_id, settings.out_dir, success=True,
                                provenance=run_provenance(context, asm, code_versions),
                                extra={"warnings": performance_year_warnings(settings)})
        for warning in summary["warnings"]:
            context.log.warning(warning)
        path = write_summary(settings.out_dir, summary)
        snapshot = settings.warehouse.current_snapshot()
        if snapshot is not None and snapshot.name == context.run_id:
            write_text(snapshot / path.name, path.read_text())
        return MaterializeResult(metadata={"path": MetadataValue.path(str(path)),
                                           "warnings": MetadataValue.json(summary["warnings"])})

    return run_summary


def summary_on_failure(code_versions: dict[str, str]):
    @failure_hook(name="asm_run_summary_on_failure", required_resource_keys={"asm"})
    def _write(context: HookContext):
        asm = context.resources.asm
        settings = asm.settings()
        try:
            provenance = run_provenance(context, asm, code_versions)
        except Exception:  # the summary of a failed run never hides its failure
            provenance = {}
        write_summary(settings.out_dir, build_summary(context.instance, context.run_id, settings.out_dir,
                                                      success=False, provenance=provenance))

    return _write
