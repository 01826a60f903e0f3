"""A Spark standalone master and workers on 127.0.0.1, started from pyspark's own SPARK_HOME: the real
cluster the tests and ``make bench-scale`` submit to (the same ``spark-submit --py-files`` path as on a
production master)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def master_state(ui_port: int) -> dict:
    """The master's status page as JSON (``aliveworkers``, ``completedapps``, ...); empty when unreachable."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=2) as r:
            return json.load(r)
    except OSError:
        return {}


class Standalone:
    """A master and ``workers`` workers (``cores`` cores, ``memory`` each), logs under ``work``; ``env``
    is the environment to submit with (no PYTHONPATH: executors import the project from ``--py-files``
    only). Raises ``RuntimeError`` when the workers do not register; ``stop`` (or the ``with`` block's
    end) terminates them."""

    def __init__(self, work: Path, workers: int = 2, cores: int = 1, memory: str = "2g"):
        import pyspark

        self.home = Path(pyspark.__file__).parent
        work.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "SPARK_HOME": str(self.home), "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable,
                    "SPARK_LOG_DIR": str(work / "logs"), "SPARK_NO_DAEMONIZE": "1"}
        self.env.pop("PYTHONPATH", None)
        port, self.ui = free_port(), free_port()
        self.master = f"spark://127.0.0.1:{port}"
        spark_class = str(self.home / "bin" / "spark-class")
        self._log = open(work / "cluster.log", "wb")
        self.procs = [subprocess.Popen([spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
                                        "--webui-port", str(self.ui)], env=self.env, stdout=self._log, stderr=subprocess.STDOUT)]
        for w in range(workers):
            self.procs.append(subprocess.Popen(
                [spark_class, "org.apache.spark.deploy.worker.Worker", self.master, "--host", "127.0.0.1", "--cores", str(cores),
                 "--memory", memory, "--webui-port", str(free_port()), "--work-dir", str(work / f"worker-{w}")],
                env=self.env, stdout=self._log, stderr=subprocess.STDOUT))  # fmt: skip
        self.workers, self.cores, self.memory = workers, cores, memory
        deadline = time.monotonic() + 120
        while master_state(self.ui).get("aliveworkers", 0) < workers:
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                self.stop()
                raise RuntimeError(f"the standalone cluster did not come up (see {work / 'cluster.log'})")
            time.sleep(0.5)

    def __enter__(self) -> "Standalone":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._log.close()
