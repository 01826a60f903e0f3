"""A stage submitted with spark-submit to a real standalone cluster (master and worker on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pyspark
import pytest

from jobs.dist import build_zip
from tests.conftest import ROOT, shared

pytestmark = pytest.mark.cluster
SPARK_HOME = Path(pyspark.__file__).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise TimeoutError(f"timed out waiting for {what}")


def _master_state(ui_port: int) -> dict:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=2) as r:
            return json.load(r)
    except OSError:
        return {}


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    work = tmp_path_factory.mktemp("standalone")
    env = {**os.environ, "SPARK_HOME": str(SPARK_HOME), "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable,
           "SPARK_LOG_DIR": str(work / "logs"), "SPARK_NO_DAEMONIZE": "1"}
    port, ui, worker_ui = _free_port(), _free_port(), _free_port()
    spark_class = str(SPARK_HOME / "bin" / "spark-class")
    logs = open(work / "cluster.log", "wb")
    master = subprocess.Popen([spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(ui)],
                              env=env, stdout=logs, stderr=subprocess.STDOUT)
    worker = subprocess.Popen([spark_class, "org.apache.spark.deploy.worker.Worker", f"spark://127.0.0.1:{port}", "--host", "127.0.0.1",
                               "--cores", "2", "--memory", "2g", "--webui-port", str(worker_ui), "--work-dir", str(work / "worker")],
                              env=env, stdout=logs, stderr=subprocess.STDOUT)
    try:
        _wait(lambda: _master_state(ui).get("aliveworkers", 0) >= 1, 90, "the standalone worker to register")
        yield f"spark://127.0.0.1:{port}", env, work, ui
    finally:
        for proc in (worker, master):
            proc.terminate()
        for proc in (worker, master):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        logs.close()


def test_extract_through_spark_submit_on_a_standalone_cluster(standalone):
    master, env, work, ui = standalone
    zip_path = build_zip(work / "teleflm.zip")
    out = work / "out"
    src = shared("warc", "resiliparse", "tests", "data", "warcfile.warc.gz")
    cmd = [str(SPARK_HOME / "bin" / "spark-submit"), "--master", master, "--py-files", str(zip_path),
           "--conf", "spark.ui.enabled=false", "--conf", f"spark.pyspark.python={sys.executable}",
           "--executor-memory", "1g", str(ROOT / "jobs" / "extract.py"), "--input", str(src), "--output", str(out)]
    proc = subprocess.run(cmd, env=env, cwd=work, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    stats = json.loads((out / "_stats.json").read_text())
    assert stats["counters"]["docs_out"] >= 10 and (out / "_SUCCESS").exists()
    # The application really ran on the cluster, and its executors finished cleanly.
    _wait(lambda: _master_state(ui).get("completedapps"), 30, "the master to record the finished application")
    apps = _master_state(ui)["completedapps"]
    assert [a["name"] for a in apps] == ["teleflm-extract"] and apps[0]["state"] == "FINISHED"
