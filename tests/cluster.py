"""A real two-node Ray cluster and an S3 server, both on this machine, for the cluster tests.

- :class:`S3Server`: moto's standalone S3 server on 127.0.0.1; clients find it the way users find
  theirs (``AWS_ENDPOINT_URL`` and the usual AWS variables). Stopped and started again, it keeps
  its objects (an outage, not a loss).
- :class:`TwoNodeCluster`: ``ray start --head`` and ``ray start --address`` (a worker), each with
  one CPU and its own custom resource, token authentication on (``RAY_AUTH_MODE=token``, the
  token in a file named by ``RAY_AUTH_TOKEN_PATH``, on both nodes and for every client). Each
  node runs in its own process group, so ``kill_worker`` SIGKILLs exactly the worker's raylet
  and workers, and ``stop`` ends exactly what was started. Both bind this machine's interface
  address: Ray resolves loopback to it for multi-node clusters.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RAY = BIN / "ray"
EXCLUDES = [".venv", ".git", "results", "**/__pycache__", "*.egg-info", "dist", "build", ".ci",
            "examples/plugin-method/build"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def node_ip() -> str:
    """This machine's interface address (what Ray uses for a node; no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            return s.getsockname()[0]
        except OSError:
            return "127.0.0.1"


class S3Server:
    def __init__(self, bucket: str = "autoembed") -> None:
        self.bucket = bucket
        self.port = free_port()
        self._server = None
        self.env = {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.port}", "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def start(self) -> S3Server:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        return self

    def create_bucket(self) -> None:
        import boto3

        boto3.client("s3", endpoint_url=self.env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                     aws_access_key_id="test", aws_secret_access_key="test",
                     ).create_bucket(Bucket=self.bucket)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def keys(self, prefix: str = "") -> list[str]:
        import boto3

        s3 = boto3.client("s3", endpoint_url=self.env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]


class TwoNodeCluster:
    HEAD_RESOURCE, WORKER_RESOURCE = "ae_head", "ae_worker"

    def __init__(self, env: dict[str, str]) -> None:
        self.state = Path(tempfile.mkdtemp(prefix="ae2n-", dir="/tmp"))  # short: socket paths
        self.ip = node_ip()
        self.gcs_port, self.dash_port = free_port(), free_port()
        token = self.state / "auth_token"
        token.write_text(secrets.token_hex(32))
        token.chmod(0o600)
        self.worker_cache = self.state / "worker-cache"  # the worker node's own data cache
        # PIP_NO_DEPS: a py_modules wheel is installed with `pip install --target`, which would
        # also fetch its dependencies (a plugin's `autoembed`) although the nodes have them
        self.env = {**os.environ, **env, "RAY_AUTH_MODE": "token", "PIP_NO_DEPS": "1",
                    "RAY_AUTH_TOKEN_PATH": str(token), "RAY_USAGE_STATS_ENABLED": "0",
                    "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        for key in ("RAY_ADDRESS", "RAY_AUTH_TOKEN"):
            self.env.pop(key, None)
        self.procs: dict[str, subprocess.Popen] = {}

    @property
    def dashboard(self) -> str:
        return f"http://{self.ip}:{self.dash_port}"

    def _start(self, role: str, args: list[str], env: dict[str, str], cpus: int = 1) -> None:
        ports = {f"--{p}": str(free_port()) for p in (
            "node-manager-port", "object-manager-port", "metrics-export-port",
            "dashboard-agent-listen-port", "dashboard-agent-grpc-port", "runtime-env-agent-port")}
        cmd = [str(RAY), "start", "--block", f"--node-ip-address={self.ip}", f"--num-cpus={cpus}",
               "--object-store-memory=150000000", "--min-worker-port=0", "--max-worker-port=0",
               *[f"{k}={v}" for k, v in ports.items()], *args]
        log = (self.state / f"{role}.log").open("w")
        self.procs[role] = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def start_worker(self) -> None:
        env = {**self.env, "AUTOEMBED_CACHE": str(self.worker_cache)}
        # its own temp dir: on one machine the nodes would otherwise share (and garbage-collect)
        # each other's unpacked runtime environments, the job's working dir among them
        self._start("worker", [f"--address={self.ip}:{self.gcs_port}",
                               f"--temp-dir={self.state / 'wtmp'}",
                               f"--resources={json.dumps({self.WORKER_RESOURCE: 1})}"], env)
        self.wait_nodes(2)
        self.warm()

    def start(self, worker: bool = True) -> TwoNodeCluster:
        """Head and worker (one CPU each); ``worker=False``: the head alone with both CPUs (the
        same cores on one node, for comparison)."""
        self._start("head", ["--head", f"--port={self.gcs_port}", f"--dashboard-host={self.ip}",
                             f"--dashboard-port={self.dash_port}", "--include-dashboard=true",
                             f"--ray-client-server-port={free_port()}",
                             f"--temp-dir={self.state / 'tmp'}",
                             f"--resources={json.dumps({self.HEAD_RESOURCE: 1})}"], self.env,
                    cpus=1 if worker else 2)
        self.wait_nodes(1)
        if worker:
            self.start_worker()
        return self

    def warm(self, resource: str = WORKER_RESOURCE) -> None:
        """Unpack the project's working dir on the head and the node with ``resource`` (a
        one-task job pinned there), so a sweep's first trials start as fast as later ones."""
        code = (f"import ray; ray.init(); f = ray.remote(resources={{'{resource}': 1}})"
                "(lambda: 1); assert ray.get(f.remote()) == 1")
        env = {"excludes": EXCLUDES}
        out = subprocess.run([str(RAY), "job", "submit", "--address", self.dashboard,
                              "--working-dir", str(ROOT), "--runtime-env-json", json.dumps(env),
                              "--", "python", "-c", code], cwd=ROOT, env=self.env,
                             capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise RuntimeError(f"warm-up job failed: {(out.stdout + out.stderr)[-2000:]}")

    def nodes(self) -> list[dict]:
        """Alive nodes as the job server sees them (with the token)."""
        return self._list("nodes", "state=ALIVE")

    def wait_nodes(self, n: int, timeout: float = 120) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for role, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"ray {role} exited: {self.log(role)}")
            nodes = self.nodes()
            if len(nodes) >= n:
                return nodes
            time.sleep(1)
        raise RuntimeError(f"{n} Ray node(s) not up after {timeout}s: {self.log('head')}")

    def node_id(self, resource: str) -> str:
        return next(n["node_id"] for n in self.nodes() if resource in n["resources_total"])

    def log(self, role: str) -> str:
        path = self.state / f"{role}.log"
        return path.read_text()[-3000:] if path.exists() else ""

    def kill_worker(self) -> None:
        """SIGKILL the worker node: its ``ray start``, raylet and every worker process."""
        self._kill("worker", signal.SIGKILL)

    def _kill(self, role: str, sig: int) -> None:
        proc = self.procs.pop(role, None)
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)

    def stop(self) -> None:
        for role in ("worker", "head"):
            if role in self.procs:
                try:
                    os.killpg(self.procs[role].pid, signal.SIGTERM)
                    self.procs[role].wait(timeout=20)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
                self._kill(role, signal.SIGKILL)
        shutil.rmtree(self.state, ignore_errors=True)

    def _list(self, what: str, *filters: str) -> list[dict]:
        """``ray list WHAT`` as the job server sees it (with the token)."""
        out = subprocess.run([str(RAY), "list", what, "--address", self.dashboard, "--format",
                              "json", *[a for f in filters for a in ("--filter", f)]],
                             env=self.env, capture_output=True, text=True, timeout=60)
        text = out.stdout[out.stdout.find("["):] if "[" in out.stdout else ""
        return json.loads(text) if out.returncode == 0 and text else []

    def actors_on(self, node_id: str) -> list[dict]:
        """Actors ALIVE on node ``node_id`` (the state API; on the worker: trial trainables)."""
        return self._list("actors", "state=ALIVE", f"node_id={node_id}")

    def job(self, submission_id: str) -> dict:
        return next((j for j in self._list("jobs") if j.get("submission_id") == submission_id), {})

    def wait_job(self, submission_id: str, timeout: float = 600) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.job(submission_id).get("status", "")
            if status in ("SUCCEEDED", "FAILED", "STOPPED"):
                return status
            time.sleep(2)
        return "TIMEOUT"

    def kill_driver(self, submission_id: str) -> None:
        """SIGKILL the job's driver process (the sweep), leaving the cluster up."""
        pid = int(self.job(submission_id)["driver_info"]["pid"])
        os.kill(pid, signal.SIGKILL)

    def submit(self, args: list[str], *, wait: bool = True, runtime_env: dict | None = None,
               submission_id: str | None = None, timeout: float = 600,
               ) -> subprocess.CompletedProcess:
        """``ray job submit`` of ``python -m autoembed ARGS`` (the token from the client's env)."""
        env = {"excludes": EXCLUDES, **(runtime_env or {})}
        cmd = [str(RAY), "job", "submit", "--address", self.dashboard, "--working-dir", str(ROOT),
               "--runtime-env-json", json.dumps(env), *([] if wait else ["--no-wait"]),
               *(["--submission-id", submission_id] if submission_id else []),
               "--", "python", "-m", "autoembed", *args]
        return subprocess.run(cmd, cwd=ROOT, env=self.env, capture_output=True, text=True,
                              timeout=timeout)
