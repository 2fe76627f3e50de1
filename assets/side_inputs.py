"""The run's inputs that no asset writes, as observable source assets (pipelines.engine.registry.SIDE_INPUTS):
the claims deliveries, each side file of the input folder and CMS's reference files. Each observation's data
version is the SHA-256 of the file (the claims: of their names, sizes and modification times, so a
100M-line input is not read to observe it); a changed attestation file therefore marks exactly the
assets that read it, and what depends on them, stale."""
from __future__ import annotations

import hashlib
from pathlib import Path

from dagster import AssetSpec, DataVersion, ObserveResult, multi_observable_source_asset

from assets._common import code_references
from assets.runtime.resources import AsmResource
from pipelines.engine.ingest.files import SIDE_FILES, discover
from pipelines.engine.reference import resolve_dir
from pipelines.engine.provenance import file_sha256
from pipelines.engine.registry import CLAIMS, CMS_REFERENCE, SIDE_INPUTS

GROUP = "side_inputs"
ABSENT = "absent"
DESCRIPTIONS = {
    CLAIMS: "The claims deliveries of the input folder (CCLF1/4/5/8/9 or RIF carrier files) that ingest reads.",
    CMS_REFERENCE: "CMS's published reference files the methodology names: MIPS quality benchmarks, national "
                   "average costs and the measure list (collection types).",
    **{kind: f"{name} in the input folder (optional side file)" for name, kind in SIDE_FILES.items()},
}
FILE_OF = {kind: name for name, kind in SIDE_FILES.items()}


def _digest(parts: list[str]) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest() if parts else ABSENT


def data_version(source: str, asm: AsmResource) -> str:
    """The data version of one side input as the input folder holds it now."""
    settings = asm.settings()
    if source == CLAIMS:
        files = [f for f in discover(settings.input_dir) if f.kind not in (*SIDE_FILES.values(), "ignored")]
        return _digest([f"{f.name}:{f.path.stat().st_size}:{f.path.stat().st_mtime_ns}" for f in files])
    if source == CMS_REFERENCE:
        m = asm.methodology()
        paths = [resolve_dir(p) for p in (m.quality.cms_measures_file, m.projection.quality_benchmarks_file,
                                            m.projection.cost_averages_file)]
        return _digest([f"{p.name}:{file_sha256(p)}" for p in paths if Path(p).is_file()])
    path = Path(settings.input_dir) / FILE_OF[source]
    return file_sha256(path) if path.is_file() else ABSENT


REFERENCES = code_references("assets/side_inputs.py", ("pipelines/engine/ingest/files.py",))


@multi_observable_source_asset(specs=[AssetSpec(s, group_name=GROUP, description=DESCRIPTIONS[s], metadata=REFERENCES)
                                      for s in SIDE_INPUTS],
                               name="observe_side_inputs", can_subset=True)
def side_input_assets(context, asm: AsmResource):
    for key in context.selected_asset_keys:
        yield ObserveResult(asset_key=key, data_version=DataVersion(data_version(key.to_user_string(), asm)))
