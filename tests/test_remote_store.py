"""The output folder in object storage (issue 12 item 4, assets/runtime/remote.py), against a local S3-compatible
server this module starts (moto's, from PyPI `moto[server]`, on 127.0.0.1):

- push/pull move only changed files (size + S3 ETag; same size and new bytes still move), skip temporary
  names, copy inside the store what it already holds, write the `current` object after the snapshot,
  and leave nothing half-written (S3 shows an object only whole; downloads are renamed into place);
- errors are one line (missing bucket, unreachable endpoint, no credentials) and never show credentials;
- the resource pushes after a successful step only, and a failed push is recorded (later steps refuse);
- the multi-machine story on one machine: ingest in output folder A, the rest of the graph in an empty
  output folder B with the same run id (the input folder only read for its side files, as a read-only
  mount on every pod), equal to a plain local run table by table.
"""
from __future__ import annotations

import logging
import os
import uuid
from functools import lru_cache
from pathlib import Path

import pytest

moto_server = pytest.importorskip("moto.server", reason="moto[server] is not installed (pip install -e '.[test]')")
pytest.importorskip("s3fs", reason="s3fs is not installed (pip install -e '.[test]')")

import boto3  # noqa: E402  (installed with s3fs)

from assets.runtime.remote import RemoteError, RemoteStore, StepSync, local_etag  # noqa: E402
from pipelines.engine.snapshots import publish_run  # noqa: E402
from pipelines.engine.warehouse import OutFolder  # noqa: E402
from tests.report_run import small_run  # noqa: E402
from tests.test_deploy import _free_port  # noqa: E402

SECRET = "not-a-real-secret-but-never-printed"


@pytest.fixture(scope="module")
def s3_server():
    """moto's S3 server on a free loopback port; yields the AWS_* environment pointing at it."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "us-east-1"}
    try:
        yield env
    finally:
        server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch):
    """A new bucket on the server (the AWS_* environment set for this test); yields its s3:// URL."""
    for key, value in s3_server.items():
        monkeypatch.setenv(key, value)
    bucket = f"asm-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/team"


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _staging(out: Path, run_id: str) -> dict[str, Path]:
    """A run's staged files: a file table, a folder table (one file per shard), the input manifest, and a
    temporary file an interrupted write left (never moved)."""
    st = out / ".staging" / run_id
    return {
        "episodes": _write(st / "episodes.parquet", b"E" * 5000),
        "shard0": _write(st / "partb_lines.parquet" / "00000.parquet", b"P0" * 3000),
        "shard1": _write(st / "partb_lines.parquet" / "00001.parquet", b"P1" * 3000),
        "inputs": _write(st / ".inputs.json", b'[{"file": "a"}]'),
        "tmp": _write(st / ".episodes.parquet.0a1b2c3d.tmp", b"half"),
    }


# ---------------------------------------------------------------------------------------------- unit


def test_push_then_pull_move_only_changed_files(s3, tmp_path):
    a, b = tmp_path / "A", tmp_path / "B"
    files = _staging(a, "r1")
    sync = StepSync(RemoteStore(s3), a, "r1")
    assert sync.pull().files == 0  # an empty store
    first = sync.push()
    assert (first.files, first.unchanged, first.bytes) == (4, 0, 5000 + 6000 + 6000 + 15)  # not the .tmp
    again = sync.push()
    assert (again.files, again.unchanged) == (0, 4)
    files["shard1"].write_bytes(b"Q1" * 3000)  # same size, other bytes: the ETag tells
    changed = sync.push()
    assert (changed.files, changed.unchanged, changed.bytes) == (1, 3, 6000)

    other = StepSync(RemoteStore(s3), b, "r1")  # another machine, empty OUT, same run
    pulled = other.pull()
    assert (pulled.files, pulled.unchanged) == (4, 0)
    for name in ("episodes", "shard0", "shard1", "inputs"):
        rel = files[name].relative_to(a)
        assert (b / rel).read_bytes() == files[name].read_bytes(), rel
    assert not any(p.name.endswith(".tmp") for p in b.rglob("*"))
    assert other.pull().files == 0  # nothing changed since


def test_parallel_steps_keep_each_others_files_and_a_removed_file_is_removed(s3, tmp_path):
    """Two shard steps on two machines add their own files to one folder table; neither removes the
    other's. A file a step removes locally after pulling it (publish moves staging away) goes."""
    a, b, c = tmp_path / "A", tmp_path / "B", tmp_path / "C"
    one, two = StepSync(RemoteStore(s3), a, "r1"), StepSync(RemoteStore(s3), b, "r1")
    one.pull(), two.pull()
    _write(a / ".staging/r1/episodes.parquet/shard_0.parquet", b"zero")
    _write(b / ".staging/r1/episodes.parquet/shard_1.parquet", b"one")
    one.push(), two.push()
    three = StepSync(RemoteStore(s3), c, "r1")
    assert three.pull().files == 2
    (c / ".staging/r1/episodes.parquet/shard_0.parquet").unlink()
    assert three.push().deleted == 1
    assert sorted(RemoteStore(s3).listing(".staging/r1")) == [".staging/r1/episodes.parquet/shard_1.parquet"]


def test_publish_copies_in_the_store_switches_current_and_another_machine_reads_it(s3, tmp_path):
    a, c = tmp_path / "A", tmp_path / "C"
    _staging(a, "r1")
    store = RemoteStore(s3)
    sync = StepSync(store, a, "r1")
    sync.pull()
    sync.push()
    assert store.current() is None  # nothing published yet
    publish_run(OutFolder(a, "r1"), extra_files={"provenance.json": "{}\n"})  # staging -> snapshots/r1
    done = sync.push()
    assert done.copied == 3  # the staged tables: already in the store, copied there, not uploaded again
    mark = (a / "snapshots" / "r1" / ".published").stat().st_size  # written at the switch (issue 21)
    assert done.files == 2 and done.bytes == 3 + mark  # provenance.json and the .published mark only
    assert store.current() == "r1"
    assert store.listing(".staging") == {}  # superseded by the publish, as in OUT
    later = StepSync(store, c, "r2")  # a later run of part of the graph reads the tables it does not write
    assert later.pull(writes={"partb_lines"}).files == 3  # episodes.parquet, provenance.json, .published
    assert (c / "warehouse" / "episodes.parquet").read_bytes() == b"E" * 5000
    assert not (c / "warehouse" / "partb_lines.parquet").exists()
    assert os.readlink(c / "current") == "snapshots/r1"
    whole_run = StepSync(store, tmp_path / "D", "r3")  # a run of the whole graph writes every table itself
    assert whole_run.pull(writes=None).files == 0 and not (tmp_path / "D" / "snapshots").exists()


def test_old_snapshots_beyond_keep_are_removed_from_the_store(s3, tmp_path):
    store = RemoteStore(s3)
    for n, run in enumerate(("r1", "r2", "r3")):
        out = tmp_path / run  # each run on a fresh machine: it pulls only the current snapshot
        sync = StepSync(store, out, run, keep_snapshots=2)
        sync.pull()
        _write(out / ".staging" / run / "t.parquet", f"run {n}".encode())
        publish_run(OutFolder(out, run), keep_snapshots=2)
        sync.push()
    names = {rel.split("/")[1] for rel in store.listing("snapshots")}
    assert store.current() == "r3" and names == {"r2", "r3"}


def test_nothing_half_written_when_a_transfer_fails(s3, tmp_path, monkeypatch):
    """Publishing: every snapshot file goes before the `current` object, so a push that fails midway leaves
    the store's current snapshot as it was. S3 shows an object only once whole: an upload never completed
    (as s3fs aborts a failed multipart upload) leaves no object. A download that fails leaves no file."""
    a = tmp_path / "A"
    _staging(a, "r1")
    store = RemoteStore(s3)
    sync = StepSync(store, a, "r1")
    sync.pull()
    publish_run(OutFolder(a, "r1"), extra_files={"provenance.json": "{}\n"})

    def fail(files):
        raise RemoteError("cannot reach the object store (test)")
    monkeypatch.setattr(store, "upload", fail)
    with pytest.raises(RemoteError):
        sync.push()
    assert store.current() is None

    client = boto3.client("s3")
    bucket = s3.removeprefix("s3://").split("/")[0]
    upload = client.create_multipart_upload(Bucket=bucket, Key="team/big.parquet")
    client.upload_part(Bucket=bucket, Key="team/big.parquet", UploadId=upload["UploadId"], PartNumber=1,
                       Body=b"x" * (5 * 2**20))
    assert "team/big.parquet" not in store.listing("big.parquet") and not store.call(
        store.fs.exists, f"{bucket}/team/big.parquet")

    monkeypatch.undo()
    sync.push()
    b = tmp_path / "B"

    def broken_get(rpaths, lpaths):
        Path(lpaths[0]).write_bytes(b"partial")
        raise OSError("connection reset")
    monkeypatch.setattr(store.fs, "get", broken_get)
    with pytest.raises(RemoteError, match="connection reset"):
        StepSync(store, b, "r2").pull(writes=set())
    assert not [p for p in b.rglob("*") if p.is_file()]  # neither the target nor the temporary file


def test_local_etag_is_the_etag_s3_gives_single_and_multipart(s3, tmp_path):
    """A file of 2 parts or more goes up in 50 MiB parts (ETag "<md5 of part md5s>-<parts>")."""
    small = _write(tmp_path / "small.bin", os.urandom(3 * 2**20))
    big = _write(tmp_path / "big.bin", os.urandom(101 * 2**20))
    store = RemoteStore(s3)
    store.upload({"small.bin": small, "big.bin": big})
    listing = {**store.listing("small.bin"), **store.listing("big.bin")}
    assert listing["small.bin"]["etag"] == local_etag(small) and "-" not in local_etag(small)
    assert listing["big.bin"]["etag"] == local_etag(big) and local_etag(big).endswith("-3")


def test_store_errors_are_one_line_without_credentials(s3, s3_server, monkeypatch, tmp_path):
    bucket_gone = RemoteStore("s3://no-such-bucket-asm/x")
    with pytest.raises(RemoteError, match="bucket no-such-bucket-asm not found") as exc:
        bucket_gone.check()
    messages = [str(exc.value)]
    with pytest.raises(RemoteError, match="is not s3://bucket"):
        RemoteStore("/local/folder")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_free_port()}")  # nothing listens there
    with pytest.raises(RemoteError, match="cannot reach the object store") as exc:
        RemoteStore(s3).check()
    messages.append(str(exc.value))
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server["AWS_ENDPOINT_URL"])
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(RemoteError, match="no credentials") as exc:
        RemoteStore(s3).check()
    messages.append(str(exc.value))
    for message in messages:
        assert "\n" not in message and SECRET not in message and "Traceback" not in message


def test_asm_run_refuses_an_unusable_store_in_one_line(s3, tmp_path, capsys):
    from pipelines.cli import main

    (tmp_path / "in").mkdir()
    rc = main(["run", "--input", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--quiet",
               "--remote-url", "s3://no-such-bucket-asm/prefix"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1 and "bucket no-such-bucket-asm not found" in err, err
    assert not (tmp_path / "out").exists()  # refused before the run started


def test_remote_module_has_no_dagster_import():
    import ast

    import assets.runtime.remote

    tree = ast.parse(Path(assets.runtime.remote.__file__).read_text())
    modules = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert modules and not {m for m in modules if m.split(".")[0] == "dagster"}


# ---------------------------------------------------------------------------------------------- the resource


@lru_cache(maxsize=None)
def _toy_asset(fail: bool):
    """One step that writes a staged table through the resource, then fails or not."""
    from dagster import asset

    import polars as pl

    @asset(name="toy_fails" if fail else "toy", required_resource_keys={"asm"})
    def toy(context):
        context.resources.asm.settings().warehouse.write("toy", pl.DataFrame({"tin": ["1"]}))
        if fail:
            raise RuntimeError("the step failed after writing")

    return toy


def _toy_job(tmp_path: Path, remote_url: str, fail: bool):
    from dagster import Definitions, define_asset_job, in_process_executor

    from assets.runtime.resources import AsmResource

    (tmp_path / "in").mkdir(exist_ok=True)
    resource = AsmResource(input_dir=str(tmp_path / "in"), out_dir=str(tmp_path / "out"), remote_url=remote_url)
    defs = Definitions(assets=[_toy_asset(fail)], jobs=[define_asset_job("toy_job", executor_def=in_process_executor)],
                       resources={"asm": resource})
    return defs.resolve_job_def("toy_job")


def test_resource_pushes_after_a_successful_step_only(s3, tmp_path):
    from dagster import DagsterInstance

    store = RemoteStore(s3)
    with DagsterInstance.ephemeral() as instance:
        ok = _toy_job(tmp_path, s3, fail=False).execute_in_process(instance=instance)
        assert ok.success
        assert f".staging/{ok.run_id}/toy.parquet" in store.listing(f".staging/{ok.run_id}")
        bad = _toy_job(tmp_path, s3, fail=True).execute_in_process(instance=instance, raise_on_error=False)
        assert not bad.success
        assert store.listing(f".staging/{bad.run_id}") == {}  # written locally, never pushed


def test_a_failed_push_is_recorded_and_later_steps_refuse(s3, tmp_path, monkeypatch):
    """Dagster does not fail a step whose resource teardown raised: the push failure is logged, and the
    next step of the run (its resource pulling) and `asm run` find it and refuse to read older tables."""
    from dagster import DagsterInstance, build_init_resource_context

    from assets.runtime.resources import _remote_pull, push_failure
    from pipelines.engine.settings import RunSettings

    def no_store(self):
        raise RemoteError("cannot reach the object store s3://x (endpoint y): check AWS_ENDPOINT_URL")
    monkeypatch.setattr(StepSync, "push", no_store)
    with DagsterInstance.ephemeral() as instance:
        result = _toy_job(tmp_path, s3, fail=False).execute_in_process(instance=instance, raise_on_error=False)
        assert "cannot reach the object store s3://x" in push_failure(instance, result.run_id)
        settings = RunSettings(input_dir=tmp_path / "in", out_dir=tmp_path / "next", run_tag=result.run_id,
                               remote_url=s3)
        context = build_init_resource_context(instance=instance)
        with pytest.raises(RemoteError, match="an earlier step of this run could not push"):
            _remote_pull(context, settings)


# ---------------------------------------------------------------------------------------------- two machines


@pytest.mark.slow
def test_ingest_on_one_machine_rest_on_another_equals_the_local_run(s3, tmp_path, monkeypatch):
    """Machine A runs ingest (N1-N6) with the store on; machine B, an empty output folder, runs every other
    step of the same run from the tables it pulls (the input folder is still read by scoring for its side
    files, Q/S: a read-only mount on every pod); B's published tables equal a plain local run's
    (pipelines.engine.compare), and a third machine reads the published warehouse from the store."""
    from dagster import AssetKey

    from pipelines.engine.compare import compare_warehouses
    from assets.definitions import ALL_JOB, build_definitions
    from pipelines.engine.ingest import INGEST_TABLES
    from assets.runtime.runrecord import open_instance
    from pipelines.engine.settings import RunSettings

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    local, _ = small_run()
    run_id = str(uuid.uuid4())
    ingest = {AssetKey(t) for t in INGEST_TABLES}

    def machine(out: Path, input_dir: Path, select) -> None:
        settings = RunSettings(input_dir=input_dir, out_dir=out, threads=2, quiet=True, remote_url=s3)
        job = build_definitions(settings).resolve_job_def(ALL_JOB)
        keys = sorted(select(set(job.asset_layer.asset_graph.get_all_asset_keys())))
        with open_instance(out) as instance:
            result = job.execute_in_process(instance=instance, run_id=run_id, asset_selection=keys,
                                            raise_on_error=False)
        assert result.success, [e.message for e in result.all_events if e.is_failure][:3]

    machine(tmp_path / "A", local.input_dir, lambda keys: ingest)
    store = RemoteStore(s3)
    staged = {rel.split("/")[2] for rel in store.listing(f".staging/{run_id}")}
    assert {f"{t}.parquet" for t in INGEST_TABLES} <= staged and store.current() is None
    machine(tmp_path / "B", local.input_dir, lambda keys: keys - ingest)
    assert not (tmp_path / "B" / ".ingest").exists()  # B staged no claims file: it pulled the ingest tables
    assert store.current() == run_id and store.listing(".staging") == {}

    diffs = compare_warehouses(local.warehouse_dir, tmp_path / "B" / "warehouse")
    assert len(diffs) >= 30 and all(d.identical for d in diffs), [d.line() for d in diffs if not d.identical]
    reader = StepSync(store, tmp_path / "C", "a-later-run")
    reader.pull(writes=set())  # a run writing nothing: it reads every published table
    again = compare_warehouses(local.warehouse_dir, tmp_path / "C" / "warehouse")
    assert all(d.identical for d in again) and len(again) == len(diffs)
