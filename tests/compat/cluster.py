"""A multi-node Brook cluster (KRaft model) of real `brook server` processes
on ephemeral loopback ports, each node with its own data directory and log
file. Every process is stopped by PID at teardown, also when a test fails.

Roles:
  combined  -- n nodes, each `broker,controller` (ids 1..n, all voters);
  dedicated -- 3 controller-only nodes (ids 1-3, the voters) and 2 broker-only
               nodes (ids 4 and 5).
"""

import json
import os
import signal
import socket
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from conftest import BROOK_TEST_BINARY, free_port, stop_process

# Fast failure detection and group joins by default; a test can override any of these.
FAST_SETTINGS = {
    "broker.session.timeout.ms": "4000",
    "broker.heartbeat.interval.ms": "500",
    "group.initial.rebalance.delay.ms": "0",
    "group.min.session.timeout.ms": "1000",
}

# Every Cluster made during a test, so the fixture can stop them all.
_CLUSTERS = []


def _child_env():
    # The broker treats every BROOK_* variable as a property: pass none but the log filter.
    return {k: v for k, v in os.environ.items() if not k.startswith("BROOK_") or k == "BROOK_LOG"}


def _accepts(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for(predicate, timeout=30, what="condition", interval=0.2):
    """Polls `predicate` until it returns a truthy value (returned) or the
    deadline passes (AssertionError naming `what` and the last exception)."""
    deadline = time.time() + timeout
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # a node may be down or failing over: retry until the deadline
            last_exc = e
        if time.time() >= deadline:
            detail = f" (last error: {last_exc!r})" if last_exc is not None else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{detail}")
        time.sleep(interval)


class NetnsNetwork:
    """One network namespace per node, joined by veth pairs to a bridge in
    the test's namespace (which runs the clients), on a private /24 that
    exists only inside this machine. `isolate(i)` cuts node i off from every
    other node and client (its link goes down); `heal(i)` reconnects it."""

    def __init__(self, n):
        import random
        self.tag = f"bk{random.randrange(1 << 20):05x}"
        self.subnet = f"10.250.{random.randrange(1, 250)}"
        self.bridge = f"{self.tag}br"
        self.n = n
        self.made = False

    @staticmethod
    def _ip(*args, ns=None):
        cmd = ["ip", "netns", "exec", ns, "ip", *args] if ns else ["ip", *args]
        subprocess.run(cmd, check=True, capture_output=True, timeout=20)

    def ns(self, i):
        return f"{self.tag}n{i}"

    def host_link(self, i):
        return f"{self.tag}h{i}"

    def create(self):
        self.made = True
        self._ip("link", "add", self.bridge, "type", "bridge")
        self._ip("addr", "add", f"{self.subnet}.254/24", "dev", self.bridge)
        self._ip("link", "set", self.bridge, "up")
        for i in range(1, self.n + 1):
            ns, host, peer = self.ns(i), self.host_link(i), f"{self.tag}c{i}"
            subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True, timeout=20)
            self._ip("link", "add", host, "type", "veth", "peer", "name", peer)
            self._ip("link", "set", peer, "netns", ns)
            self._ip("link", "set", host, "master", self.bridge)
            self._ip("link", "set", host, "up")
            self._ip("addr", "add", f"{self.subnet}.{i}/24", "dev", peer, ns=ns)
            self._ip("link", "set", peer, "up", ns=ns)
            self._ip("link", "set", "lo", "up", ns=ns)

    def place(self, i):
        return f"{self.subnet}.{i}", self.ns(i)

    def isolate(self, i):
        self._ip("link", "set", self.host_link(i), "down")

    def heal(self, i):
        self._ip("link", "set", self.host_link(i), "up")
        # Forget neighbours that failed to resolve while the link was down,
        # or the kernel keeps answering "no route to host" for a while.
        subprocess.run(["ip", "neigh", "flush", "dev", self.bridge], capture_output=True, timeout=20)
        for j in range(1, self.n + 1):
            subprocess.run(["ip", "-n", self.ns(j), "neigh", "flush", "all"], capture_output=True, timeout=20)

    def destroy(self):
        if not self.made:
            return
        for i in range(1, self.n + 1):
            subprocess.run(["ip", "netns", "del", self.ns(i)], capture_output=True, timeout=20)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, timeout=20)


def netns_available():
    """True when this process may create network namespaces (root)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    name = f"bkprobe{os.getpid()}"
    ok = subprocess.run(["ip", "netns", "add", name], capture_output=True, timeout=20).returncode == 0
    subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=20)
    return ok


class Node:
    """One `brook server` process of a cluster."""

    def __init__(self, cluster, node_id, roles, data_dir, host="127.0.0.1", netns=None):
        self.cluster = cluster
        self.id = node_id
        self.roles = roles  # "broker,controller" | "broker" | "controller"
        self.data_dir = Path(data_dir)
        self.host = host
        self.netns = netns  # run inside this network namespace (its own ports)
        if netns:
            self.port = 9092 if "broker" in roles else None
            self.controller_port = 9093 if "controller" in roles else None
            self.admin_port = 9644
        else:
            self.admin_port = free_port()
            self.port = free_port() if "broker" in roles else None
            self.controller_port = free_port() if "controller" in roles else None
        self.overrides = {}  # per-node settings on top of the cluster's
        self.proc = None
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"
        self.attempts = 0

    @property
    def is_broker(self):
        return self.port is not None

    @property
    def bootstrap(self):
        assert self.is_broker, f"node {self.id} has no PLAINTEXT listener"
        return f"{self.host}:{self.port}"

    @property
    def admin_url(self):
        """The admin HTTP listener: /metrics, /health/*, the console."""
        return f"http://{self.host}:{self.admin_port}"

    def settings(self, extra=None):
        listeners = []
        if self.port is not None:
            listeners.append(f"PLAINTEXT://{self.host}:{self.port}")
        if self.controller_port is not None:
            listeners.append(f"CONTROLLER://{self.host}:{self.controller_port}")
        s = {
            "node.id": str(self.id),
            "process.roles": self.roles,
            "listeners": ",".join(listeners),
            "controller.listener.names": "CONTROLLER",
            "controller.quorum.voters": self.cluster.voters,
            "log.dirs": str(self.data_dir),
            "admin.http.listener": self.admin_url,
        }
        s.update(self.cluster.settings)
        s.update(self.overrides)
        s.update(extra or {})
        return s

    def args(self, extra=None):
        args = ["ip", "netns", "exec", self.netns] if self.netns else []
        args += [BROOK_TEST_BINARY, "server"]
        for k, v in self.settings(extra).items():
            args += ["--set", f"{k}={v}"]
        return args

    def spawn(self, extra=None, stderr_path=None):
        """Starts the process without waiting. Output goes to the node's log
        (or stderr alone to `stderr_path`)."""
        assert self.proc is None or self.proc.poll() is not None, f"node {self.id} is already running"
        log = open(self.log_path, "ab")
        log.write(f"\n===== start of node {self.id}: {' '.join(self.args(extra)[1:])}\n".encode())
        log.flush()
        err = open(stderr_path, "wb") if stderr_path else log
        try:
            self.proc = subprocess.Popen(self.args(extra), stdout=log, stderr=err, env=_child_env())
        finally:
            log.close()
            if stderr_path:
                err.close()
        self.cluster.pids.append(self.proc)
        return self.proc

    def ready(self):
        port = self.port if self.port is not None else self.controller_port
        return _accepts(port, self.host)

    def wait_ready(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node {self.id} exited with {self.proc.returncode}:\n{self.log()}")
            if self.ready():
                return self
            time.sleep(0.05)
        raise RuntimeError(f"node {self.id} not ready within {timeout}s:\n{self.log()}")

    def start(self, timeout=60, extra=None):
        self.spawn(extra)
        return self.wait_ready(timeout)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        try:
            return stop_process(self.proc, sig, timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"node {self.id} did not stop within {timeout}s of signal {sig}")

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def restart(self, timeout=60):
        self.stop()
        return self.start(timeout)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def run_expect_exit(self, extra=None, timeout=10):
        """Starts the node with `extra` settings and expects it to exit by
        itself within `timeout` s. Returns (returncode, stderr text, seconds).
        Kills it and fails if it keeps running."""
        self.attempts += 1
        err_path = self.data_dir.parent / f"{self.data_dir.name}-attempt{self.attempts}.stderr"
        started = time.time()
        proc = self.spawn(extra, stderr_path=err_path)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
            raise AssertionError(f"node {self.id} with {extra} was still running after {timeout}s; it should have "
                                 f"refused to start. stderr:\n{err_path.read_text(errors='replace')[-5000:]}")
        return rc, err_path.read_text(errors="replace"), time.time() - started

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")[-20000:]
        except OSError:
            return ""


class Cluster:
    def __init__(self, tmp_path, n=3, roles="combined", settings=None, brokers=2, netns=False):
        self.dir = Path(tmp_path)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.settings = {**FAST_SETTINGS, **(settings or {})}
        self.pids = []  # every Popen ever made for this cluster
        self.nodes = {}
        self.network = NetnsNetwork(n) if netns else None
        if roles == "combined":
            for i in range(1, n + 1):
                host, ns = self.network.place(i) if self.network else ("127.0.0.1", None)
                self.nodes[i] = Node(self, i, "broker,controller", self.dir / f"node{i}", host, ns)
        elif roles == "dedicated":
            for i in (1, 2, 3):
                self.nodes[i] = Node(self, i, "controller", self.dir / f"node{i}")
            for i in range(4, 4 + brokers):
                self.nodes[i] = Node(self, i, "broker", self.dir / f"node{i}")
        else:
            raise ValueError(f"roles must be 'combined' or 'dedicated', not {roles!r}")
        self.voter_ids = [n.id for n in self.nodes.values() if n.controller_port is not None]
        self.voters = ",".join(f"{i}@{self.nodes[i].host}:{self.nodes[i].controller_port}" for i in self.voter_ids)
        self.extra_nodes = []
        _CLUSTERS.append(self)

    # --- membership -----------------------------------------------------

    def node(self, node_id):
        return self.nodes[node_id]

    @property
    def brokers(self):
        return [n for n in self.nodes.values() if n.is_broker]

    @property
    def broker_ids(self):
        return [n.id for n in self.brokers]

    @property
    def bootstrap(self):
        return ",".join(n.bootstrap for n in self.brokers)

    def add_node(self, node_id, roles="broker", name=None):
        """A node outside the voter set and outside start()/bootstrap (for
        refusal tests); stopped at teardown like the others."""
        node = Node(self, node_id, roles, self.dir / (name or f"extra{len(self.extra_nodes) + 1}-node{node_id}"))
        self.extra_nodes.append(node)
        return node

    # --- lifecycle ------------------------------------------------------

    def start(self, timeout=60):
        if self.network and not self.network.made:
            self.network.create()
        for n in self.nodes.values():
            n.spawn()
        deadline = time.time() + timeout
        for n in self.nodes.values():
            n.wait_ready(max(1, deadline - time.time()))
        return self

    def stop(self, sig=signal.SIGTERM):
        """Stops every process this cluster started, by PID."""
        for n in list(self.nodes.values()) + self.extra_nodes:
            try:
                n.stop(sig, timeout=20)
            except Exception:
                pass
        for p in self.pids:
            if p.poll() is None:
                try:
                    p.kill()
                    p.wait(timeout=10)
                except Exception:
                    pass
        if self.network:
            self.network.destroy()

    # --- queries ----------------------------------------------------------

    def wait_for(self, predicate, timeout=30, what="condition"):
        return wait_for(predicate, timeout, what)

    def admin(self, bootstrap=None):
        return AdminClient({"bootstrap.servers": bootstrap or self.bootstrap})

    def metadata(self, bootstrap=None, timeout=10):
        """ClusterMetadata as seen through `bootstrap` (default: every running broker)."""
        return self.admin(bootstrap).list_topics(timeout=timeout)

    def leader_of(self, topic, partition, bootstrap=None):
        return self.metadata(bootstrap).topics[topic].partitions[partition].leader

    def leaders(self, topic, bootstrap=None):
        """{partition: leader} for `topic`, or None if the topic is not known yet."""
        t = self.metadata(bootstrap).topics.get(topic)
        if t is None or t.error is not None:
            return None
        return {p: pm.leader for p, pm in t.partitions.items()}

    def cli(self, bootstrap, *args, timeout=30, check=True):
        proc = subprocess.run([BROOK_TEST_BINARY, "--bootstrap-server", bootstrap, "--output", "json", *args],
                              capture_output=True, timeout=timeout, env={"PATH": "/usr/bin:/bin"})
        if check and proc.returncode != 0:
            raise AssertionError(f"brook {' '.join(args)} via {bootstrap} failed ({proc.returncode}): "
                                 f"{proc.stderr.decode(errors='replace')}")
        return proc

    def cluster_info(self, bootstrap, timeout=30):
        return json.loads(self.cli(bootstrap, "cluster", "info", timeout=timeout).stdout)

    def describe_topic(self, bootstrap, name):
        return json.loads(self.cli(bootstrap, "topic", "describe", name).stdout)

    def logs(self):
        return "\n".join(f"--- node {n.id} ---\n{n.log()[-4000:]}" for n in self.nodes.values())


@pytest.fixture
def cluster_factory(tmp_path):
    """make(n=3, roles="combined", settings=None, name="c", brokers=2) -> an unstarted
    Cluster under tmp_path/name. Every process is killed at teardown."""
    made = []

    def make(n=3, roles="combined", settings=None, name=None, brokers=2, netns=False):
        c = Cluster(tmp_path / (name or f"cluster{len(made) + 1}"), n=n, roles=roles, settings=settings,
                    brokers=brokers, netns=netns)
        made.append(c)
        return c

    try:
        yield make
    finally:
        for c in made:
            c.stop(signal.SIGKILL)
        # Also any Cluster a test built directly, by PID.
        for c in list(_CLUSTERS):
            c.stop(signal.SIGKILL)
            _CLUSTERS.remove(c)


@pytest.fixture
def cluster(cluster_factory):
    """Three combined (broker,controller) nodes, started."""
    return cluster_factory().start()
