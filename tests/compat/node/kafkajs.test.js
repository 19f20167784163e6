// KafkaJS against Brook: admin (create topics, metadata, offsets, offsets by
// timestamp), keyed produce with headers and gzip, idempotent produce.
const test = require('node:test');
const assert = require('node:assert');
const { Kafka, CompressionTypes, logLevel } = require('kafkajs');
const { startBroker } = require('./broker');

test('KafkaJS admin and producer', async () => {
  const broker = await startBroker();
  const kafka = new Kafka({ clientId: 'brook-kafkajs', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  try {
    await admin.connect();
    assert.strictEqual(await admin.createTopics({ topics: [{ topic: 'js-topic', numPartitions: 3 }] }), true);
    const meta = await admin.fetchTopicMetadata({ topics: ['js-topic'] });
    assert.strictEqual(meta.topics[0].partitions.length, 3);

    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const base = Date.now() - 60000;
    const messages = [];
    for (let i = 0; i < 300; i++) {
      messages.push({ key: `key-${i % 10}`, value: `value-${i}`, headers: { i: String(i) }, timestamp: String(base + i * 100) });
    }
    const results = await producer.send({ topic: 'js-topic', messages, compression: CompressionTypes.GZIP, acks: -1 });
    assert.ok(results.every((r) => r.errorCode === 0));
    await producer.send({ topic: 'js-topic', messages: [{ key: null, value: 'null-key', partition: 0 }, { key: 'nv', value: null, partition: 0 }] });
    await producer.disconnect();

    const offsets = await admin.fetchTopicOffsets('js-topic');
    const total = offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
    assert.strictEqual(total, 302);
    const byTime = await admin.fetchTopicOffsetsByTimestamp('js-topic', base + 15000);
    const before = byTime.reduce((n, p) => n + Number(p.offset), 0);
    assert.strictEqual(before, 150, 'records before the timestamp across partitions');
    await admin.deleteTopics({ topics: ['js-topic'] });
    const topics = await admin.listTopics();
    assert.ok(!topics.includes('js-topic'));
  } finally {
    await admin.disconnect();
    await broker.stop();
  }
});

// KafkaJS has no manual partition assignment: its consumer always joins a
// group. The nearest real thing to "consume by assignment" is a one-member
// group, which is assigned every partition; then a second consumer in the
// same group resumes from the committed offsets.
test('KafkaJS group consumer: consume, commit, resume', async () => {
  const broker = await startBroker({ 'group.initial.rebalance.delay.ms': '0' });
  const kafka = new Kafka({ clientId: 'brook-kafkajs', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'js-group', numPartitions: 2 }] });
    const producer = kafka.producer();
    await producer.connect();
    const messages = [];
    for (let i = 0; i < 200; i++) messages.push({ key: `k${i}`, value: `v${i}`, partition: i % 2, headers: { n: String(i) } });
    await producer.send({ topic: 'js-group', messages });
    await producer.disconnect();

    async function consume(limit) {
      const consumer = kafka.consumer({ groupId: 'js-g', sessionTimeout: 10000, heartbeatInterval: 500 });
      await consumer.connect();
      await consumer.subscribe({ topic: 'js-group', fromBeginning: true });
      const seen = [];
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${seen.length} messages`)), 30000);
        consumer.run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            if (seen.length >= limit) return;
            seen.push({ partition, offset: Number(message.offset), value: message.value.toString(), n: message.headers.n.toString() });
            await consumer.commitOffsets([{ topic: 'js-group', partition, offset: String(Number(message.offset) + 1) }]);
            if (seen.length === limit) { clearTimeout(timer); resolve(); }
          },
        }).catch(reject);
      });
      await consumer.disconnect();
      return seen;
    }

    const first = await consume(120);
    assert.strictEqual(first.length, 120);
    for (const m of first) assert.strictEqual(m.value, `v${m.n}`);
    const second = await consume(80);
    const all = new Set([...first, ...second].map((m) => `${m.partition}:${m.offset}`));
    assert.strictEqual(all.size, 200, 'resumed from the committed offsets: nothing skipped or repeated');
    const groups = await admin.listGroups();
    assert.ok(groups.groups.some((g) => g.groupId === 'js-g'));
    const offsets = await admin.fetchOffsets({ groupId: 'js-g', topics: ['js-group'] });
    assert.deepStrictEqual(offsets[0].partitions.map((p) => p.offset).sort(), ['100', '100']);
  } finally {
    await admin.disconnect();
    await broker.stop();
  }
});
