// KafkaJS over SASL, driven by tests/compat/test_sasl.py (a plain script).
//   node sasl_roundtrip.js BOOTSTRAP TOPIC MECHANISM USER PASSWORD [ssl-ca-file]
// MECHANISM is plain, scram-sha-256 or scram-sha-512. Produces 10 records
// (sasl-js-0..9), consumes them back with a fresh group and prints
// {"values": [...]} as one JSON line; a failed login prints
// {"error": "<name>", "message": "..."} and exits 3. Gives up after 60 s.
const fs = require('fs');
const { Kafka, logLevel } = require('kafkajs');

const [bootstrap, topic, mechanism, username, password, caFile] = process.argv.slice(2);
const seen = [];
const timer = setTimeout(() => {
  console.log(JSON.stringify({ values: seen, timedOut: true }));
  process.exit(2);
}, 60000);

async function main() {
  const kafka = new Kafka({
    clientId: 'brook-sasl',
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    sasl: { mechanism, username, password },
    ssl: caFile ? { ca: [fs.readFileSync(caFile, 'utf-8')], rejectUnauthorized: true } : false,
    retry: { retries: 3, initialRetryTime: 200 },
  });
  const producer = kafka.producer();
  try {
    await producer.connect();
  } catch (e) {
    console.log(JSON.stringify({ error: e.name, message: e.message }));
    clearTimeout(timer);
    process.exit(3);
  }
  const messages = [];
  for (let i = 0; i < 10; i++) messages.push({ value: `sasl-js-${i}` });
  await producer.send({ topic, messages, acks: -1 });
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: `sasl-js-${process.pid}`, sessionTimeout: 10000, heartbeatInterval: 500 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise((resolve, reject) => {
    consumer.on(consumer.events.CRASH, (e) => { if (!e.payload.restart) reject(e.payload.error); });
    consumer.run({
      eachMessage: async ({ message }) => {
        seen.push(message.value.toString());
        if (seen.length >= 10) resolve();
      },
    }).catch(reject);
  });
  await consumer.disconnect();
  clearTimeout(timer);
  console.log(JSON.stringify({ values: seen }));
  process.exit(0);
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
