"""A sweep on a real two-node Ray cluster (head + worker, ``ray start`` on this machine, token
authentication on) storing to an S3 server (moto, on loopback), submitted with ``ray job submit``:
rows say which node ran them, everything reaches the bucket, ``autoembed report s3://`` reads it,
and three faults — the worker node SIGKILLed, the driver SIGKILLed, the object store stopped —
each end with every trial's rows exactly once and no finished trial re-run.

Skipped where moto or a Ray cluster cannot start, except under CI (``CI`` set): a failure.
Each fault test prints one line of the fault table (``-s`` shows it).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sweep_helpers import unavailable

from cluster import RAY, S3Server, TwoNodeCluster

pytestmark = [pytest.mark.ray, pytest.mark.slow]
SPEC = "tests/fixtures/cluster_sweep.yaml"  # 4 trials x 4 epochs
SLOW_SPEC = "tests/fixtures/cluster_slow_sweep.yaml"  # 4 trials x 4 epochs of ~3 s
PLUGIN_SPEC = "tests/fixtures/cluster_plugin_sweep.yaml"  # 2 freq_tiered trials on the worker
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "plugin-method"
TRIALS, SLOW_EPOCHS = 4, 4
STORAGE = "s3://autoembed/sweeps"


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    try:
        import boto3  # noqa: F401
        from moto.server import ThreadedMotoServer  # noqa: F401
    except ImportError as exc:
        unavailable("cluster tests", f"moto[server] not installed ({exc}): pip install -e '.[test]'")
    server = S3Server().start()
    server.create_bucket()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cluster(s3: S3Server) -> Iterator[TwoNodeCluster]:
    nodes = TwoNodeCluster(s3.env)
    try:
        try:
            nodes.start()
        except RuntimeError as exc:
            unavailable("cluster tests", f"two-node Ray cluster did not start: {exc}")
        yield nodes
    finally:
        nodes.stop()


def _read(s3: S3Server, key: str) -> bytes:
    import boto3

    client = boto3.client("s3", **{"endpoint_url": s3.env["AWS_ENDPOINT_URL"],
                                   "region_name": "us-east-1", "aws_access_key_id": "test",
                                   "aws_secret_access_key": "test"})
    return client.get_object(Bucket=s3.bucket, Key=key)["Body"].read()


def _bucket_table(s3: S3Server, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(results rows, epoch log) as the bucket holds them."""
    rows = pd.read_parquet(io.BytesIO(_read(s3, f"sweeps/{name}/results.parquet")))
    epochs = pd.read_csv(io.BytesIO(_read(s3, f"sweeps/{name}/epochs.csv")), dtype={"trial_id": str})
    return rows, epochs


def _checkpointed(s3: S3Server, name: str) -> set[str]:
    """Trials with at least one checkpoint in the bucket."""
    return {k.split("/")[2] for k in s3.keys(f"sweeps/{name}/") if "/checkpoint_" in k}


def _wait(condition, timeout: float = 240, what: str = "") -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.5)
    return time.monotonic()


def _submit(cluster: TwoNodeCluster, args: list[str], sid: str | None = None, wait: bool = True,
            env: dict[str, str] | None = None):
    out = cluster.submit(["sweep", *args, "--address", "auto", "--quiet"], wait=wait,
                         submission_id=sid, runtime_env={"env_vars": env} if env else None)
    if wait:
        assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    return out


def _check_complete(rows: pd.DataFrame, epochs: pd.DataFrame, folder: Path) -> dict[str, int]:
    """Every trial's one row present exactly once, no finished trial re-run; the restart counts."""
    from autoembed.tune.results_store import restarts

    assert (rows["status"] == "ok").all(), rows[["trial_id", "status", "error"]]
    assert rows["trial_id"].nunique() == TRIALS and len(rows) == TRIALS  # one 'train' row each
    assert not rows.duplicated(["trial_id", "phase", "point"]).any()
    epochs.to_csv(folder / "epochs.csv", index=False)
    counts = restarts(folder)
    assert counts["finished_rerun"] == 0
    return counts


def _recovery(epochs: pd.DataFrame, fault_time: float, trials=None) -> float:
    """Seconds from the fault to the first epoch reported after it (by one of ``trials``)."""
    after = epochs[(epochs["time"] > fault_time) & (epochs["phase"] != "done")]
    if trials is not None:
        after = after[after["trial_id"].isin(trials)]
    return float(after["time"].min() - fault_time)


def _fault_line(fault: str, rows: pd.DataFrame, epochs: pd.DataFrame, counts: dict[str, int],
                recovery_s: float) -> None:
    """One line of the fault table; nodes: those that trained an epoch of the sweep."""
    print(f"\nFAULT | {fault} | trials {rows['trial_id'].nunique()} | nodes {epochs['node_id'].nunique()}"
          f" | lost 0 | duplicated {int(rows.duplicated(['trial_id', 'phase', 'point']).sum())}"
          f" | finished re-run {counts['finished_rerun']} | epochs twice {counts['epochs_twice']}"
          f" | fault->recovery {recovery_s:.1f}s", file=sys.stderr)


def test_sweep_spreads_over_both_nodes_and_lands_in_the_bucket(cluster, s3, tmp_path) -> None:
    _submit(cluster, [SPEC, "--storage-path", STORAGE, "--name", "spread"])
    rows, epochs = _bucket_table(s3, "spread")
    _check_complete(rows, epochs, tmp_path)
    head, worker = (cluster.node_id(r) for r in (cluster.HEAD_RESOURCE, cluster.WORKER_RESOURCE))
    assert set(rows["node_id"]) <= {head, worker}  # placement on both: the worker-kill test
    assert (rows["device"] == "cpu").all() and rows["hostname"].str.len().min() > 0
    keys = s3.keys("sweeps/spread/")
    for name in ("sweep_spec.yaml", "environment.json", "results.csv", "epochs.csv",
                 "artifacts/synthetic/feature_counts.npy"):
        assert f"sweeps/spread/{name}" in keys, name
    assert len(_checkpointed(s3, "spread")) == TRIALS
    # the worker node never parsed the data: trials read it from Ray's object store
    assert not any(cluster.worker_cache.rglob("*.npy"))
    env = {**os.environ, **s3.env}
    report = subprocess.run([sys.executable, "-m", "autoembed", "report", f"{STORAGE}/spread"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr[-3000:]
    md = (tmp_path / "results" / "spread" / "report" / "report.md").read_text()
    assert f"{TRIALS} rows" in md and "spread" in md  # the bucket's table, reported here


def _last_results(s3: S3Server, name: str) -> pd.DataFrame:
    """Each trial's last reported result in Tune's experiment state in the bucket (synced by
    the driver every ``TUNE_GLOBAL_CHECKPOINT_S``): trial_id, epoch, node_id, done."""
    keys = sorted(k for k in s3.keys(f"sweeps/{name}/") if "/experiment_state-" in k)
    results = []
    if keys:
        with contextlib.suppress(Exception):  # absent or mid-rewrite: nothing seen yet
            state = json.loads(_read(s3, keys[-1]))
            results = [json.loads(meta).get("last_result") or {} for _, meta in state["trial_data"]]
    return pd.DataFrame([{"trial_id": r.get("trial_id"), "epoch": int(r.get("epoch", 0) or 0),
                          "node_id": r.get("node_id", ""), "done": "done_rows" in r}
                         for r in results], columns=["trial_id", "epoch", "node_id", "done"])


def _running_on(cluster: TwoNodeCluster, s3: S3Server, name: str, node: str) -> list[str]:
    """Trials whose last report came from ``node`` with two epochs or more left (so still
    running when the node is killed), whose trainable actor the state API shows ALIVE there."""
    last = _last_results(s3, name)
    there = last[(last["node_id"] == node) & ~last["done"]
                 & last["epoch"].between(1, SLOW_EPOCHS - 2)]
    trials = list(there["trial_id"])
    if trials and not cluster.actors_on(node):
        return []
    return trials


def test_worker_node_killed_trials_resume_on_the_head(cluster, s3, tmp_path) -> None:
    """Deterministic: the node is killed only once a trial has reported an epoch from it (Tune's
    experiment state in the bucket) with epochs left to run, and its actor is ALIVE there."""
    sid = f"workerkill-{os.getpid()}"
    head, worker = (cluster.node_id(r) for r in (cluster.HEAD_RESOURCE, cluster.WORKER_RESOURCE))
    _submit(cluster, [SLOW_SPEC, "--storage-path", STORAGE, "--name", "workerkill"], sid,
            wait=False, env={"TUNE_GLOBAL_CHECKPOINT_S": "1"})
    _wait(lambda: _running_on(cluster, s3, "workerkill", worker), what="a trial running on the "
          "worker node with an epoch reported")
    killed = time.time()
    cluster.kill_worker()
    assert cluster.wait_job(sid) == "SUCCEEDED", cluster.log("head")
    rows, epochs = _bucket_table(s3, "workerkill")
    counts = _check_complete(rows, epochs, tmp_path)
    log = epochs[epochs["phase"] != "done"]
    before = log[(log["node_id"] == worker) & (log["time"] <= killed)]
    final = rows.set_index("trial_id")["node_id"]
    moved = [t for t in before["trial_id"].unique() if final[t] != worker]
    assert moved, epochs
    for trial in moved:  # finished on the head, restarted from its last checkpoint, not epoch 1
        assert final[trial] == head
        after = log[(log["trial_id"] == trial) & (log["node_id"] != worker)]
        assert after["epoch"].min() >= before.loc[before["trial_id"] == trial, "epoch"].max(), log
    elsewhere = epochs[epochs["node_id"] != worker]  # a report in flight at the kill is no recovery
    _fault_line("worker node SIGKILL", rows, epochs, counts, _recovery(elsewhere, killed, moved))
    cluster.start_worker()  # back to two nodes for the next test


def test_plugin_wheel_shipped_by_runtime_env_trains_on_the_worker(cluster, s3, tmp_path) -> None:
    """The example plugin, built as a wheel here and installed nowhere, reaches the nodes through
    the job's ``runtime_env`` ``py_modules``; the entry-point registry finds ``freq_tiered``
    on the driver and in trials pinned to the worker node (``resources.custom``)."""
    from autoembed.plugins import entry_points

    assert "freq_tiered" not in {ep.name for ep in entry_points("autoembed.methods")}
    source = tmp_path / "plugin"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index",
                            "--no-build-isolation", "-w", str(tmp_path / "dist"), str(source)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    out = cluster.submit(["sweep", PLUGIN_SPEC, "--storage-path", STORAGE, "--name", "plugin",
                          "--address", "auto", "--quiet"], runtime_env={"py_modules": [str(wheel)]})
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    rows, _ = _bucket_table(s3, "plugin")
    assert len(rows) == 2 and (rows["status"] == "ok").all(), rows[["status", "error"]]
    assert (rows["method"] == "freq_tiered").all()
    assert set(rows["node_id"]) == {cluster.node_id(cluster.WORKER_RESOURCE)}


def test_driver_killed_resume_from_the_bucket_finishes(cluster, s3, tmp_path) -> None:
    sid = f"driverkill-{os.getpid()}"
    # Tune's experiment state reaches the bucket every second (default: adaptive, ~10 s), so the
    # kill lands mid-sweep with the trials already in the stored state; the slow sweep (~3 s
    # epochs) keeps trials running when it lands (the tiny one could finish first in CI)
    _submit(cluster, [SLOW_SPEC, "--storage-path", STORAGE, "--name", "driverkill"], sid, wait=False,
            env={"TUNE_GLOBAL_CHECKPOINT_S": "1"})
    _wait(lambda: len(_checkpointed(s3, "driverkill")) >= 2, what="two trials' checkpoints")
    cluster.kill_driver(sid)  # looks the driver's pid up first (a second or so)
    killed = time.time()
    assert cluster.wait_job(sid, timeout=120) == "FAILED"
    _submit(cluster, ["--resume", f"{STORAGE}/driverkill"])  # a fresh driver, nothing local
    rows, epochs = _bucket_table(s3, "driverkill")
    counts = _check_complete(rows, epochs, tmp_path)
    assert (epochs["time"] > killed).any()  # the fresh driver trained what was left
    _fault_line("driver SIGKILL + resume", rows, epochs, counts, _recovery(epochs, killed))


def test_object_store_outage_never_corrupts_and_resume_completes(cluster, s3, tmp_path) -> None:
    sid = f"outage-{os.getpid()}"
    _submit(cluster, [SPEC, "--storage-path", STORAGE, "--name", "outage"], sid, wait=False)
    _wait(lambda: len(_checkpointed(s3, "outage")) >= 1, what="a first checkpoint")
    stopped = time.time()
    s3.stop()
    time.sleep(8)
    s3.start()
    status = cluster.wait_job(sid)
    # finished through retries, or failed with a clear storage error; the table is whole
    if status != "SUCCEEDED":
        logs = subprocess.run([str(RAY), "job",
                               "logs", "--address", cluster.dashboard, sid], env=cluster.env,
                              capture_output=True, text=True, timeout=60).stdout
        assert "storage" in logs.lower() or "s3" in logs.lower(), logs[-3000:]
        _submit(cluster, ["--resume", f"{STORAGE}/outage"])
    rows, epochs = _bucket_table(s3, "outage")
    counts = _check_complete(rows, epochs, tmp_path)
    _fault_line(f"object store stopped 8 s ({status.lower()} first)", rows, epochs, counts,
                _recovery(epochs, stopped))

