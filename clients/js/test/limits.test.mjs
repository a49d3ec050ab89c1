// The broker's limits and errors as a client sees them: authentication,
// subscription limits, payload limits, slow consumers (the client's own
// queue and the broker's pending limit), heartbeats, wills.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, ServerError, ErrorCode, SlowConsumerError, PayloadTooLargeError, NoServersError } from '../dist/index.js';
import { startBroker, WebSocket, until, next, freeze } from './helpers.mjs';

// A WebSocket that remembers its instances, so a test can stop reading
// from one (a slow consumer) or cut it (a vanished client).
class Tracked extends WebSocket {
  static all = [];
  constructor(...a) {
    super(...a);
    Tracked.all.push(this);
  }
}

let broker;
const conns = [];
before(async () => {
  broker = await startBroker({
    config: [
      'auth:\n  token: s3cret',
      'limits:\n  max_payload: 16KiB\n  max_pending: 64KiB\n  max_subscriptions: 3',
      'sessions:\n  ping_interval: 100ms\n  dead_peer_timeout: 400ms\n  max_frame: 100KiB',
      'retained:\n  store: memory',
      '',
    ].join('\n'),
  });
});
after(async () => {
  for (const c of conns) await c.close();
  await broker.kill();
});

async function conn(opts = {}) {
  const c = await connect(broker.url, { WebSocket: Tracked, token: 's3cret', ...opts });
  conns.push(c);
  return c;
}

test('a bad token is refused with a fatal AUTH error', async () => {
  await assert.rejects(connect([broker.url, broker.url], { WebSocket, token: 'wrong' }), (e) => {
    assert.ok(e instanceof ServerError, String(e));
    assert.equal(e.code, ErrorCode.AUTH);
    assert.equal(e.fatal, true);
    return true;
  });
  await assert.rejects(connect(broker.url, { WebSocket }), (e) => e instanceof ServerError && e.code === ErrorCode.AUTH);
  const c = await conn();
  assert.ok(c.isConnected);
});

test('user and password authenticate; a wrong password is refused', async () => {
  const b = await startBroker({ config: 'auth:\n  users:\n    - {user: bob, password: pw}\nretained:\n  store: memory\n' });
  try {
    const c = await connect(b.url, { WebSocket, user: 'bob', password: 'pw' });
    assert.ok(c.isConnected);
    await c.close();
    await assert.rejects(connect(b.url, { WebSocket, user: 'bob', password: 'nope' }), (e) => e instanceof ServerError && e.code === ErrorCode.AUTH);
  } finally {
    await b.kill();
  }
});

test('a subscription over the limit ends with TOO_MANY_SUBS, reported with the subscription', async () => {
  const errors = [];
  const c = await conn({ onError: (e, s) => errors.push([e, s]) });
  const statuses = c.status()[Symbol.asyncIterator]();
  const ok = [c.subscribe('lim.a'), c.subscribe('lim.b'), c.subscribe('lim.c')];
  const refused = c.subscribe('lim.d');
  const why = await refused.closed;
  assert.ok(why instanceof ServerError);
  assert.equal(why.code, ErrorCode.TOO_MANY_SUBS);
  assert.equal(why.sid, refused.sid);
  assert.equal(errors.length, 1);
  assert.equal(errors[0][1], refused);
  const st = (await next(statuses)).value;
  assert.equal(st.type, 'error');
  assert.equal(st.subscription, refused);
  await assert.rejects(async () => { for await (const m of refused) assert.fail(`got ${m.topic}`); }, (e) => e === why);
  assert.ok(ok.every((s) => !s.isClosed));
  // The connection goes on.
  c.publish('lim.a', 'x');
  assert.equal((await next(ok[0][Symbol.asyncIterator]())).value.string(), 'x');
});

test('payloads over the max_payload of the WELCOME are refused before sending; the connection stays', async () => {
  const c = await conn();
  assert.equal(c.info.maxPayload, 16 * 1024);
  assert.throws(() => c.publish('lim.p', new Uint8Array(16 * 1024 + 1)), PayloadTooLargeError);
  assert.throws(() => c.publish('lim.p', 'é'.repeat(8 * 1024 + 1)), PayloadTooLargeError, 'strings are measured in UTF-8 bytes');
  await c.publishAck('lim.p', new Uint8Array(16 * 1024));
  assert.ok(c.isConnected);
});

test('the client asks for the limits: WELCOME tells it max_frame and dead_peer_ms', async () => {
  const c = await conn();
  assert.equal(c.info.maxPayload, 16 * 1024);
  assert.equal(c.info.maxFrame, 100 * 1024);
  assert.equal(c.info.deadPeerMs, 400);
  // The largest payload still arrives: its frame is within max_frame + 4.
  const sub = c.subscribe('limits.frame');
  await c.flush();
  const big = new Uint8Array(16 * 1024).fill(7);
  c.publish('limits.frame', big, { headers: { a: 'b' } });
  const m = (await next(sub[Symbol.asyncIterator]())).value;
  assert.equal(m.data.length, big.length);
  assert.equal(m.headers.get('a'), 'b');
  sub.unsubscribe();
});

test('a subscription iterator that is not read drops messages and reports SlowConsumerError once', async () => {
  const errors = [];
  const c = await conn({ onError: (e, s) => errors.push([e, s]) });
  const s = c.subscribe('lim.slow', { maxPendingMsgs: 10 });
  await c.flush();
  for (let i = 0; i < 50; i++) c.publish('lim.slow', String(i));
  await c.flush();
  await until(() => errors.length > 0);
  assert.ok(errors[0][0] instanceof SlowConsumerError);
  assert.equal(errors[0][1], s);
  assert.equal(errors.length, 1, 'reported once per episode');
  assert.deepEqual(s.pending, { msgs: 10, bytes: 10 });
  const got = [];
  for await (const m of s) {
    got.push(m.string());
    if (got.length === 10) break;
  }
  assert.deepEqual(got, [...Array(10).keys()].map(String));
});

test('a client that stops reading is cut off by the broker as a slow consumer, then reconnects with its subscription', async () => {
  const c = await conn({ name: 'slowpoke', reconnectWait: 50 });
  const ws = Tracked.all.at(-1);
  const statuses = c.status()[Symbol.asyncIterator]();
  let got = 0;
  c.subscribe('lim.firehose', () => got++);
  await c.flush();
  const pub = await conn();
  ws._socket.pause(); // nothing more is read from the broker
  const payload = new Uint8Array(8 * 1024);
  // Beyond the kernel's socket buffers (a few MiB) and the 64 KiB the
  // broker keeps pending for a client.
  for (let round = 0; round < 100; round++) {
    for (let i = 0; i < 64; i++) pub.publish('lim.firehose', payload);
    await pub.flush();
    if (broker.lines.some((l) => l.includes('"name":"slowpoke"') && l.includes('slow consumer'))) break;
  }
  await broker.waitLine(['session closed', '"name":"slowpoke"', 'slow consumer']);
  ws._socket.resume();
  const st = (await next(statuses, 10000)).value;
  assert.equal(st.type, 'disconnect');
  // The broker's fatal ERR, read once the client reads again, surfaces
  // as a typed error.
  assert.ok(st.error instanceof ServerError, String(st.error));
  assert.equal(st.error.code, ErrorCode.SLOW_CONSUMER);
  assert.equal(st.error.fatal, true);
  assert.equal((await next(statuses, 10000)).value.type, 'reconnect');
  const before = got;
  await pub.publishAck('lim.firehose', 'after');
  await until(() => got === before + 1, 5000, 'the restored subscription to receive');
});

test('the server PINGs are answered: an idle client outlives the dead-peer timeout', async () => {
  const c = await conn();
  const statuses = [];
  (async () => { for await (const s of c.status()) statuses.push(s); })();
  assert.equal(c.info.heartbeatMs, 100);
  await new Promise((r) => setTimeout(r, 1500)); // well past 400 ms of dead-peer timeout
  assert.deepEqual(statuses, []);
  assert.ok(c.isConnected);
  const r = c.subscribe('lim.idle');
  await c.flush();
  c.publish('lim.idle', 'still here');
  assert.equal((await next(r[Symbol.asyncIterator]())).value.string(), 'still here');
});

test('a broker that falls silent is noticed by the heartbeat and left', async () => {
  const c = await conn({ maxReconnectAttempts: 0 });
  const statuses = c.status()[Symbol.asyncIterator]();
  await freeze(broker.pid);
  try {
    const st = (await next(statuses, 5000)).value;
    assert.equal(st.type, 'disconnect');
    assert.match(st.error.message, /silent/);
  } finally {
    process.kill(broker.pid, 'SIGCONT');
  }
  const why = await c.closed;
  assert.ok(why instanceof Error);
});

test('a will is published when the connection vanishes, not after close()', async () => {
  const watcher = await conn();
  const gone = watcher.subscribe('lim.presence.*');
  const it = gone[Symbol.asyncIterator]();
  await watcher.flush();
  const will = { topic: 'lim.presence.dev', data: 'offline', retain: true, headers: { why: 'will' } };
  const a = await conn({ will, reconnect: false });
  await a.flush();
  Tracked.all.at(-1).terminate(); // the TCP connection just ends
  const m = (await next(it)).value;
  assert.equal(m.topic, 'lim.presence.dev');
  assert.equal(m.string(), 'offline');
  assert.equal(m.headers.get('why'), 'will');
  assert.ok((await a.closed) instanceof Error);

  const b = await conn({ will: { ...will, data: 'b offline' } });
  await b.close();
  watcher.publish('lim.presence.marker', 'marker');
  assert.equal((await next(it)).value.string(), 'marker', 'close() sends BYE: no will');
  await assert.rejects(connect(broker.url, { WebSocket, token: 's3cret', will: { topic: 'bad.*' } }), /will topic/);
});

test('giving up: the connection closes with NoServersError after maxReconnectAttempts', async () => {
  const c = await conn({ maxReconnectAttempts: 2, reconnectWait: 20 });
  Tracked.all.at(-1).terminate();
  // The broker is still there: the reconnect succeeds.
  const statuses = c.status()[Symbol.asyncIterator]();
  assert.equal((await next(statuses)).value.type, 'disconnect');
  assert.equal((await next(statuses)).value.type, 'reconnect');
  assert.ok(c.isConnected);
  // A broker that is gone for good: it gives up.
  const lone = await startBroker({ config: 'retained:\n  store: memory\n' });
  const d = await connect(lone.url, { WebSocket, maxReconnectAttempts: 2, reconnectWait: 20 });
  await lone.kill();
  const why = await d.closed;
  assert.ok(why instanceof NoServersError, String(why));
  assert.match(why.message, /gave up after 2/);
  assert.equal(d.isClosed, true);
});
