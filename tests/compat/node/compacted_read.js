// KafkaJS reads a (compacted) topic back, driven by tests/compat/test_compaction.py
// (a plain script, not a node:test file).
//   node compacted_read.js BOOTSTRAP TOPIC
// Takes each partition's end first (admin.fetchTopicOffsets: the high
// watermark), then reads every partition from the beginning with a fresh
// one-member consumer group (KafkaJS has no manual assignment) until it has
// seen the last offset below each end. Prints one JSON line per record,
// ordered by partition then offset:
//   {"partition": P, "offset": N, "key": "..." | null, "value": "..." | null}
// then a summary line {"done": true, "count": N}. A record read twice (a
// rebalance replaying) is printed once; read twice with different content,
// the script fails (exit 1). Gives up after 60 s: prints what it has and a
// summary {"done": false, ...}, exits 2.
const { Kafka, logLevel } = require('kafkajs');

const [bootstrap, topic] = process.argv.slice(2);
const seen = new Map(); // "partition:offset" -> record
const pending = new Map(); // partition -> high watermark not reached yet

function finish(done, code, extra = {}) {
  const records = [...seen.values()].sort((a, b) => a.partition - b.partition || a.offset - b.offset);
  const lines = records.map((r) => JSON.stringify(r));
  lines.push(JSON.stringify({ done, count: records.length, pending: [...pending.keys()], ...extra }));
  process.stdout.write(`${lines.join('\n')}\n`, () => process.exit(code));
}

const timer = setTimeout(() => finish(false, 2, { timedOut: true }), 60000);

async function main() {
  if (!bootstrap || !topic) throw new Error('usage: node compacted_read.js BOOTSTRAP TOPIC');
  const kafka = new Kafka({
    clientId: 'brook-compacted-read',
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    retry: { retries: 10, initialRetryTime: 200 },
  });

  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  for (const p of ends) {
    if (Number(p.high) > Number(p.low)) pending.set(p.partition, Number(p.high));
  }
  if (pending.size === 0) {
    clearTimeout(timer);
    finish(true, 0);
    return;
  }

  const consumer = kafka.consumer({
    groupId: `compacted-read-${process.pid}-${Date.now()}`,
    sessionTimeout: 10000,
    heartbeatInterval: 500,
    maxWaitTimeInMs: 200,
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise((resolve, reject) => {
    // A retriable crash restarts the consumer by itself; only a final one is fatal.
    consumer.on(consumer.events.CRASH, (e) => { if (!e.payload.restart) reject(e.payload.error); });
    consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        const offset = Number(message.offset);
        const record = {
          partition,
          offset,
          key: message.key === null ? null : message.key.toString(),
          value: message.value === null ? null : message.value.toString(),
        };
        const id = `${partition}:${offset}`;
        const before = seen.get(id);
        if (before !== undefined && JSON.stringify(before) !== JSON.stringify(record)) {
          reject(new Error(`offset ${id} read twice with different content: ${JSON.stringify(before)} then ${JSON.stringify(record)}`));
          return;
        }
        const high = pending.get(partition);
        if (high === undefined || offset >= high) return; // partition done, or written after we started
        seen.set(id, record);
        if (offset + 1 >= high) {
          pending.delete(partition);
          if (pending.size === 0) resolve();
        }
      },
    }).catch(reject);
  });
  await consumer.disconnect();
  clearTimeout(timer);
  finish(true, 0);
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
