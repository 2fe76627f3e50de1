"""The methodology configuration: one typed, versioned model of every rule parameter, keyed by PY.

`schema` declares each parameter once (type, range, description, rule id); `loading` reads
data/methodology/methodology.toml and a user's --config, merges and validates them into a `Methodology`
(one-line `MethodologyError` naming the file and the key); `docs` renders docs/methodology-parameters.md
(`python -m pipelines.engine.methodology --markdown`). The public names are re-exported here.
"""
from pipelines.engine.methodology.docs import parameter_rows, render_markdown
from pipelines.engine.methodology.loading import (BASE_FILE, FILE_KEYS, Methodology, MethodologyError, _deep_merge,
                                                  load_methodology)
from pipelines.engine.methodology.schema import (DEFAULT_PERFORMANCE_YEAR, PERFORMANCE_YEARS, SECTIONS,
                                                 AdmissionParams, AttributionParams, BenchmarkParams, CostParams,
                                                 EligibilityParams, EpisodeParams, IngestParams, MethodologyParams,
                                                 PaymentParams, ProjectionParams, QualityParams, RiskParams,
                                                 ScoringParams, SteeringParams)

__all__ = ["BASE_FILE", "DEFAULT_PERFORMANCE_YEAR", "FILE_KEYS", "PERFORMANCE_YEARS", "SECTIONS", "AdmissionParams",
           "AttributionParams", "BenchmarkParams", "CostParams", "EligibilityParams", "EpisodeParams", "IngestParams",
           "Methodology", "MethodologyError", "MethodologyParams", "PaymentParams", "ProjectionParams", "QualityParams",
           "RiskParams", "ScoringParams", "SteeringParams", "_deep_merge", "load_methodology", "parameter_rows", "render_markdown"]

