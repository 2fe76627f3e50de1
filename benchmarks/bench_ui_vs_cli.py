"""A run launched from the UI (GraphQL `launchRun`, as the Launchpad does) against `asm run`, on the same
input and output folder, in the same Dagster instance (issue 11 item 2: aim within 1.2x).

    .venv/bin/python benchmarks/bench_ui_vs_cli.py [--input IN] [--pairs 2] [--port 3333] [--workdir /tmp/asm_bench_ui]

Without --input, the demo input is generated (`asm generate --scale small --seed 42`). Each pair runs
`asm run --quiet` (wall time of the command, a fresh process as a person types it), then launches the
`asm_all` job through the GraphQL API of `dagster dev` (webserver + daemon, DAGSTER_HOME = OUT/.dagster,
the instance `asm run` records into) and polls it to completion (wall time from the launch request to
SUCCESS, queueing included). Before the first UI run it checks through GraphQL that the UI shows the
CLI run's materializations and check results. Prints every time, the medians and their ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

ASSET_QUERY = """
query ($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    ... on AssetNode {
      assetMaterializations(limit: 1) { runId }
      assetChecksOrError { ... on AssetChecks { checks { name executionForLatestMaterialization { runId status } } } }
    }
  }
}"""


def cli_run(inp: Path, out: Path) -> tuple[float, str]:
    t0 = time.perf_counter()
    subprocess.run([str(BIN / "asm"), "run", "--input", str(inp), "--out", str(out), "--quiet"], check=True,
                   stdout=subprocess.DEVNULL, cwd=REPO)
    seconds = time.perf_counter() - t0
    return seconds, json.loads((out / "run_summary.json").read_text())["run_id"]


def start_ui(inp: Path, out: Path, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "DAGSTER_HOME": str(out / ".dagster"), "ASM_INPUT_DIR": str(inp), "ASM_OUT_DIR": str(out)}
    proc = subprocess.Popen([str(BIN / "dagster"), "dev", "-m", "assets.definitions", "-p", str(port)], cwd=REPO,
                            env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
    return proc


def wait_for_graphql(client, proc, timeout: float = 240) -> None:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"dagster dev exited with {proc.returncode}")
        try:
            client._execute("query { version }")
            return
        except Exception:
            time.sleep(1)
    raise SystemExit("dagster dev did not answer in time")


def ui_run(client) -> tuple[float, str]:
    from dagster import DagsterRunStatus

    t0 = time.perf_counter()
    run_id = client.submit_job_execution("asm_all")
    while True:
        status = client.get_run_status(run_id)
        if status in (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED):
            break
        time.sleep(0.5)
    seconds = time.perf_counter() - t0
    if status != DagsterRunStatus.SUCCESS:
        raise SystemExit(f"UI run {run_id} ended {status}")
    return seconds, run_id


def shown_in_ui(client, asset: str) -> dict:
    data = client._execute(ASSET_QUERY, {"path": [asset]})["assetNodeOrError"]
    checks = data["assetChecksOrError"]["checks"]
    return {"materialized_by": data["assetMaterializations"][0]["runId"],
            "checks": {c["name"]: (c["executionForLatestMaterialization"] or {}).get("status") for c in checks}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", type=Path)
    p.add_argument("--pairs", type=int, default=2)
    p.add_argument("--port", type=int, default=3333)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/asm_bench_ui"))
    args = p.parse_args()
    from dagster_graphql import DagsterGraphQLClient

    args.workdir.mkdir(parents=True, exist_ok=True)
    inp = args.input or args.workdir / "input"
    if not args.input and not inp.is_dir():
        subprocess.run([str(BIN / "asm"), "generate", "--out", str(inp), "--scale", "small", "--seed", "42", "--quiet"],
                       check=True, cwd=REPO)
    out = args.workdir / "out"
    shutil.rmtree(out, ignore_errors=True)
    cli_s, ui_s = [], []
    seconds, cli_id = cli_run(inp, out)
    cli_s.append(seconds)
    print(f"asm run        {seconds:7.1f} s  (run {cli_id})", flush=True)
    proc = start_ui(inp, out, args.port, args.workdir / "dagster_dev.log")
    try:
        client = DagsterGraphQLClient("127.0.0.1", port_number=args.port)
        wait_for_graphql(client, proc)
        shown = shown_in_ui(client, "partb_lines")
        print(f"UI shows partb_lines materialized by run {shown['materialized_by']} "
              f"({'the asm run' if shown['materialized_by'] == cli_id else 'ANOTHER RUN'}), checks {shown['checks']}")
        for i in range(args.pairs):
            if i:
                seconds, cli_id = cli_run(inp, out)
                cli_s.append(seconds)
                print(f"asm run        {seconds:7.1f} s  (run {cli_id})", flush=True)
            seconds, ui_id = ui_run(client)
            ui_s.append(seconds)
            print(f"UI launchRun   {seconds:7.1f} s  (run {ui_id})", flush=True)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    cli_m, ui_m = statistics.median(cli_s), statistics.median(ui_s)
    print(f"median asm run {cli_m:.1f} s, median UI run {ui_m:.1f} s, ratio UI / CLI = {ui_m / cli_m:.2f}")


if __name__ == "__main__":
    main()
