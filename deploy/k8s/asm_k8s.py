"""The Dagster code location for Kubernetes (docs/scale-out.md): the assets, checks, job, schedule and sensor
of `assets.definitions`, with
  - every step in its own pod: dagster-k8s `k8s_job_executor`, configured by executor.yaml beside this file;
  - the tables a step writes moving through the object store ASM_REMOTE_URL (assets.runtime.remote), required here;
  - the small values steps hand each other (op outputs) in the same store: dagster-aws S3PickleIOManager
    under <ASM_REMOTE_URL>/dagster-io (the default file-system IO manager would write them to the step pod's
    own disk, where the next pod cannot read them).
Served by `dagster api grpc --python-file deploy/k8s/asm_k8s.py` (the Helm chart's user deployment,
deploy/k8s/values.yaml). Settings from the ASM_* variables (pipelines.engine.settings.settings_from_env).
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import yaml
from dagster import Definitions, ScheduleDefinition
from dagster_aws.s3 import S3PickleIOManager, S3Resource
from dagster_k8s import k8s_job_executor

from assets.definitions import ALL_JOB, build_definitions
from pipelines.engine.settings import RunSettings, settings_from_env

EXECUTOR_CONFIG = Path(__file__).with_name("executor.yaml")
IO_PREFIX = "dagster-io"


def io_manager(remote_url: str) -> S3PickleIOManager:
    """Op outputs as pickles under <remote_url>/dagster-io; endpoint and credentials from the AWS_* variables."""
    parts = urlsplit(remote_url)
    prefix = "/".join(p for p in (parts.path.strip("/"), IO_PREFIX) if p)
    return S3PickleIOManager(s3_resource=S3Resource(), s3_bucket=parts.netloc, s3_prefix=prefix)


def k8s_definitions(settings: RunSettings, executor_config: dict) -> Definitions:
    if not settings.remote_url:
        raise ValueError("ASM_REMOTE_URL is not set: on Kubernetes every step runs in its own pod, and the "
                         "pods exchange tables through the object store (docs/scale-out.md)")
    base = build_definitions(settings)
    executor = k8s_job_executor.configured(executor_config, name="asm_k8s")
    io = io_manager(settings.remote_url)
    job = base.resolve_job_def(ALL_JOB)
    job = job.with_executor_def(executor).with_top_level_resources({**job.resource_defs, "io_manager": io.get_resource_definition()})
    schedules = [ScheduleDefinition(name=s.name, job=job, cron_schedule=s.cron_schedule, description=s.description,
                                    default_status=s.default_status) for s in base.schedules or []]
    return Definitions(assets=base.assets, asset_checks=base.asset_checks, jobs=[job], schedules=schedules,
                       sensors=base.sensors, resources={**(base.resources or {}), "io_manager": io},
                       executor=executor, loggers=base.loggers)


def load_executor_config(path: Path = EXECUTOR_CONFIG) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


defs = k8s_definitions(settings_from_env(), load_executor_config())
