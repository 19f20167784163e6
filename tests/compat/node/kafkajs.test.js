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
