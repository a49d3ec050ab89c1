// Reconnects: the broker is killed and started again on the same address;
// the client restores its subscriptions (auto-unsubscribe counts included),
// sends what was published meanwhile, and says what it could not confirm.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, ConnectionLostError, ReconnectBufferError } from '../dist/index.js';
import { startBroker, WebSocket, until, next, freeze } from './helpers.mjs';

test('after a broker restart the subscriptions are restored and buffered publishes are sent', async () => {
  const config = 'retained:\n  store: memory\n';
  let broker = await startBroker({ config });
  const addr = broker.addr;
  const events = [];
  const c = await connect(broker.url, {
    WebSocket, name: 'survivor', reconnectWait: 50, maxReconnectWait: 200,
    onDisconnect: (e) => events.push(['disconnect', e]),
    onReconnect: () => events.push(['reconnect']),
  });
  const statuses = c.status()[Symbol.asyncIterator]();
  const all = [];
  c.subscribe('rc.>', (m) => all.push(m.string()));
  const iter = c.subscribe('rc.iter');
  const limited = c.subscribe('rc.max', { max: 5 });
  const grouped = [];
  c.subscribe('rc.q', (m) => grouped.push(m.string()), { queue: 'g' });
  await c.flush();
  c.publish('rc.max', 'm1');
  c.publish('rc.max', 'm2');
  await c.flush();
  assert.equal(limited.received, 2);

  // An acknowledged publish the broker never answers: it is stopped, then killed.
  await freeze(broker.pid);
  const unconfirmed = assert.rejects(c.publishAck('rc.lost', 'maybe'), ConnectionLostError);
  const unflushed = assert.rejects(c.flush(), ConnectionLostError);
  await broker.kill();
  await unconfirmed;
  await unflushed;
  const st = (await next(statuses)).value;
  assert.equal(st.type, 'disconnect');
  assert.equal(c.isConnected, false);
  assert.equal(c.info, null);

  // While the broker is away: publishes are kept, acks and flushes wait,
  // new subscriptions are made when it is back.
  for (let i = 0; i < 10; i++) c.publish('rc.buffered', String(i));
  const later = c.subscribe('rc.later');
  const acked = c.publishAck('rc.buffered', 'acked');
  const flushed = c.flush();

  broker = await startBroker({ config, ws: addr });
  assert.equal((await next(statuses, 15000)).value.type, 'reconnect');
  await acked;
  await flushed;
  assert.equal(c.isConnected, true);
  assert.deepEqual(events.map((e) => e[0]), ['disconnect', 'reconnect']);
  assert.equal(c.stats().reconnects, 1);
  await until(() => all.filter((s) => /^\d$|^acked$/.test(s)).length === 11, 5000, 'the buffered publishes');
  assert.deepEqual(all.filter((s) => /^\d$|^acked$/.test(s)), ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'acked']);

  // Every subscription works on the new broker, from another connection.
  const p = await connect(`ws://${addr}/ws`, { WebSocket });
  p.publish('rc.iter', 'it');
  p.publish('rc.later', 'later');
  p.publish('rc.q', 'q');
  for (let i = 3; i <= 10; i++) p.publish('rc.max', 'm' + i);
  await p.flush();
  assert.equal((await next(iter[Symbol.asyncIterator]())).value.string(), 'it');
  assert.equal((await next(later[Symbol.asyncIterator]())).value.string(), 'later');
  await until(() => grouped.length === 1);
  // max 5 with 2 received before: 3 more, then it ends.
  assert.equal(await limited.closed, undefined);
  assert.equal(limited.received, 5);
  const m = [];
  for await (const x of limited) m.push(x.string());
  assert.deepEqual(m, ['m1', 'm2', 'm3', 'm4', 'm5']);

  await p.close();
  await c.close();
  await broker.kill();
});

test('publishes beyond the reconnect buffer fail with ReconnectBufferError', async () => {
  const broker = await startBroker({ config: 'retained:\n  store: memory\n' });
  const c = await connect(broker.url, { WebSocket, reconnectBufferSize: 1000, reconnectWait: 60000 });
  const statuses = c.status()[Symbol.asyncIterator]();
  await broker.kill();
  assert.equal((await next(statuses)).value.type, 'disconnect');
  c.publish('rc.buf', new Uint8Array(900));
  assert.throws(() => c.publish('rc.buf', new Uint8Array(200)), ReconnectBufferError);
  await c.close();
});
