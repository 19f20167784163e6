"""The web console (admin listener `/`, `/api/`) driven by a headless
browser (Debian's chromium + chromedriver through Selenium) against three
combined nodes at RF=3. What this file proves:

a. the overview lists the three brokers, one of them the controller;
b. a topic created through the UI's form exists for a Kafka client (RF 3,
   its config override), and its detail page shows its partitions;
c. a message with a header produced through the UI reads back through the
   UI's browser (key, value as text/JSON/hex, header) and through
   confluent-kafka;
d. a consumer group whose offsets the UI reset to earliest shows a lag of N,
   which falls to 0 in the UI as a confluent-kafka consumer reads and
   commits; resetting while the consumer is a member is refused
   (NON_EMPTY_GROUP);
e. the API answers bad input with 4xx JSON errors;
g. after kill -9 of a broker the overview shows it fenced and the topic page
   answers through the survivors; after its restart it is active again;
f. on a broker whose only listener is SSL with client certificates
   required, the API (a Kafka client over the inter-broker listener) works.

Screenshots of every page go to $BROOK_ARTIFACTS/console (default
tests/compat/artifacts/console, git-ignored).
"""

import base64
import json
import os
import shutil
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, ConfigResource

from cluster import cluster, cluster_factory, wait_for  # noqa: F401  (fixtures)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
WAIT = 30  # seconds any one UI wait may take

ARTIFACTS = Path(os.environ.get("BROOK_ARTIFACTS", Path(__file__).parent / "artifacts")) / "console"


@pytest.fixture
def browser():
    """Headless chromium; quit (and its driver stopped by PID) at teardown."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed: run scripts/install-test-deps")
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail("chromium and chromium-driver are not installed: run scripts/install-test-deps")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000"]:
        options.add_argument(arg)
    service = Service(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        pid = service.process.pid if service.process else None
        try:
            driver.quit()
        finally:
            if pid is not None and service.process.poll() is None:
                service.process.kill()


def shot(driver, name):
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def wait_ui(driver, predicate, what, timeout=WAIT):
    """Polls `predicate(driver)` until truthy; the page re-renders as it
    refreshes, so a vanished or stale element just means: look again."""
    from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait
    ignored = (IndexError, StaleElementReferenceException, NoAlertPresentException)
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.2, ignored_exceptions=ignored).until(predicate)
    except Exception as e:
        shot(driver, "failed-" + what.replace(" ", "-")[:40])
        raise AssertionError(f"timed out after {timeout}s waiting for {what}: {e!r}") from None


def css(driver, selector):
    from selenium.webdriver.common.by import By
    return driver.find_elements(By.CSS_SELECTOR, selector)


def fill(driver, selector, text):
    (field,) = css(driver, selector)
    field.clear()
    field.send_keys(str(text))


def select(driver, selector, value):
    from selenium.webdriver.support.ui import Select
    (field,) = css(driver, selector)
    Select(field).select_by_value(value)


def texts(driver, selector):
    return [e.text for e in css(driver, selector)]


def api(base, method, path, body=None, raw=None, headers=None):
    """(status, JSON) of one console API call."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    headers = {"Content-Type": "application/json", **(headers or {})}
    request = urllib.request.Request(base + "/api/" + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_console_against_three_nodes(cluster, browser):
    base = cluster.node(1).admin_url
    bootstrap = cluster.bootstrap
    d = browser

    # a. Overview: three brokers, one controller.
    d.get(base + "/")
    wait_ui(d, lambda d: len(css(d, "[data-testid=broker-row]")) == 3, "three broker rows")
    assert texts(d, "[data-testid=broker-count]") == ["3"]
    assert len(css(d, "[data-testid=broker-controller]")) == 1
    assert len(css(d, "[data-testid=broker-active]")) == 3
    assert len(css(d, "[data-testid=voter-row]")) == 3
    shot(d, "overview")

    # b. Create a topic through the form.
    d.get(base + "/#/topics")
    wait_ui(d, lambda d: css(d, "#create-topic-form"), "the create-topic form")
    fill(d, "#topic-name", "console-topic")
    fill(d, "#topic-partitions", 3)
    fill(d, "#topic-rf", 3)
    fill(d, "#topic-configs", "retention.ms=3600000")
    css(d, "#create-topic-btn")[0].click()
    wait_ui(d, lambda d: css(d, "tr[data-topic=console-topic]"), "the new topic's row")
    shot(d, "topics")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    meta = admin.list_topics(timeout=10).topics["console-topic"]
    assert len(meta.partitions) == 3
    assert all(len(p.replicas) == 3 for p in meta.partitions.values())
    configs = admin.describe_configs([ConfigResource("topic", "console-topic")])
    (future,) = configs.values()
    assert future.result(timeout=10)["retention.ms"].value == "3600000"
    # The same name again: the Kafka error is shown.
    fill(d, "#topic-name", "console-topic")
    css(d, "#create-topic-btn")[0].click()
    wait_ui(d, lambda d: "TOPIC_ALREADY_EXISTS" in css(d, "#create-topic-status")[0].text, "TOPIC_ALREADY_EXISTS")

    d.get(base + "/#/topics/console-topic")
    wait_ui(d, lambda d: len(css(d, "[data-testid=partition-row]")) == 3, "three partition rows")
    overrides = [r.text for r in css(d, "[data-testid=config-row]") if "topic override" in r.text]
    assert any(r.startswith("retention.ms 3600000") for r in overrides), overrides
    shot(d, "topic-detail")

    # c. Produce a message with a header to partition 1, then browse it.
    d.get(base + "/#/messages?topic=console-topic")
    wait_ui(d, lambda d: css(d, "#produce-form") and css(d, "#browse-summary, [data-testid=error]"),
            "the messages page")
    fill(d, "#produce-partition", 1)
    fill(d, "#produce-key", "order-1")
    fill(d, "#produce-value", '{"id": 1, "item": "book"}')
    fill(d, ".produce-header-key", "trace-id")
    fill(d, ".produce-header-value", "abc123")
    css(d, "#produce-btn")[0].click()
    wait_ui(d, lambda d: "offset 0" in css(d, "#produce-status")[0].text, "the produce confirmation")
    wait_ui(d, lambda d: len(css(d, "[data-testid=message-row]")) == 1, "the produced message in the browser")
    assert texts(d, "[data-testid=message-key]") == ["order-1"]
    assert texts(d, "[data-testid=message-value]") == ['{"id": 1, "item": "book"}']
    assert texts(d, "[data-testid=message-header]") == ["trace-id: abc123"]
    select(d, "#browse-format", "json")
    wait_ui(d, lambda d: '"item": "book"\n}' in css(d, "[data-testid=message-value]")[0].text, "pretty JSON")
    shot(d, "messages-json")
    select(d, "#browse-format", "hex")
    wait_ui(d, lambda d: texts(d, "[data-testid=message-key]") == ["6f 72 64 65 72 2d 31"], "the key in hex")
    shot(d, "messages-hex")
    # Browse by offset on an empty partition: nothing there.
    fill(d, "#browse-partition", 0)
    select(d, "#browse-mode", "offset")
    fill(d, "#browse-position", 0)
    css(d, "#browse-btn")[0].click()
    wait_ui(d, lambda d: css(d, "[data-testid=no-messages]"), "an empty partition 0")
    # What the UI produced is what a Kafka client reads.
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": "console-check", "enable.auto.commit": False})
    try:
        reader.assign([TopicPartition("console-topic", 1, 0)])
        msg = wait_for(lambda: (lambda m: m if m is not None and not m.error() else None)(reader.poll(1.0)),
                       timeout=30, what="the produced message via confluent-kafka")
        assert (msg.key(), msg.value()) == (b"order-1", b'{"id": 1, "item": "book"}')
        assert msg.headers() == [("trace-id", b"abc123")]
    finally:
        reader.close()

    # d. A group's lag falls to 0 in the UI as a consumer reads.
    n = 300
    admin.create_topics([NewTopic("lag-topic", 3, 3)])["lag-topic"].result(timeout=30)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i in range(n):
        producer.produce("lag-topic", key=str(i).encode(), value=b"v" * 100, partition=i % 3)
    assert producer.flush(30) == 0
    group = "console-group"
    d.get(base + "/#/groups/" + group)
    wait_ui(d, lambda d: css(d, "#reset-form"), "the reset form")
    fill(d, "#reset-topic", "lag-topic")
    select(d, "#reset-to", "earliest")
    css(d, "#reset-btn")[0].click()
    wait_ui(d, lambda d: "p0→0" in css(d, "#reset-status")[0].text, "the reset to earliest")
    wait_ui(d, lambda d: texts(d, "#group-total-lag") == [str(n)], f"a lag of {n}")
    assert len(css(d, "[data-testid=group-lag-row]")) == 3
    shot(d, "group-before")

    stop = threading.Event()
    consumed = []
    errors = []

    def consume():
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                      "auto.offset.reset": "earliest", "session.timeout.ms": 6000, "client.id": "console-test"})
        try:
            c.subscribe(["lag-topic"])
            deadline = time.time() + 120
            # Polls until told to stop, staying a member, so the reset below meets a non-empty group.
            while not stop.is_set() and time.time() < deadline:
                batch = [m for m in c.consume(num_messages=20, timeout=1.0) if not m.error()]
                if batch:
                    consumed.extend(batch)
                    c.commit(asynchronous=False)
                    time.sleep(0.5)  # slow enough for the page (refreshing every 2 s) to see the lag fall
        except Exception as e:  # reported by the test
            errors.append(e)
        finally:
            c.close()

    t = threading.Thread(target=consume, daemon=True)
    t.start()
    try:
        seen = []
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                lag = texts(d, "#group-total-lag")
                member = bool(css(d, "[data-testid=member-row]"))
            except Exception:  # re-rendered while read: look again
                time.sleep(0.3)
                continue
            if lag and (not seen or seen[-1] != lag[0]):
                seen.append(lag[0])
            if seen and seen[-1] == "0" and member:
                break
            assert not errors, errors
            time.sleep(0.3)
        assert seen and seen[-1] == "0", f"lag never reached 0 in the UI: {seen}"
        values = [int(v) for v in seen]
        assert values[0] == n and any(0 < v < n for v in values), f"lag as the UI showed it: {values}"
        assert values == sorted(values, reverse=True), f"lag went up: {values}"
        assert len(consumed) == n
        assert texts(d, "[data-testid=group-state]") == ["Stable"]
        members = texts(d, "[data-testid=member-row]")
        assert len(members) == 1 and "console-test" in members[0]
        shot(d, "group-after")
        # Kafka refuses to move a live group's offsets.
        select(d, "#reset-to", "earliest")
        css(d, "#reset-btn")[0].click()
        wait_ui(d, lambda d: "NON_EMPTY_GROUP" in css(d, "#reset-status")[0].text, "NON_EMPTY_GROUP")
    finally:
        stop.set()
        t.join(timeout=90)
    d.get(base + "/#/groups")
    wait_ui(d, lambda d: css(d, f"tr[data-group={group}]"), "the group in the list")
    shot(d, "groups")

    # The throughput page charts what this broker's metrics export.
    d.get(base + "/#/throughput")
    wait_ui(d, lambda d: css(d, "#throughput-chart") and "metrics" in css(d, "#throughput-note")[0].text,
            "the throughput page")
    # Rates need two polls; open connections (this test's clients) are a level.
    wait_ui(d, lambda d: any(ch.isdigit() for ch in css(d, "[data-testid=rate-connections]")[0].text),
            "the connections series")
    # Traffic while the page polls: node 1 leads one of lag-topic's partitions
    # (leaders spread round-robin), so its bytes and messages in rise.
    load_stop = threading.Event()

    def load():
        p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        deadline = time.time() + 60
        while not load_stop.is_set() and time.time() < deadline:
            for partition in range(3):
                p.produce("lag-topic", value=b"x" * 500, partition=partition)
            p.poll(0)
            time.sleep(0.02)
        p.flush(10)

    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    try:
        def rising(d):
            text = css(d, "[data-testid=rate-messages_in]")[0].text
            return text.split(": ")[-1] not in ("–", "0.0/s")
        wait_ui(d, rising, "a messages-in rate above 0")
        assert css(d, "[data-testid=rate-bytes_in]")[0].text.split(": ")[-1] not in ("–", "0 B/s")
        time.sleep(3)  # a few polls drawn
        shot(d, "throughput")
    finally:
        load_stop.set()
        loader.join(timeout=30)

    # e. Bad input: 4xx JSON with a Kafka-style error name.
    assert api(base, "POST", "topics", raw=b"{not json")[0] == 400
    status, body = api(base, "POST", "topics", {"name": "bad name!"})
    assert (status, body["error"]) == (400, "INVALID_TOPIC_EXCEPTION")
    status, body = api(base, "GET", "topics/no-such-topic")
    assert (status, body["error"]) == (404, "UNKNOWN_TOPIC_OR_PARTITION")
    assert api(base, "POST", "topics", raw=b"x" * ((1 << 20) + 100))[0] == 413
    status, body = api(base, "GET", "topics/console-topic/messages?limit=0")
    assert status == 400 and "limit" in body["message"]
    # What a page of another site could send through the operator's browser is refused.
    status, body = api(base, "POST", "topics", {"name": "csrf"}, headers={"Content-Type": "text/plain"})
    assert (status, body["error"]) == (415, "UNSUPPORTED_MEDIA_TYPE")
    status, body = api(base, "DELETE", "topics/console-topic", headers={"Origin": "http://evil.example"})
    assert (status, body["error"]) == (403, "CROSS_ORIGIN_REFUSED")

    # Deleting through the UI (the confirm dialog accepted).
    d.get(base + "/#/topics")
    wait_ui(d, lambda d: css(d, "tr[data-topic=console-topic] [data-testid=delete-topic]"), "the delete button")
    css(d, "tr[data-topic=console-topic] [data-testid=delete-topic]")[0].click()
    wait_ui(d, lambda d: d.switch_to.alert, "the confirm dialog").accept()
    wait_ui(d, lambda d: not css(d, "tr[data-topic=console-topic]"), "the topic gone from the list")
    wait_for(lambda: "console-topic" not in admin.list_topics(timeout=10).topics, timeout=30,
             what="the topic deleted for a Kafka client")

    # g. kill -9 of a broker mid-test: the overview shows it fenced, and the
    # topic page still answers through the survivors, with every partition
    # led by one of them; after its restart it is active again.
    victim = cluster.node(3)
    victim.kill9()
    wait_for(lambda: any(b["id"] == 3 and b["fenced"] for b in api(base, "GET", "cluster")[1]["brokers"]),
             timeout=30, what="broker 3 fenced after kill -9")
    d.get(base + "/")
    wait_ui(d, lambda d: len(css(d, "[data-testid=broker-fenced]")) == 1
            and len(css(d, "[data-testid=broker-active]")) == 2, "one broker shown fenced, two active")
    shot(d, "overview-broker-killed")

    def led_by_survivors():
        status, body = api(base, "GET", "topics/lag-topic")
        return status == 200 and all(p["leader"] in (1, 2) for p in body["partitions"])
    wait_for(led_by_survivors, timeout=30, what="lag-topic led by the survivors, through the console")
    d.get(base + "/#/topics/lag-topic")
    wait_ui(d, lambda d: len(css(d, "[data-testid=partition-row]")) == 3, "lag-topic's partitions after the kill")
    victim.restart()
    wait_for(lambda: not any(b["fenced"] for b in api(base, "GET", "cluster")[1]["brokers"]),
             timeout=60, what="broker 3 active again after its restart")
    d.get(base + "/")
    wait_ui(d, lambda d: len(css(d, "[data-testid=broker-active]")) == 3, "three active brokers again")


def test_console_api_over_an_ssl_inter_broker_listener(brook_factory, tmp_path):
    """A broker whose only Kafka listener is SSL with client certificates
    required: the console connects as the broker's own inter-broker links
    do (the listener's keystore and truststore) and works."""
    from certs import CA, server_settings

    ca = CA(tmp_path / "ca")
    server = ca.issue(tmp_path / "server", "localhost", dns=["localhost"], ips=["127.0.0.1"])
    b = brook_factory({"inter.broker.listener.name": "SSL", **server_settings(ca, server)})
    b.settings["listeners"] = f"SSL://127.0.0.1:{b.port}"
    b.start()
    base = b.admin_url
    status, body = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(
        api(base, "POST", "topics", {"name": "tls-topic", "partitions": 1, "replication_factor": 1})),
        timeout=30, what="a topic created over SSL")
    assert body == {"created": "tls-topic"}
    status, body = api(base, "POST", "topics/tls-topic/messages",
                       {"key": "k", "value": "over tls", "headers": [{"key": "h", "value": "1"}]})
    assert status == 200, body
    status, body = api(base, "GET", "topics/tls-topic/messages?partition=0&offset=0")
    assert status == 200, body
    (m,) = body["messages"]
    assert base64.b64decode(m["value"]["base64"]) == b"over tls"
    assert m["headers"][0]["key"] == "h"
    assert "tls-topic" in [t["name"] for t in api(base, "GET", "topics")[1]["topics"]]
