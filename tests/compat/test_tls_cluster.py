"""A three-node cluster whose client, inter-broker and controller listeners
all speak TLS with client certificates: acks=all produce survives the
partition leader being killed -9 and restarted, no acknowledged record lost,
and the restarted node catches up (replication over TLS) and rejoins the ISR."""

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from certs import CA
from cluster import cluster_factory, wait_for  # noqa: F401  (fixture)
from helpers import read_values


def tls_cluster(cluster_factory, tmp_path):
    ca = CA(tmp_path / "ca")
    c = cluster_factory(settings={
        "listener.security.protocol.map": "SSL:SSL,CONTROLLER:SSL",
        "inter.broker.listener.name": "SSL",
        "ssl.truststore.location": str(ca.cert),
        "ssl.client.auth": "required",
    })
    for n in c.nodes.values():
        cert = ca.issue(tmp_path / f"node{n.id}-cert", f"node{n.id}", ou="brokers", dns=["localhost"],
                        ips=["127.0.0.1"])
        n.overrides["listeners"] = f"SSL://{n.host}:{n.port},CONTROLLER://{n.host}:{n.controller_port}"
        n.overrides["ssl.keystore.location"] = str(cert.keystore)
    client = ca.issue(tmp_path / "client", "client", ou="apps")
    conf = {"security.protocol": "SSL", "ssl.ca.location": str(ca.cert),
            "ssl.certificate.location": str(client.cert), "ssl.key.location": str(client.key)}
    return c.start(), conf


def partition_state(bootstrap, conf, topic):
    md = AdminClient({"bootstrap.servers": bootstrap, **conf}).list_topics(topic, timeout=10)
    t = md.topics.get(topic)
    if t is None or t.error is not None or 0 not in t.partitions:
        return None
    p = t.partitions[0]
    return p.leader, sorted(p.isrs)


def produce(bootstrap, conf, topic, values, timeout=40):
    acked, errors = [], []
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                  "message.timeout.ms": int(timeout * 1000), "linger.ms": 5, **conf})
    def done(err, msg):
        (errors if err else acked).append(err or msg.value())
    for v in values:
        p.produce(topic, partition=0, value=v, on_delivery=done)
        p.poll(0)
    p.flush(timeout + 5)
    return acked, errors


def test_tls_cluster_loses_no_acknowledged_record_when_the_leader_is_killed(cluster_factory, tmp_path):
    c, conf = tls_cluster(cluster_factory, tmp_path)
    boot = c.bootstrap
    admin = AdminClient({"bootstrap.servers": boot, **conf})
    fs = admin.create_topics([NewTopic("tls-repl", 1, 3, config={"min.insync.replicas": "2"})])
    fs["tls-repl"].result(30)
    state = wait_for(lambda: (lambda s: s if s and len(s[1]) == 3 else None)(partition_state(boot, conf, "tls-repl")),
                     60, "three in-sync replicas (replication over TLS)")
    leader = state[0]
    acked, errors = produce(boot, conf, "tls-repl", [f"a{i}".encode() for i in range(300)])
    assert errors == [] and len(acked) == 300

    c.node(leader).kill9()
    survivors = ",".join(n.bootstrap for n in c.brokers if n.id != leader)
    wait_for(lambda: (lambda s: s if s and s[0] not in (leader, -1) else None)(
        partition_state(survivors, conf, "tls-repl")), 30, "a new leader")
    more, errors = produce(survivors, conf, "tls-repl", [f"b{i}".encode() for i in range(300)])
    assert errors == [], errors[:3]
    acked += more

    c.node(leader).start(60)
    wait_for(lambda: (lambda s: s if s and leader in s[1] else None)(partition_state(boot, conf, "tls-repl")),
             60, f"node {leader} back in the ISR (caught up over TLS)")
    last, errors = produce(boot, conf, "tls-repl", [f"c{i}".encode() for i in range(100)])
    assert errors == []
    acked += last

    values = read_values(boot, "tls-repl", 0, isolation="read_uncommitted", timeout=60, conf=conf)
    missing = set(acked) - set(values)
    assert not missing, f"{len(missing)} acknowledged records lost, e.g. {sorted(missing)[:5]}"
    logs = c.logs()
    assert "panicked" not in logs
