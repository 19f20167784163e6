// KafkaJS over SSL with a client certificate: produce N records and read them
// back with a consumer group. Driven by tests/compat/test_tls.py:
//   node tls_roundtrip.js BOOTSTRAP CA CERT KEY TOPIC COUNT
const fs = require('node:fs');
const { Kafka, logLevel } = require('kafkajs');

async function main() {
  const [bootstrap, ca, cert, key, topic, countText] = process.argv.slice(2);
  const count = Number(countText);
  const kafka = new Kafka({
    clientId: 'brook-kafkajs-tls',
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    ssl: { ca: [fs.readFileSync(ca, 'utf8')], cert: fs.readFileSync(cert, 'utf8'), key: fs.readFileSync(key, 'utf8') },
  });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  const messages = [];
  for (let i = 0; i < count; i++) messages.push({ value: `js-${i}` });
  await producer.send({ topic, messages, acks: -1 });
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: `${topic}-group` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const seen = [];
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${seen.length} of ${count} records`)), 60000);
    consumer.run({
      eachMessage: async ({ message }) => {
        seen.push(message.value.toString());
        if (seen.length === count) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  await consumer.disconnect();
  for (let i = 0; i < count; i++) {
    if (seen[i] !== `js-${i}`) throw new Error(`record ${i} is ${seen[i]}`);
  }
  console.log(`kafkajs-tls-ok ${seen.length}`);
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
