"""The Kubernetes setup (issue 12 item 4, deploy/k8s/, docs/scale-out.md), checked with Dagster's own config
machinery, without a cluster:

- deploy/k8s/dagster.yaml passes Dagster's instance schema, its run launcher and compute-log manager pass
  their classes' schemas (dagster-k8s K8sRunLauncher, dagster-aws S3ComputeLogManager), and the instance
  opens on a real PostgreSQL server (the one tests/test_deploy.py starts) and records a run;
- deploy/k8s/executor.yaml is valid run config for the asm_all job of assets.definitions with dagster-k8s's
  k8s_job_executor (one pod per step), and its per-step entries name real steps;
- the code location deploy/k8s/asm_k8s.py loads: the job with the k8s executor, the S3 IO manager for op
  outputs under ASM_REMOTE_URL (a round trip against moto's S3 server), and refuses to load without a store;
- the Helm values and the ConfigMap agree with what the code reads (ASM_* variables, mounts, names).
A broken copy of each file is refused, so each check can fail.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

pytest.importorskip("dagster_k8s", reason="dagster-k8s is not installed (pip install -e '.[test]')")
pytest.importorskip("dagster_aws", reason="dagster-aws is not installed (pip install -e '.[test]')")

from dagster import DagsterInstance, Definitions, asset, define_asset_job, in_process_executor  # noqa: E402
from dagster._config import validate_config  # noqa: E402
from dagster._core.errors import DagsterInvalidConfigError  # noqa: E402
from dagster._core.execution.validate_run_config import validate_run_config  # noqa: E402
from dagster._core.instance.config import dagster_instance_config  # noqa: E402
from dagster_aws.s3.compute_log_manager import S3ComputeLogManager  # noqa: E402
from dagster_k8s import K8sRunLauncher, k8s_job_executor  # noqa: E402

from assets.definitions import ALL_JOB, build_definitions  # noqa: E402
from pipelines.engine.settings import RunSettings  # noqa: E402
from tests.test_deploy import postgres  # noqa: E402,F401  (the PostgreSQL server fixture)
from tests.test_remote_store import s3, s3_server  # noqa: E402,F401  (moto's S3 server)

K8S = Path(__file__).resolve().parents[1] / "deploy" / "k8s"
INSTANCE_ENV = {"ASM_LOG_BUCKET": "asm-logs"}


def _yaml(name: str) -> dict:
    return yaml.safe_load((K8S / name).read_text())


def _home(tmp_path: Path, config: dict) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return home


def _load_location(monkeypatch, **env):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    spec = importlib.util.spec_from_file_location("asm_k8s_under_test", K8S / "asm_k8s.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------------------------- instance


def test_k8s_instance_yaml_passes_dagster_and_its_classes_schemas(tmp_path, monkeypatch):
    for key, value in INSTANCE_ENV.items():
        monkeypatch.setenv(key, value)
    config, _ = dagster_instance_config(str(_home(tmp_path, _yaml("dagster.yaml"))))
    assert config["run_launcher"]["class"] == "K8sRunLauncher" and "postgres" in config["storage"]
    launcher = validate_config(K8sRunLauncher.config_type(), config["run_launcher"]["config"])
    assert launcher.success, launcher.errors
    logs = validate_config(S3ComputeLogManager.config_type(), config["compute_logs"]["config"])
    assert logs.success, logs.errors

    broken = _yaml("dagster.yaml")
    broken["run_launcher"]["config"]["job_namespaces"] = broken["run_launcher"]["config"].pop("job_namespace")
    assert not validate_config(K8sRunLauncher.config_type(), broken["run_launcher"]["config"]).success
    broken = _yaml("dagster.yaml")
    broken["storage"]["postgres"]["postgres_db"]["hostnme"] = "db"
    with pytest.raises(DagsterInvalidConfigError):
        dagster_instance_config(str(_home(tmp_path / "broken", broken)))


@asset
def toy_k8s_table():
    return 1


def test_k8s_instance_opens_on_postgres_and_records_a_run(postgres, tmp_path, monkeypatch):  # noqa: F811
    """The storage part as written; the run launcher (needs a cluster) and the compute-log manager (needs
    a bucket) left to the defaults for this in-process run."""
    for key, value in {**postgres, **INSTANCE_ENV}.items():
        monkeypatch.setenv(key, value)
    config = {k: v for k, v in _yaml("dagster.yaml").items() if k not in ("run_launcher", "compute_logs")}
    with DagsterInstance.from_config(str(_home(tmp_path, config))) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1
        job = Definitions(assets=[toy_k8s_table], jobs=[define_asset_job("toy", executor_def=in_process_executor)]
                          ).resolve_job_def("toy")
        result = job.execute_in_process(instance=instance)
        assert result.success and instance.get_run_by_id(result.run_id) is not None


# ---------------------------------------------------------------------------------------------- executor


@pytest.fixture(scope="module")
def asm_job():
    settings = RunSettings(input_dir=Path("in"), out_dir=Path("out"), remote_url="s3://asm/prefix")
    return build_definitions(settings).resolve_job_def(ALL_JOB)


def test_executor_yaml_is_valid_run_config_for_the_job_on_k8s_job_executor(asm_job):
    job = asm_job.with_executor_def(k8s_job_executor)
    executor = _yaml("executor.yaml")
    resolved = validate_run_config(job, {"execution": {"config": executor}})
    assert resolved["execution"]["k8s"]["max_concurrent"] == executor["max_concurrent"]
    steps = {node.name for node in asm_job.nodes}
    assert set(executor["per_step_k8s_config"]) <= steps, set(executor["per_step_k8s_config"]) - steps
    mounts = {m["name"] for m in executor["step_k8s_config"]["container_config"]["volume_mounts"]}
    assert mounts == {v["name"] for v in executor["step_k8s_config"]["pod_spec_config"]["volumes"]}

    broken = {**executor, "max_concurent": 8}
    with pytest.raises(DagsterInvalidConfigError):
        validate_run_config(job, {"execution": {"config": broken}})


def test_k8s_code_location_runs_each_step_in_a_pod_with_op_outputs_in_s3(monkeypatch):
    location = _load_location(monkeypatch, ASM_REMOTE_URL="s3://asm-warehouse/prod", ASM_OUT_DIR="/scratch/out")
    job = location.defs.resolve_job_def(ALL_JOB)
    assert job.executor_def.name == "asm_k8s"  # k8s_job_executor configured with executor.yaml
    assert validate_run_config(job, {})  # nothing left to configure per run
    io = location.io_manager("s3://asm-warehouse/prod")
    assert (io.s3_bucket, io.s3_prefix) == ("asm-warehouse", "prod/dagster-io")
    assert type(job.resource_defs["io_manager"]).__name__.startswith("ConfigurableIOManager")
    assert location.defs.resolve_schedule_def("asm_nightly").job_name == ALL_JOB

    monkeypatch.delenv("ASM_REMOTE_URL")
    with pytest.raises(ValueError, match="ASM_REMOTE_URL is not set"):
        _load_location(monkeypatch)


def test_op_outputs_round_trip_through_the_s3_io_manager(s3, monkeypatch):  # noqa: F811
    from dagster import materialize

    location = _load_location(monkeypatch, ASM_REMOTE_URL=s3)

    @asset
    def shard_rows():
        return {"shard": 0, "rows": 123}

    @asset
    def total_rows(shard_rows):
        return shard_rows["rows"] + 1

    result = materialize([shard_rows, total_rows], resources={"io_manager": location.io_manager(s3)})
    assert result.success and result.output_for_node("total_rows") == 124
    import boto3

    bucket = s3.removeprefix("s3://").split("/")[0]
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert "team/dagster-io/shard_rows" in keys, keys


# ---------------------------------------------------------------------------------------------- helm, env


def test_helm_values_and_env_configmap_agree_with_the_code():
    from pipelines.engine.settings import settings_from_env

    env_docs = list(yaml.safe_load_all((K8S / "asm-env.yaml").read_text()))
    configmap = next(d for d in env_docs if d["kind"] == "ConfigMap")
    secret = next(d for d in env_docs if d["kind"] == "Secret")
    env = configmap["data"]
    read_by_code = {"ASM_REMOTE_URL", "ASM_OUT_DIR", "ASM_INPUT_DIR", "ASM_PERFORMANCE_YEAR", "ASM_MEMORY_LIMIT",
                    "ASM_THREADS", "ASM_STEP_RETRIES"}
    assert read_by_code <= set(env), read_by_code - set(env)
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(secret["stringData"])
    assert not {k for k in env if "SECRET" in k or "KEY_ID" in k}  # credentials only in the Secret
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        settings = settings_from_env()
    assert settings.remote_url == env["ASM_REMOTE_URL"] and str(settings.out_dir) == env["ASM_OUT_DIR"]

    executor, instance, values = _yaml("executor.yaml"), _yaml("dagster.yaml"), _yaml("values.yaml")
    mounts = executor["step_k8s_config"]["container_config"]["volume_mounts"]
    assert any(env["ASM_OUT_DIR"].startswith(m["mount_path"] + "/") for m in mounts)
    assert any(m["mount_path"] == env["ASM_INPUT_DIR"] and m.get("read_only") for m in mounts)
    names = (configmap["metadata"]["name"], secret["metadata"]["name"])
    assert (executor["env_config_maps"][0], executor["env_secrets"][0]) == names
    launcher = instance["run_launcher"]["config"]
    assert (launcher["env_config_maps"][0], launcher["env_secrets"][0]) == names
    deployment = values["dagster-user-deployments"]["deployments"][0]
    assert (deployment["envConfigMaps"][0]["name"], deployment["envSecrets"][0]["name"]) == names
    args = deployment["dagsterApiGrpcArgs"]
    assert (K8S.parents[1] / Path(args[args.index("--python-file") + 1]).relative_to("/app")).is_file()
    assert values["runLauncher"]["type"] == instance["run_launcher"]["class"]
    assert (values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]["maxConcurrentRuns"]
            == instance["run_coordinator"]["config"]["max_concurrent_runs"])
