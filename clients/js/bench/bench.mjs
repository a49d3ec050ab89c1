// Benchmark of the JS client in Node over WebSocket, next to the Go SDK's
// numbers measured the same way in the same run (msgtrans bench, over the
// same ws:// listener): publish-only and 1 -> 1, 16-byte payloads.
//
//   npm run bench -- [--msgs 1000000] [--runs 3]
//
// It builds cmd/broker and cmd/msgtrans, starts the broker on a free
// loopback port, and reports the median of the runs. Like msgtrans bench:
// the publish side runs until the broker has confirmed the last message
// (flush), with a flush every 256 KiB and at most two in flight; the
// receive side runs from the first message received to the last.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { connect } from '../dist/index.js';

const arg = (name, def) => {
  const i = process.argv.indexOf('--' + name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const MSGS = arg('msgs', 1000000);
const RUNS = arg('runs', 3);
const SIZE = 16;
const TOPIC = 'msgtrans.bench';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const tmp = mkdtempSync(join(tmpdir(), 'msgtrans-bench-'));
const build = (pkg) => {
  const bin = join(tmp, pkg.split('/').pop());
  execFileSync('go', ['build', '-o', bin, pkg], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  return bin;
};
// The same slow-consumer limit as bench/ gives the brokers it compares.
writeFileSync(join(tmp, 'broker.yaml'), 'limits:\n  max_pending: 1GiB\nretained:\n  store: memory\n');
const broker = spawn(build('./cmd/broker'), ['--log-format', 'json', '--tcp', '', '--quic', '', '--ws', '127.0.0.1:0', '--data-dir', tmp, '--config', join(tmp, 'broker.yaml')], { stdio: ['ignore', 'ignore', 'pipe'] });
const msgtrans = build('./cmd/msgtrans');
const url = await new Promise((res, rej) => {
  let buf = '';
  broker.stderr.on('data', (d) => {
    buf += d;
    const m = buf.match(/"addr":"([^"]+)"[^\n]*listening for ws:\/\//) || buf.match(/listening for ws:\/\/[^\n]*"addr":"([^"]+)"/);
    if (m) res(`ws://${m[1]}/ws`);
  });
  broker.on('exit', () => rej(new Error('broker exited:\n' + buf)));
});

const payload = new Uint8Array(SIZE);
const frameLen = 6 + 2 + TOPIC.length + SIZE;
const window = Math.max(1, Math.floor((256 << 10) / frameLen));

async function publishAll(c) {
  const inflight = [];
  for (let i = 1; i <= MSGS; i++) {
    c.publish(TOPIC, payload);
    if (i % window === 0) {
      inflight.push(c.flush({ timeout: 60000 }));
      if (inflight.length > 2) await inflight.shift();
    }
  }
  inflight.push(c.flush({ timeout: 60000 }));
  await Promise.all(inflight);
}

async function jsPub() {
  const c = await connect(url, { WebSocket });
  const t0 = performance.now();
  await publishAll(c);
  const s = (performance.now() - t0) / 1000;
  await c.close();
  return MSGS / s;
}

async function jsPubSub() {
  const sub = await connect(url, { WebSocket });
  let n = 0, first = 0, last = 0;
  const done = new Promise((res) => {
    sub.subscribe(TOPIC, () => {
      if (n++ === 0) first = performance.now();
      if (n === MSGS) {
        last = performance.now();
        res();
      }
    });
  });
  await sub.flush();
  const pub = await connect(url, { WebSocket });
  await publishAll(pub);
  await done;
  await pub.close();
  await sub.close();
  return (MSGS - 1) / ((last - first) / 1000);
}

function goBench(scenario) {
  const out = execFileSync(msgtrans, ['bench', '--scenario', scenario, '--msgs', String(MSGS), '--size', String(SIZE), '--json', '--server', url], { encoding: 'utf8' });
  const r = JSON.parse(out);
  return scenario === 'pub' ? r.pub.msgs_per_s : r.sub.msgs_per_s;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = { 'publish only': { js: [], go: [] }, '1 -> 1': { js: [], go: [] } };
try {
  for (let r = 0; r < RUNS; r++) {
    rows['publish only'].js.push(await jsPub());
    rows['publish only'].go.push(goBench('pub'));
    rows['1 -> 1'].js.push(await jsPubSub());
    rows['1 -> 1'].go.push(goBench('pubsub'));
  }
  const m = (x) => (x / 1e6).toFixed(2) + ' M';
  console.log(`node ${process.version}, ${MSGS} messages of ${SIZE} bytes, median of ${RUNS} runs, ws:// on loopback`);
  console.log('| scenario (msgs/s) | JS client (Node) | Go SDK | JS / Go |');
  console.log('|---|---|---|---|');
  for (const [name, v] of Object.entries(rows)) {
    const js = median(v.js), go = median(v.go);
    console.log(`| ${name} | ${m(js)} | ${typeof go === 'number' ? m(go) : JSON.stringify(go)} | ${typeof go === 'number' ? Math.round((100 * js) / go) + '%' : ''} |`);
  }
} finally {
  broker.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
}
