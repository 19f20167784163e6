"""SSL listeners with client certificates (ssl.client.auth=required): kcat,
confluent-kafka, kafka-python and KafkaJS produce and consume over TLS; the
principal comes from the certificate through ssl.principal.mapping.rules;
bad peers (plain text, expired, untrusted certificates) are refused while
the broker keeps serving; certificates reload when their files change."""

import re
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient
from cryptography import x509

from certs import CA, server_settings
from conftest import free_port

NODE_DIR = Path(__file__).resolve().parent / "node"

# alice (OU=eng) maps to ALICE; bob (OU=ops) matches no rule and is refused.
MAPPING = "RULE:^CN=([a-z]+),OU=eng,O=Brook$/$1/U"


@pytest.fixture
def pki(tmp_path):
    ca = CA(tmp_path / "ca")
    return {
        "ca": ca,
        "server": ca.issue(tmp_path / "server", "localhost", dns=["localhost"], ips=["127.0.0.1"]),
        "alice": ca.issue(tmp_path / "alice", "alice", ou="eng", o="Brook"),
        "bob": ca.issue(tmp_path / "bob", "bob", ou="ops", o="Brook"),
        "expired": ca.issue(tmp_path / "expired", "carol", ou="eng", o="Brook", expired=True),
        "rogue_ca": CA(tmp_path / "rogue-ca", name="Rogue CA"),
    }


@pytest.fixture
def tls_broker(brook_factory, pki, monkeypatch):
    # The principal of each authenticated TLS connection is logged at debug.
    monkeypatch.setenv("BROOK_LOG", "info,brook_broker::connection=debug")
    plain, ssl_port = free_port(), free_port()
    settings = {
        "listeners": f"PLAINTEXT://127.0.0.1:{plain},SSL://127.0.0.1:{ssl_port}",
        "ssl.principal.mapping.rules": MAPPING,
        **server_settings(pki["ca"], pki["server"]),
    }
    b = brook_factory(settings)
    b.port = plain
    b.start()
    b.ssl_port = ssl_port
    b.ssl_bootstrap = f"127.0.0.1:{ssl_port}"
    return b


def librdkafka_ssl(pki, who="alice", ca=None):
    client = pki[who]
    return {
        "security.protocol": "SSL",
        "ssl.ca.location": str(ca or pki["ca"].cert),
        "ssl.certificate.location": str(client.cert),
        "ssl.key.location": str(client.key),
    }


def confluent_roundtrip(bootstrap, conf, topic, n=50, timeout=30):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", **conf})
    for i in range(n):
        p.produce(topic, f"v{i}".encode())
    assert p.flush(timeout) == 0
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-g", "auto.offset.reset": "earliest",
                  "enable.partition.eof": True, **conf})
    got = []
    try:
        c.subscribe([topic])
        deadline = time.time() + timeout
        while time.time() < deadline and len(got) < n:
            m = c.poll(0.5)
            if m is None or (m.error() and m.error().code() == KafkaError._PARTITION_EOF):
                continue
            assert m.error() is None, m.error()
            got.append(m.value().decode())
    finally:
        c.close()
    assert got == [f"v{i}" for i in range(n)]


def refused_by_broker(bootstrap, conf, timeout=8):
    """A librdkafka client with `conf` gets no metadata within `timeout`."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 3000, **conf})
    try:
        admin.list_topics(timeout=timeout)
    except Exception:
        return True
    return False


def test_clients_over_ssl_with_client_certificates(tls_broker, pki, tmp_path):
    b, boot = tls_broker, tls_broker.ssl_bootstrap
    # Metadata on the SSL listener gives the SSL endpoint.
    md = AdminClient({"bootstrap.servers": boot, **librdkafka_ssl(pki)}).list_topics(timeout=15)
    assert [(x.host, x.port) for x in md.brokers.values()] == [("127.0.0.1", b.ssl_port)]

    # confluent-kafka (librdkafka)
    confluent_roundtrip(boot, librdkafka_ssl(pki), "tls-confluent")

    # kcat
    kcat_ssl = [f"-X{k}={v}" for k, v in librdkafka_ssl(pki).items()]
    subprocess.run(["kcat", "-b", boot, "-P", "-t", "tls-kcat", *kcat_ssl], input=b"k1\nk2\nk3\n",
                   check=True, timeout=30, capture_output=True)
    out = subprocess.run(["kcat", "-b", boot, "-C", "-t", "tls-kcat", "-e", "-o", "beginning", *kcat_ssl],
                         check=True, timeout=30, capture_output=True).stdout
    assert out.split() == [b"k1", b"k2", b"k3"]

    # kafka-python (Python's ssl module)
    from kafka import KafkaConsumer, KafkaProducer
    kp = dict(bootstrap_servers=boot, security_protocol="SSL", ssl_cafile=str(pki["ca"].cert),
              ssl_certfile=str(pki["alice"].cert), ssl_keyfile=str(pki["alice"].key))
    producer = KafkaProducer(acks="all", **kp)
    for i in range(20):
        producer.send("tls-kafka-python", f"p{i}".encode())
    producer.flush(30)
    producer.close()
    consumer = KafkaConsumer("tls-kafka-python", group_id="kp", auto_offset_reset="earliest",
                             consumer_timeout_ms=15000, **kp)
    values = []
    for m in consumer:
        values.append(m.value.decode())
        if len(values) == 20:
            break
    consumer.close()
    assert values == [f"p{i}" for i in range(20)]

    # KafkaJS (Node's tls)
    run = subprocess.run(["node", "tls_roundtrip.js", boot, str(pki["ca"].cert), str(pki["alice"].cert),
                          str(pki["alice"].key), "tls-kafkajs", "30"], cwd=NODE_DIR, capture_output=True,
                         timeout=120, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "kafkajs-tls-ok 30" in run.stdout

    # The principal came from the certificate through the mapping rules.
    assert "principal=User:ALICE" in b.log()


def test_principal_mapping_refuses_unmapped_subjects(tls_broker, pki):
    # bob's DN (OU=ops) matches no rule (and there is no DEFAULT): refused.
    assert refused_by_broker(tls_broker.ssl_bootstrap, librdkafka_ssl(pki, "bob"))
    assert "No rule" in tls_broker.log() or "no ssl.principal.mapping.rules rule applies" in tls_broker.log()
    confluent_roundtrip(tls_broker.ssl_bootstrap, librdkafka_ssl(pki), "after-bob", n=5)


def test_bad_peers_are_refused_and_the_broker_keeps_serving(tls_broker, pki, tmp_path):
    boot = tls_broker.ssl_bootstrap
    # Plain text to the TLS port.
    assert refused_by_broker(boot, {"security.protocol": "PLAINTEXT"})
    # An expired client certificate.
    assert refused_by_broker(boot, librdkafka_ssl(pki, "expired"))
    # A client certificate from a CA the broker does not trust.
    rogue = pki["rogue_ca"].issue(tmp_path / "mallory", "mallory", ou="eng", o="Brook")
    pki["mallory"] = rogue
    assert refused_by_broker(boot, librdkafka_ssl(pki, "mallory"))
    # No client certificate at all (ssl.client.auth=required).
    assert refused_by_broker(boot, {"security.protocol": "SSL", "ssl.ca.location": str(pki["ca"].cert)})
    # The client does not trust the broker's certificate.
    assert refused_by_broker(boot, librdkafka_ssl(pki, ca=pki["rogue_ca"].cert))
    log = tls_broker.log()
    assert log.count("TLS handshake failed") >= 4, log[-3000:]
    assert "panicked" not in log
    # Still serving, on both listeners.
    confluent_roundtrip(boot, librdkafka_ssl(pki), "still-serving", n=5)
    confluent_roundtrip(tls_broker.bootstrap, {}, "still-serving-plain", n=5)


def served_certificate(port, pki):
    ctx = ssl.create_default_context(cafile=str(pki["ca"].cert))
    ctx.load_cert_chain(str(pki["alice"].cert), str(pki["alice"].key))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            return x509.load_der_x509_certificate(s.getpeercert(binary_form=True))


def test_certificates_reload_when_their_files_change(tls_broker, pki, tmp_path):
    port = tls_broker.ssl_port
    keystore = pki["server"].keystore
    first = served_certificate(port, pki)
    assert first.serial_number == pki["server"].serial
    # A new certificate in the same file: new connections get it.
    renewed = pki["ca"].issue(tmp_path / "renewed", "localhost", ou="renewed", dns=["localhost"], ips=["127.0.0.1"])
    shutil.copy(renewed.keystore, keystore)
    deadline = time.time() + 20
    serial = first.serial_number
    while time.time() < deadline and serial != renewed.serial:
        time.sleep(0.5)
        serial = served_certificate(port, pki).serial_number
    assert serial == renewed.serial
    assert "OU=renewed" in served_certificate(port, pki).subject.rfc4514_string()
    # A broken file is logged and the last good certificate kept.
    keystore.write_text("not a pem file\n")
    time.sleep(2.5)
    assert served_certificate(port, pki).serial_number == renewed.serial
    assert "do not load; keeping the previous ones" in tls_broker.log()
    confluent_roundtrip(tls_broker.ssl_bootstrap, librdkafka_ssl(pki), "after-reload", n=5)


def test_brook_tls_certificates_and_the_cli_over_ssl(brook_factory, tmp_path, monkeypatch):
    """`brook tls` makes the CA and certificates; the default principal is the
    RFC 2253 subject DN; the brook CLI speaks SSL with --command-config."""
    from conftest import BROOK_TEST_BINARY
    monkeypatch.setenv("BROOK_LOG", "info,brook_broker::connection=debug")
    run = lambda *a: subprocess.run([BROOK_TEST_BINARY, *a], check=True, capture_output=True, timeout=30, text=True)
    run("tls", "ca", "--out", str(tmp_path / "ca"))
    run("tls", "cert", "--ca", str(tmp_path / "ca"), "--name", "localhost", "--dns", "localhost",
        "--ip", "127.0.0.1", "--out", str(tmp_path / "server"))
    run("tls", "cert", "--ca", str(tmp_path / "ca"), "--name", "alice", "--ou", "eng", "--out", str(tmp_path / "alice"))
    plain, ssl_port = free_port(), free_port()
    b = brook_factory({
        "listeners": f"PLAINTEXT://127.0.0.1:{plain},SSL://127.0.0.1:{ssl_port}",
        "ssl.keystore.location": str(tmp_path / "server" / "keystore.pem"),
        "ssl.truststore.location": str(tmp_path / "ca" / "ca.pem"),
        "ssl.client.auth": "required",
    })
    b.port = plain
    b.start()
    props = tmp_path / "client.properties"
    props.write_text(f"security.protocol=SSL\nssl.truststore.location={tmp_path / 'ca' / 'ca.pem'}\n"
                     f"ssl.keystore.location={tmp_path / 'alice' / 'keystore.pem'}\n")
    boot = f"127.0.0.1:{ssl_port}"
    run("--bootstrap-server", boot, "--command-config", str(props), "topic", "create", "cli-ssl")
    subprocess.run([BROOK_TEST_BINARY, "--bootstrap-server", boot, "--command-config", str(props), "produce",
                    "cli-ssl"], input="one\ntwo\n", check=True, capture_output=True, timeout=30, text=True)
    listed = run("--bootstrap-server", boot, "--command-config", str(props), "topic", "list").stdout
    assert "cli-ssl" in listed
    # Without the client properties the SSL port refuses the CLI.
    refused = subprocess.run([BROOK_TEST_BINARY, "--bootstrap-server", boot, "topic", "list"],
                             capture_output=True, timeout=60, text=True)
    assert refused.returncode != 0
    # Default mapping: the subject DN, most specific RDN first, as Kafka prints it.
    assert "principal=User:CN=alice,OU=eng" in b.log()


def test_requested_client_auth_accepts_clients_without_certificates(brook_factory, pki, monkeypatch):
    """ssl.client.auth=requested: a client without a certificate is served
    (as ANONYMOUS), one with a certificate gets its mapped principal."""
    monkeypatch.setenv("BROOK_LOG", "info,brook_broker::connection=debug")
    plain, ssl_port = free_port(), free_port()
    b = brook_factory({
        "listeners": f"PLAINTEXT://127.0.0.1:{plain},SSL://127.0.0.1:{ssl_port}",
        "ssl.principal.mapping.rules": MAPPING,
        **server_settings(pki["ca"], pki["server"], client_auth="requested"),
    })
    b.port = plain
    b.start()
    boot = f"127.0.0.1:{ssl_port}"
    confluent_roundtrip(boot, {"security.protocol": "SSL", "ssl.ca.location": str(pki["ca"].cert)}, "anon", n=5)
    assert "principal=User:" not in b.log()
    confluent_roundtrip(boot, librdkafka_ssl(pki), "with-cert", n=5)
    assert "principal=User:ALICE" in b.log()
