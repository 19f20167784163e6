// KafkaJS transactional copier (driven by test_txn_copier.py): reads
// `input` with read_committed in a consumer group and copies each batch to
// the same partition of `output` in transactions of up to 750 records,
// committing the input offsets inside each transaction (sendOffsets).
// On any failure it aborts and exits non-zero: the driver starts a new
// instance, which fences this one (same transactionalId) and resumes from
// the committed offsets.
//
// usage: node txn_copier.js <bootstrap> <seconds to run>
const { Kafka, logLevel } = require('kafkajs');

const [bootstrap, seconds] = process.argv.slice(2);
const TXN_SIZE = 750;
const GROUP = 'js-copier';

async function main() {
  const kafka = new Kafka({
    clientId: 'js-copier',
    brokers: bootstrap.split(','),
    logLevel: logLevel.NOTHING,
    retry: { retries: 10, initialRetryTime: 200, maxRetryTime: 2000 },
  });
  const producer = kafka.producer({ transactionalId: 'js-copier', idempotent: true, maxInFlightRequests: 1, transactionTimeout: 20000 });
  const consumer = kafka.consumer({ groupId: GROUP, readUncommitted: false, sessionTimeout: 10000, rebalanceTimeout: 10000 });
  let failed = null;
  const stop = async (code) => {
    await Promise.allSettled([consumer.disconnect(), producer.disconnect()]);
    process.exit(code);
  };
  setTimeout(() => stop(0), Number(seconds) * 1000).unref();
  consumer.on(consumer.events.CRASH, (e) => { failed = e.payload.error; stop(2); });
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topic: 'input', fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
      for (let i = 0; i < batch.messages.length; i += TXN_SIZE) {
        const chunk = batch.messages.slice(i, i + TXN_SIZE);
        const txn = await producer.transaction();
        try {
          await txn.send({
            topic: 'output',
            messages: chunk.map((m) => ({ key: m.key, value: m.value, partition: batch.partition })),
          });
          const next = (BigInt(chunk[chunk.length - 1].offset) + 1n).toString();
          await txn.sendOffsets({
            consumerGroupId: GROUP,
            topics: [{ topic: 'input', partitions: [{ partition: batch.partition, offset: next }] }],
          });
          await txn.commit();
        } catch (e) {
          try { await txn.abort(); } catch (_) { /* fenced or unreachable */ }
          console.error(`copier: ${e.name}: ${e.message}`);
          await stop(3);
        }
        resolveOffset(chunk[chunk.length - 1].offset);
        await heartbeat();
      }
    },
  });
  if (failed) console.error(failed);
}

main().catch((e) => { console.error(`copier: ${e.name}: ${e.message}`); process.exit(4); });
