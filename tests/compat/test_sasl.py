"""SASL authentication (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) on SASL_PLAINTEXT
listeners with real clients: kcat, confluent-kafka, kafka-python, KafkaJS.
SCRAM users are created with AlterUserScramCredentials (KIP-554) over the
PLAINTEXT listener, as Kafka's docs bootstrap them; a three-node cluster
proves they travel through the metadata log. Negative cases: a wrong
password, an unknown user, a request before authentication. KIP-368
re-authentication with connections.max.reauth.ms."""

import json
import os
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import (AdminClient, NewTopic, ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialDeletion, UserScramCredentialUpsertion)

from cluster import cluster_factory, wait_for  # noqa: F401  (fixtures)
from conftest import BROOK_TEST_BINARY, free_port
from helpers import kcat

JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required '
        'username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";')
NODE_DIR = Path(__file__).parent / "node"


def sasl_settings(plain_port, sasl_port, extra=None):
    s = {
        "listeners": f"PLAINTEXT://127.0.0.1:{plain_port},SASL_PLAINTEXT://127.0.0.1:{sasl_port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": JAAS,
    }
    s.update(extra or {})
    return s


@pytest.fixture
def sasl_broker(brook_factory):
    plain, sasl = free_port(), free_port()
    b = brook_factory(sasl_settings(plain, sasl))
    b.port = plain
    b.start()
    b.sasl_bootstrap = f"127.0.0.1:{sasl}"
    b.sasl_port = sasl
    return b


def wait_for_controller(admin, timeout=30):
    """librdkafka sends AlterUserScramCredentials to the controller Metadata
    names; a broker only just started names none until it is registered."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if admin.list_topics(timeout=10).controller_id >= 0:
            return
        time.sleep(0.2)
    raise AssertionError("no controller named in Metadata")


def add_scram_user(bootstrap, user, password, mechanism=ScramMechanism.SCRAM_SHA_512, iterations=8192):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    wait_for_controller(admin)
    info = ScramCredentialInfo(mechanism, iterations)
    futures = admin.alter_user_scram_credentials([UserScramCredentialUpsertion(user, info, password.encode())])
    for f in futures.values():
        f.result(timeout=30)


def client_conf(bootstrap, mechanism, user, password, **extra):
    conf = {"bootstrap.servers": bootstrap, "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": mechanism,
            "sasl.username": user, "sasl.password": password}
    conf.update(extra)
    return conf


def produce_consume(conf, topic, values, group):
    p = Producer(conf)
    for v in values:
        p.produce(topic, v)
    assert p.flush(30) == 0
    c = Consumer({**conf, "group.id": group, "auto.offset.reset": "earliest"})
    try:
        c.subscribe([topic])
        got = []
        deadline = time.time() + 60
        while len(got) < len(values) and time.time() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                got.append(m.value())
        return got
    finally:
        c.close()


@pytest.mark.parametrize("mechanism,user,password", [
    ("PLAIN", "alice", "alice-secret"),
    ("SCRAM-SHA-256", "carol", "carol-secret"),
    ("SCRAM-SHA-512", "carol", "carol-secret"),
])
def test_confluent_kafka_produces_and_consumes(sasl_broker, mechanism, user, password):
    if mechanism.startswith("SCRAM"):
        m = ScramMechanism.SCRAM_SHA_256 if mechanism == "SCRAM-SHA-256" else ScramMechanism.SCRAM_SHA_512
        add_scram_user(sasl_broker.bootstrap, user, password, m)
    topic = f"sasl-{mechanism.lower()}"
    values = [f"{mechanism}-{i}".encode() for i in range(5)]
    assert produce_consume(client_conf(sasl_broker.sasl_bootstrap, mechanism, user, password), topic, values,
                           "g1") == values
    assert f"principal=User:{user}" in sasl_broker.log()


def test_kcat_scram_sha_512_and_plain(sasl_broker):
    add_scram_user(sasl_broker.bootstrap, "kc", "kc-secret")
    for mechanism, user, password, topic in [("SCRAM-SHA-512", "kc", "kc-secret", "sasl-kcat-scram"),
                                             ("PLAIN", "alice", "alice-secret", "sasl-kcat-plain")]:
        auth = ["-X", "security.protocol=SASL_PLAINTEXT", "-X", f"sasl.mechanisms={mechanism}",
                "-X", f"sasl.username={user}", "-X", f"sasl.password={password}"]
        try:
            kcat("-b", sasl_broker.sasl_bootstrap, *auth, "-P", "-t", topic, input=b"k1\nk2\nk3\n")
            out = kcat("-b", sasl_broker.sasl_bootstrap, *auth, "-C", "-t", topic, "-o", "beginning", "-c", "3", "-e")
        except subprocess.CalledProcessError as e:
            raise AssertionError(f"kcat failed: {e.stderr.decode(errors='replace')[-3000:]}")
        assert out.stdout.split() == [b"k1", b"k2", b"k3"]


def test_kafka_python_scram_sha_512_and_plain(sasl_broker):
    from kafka import KafkaConsumer, KafkaProducer
    add_scram_user(sasl_broker.bootstrap, "kp", "kp-secret")
    for mechanism, user, password, topic in [("SCRAM-SHA-512", "kp", "kp-secret", "sasl-kp-scram"),
                                             ("PLAIN", "alice", "alice-secret", "sasl-kp-plain")]:
        auth = dict(bootstrap_servers=sasl_broker.sasl_bootstrap, security_protocol="SASL_PLAINTEXT",
                    sasl_mechanism=mechanism, sasl_plain_username=user, sasl_plain_password=password)
        p = KafkaProducer(**auth, request_timeout_ms=20000)
        for i in range(5):
            p.send(topic, f"kp-{i}".encode())
        p.flush(timeout=30)
        p.close(timeout=10)
        c = KafkaConsumer(topic, **auth, auto_offset_reset="earliest", consumer_timeout_ms=20000,
                          group_id=f"kp-{mechanism}")
        got = []
        for m in c:
            got.append(m.value)
            if len(got) == 5:
                break
        c.close()
        assert got == [f"kp-{i}".encode() for i in range(5)]


def run_kafkajs(bootstrap, topic, mechanism, user, password, *extra):
    proc = subprocess.run(["node", str(NODE_DIR / "sasl_roundtrip.js"), bootstrap, topic, mechanism, user, password,
                           *extra], cwd=NODE_DIR, capture_output=True, text=True, timeout=90)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"kafkajs printed nothing (rc {proc.returncode}): {proc.stderr[-3000:]}"
    return proc.returncode, json.loads(lines[-1])


def test_kafkajs_scram_sha_512_and_plain_and_a_wrong_password(sasl_broker):
    add_scram_user(sasl_broker.bootstrap, "js", "js-secret")
    for mechanism, user, password in [("scram-sha-512", "js", "js-secret"), ("plain", "alice", "alice-secret")]:
        rc, out = run_kafkajs(sasl_broker.sasl_bootstrap, f"sasl-js-{mechanism}", mechanism, user, password)
        assert rc == 0, out
        assert out["values"] == [f"sasl-js-{i}" for i in range(10)]
    rc, out = run_kafkajs(sasl_broker.sasl_bootstrap, "sasl-js-bad", "scram-sha-512", "js", "wrong")
    assert rc == 3 and out["error"] == "KafkaJSSASLAuthenticationError", out


# --- the wire, by hand: error codes and closed connections -------------------

def _request(sock, api_key, version, body, correlation_id=1):
    client_id = b"raw"
    header = struct.pack(">hhih", api_key, version, correlation_id, len(client_id)) + client_id
    frame = header + body
    sock.sendall(struct.pack(">i", len(frame)) + frame)


def _response(sock, timeout=10):
    """The response body after the correlation id, or None if the broker closed the connection."""
    sock.settimeout(timeout)
    data = b""
    while len(data) < 4:
        chunk = sock.recv(4 - len(data))
        if not chunk:
            return None
        data += chunk
    (size,) = struct.unpack(">i", data)
    body = b""
    while len(body) < size:
        chunk = sock.recv(size - len(body))
        if not chunk:
            return None
        body += chunk
    return body[4:]


def _closed(sock, timeout=10):
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def _string(s):
    s = s.encode()
    return struct.pack(">h", len(s)) + s


def _handshake(sock, mechanism, version=1):
    _request(sock, 17, version, _string(mechanism))
    body = _response(sock)
    error, count = struct.unpack(">hi", body[:6])
    mechanisms, pos = [], 6
    for _ in range(count):
        (n,) = struct.unpack(">h", body[pos:pos + 2])
        mechanisms.append(body[pos + 2:pos + 2 + n].decode())
        pos += 2 + n
    return error, mechanisms


def _authenticate(sock, token, version=1):
    """SaslAuthenticate v0/v1: (error code, error message, auth bytes, session lifetime or None)."""
    _request(sock, 36, version, struct.pack(">i", len(token)) + token)
    body = _response(sock)
    if body is None:
        return None
    (error, n) = struct.unpack(">hh", body[:4])
    pos = 4
    message = None
    if n >= 0:
        message = body[pos:pos + n].decode()
        pos += n
    (m,) = struct.unpack(">i", body[pos:pos + 4])
    auth = body[pos + 4:pos + 4 + m]
    pos += 4 + m
    lifetime = struct.unpack(">q", body[pos:pos + 8])[0] if version >= 1 else None
    return error, message, auth, lifetime


def _metadata_v0(sock):
    _request(sock, 3, 0, struct.pack(">i", 0), correlation_id=7)


def test_wrong_password_and_unknown_user_fail_and_close_the_connection(sasl_broker):
    add_scram_user(sasl_broker.bootstrap, "dave", "dave-secret")
    for mechanism, user, password in [("PLAIN", "alice", "wrong"), ("PLAIN", "nobody", "x")]:
        with socket.create_connection(("127.0.0.1", sasl_broker.sasl_port), timeout=10) as s:
            assert _handshake(s, mechanism)[0] == 0
            error, message, _, _ = _authenticate(s, f"\0{user}\0{password}".encode())
            assert error == 58 and message, (error, message)  # SASL_AUTHENTICATION_FAILED
            assert _closed(s)
    # SCRAM: an unknown user fails at the first message.
    with socket.create_connection(("127.0.0.1", sasl_broker.sasl_port), timeout=10) as s:
        assert _handshake(s, "SCRAM-SHA-512")[0] == 0
        error, message, _, _ = _authenticate(s, b"n,,n=nobody,r=abcdefgh")
        assert error == 58 and "invalid credentials" in message
        assert _closed(s)
    # An unsupported mechanism: UNSUPPORTED_SASL_MECHANISM with the enabled list, then closed.
    with socket.create_connection(("127.0.0.1", sasl_broker.sasl_port), timeout=10) as s:
        error, mechanisms = _handshake(s, "GSSAPI")
        assert error == 33 and mechanisms == ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
        assert _closed(s)

    # librdkafka with a wrong password writes nothing.
    conf = client_conf(sasl_broker.sasl_bootstrap, "SCRAM-SHA-512", "dave", "not-dave", **{"message.timeout.ms": 5000})
    errors = []
    p = Producer({**conf, "error_cb": lambda e: errors.append(e)})
    p.produce("sasl-nothing-written", b"x")
    p.flush(10)
    assert any(e.code() == -169 for e in errors), errors  # _AUTHENTICATION
    md = AdminClient({"bootstrap.servers": sasl_broker.bootstrap}).list_topics(timeout=10)
    assert "sasl-nothing-written" not in md.topics
    assert "Failed authentication" in sasl_broker.log()


def test_a_request_before_authentication_closes_the_connection(sasl_broker):
    with socket.create_connection(("127.0.0.1", sasl_broker.sasl_port), timeout=10) as s:
        _metadata_v0(s)
        assert _closed(s)
    # ApiVersions is served before authentication.
    with socket.create_connection(("127.0.0.1", sasl_broker.sasl_port), timeout=10) as s:
        _request(s, 18, 0, b"")
        body = _response(s)
        assert body is not None and struct.unpack(">h", body[:2])[0] == 0
        _metadata_v0(s)
        assert _closed(s)
    assert "Unexpected Kafka request of type Metadata during SASL handshake" in sasl_broker.log()
    # The PLAINTEXT listener needs no authentication, and SaslHandshake there is ILLEGAL_SASL_STATE.
    with socket.create_connection(("127.0.0.1", sasl_broker.port), timeout=10) as s:
        assert _handshake(s, "PLAIN")[0] == 34


def test_v0_handshake_raw_tokens(sasl_broker):
    """SaslHandshake v0: the PLAIN token follows without a Kafka header."""
    with socket.create_connection(("127.0.0.1", sasl_broker.sasl_port), timeout=10) as s:
        assert _handshake(s, "PLAIN", version=0)[0] == 0
        token = b"\0alice\0alice-secret"
        s.sendall(struct.pack(">i", len(token)) + token)
        s.settimeout(10)
        assert s.recv(4) == b"\0\0\0\0"  # the empty server token
        _metadata_v0(s)
        assert _response(s) is not None


# --- the metadata log path: one AlterUserScramCredentials, every broker ------

def test_a_scram_user_created_once_logs_in_on_every_broker(cluster_factory):
    c = cluster_factory(settings={
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "sasl.enabled.mechanisms": "SCRAM-SHA-512,SCRAM-SHA-256",
    })
    sasl_ports = {}
    for n in c.nodes.values():
        sasl_ports[n.id] = free_port()
        n.overrides["listeners"] = (f"PLAINTEXT://127.0.0.1:{n.port},CONTROLLER://127.0.0.1:{n.controller_port},"
                                    f"SASL_PLAINTEXT://127.0.0.1:{sasl_ports[n.id]}")
    c.start()
    # Created through node 1 only.
    add_scram_user(c.node(1).bootstrap, "erin", "erin-secret")
    topic = "sasl-cluster"
    creator = AdminClient({"bootstrap.servers": c.node(1).bootstrap})
    creator.create_topics([NewTopic(topic, 1, 3)])[topic].result(timeout=30)
    for node_id, port in sasl_ports.items():
        # bootstrap to this broker alone: it must know erin from its own image
        conf = client_conf(f"127.0.0.1:{port}", "SCRAM-SHA-512", "erin", "erin-secret")
        p = Producer(conf)
        p.produce(topic, f"from-{node_id}".encode())
        assert p.flush(30) == 0, f"node {node_id}"
        assert "principal=User:erin" in c.node(node_id).log(), f"node {node_id} did not authenticate erin"
    # Deleting the credential (once) locks erin out everywhere.
    admin = AdminClient({"bootstrap.servers": c.node(2).bootstrap})
    wait_for_controller(admin)
    for f in admin.alter_user_scram_credentials(
            [UserScramCredentialDeletion("erin", ScramMechanism.SCRAM_SHA_512)]).values():
        f.result(timeout=30)
    for node_id, port in sasl_ports.items():
        def refused():
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                assert _handshake(s, "SCRAM-SHA-512")[0] == 0
                error, _, _, _ = _authenticate(s, b"n,,n=erin,r=abcdefgh")
                return error == 58
        wait_for(refused, timeout=30, what=f"node {node_id} forgets erin")


# --- KIP-368 re-authentication ---------------------------------------------

def test_clients_re_authenticate_and_stay_connected(brook_factory):
    plain, sasl = free_port(), free_port()
    b = brook_factory(sasl_settings(plain, sasl, {"connections.max.reauth.ms": "2000"}))
    b.port = plain
    b.start()
    add_scram_user(b.bootstrap, "rita", "rita-secret")
    conf = client_conf(f"127.0.0.1:{sasl}", "SCRAM-SHA-512", "rita", "rita-secret", **{"linger.ms": 0})
    errors = []
    p = Producer({**conf, "error_cb": lambda e: errors.append(e)})
    delivered = []
    deadline = time.time() + 7  # more than three session lifetimes
    i = 0
    while time.time() < deadline:
        p.produce("sasl-reauth", f"r{i}".encode(), on_delivery=lambda err, m: delivered.append(err))
        p.poll(0.2)
        i += 1
    assert p.flush(30) == 0
    assert len(delivered) == i and all(e is None for e in delivered), delivered
    log = b.log()
    assert log.count("SASL re-authentication succeeded") >= 2, log[-3000:]
    assert "expired" not in log, log[-3000:]
    assert not [e for e in errors if e.code() == -169], errors


def test_an_expired_session_is_closed_at_its_next_request(brook_factory):
    """A SaslAuthenticate v0 client cannot re-authenticate; once its session
    is past connections.max.reauth.ms its next request closes the connection."""
    plain, sasl = free_port(), free_port()
    b = brook_factory(sasl_settings(plain, sasl, {"connections.max.reauth.ms": "1000"}))
    b.port = plain
    b.start()
    with socket.create_connection(("127.0.0.1", sasl), timeout=10) as s:
        assert _handshake(s, "PLAIN")[0] == 0
        error, _, _, _ = _authenticate(s, b"\0alice\0alice-secret", version=0)
        assert error == 0
        _metadata_v0(s)
        assert _response(s) is not None
        time.sleep(1.5)
        _metadata_v0(s)
        assert _closed(s)
    # A v1 client learns the lifetime.
    with socket.create_connection(("127.0.0.1", sasl), timeout=10) as s:
        assert _handshake(s, "PLAIN")[0] == 0
        error, _, _, lifetime = _authenticate(s, b"\0alice\0alice-secret", version=1)
        assert (error, lifetime) == (0, 1000)
    assert "did not re-authenticate" in b.log()


# --- SASL_SSL: the same logins inside TLS ------------------------------------

@pytest.fixture
def sasl_ssl_broker(brook_factory, tmp_path):
    from certs import CA, server_settings
    ca = CA(tmp_path / "ca")
    server = ca.issue(tmp_path / "broker", "broker1", dns=["localhost"], ips=["127.0.0.1"])
    plain, port = free_port(), free_port()
    settings = {
        "listeners": f"PLAINTEXT://127.0.0.1:{plain},SASL_SSL://127.0.0.1:{port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-512",
        "listener.name.sasl_ssl.plain.sasl.jaas.config": JAAS,
        **server_settings(ca, server, client_auth="none"),
    }
    b = brook_factory(settings)
    b.port = plain
    b.start()
    b.sasl_bootstrap = f"127.0.0.1:{port}"
    b.ca = str(ca.cert)
    add_scram_user(b.bootstrap, "sam", "sam-secret")
    return b


@pytest.mark.parametrize("mechanism,user,password", [("SCRAM-SHA-512", "sam", "sam-secret"),
                                                     ("PLAIN", "alice", "alice-secret")])
def test_sasl_ssl_with_every_client(sasl_ssl_broker, mechanism, user, password):
    b = sasl_ssl_broker
    tag = mechanism.lower()
    # confluent-kafka
    conf = client_conf(b.sasl_bootstrap, mechanism, user, password, **{"security.protocol": "SASL_SSL",
                                                                       "ssl.ca.location": b.ca})
    values = [f"ssl-{tag}-{i}".encode() for i in range(3)]
    assert produce_consume(conf, f"ssl-ck-{tag}", values, "g-ssl") == values
    # kcat
    auth = ["-X", "security.protocol=SASL_SSL", "-X", f"ssl.ca.location={b.ca}", "-X", f"sasl.mechanisms={mechanism}",
            "-X", f"sasl.username={user}", "-X", f"sasl.password={password}"]
    try:
        kcat("-b", b.sasl_bootstrap, *auth, "-P", "-t", f"ssl-kcat-{tag}", input=b"s1\ns2\n")
        out = kcat("-b", b.sasl_bootstrap, *auth, "-C", "-t", f"ssl-kcat-{tag}", "-o", "beginning", "-c", "2", "-e")
    except subprocess.CalledProcessError as e:
        raise AssertionError(f"kcat failed: {e.stderr.decode(errors='replace')[-3000:]}")
    assert out.stdout.split() == [b"s1", b"s2"]
    # kafka-python
    from kafka import KafkaConsumer, KafkaProducer
    kp = dict(bootstrap_servers=b.sasl_bootstrap, security_protocol="SASL_SSL", ssl_cafile=b.ca,
              ssl_check_hostname=False, sasl_mechanism=mechanism, sasl_plain_username=user,
              sasl_plain_password=password)
    p = KafkaProducer(**kp, request_timeout_ms=20000)
    p.send(f"ssl-kp-{tag}", b"kp1")
    p.flush(timeout=30)
    p.close(timeout=10)
    c = KafkaConsumer(f"ssl-kp-{tag}", **kp, auto_offset_reset="earliest", consumer_timeout_ms=20000,
                      group_id=f"kp-ssl-{tag}")
    got = [m.value for _, m in zip(range(1), c)]
    c.close()
    assert got == [b"kp1"]
    # KafkaJS
    rc, out = run_kafkajs(b.sasl_bootstrap, f"ssl-js-{tag}", tag, user, password, b.ca)
    assert rc == 0, out
    assert out["values"] == [f"sasl-js-{i}" for i in range(10)]
    # brook's own CLI: TLS and SASL from one --command-config.
    cfg = b.data_dir.parent / f"sasl-ssl-{tag}.properties"
    cfg.write_text(f"security.protocol=SASL_SSL\nssl.ca.location={b.ca}\nsasl.mechanism={mechanism}\n"
                   f"sasl.username={user}\nsasl.password={password}\n")
    brook_cli("--bootstrap-server", b.sasl_bootstrap, "--command-config", str(cfg), "topic", "create", f"ssl-cli-{tag}")
    brook_cli("--bootstrap-server", b.sasl_bootstrap, "--command-config", str(cfg), "produce", f"ssl-cli-{tag}",
              input=b"x1\n")
    out = brook_cli("--bootstrap-server", b.sasl_bootstrap, "--command-config", str(cfg), "consume", f"ssl-cli-{tag}",
                    "--from-beginning", "--max-messages", "1", "--timeout-ms", "20000")
    assert out.stdout.split() == [b"x1"]
    assert f"principal=User:{user}" in b.log()


# --- brook's own CLI: `brook user` and --command-config ----------------------

def brook_cli(*args, input=None, check=True, timeout=60):
    proc = subprocess.run([BROOK_TEST_BINARY, *args], input=input, capture_output=True, timeout=timeout,
                          env={"PATH": "/usr/bin:/bin"})
    if check and proc.returncode != 0:
        raise AssertionError(f"brook {' '.join(args)} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}")
    return proc


def test_brook_user_cli_round_trip_and_sasl_client(sasl_broker, tmp_path):
    b = sasl_broker
    wait_for_controller(AdminClient({"bootstrap.servers": b.bootstrap}))
    brook_cli("--bootstrap-server", b.bootstrap, "user", "add", "uma", "--password", "uma-secret",
              "--mechanism", "SCRAM-SHA-512", "--iterations", "8192")
    brook_cli("--bootstrap-server", b.bootstrap, "user", "add", "uma", "--password", "uma-secret",
              "--mechanism", "SCRAM-SHA-256")
    listed = json.loads(brook_cli("--bootstrap-server", b.bootstrap, "--output", "json", "user", "list").stdout)
    assert listed == [{"user": "uma", "credentials": [{"mechanism": "SCRAM-SHA-256", "iterations": 4096},
                                                      {"mechanism": "SCRAM-SHA-512", "iterations": 8192}]}]
    # Too few iterations: Kafka's UNACCEPTABLE_CREDENTIAL.
    bad = brook_cli("--bootstrap-server", b.bootstrap, "user", "add", "x", "--password", "p", "--iterations", "100",
                    check=False)
    assert bad.returncode != 0 and b"iterations" in bad.stderr.lower(), bad.stderr

    # A third-party client logs in with the password brook salted.
    conf = client_conf(b.sasl_bootstrap, "SCRAM-SHA-512", "uma", "uma-secret")
    assert produce_consume(conf, "sasl-cli-ck", [b"c1"], "g-cli") == [b"c1"]

    # brook's own producer and consumer over SASL_PLAINTEXT, JAAS style (SCRAM) and librdkafka style (PLAIN).
    scram = tmp_path / "scram.properties"
    scram.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n"
                     "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
                     "username=\"uma\" password=\"uma-secret\";\n")
    plain = tmp_path / "plain.properties"
    plain.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.username=alice\n"
                     "sasl.password=alice-secret\n")
    for cfg, topic in [(scram, "sasl-cli-scram"), (plain, "sasl-cli-plain")]:
        brook_cli("--bootstrap-server", b.sasl_bootstrap, "--command-config", str(cfg), "topic", "create", topic)
        brook_cli("--bootstrap-server", b.sasl_bootstrap, "--command-config", str(cfg), "produce", topic,
                  input=b"a\nb\n")
        out = brook_cli("--bootstrap-server", b.sasl_bootstrap, "--command-config", str(cfg), "consume", topic,
                        "--from-beginning", "--max-messages", "2", "--timeout-ms", "20000")
        assert out.stdout.split() == [b"a", b"b"]
    assert "principal=User:uma" in b.log() and "principal=User:alice" in b.log()
    wrong = tmp_path / "wrong.properties"
    wrong.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\nsasl.username=uma\n"
                     "sasl.password=nope\n")
    failed = brook_cli("--bootstrap-server", b.sasl_bootstrap, "--command-config", str(wrong), "topic", "list",
                       check=False)
    assert failed.returncode != 0 and b"SASL" in failed.stderr, failed.stderr

    brook_cli("--bootstrap-server", b.bootstrap, "user", "remove", "uma", "--mechanism", "SCRAM-SHA-512")
    listed = json.loads(brook_cli("--bootstrap-server", b.bootstrap, "--output", "json", "user", "list").stdout)
    assert listed == [{"user": "uma", "credentials": [{"mechanism": "SCRAM-SHA-256", "iterations": 4096}]}]
    gone = brook_cli("--bootstrap-server", b.sasl_bootstrap, "--command-config", str(scram), "topic", "list",
                     check=False)
    assert gone.returncode != 0
    missing = brook_cli("--bootstrap-server", b.bootstrap, "user", "list", "nobody", check=False)
    assert missing.returncode != 0 and b"does not exist" in missing.stderr, missing.stderr


# --- brokers replicate to each other over SASL ---------------------------------

def test_replication_over_a_sasl_inter_broker_listener(cluster_factory):
    c = cluster_factory(settings={
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": "PLAIN",
        "sasl.mechanism.inter.broker.protocol": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": JAAS,
    })
    for n in c.nodes.values():
        n.overrides["listeners"] = (f"PLAINTEXT://127.0.0.1:{n.port},CONTROLLER://127.0.0.1:{n.controller_port},"
                                    f"SASL_PLAINTEXT://127.0.0.1:{free_port()}")
    c.start()
    admin = AdminClient({"bootstrap.servers": c.node(1).bootstrap})
    admin.create_topics([NewTopic("sasl-replicated", 1, 3)])["sasl-replicated"].result(timeout=30)
    p = Producer({"bootstrap.servers": c.bootstrap, "acks": "all"})
    for i in range(20):
        p.produce("sasl-replicated", f"r{i}".encode())
    assert p.flush(30) == 0

    def all_in_sync():
        md = admin.list_topics("sasl-replicated", timeout=10).topics["sasl-replicated"].partitions[0]
        return sorted(md.isrs) == [1, 2, 3]
    wait_for(all_in_sync, timeout=30, what="ISR of 3 over the SASL inter-broker listener")
    followers = [n for n in c.nodes.values() if "principal=User:admin" in n.log()]
    assert followers, "no broker logged an inter-broker SASL login"
