// KafkaJS against a Brook cluster, driven by tests/compat/test_cluster.py
// (a plain script, not a node:test file).
//   node cluster_roundtrip.js BOOTSTRAP TOPIC EXPECTED
// Produces 50 records (values js-0..js-49), then consumes TOPIC from the
// beginning with a fresh consumer group until EXPECTED distinct values have
// been seen, and prints {"distinct": N, "values": [...]} as one JSON line.
// Gives up after 60 s (prints what it has, exits 2).
const { Kafka, logLevel } = require('kafkajs');

const [bootstrap, topic, expectedArg] = process.argv.slice(2);
const expected = Number(expectedArg);
const seen = new Set();

const timer = setTimeout(() => {
  console.log(JSON.stringify({ distinct: seen.size, values: [...seen], timedOut: true }));
  process.exit(2);
}, 60000);

async function main() {
  if (!bootstrap || !topic || !Number.isFinite(expected)) {
    throw new Error('usage: node cluster_roundtrip.js BOOTSTRAP TOPIC EXPECTED');
  }
  const kafka = new Kafka({
    clientId: 'brook-cluster-roundtrip',
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    retry: { retries: 10, initialRetryTime: 200 },
  });

  const producer = kafka.producer();
  await producer.connect();
  const messages = [];
  for (let i = 0; i < 50; i++) messages.push({ key: `js-${i}`, value: `js-${i}` });
  await producer.send({ topic, messages, acks: -1 });
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: `cluster-roundtrip-${process.pid}-${Date.now()}`, sessionTimeout: 10000,
    heartbeatInterval: 500 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise((resolve, reject) => {
    // A retriable crash restarts the consumer by itself; only a final one is fatal.
    consumer.on(consumer.events.CRASH, (e) => { if (!e.payload.restart) reject(e.payload.error); });
    consumer.run({
      eachMessage: async ({ message }) => {
        seen.add(message.value === null ? null : message.value.toString());
        if (seen.size >= expected) resolve();
      },
    }).catch(reject);
  });
  await consumer.disconnect();
  clearTimeout(timer);
  console.log(JSON.stringify({ distinct: seen.size, values: [...seen] }));
  process.exit(0);
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
