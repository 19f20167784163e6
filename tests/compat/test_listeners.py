"""Named listeners: a broker accepts on every client listener, and Metadata,
FindCoordinator and DescribeCluster answer with the endpoint of the listener
the client is connected on (as Kafka does)."""

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from conftest import free_port


def test_each_listener_advertises_its_own_endpoint(brook_factory):
    internal, external = free_port(), free_port()
    b = brook_factory({
        "listeners": f"INTERNAL://127.0.0.1:{internal},EXTERNAL://127.0.0.1:{external}",
        "listener.security.protocol.map": "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT",
        "inter.broker.listener.name": "INTERNAL",
        # Another host name for the same port: which endpoint a client was
        # given shows in the host.
        "advertised.listeners": f"EXTERNAL://localhost:{external}",
    })
    b.port = internal
    b.start()
    on_internal = AdminClient({"bootstrap.servers": f"127.0.0.1:{internal}"}).list_topics(timeout=10)
    assert [(x.host, x.port) for x in on_internal.brokers.values()] == [("127.0.0.1", internal)]
    on_external = AdminClient({"bootstrap.servers": f"127.0.0.1:{external}"}).list_topics(timeout=10)
    assert [(x.host, x.port) for x in on_external.brokers.values()] == [("localhost", external)]
    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{external}"})
    cluster = admin.describe_cluster(request_timeout=10).result(timeout=15)
    assert [(n.host, n.port) for n in cluster.nodes] == [("localhost", external)]

    # A produce/consume round trip with a group (FindCoordinator) on each.
    for port, value in [(internal, b"v1"), (external, b"v2")]:
        p = Producer({"bootstrap.servers": f"127.0.0.1:{port}"})
        p.produce("named-listeners", value)
        assert p.flush(15) == 0
    for port in [internal, external]:
        c = Consumer({"bootstrap.servers": f"127.0.0.1:{port}", "group.id": f"g{port}", "auto.offset.reset": "earliest"})
        try:
            c.subscribe(["named-listeners"])
            got = []
            for _ in range(60):
                m = c.poll(0.5)
                if m is not None and m.error() is None:
                    got.append(m.value())
                if len(got) == 2:
                    break
            assert got == [b"v1", b"v2"]
        finally:
            c.close()
