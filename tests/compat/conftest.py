"""Shared fixtures: a real `brook server` process on an ephemeral loopback
port with its own data directory, stopped (by PID) after each test."""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BROOK_TEST_BINARY = os.environ.get("BROOK_TEST_BINARY", str(ROOT / "target" / "debug" / "brook"))


_ISSUED_PORTS = set()


def free_port():
    """An ephemeral loopback port no earlier call in this process returned.
    The kernel may hand a just-closed port out again, and a cluster asks for
    several ports before any process binds them (two nodes once got the same
    controller port)."""
    for _ in range(1000):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _ISSUED_PORTS:
            _ISSUED_PORTS.add(port)
            return port
    raise RuntimeError("no unused ephemeral port found in 1000 tries")


def stop_process(proc, sig=signal.SIGTERM, timeout=30):
    """Signals a process we started (by PID) and waits for it; if it has not
    exited within `timeout`, kills it and raises TimeoutExpired."""
    if proc is None or proc.poll() is not None:
        return None
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        raise


class Brook:
    """One broker process. `settings` are Kafka property names."""

    def __init__(self, data_dir, settings=None):
        self.data_dir = Path(data_dir)
        self.port = free_port()
        self.admin_port = free_port()
        self.settings = dict(settings or {})
        self.proc = None
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-broker.log"

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    @property
    def admin_url(self):
        """The admin HTTP listener: /metrics, /health/*, the console."""
        return f"http://127.0.0.1:{self.admin_port}"

    def start(self, timeout=30):
        args = [BROOK_TEST_BINARY, "server", "--set", f"log.dirs={self.data_dir}",
                "--set", f"listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "--set", f"admin.http.listener={self.admin_url}"]
        for k, v in self.settings.items():
            args += ["--set", f"{k}={v}"]
        log = open(self.log_path, "ab")
        # The broker treats every BROOK_* variable as a property: pass none but the log filter.
        env = {k: v for k, v in os.environ.items() if not k.startswith("BROOK_") or k == "BROOK_LOG"}
        self.proc = subprocess.Popen(args, stdout=log, stderr=log, env=env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("broker did not start listening in time:\n" + self.log())

    def stop(self, sig=signal.SIGTERM, timeout=30):
        return stop_process(self.proc, sig, timeout)

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def restart(self):
        self.stop()
        return self.start()

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")[-20000:]
        except OSError:
            return ""


@pytest.fixture
def brook_factory(tmp_path):
    started = []

    def make(settings=None, name="data"):
        b = Brook(tmp_path / name, settings)
        started.append(b)
        return b

    yield make
    for b in started:
        try:
            b.stop(signal.SIGKILL)
        except Exception:
            pass


@pytest.fixture
def brook(brook_factory):
    return brook_factory().start()
