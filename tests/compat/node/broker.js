// Starts the real `brook` binary on an ephemeral loopback port with a
// temporary data dir; stops it by PID.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const BIN = process.env.BROOK_TEST_BINARY || path.join(ROOT, 'target', 'debug', 'brook');

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.once('connect', () => { sock.destroy(); resolve(true); });
    sock.once('error', () => resolve(false));
  });
}

async function startBroker(settings = {}) {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brook-kafkajs-'));
  const args = ['server', '--set', `log.dirs=${path.join(dir, 'data')}`, '--set', `listeners=PLAINTEXT://127.0.0.1:${port}`];
  for (const [k, v] of Object.entries(settings)) args.push('--set', `${k}=${v}`);
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BROOK_') || k === 'BROOK_LOG'));
  const log = fs.openSync(path.join(dir, 'broker.log'), 'a');
  const child = spawn(BIN, args, { env, stdio: ['ignore', log, log] });
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`broker exited ${child.exitCode}: ${fs.readFileSync(path.join(dir, 'broker.log'))}`);
    if (await canConnect(port)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    bootstrap: `127.0.0.1:${port}`,
    dir,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

module.exports = { startBroker };
