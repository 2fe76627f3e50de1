"""The Dagster resource every asset uses: where the run reads and writes, and the methodology."""
from __future__ import annotations

from dagster import ConfigurableResource, InitResourceContext
from pydantic import PrivateAttr

from pipelines.methodology import Methodology, load_methodology
from pipelines.settings import RunSettings


class AsmResource(ConfigurableResource):
    """Run configuration (set by `asm run`, or ASM_* environment variables under `dagster dev`)."""

    input_dir: str
    out_dir: str
    performance_year: int = 2027
    config_file: str = ""
    threads: int = 0
    memory_limit: str = ""
    quiet: bool = True
    tins: list[str] = []
    _run_id: str = PrivateAttr(default="")

    def setup_for_execution(self, context: InitResourceContext) -> None:
        # Every table of a run is staged under OUT/.staging/<run id>/ and published only when every
        # blocking check passed (issue 6); see RunSettings.table_path.
        self._run_id = context.run_id or ""

    def settings(self) -> RunSettings:
        return RunSettings(
            input_dir=self.input_dir, out_dir=self.out_dir, performance_year=self.performance_year,
            config_file=self.config_file or None, threads=self.threads, memory_limit=self.memory_limit,
            quiet=self.quiet, tins=tuple(self.tins), run_tag=self._run_id,
        )

    def methodology(self) -> Methodology:
        return load_methodology(self.performance_year, self.config_file or None)

    @classmethod
    def from_settings(cls, s: RunSettings) -> "AsmResource":
        return cls(
            input_dir=str(s.input_dir), out_dir=str(s.out_dir), performance_year=s.performance_year,
            config_file=str(s.config_file or ""), threads=s.threads, memory_limit=s.memory_limit,
            quiet=s.quiet, tins=list(s.tins),
        )
