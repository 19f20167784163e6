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
from confluent_kafka.admin import (AdminClient, ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialDeletion, UserScramCredentialUpsertion)

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


def add_scram_user(bootstrap, user, password, mechanism=ScramMechanism.SCRAM_SHA_512, iterations=8192):
    admin = AdminClient({"bootstrap.servers": bootstrap})
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
