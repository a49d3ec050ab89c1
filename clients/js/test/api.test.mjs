// Every API call of the client against a real broker (cmd/broker built
// from this repository, WebSocket on a free loopback port).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  connect, MsgHeaders, BadArgumentError, ClosedError, NoRespondersError, NoServersError, PayloadTooLargeError,
  ServerError, TimeoutError, ErrorCode,
} from '../dist/index.js';
import { startBroker, WebSocket, until, next } from './helpers.mjs';

let broker;
const conns = [];
before(async () => {
  broker = await startBroker({ config: 'retained:\n  store: memory\n  max_messages: 3\n' });
});
after(async () => {
  for (const c of conns) await c.close();
  await broker.kill();
});

async function conn(opts = {}) {
  const c = await connect(broker.url, { WebSocket, ...opts });
  conns.push(c);
  return c;
}

test('connect tries the urls in order, reports the server, and names the session', async () => {
  // A closed port first: the list goes on to the broker.
  const dead = 'ws://127.0.0.1:1/ws';
  const c = await conn({ name: 'api-test' });
  await c.close();
  const d = await connect([dead, broker.url], { WebSocket, name: 'second-url' });
  conns.push(d);
  assert.equal(d.info.url, broker.url);
  assert.equal(typeof d.info.sessionId, 'bigint');
  assert.ok(d.info.sessionId > 0n);
  assert.ok(d.info.maxPayload > 0);
  assert.ok(d.info.heartbeatMs > 0);
  assert.ok(d.info.serverId.length > 0);
  assert.equal(d.isConnected, true);
  await broker.waitLine(['session opened', '"name":"second-url"']);
});

test('connect rejects with NoServersError when no server answers, and refuses bad urls', async () => {
  await assert.rejects(connect(['ws://127.0.0.1:1/ws', 'ws://127.0.0.1:2/ws'], { WebSocket, connectTimeout: 2000 }), (e) => {
    assert.ok(e instanceof NoServersError);
    assert.equal(e.errors.length, 2);
    return true;
  });
  await assert.rejects(connect('http://127.0.0.1:1/ws', { WebSocket }), BadArgumentError);
  await assert.rejects(connect(broker.url, { WebSocket, connectTimeout: -1 }), BadArgumentError);
});

test('a server that accepts and never answers the upgrade times out the connect, and harms nothing', async () => {
  const { createServer } = await import('node:net');
  const held = [];
  const silent = createServer((s) => held.push(s));
  await new Promise((r) => silent.listen(0, '127.0.0.1', r));
  const url = `ws://127.0.0.1:${silent.address().port}/ws`;
  const t0 = Date.now();
  await assert.rejects(connect(url, { WebSocket, connectTimeout: 300 }), (e) => {
    assert.ok(e instanceof NoServersError);
    assert.ok(e.errors[0] instanceof TimeoutError, String(e.errors[0]));
    return true;
  });
  assert.ok(Date.now() - t0 < 3000);
  // The abandoned socket's late events must not reach anyone (an 'error'
  // with no listener would end the process).
  await new Promise((r) => setTimeout(r, 200));
  // A list goes on past it.
  const c = await connect([url, broker.url], { WebSocket, connectTimeout: 300 });
  conns.push(c);
  assert.equal(c.info.url, broker.url);
  assert.equal(held.length, 2);
  for (const s of held) s.destroy();
  silent.close();
});

test('names and credentials longer than the protocol allows are refused', async () => {
  await assert.rejects(connect(broker.url, { WebSocket, name: 'n'.repeat(70000) }), BadArgumentError);
  await assert.rejects(connect(broker.url, { WebSocket, token: 'é'.repeat(40000) }), BadArgumentError);
});

test('publish and subscribe: strings and bytes, callback and iterator, headers', async () => {
  const c = await conn();
  const got = [];
  const s1 = c.subscribe('api.ps.*', (m, sub) => got.push([m.topic, m.string(), sub.sid]));
  const s2 = c.subscribe('api.ps.>');
  const it = s2[Symbol.asyncIterator]();
  await c.flush();
  c.publish('api.ps.a', 'héllo');
  c.publish('api.ps.b', new Uint8Array([0, 1, 255]), { headers: { id: '42', tag: ['a', 'b'] } });
  const m1 = (await next(it)).value;
  assert.equal(m1.topic, 'api.ps.a');
  assert.equal(m1.string(), 'héllo');
  assert.equal(m1.headers, undefined);
  const m2 = (await next(it)).value;
  assert.deepEqual([...m2.data], [0, 1, 255]);
  assert.ok(m2.headers instanceof MsgHeaders);
  assert.equal(m2.headers.get('id'), '42');
  assert.deepEqual(m2.headers.getAll('tag'), ['a', 'b']);
  assert.equal(m2.retained, false);
  await until(() => got.length === 2);
  assert.deepEqual(got, [['api.ps.a', 'héllo', s1.sid], ['api.ps.b', '\u0000\u0001\ufffd', s1.sid]]);
  assert.equal(s1.received, 2);
  assert.deepEqual(c.stats().inMsgs, 4);
  assert.deepEqual(c.stats().outMsgs, 2);
  assert.equal(c.stats().outBytes, 'héllo'.length + 1 + 3);
});

test('msg.json and respond', async () => {
  const c = await conn();
  c.subscribe('api.json', (m) => m.respond(JSON.stringify({ got: m.json().n + 1 }), { headers: { from: 'responder' } }));
  await c.flush();
  const r = await c.request('api.json', JSON.stringify({ n: 41 }));
  assert.deepEqual(r.json(), { got: 42 });
  assert.equal(r.headers.get('from'), 'responder');
  const sub = c.subscribe('api.norelpy');
  await c.flush();
  c.publish('api.norelpy', 'x');
  const m = (await next(sub[Symbol.asyncIterator]())).value;
  assert.throws(() => m.respond('y'), BadArgumentError);
});

test('request: reply, no responders at once, timeout, headers', async () => {
  const c = await conn();
  const seen = [];
  c.subscribe('api.svc.echo', (m) => {
    seen.push(m.headers?.get('trace'));
    m.respond(m.data);
  });
  c.subscribe('api.svc.silent', () => {});
  await c.flush();
  const r = await c.request('api.svc.echo', 'ping', { headers: { trace: 't1' } });
  assert.equal(r.string(), 'ping');
  assert.deepEqual(seen, ['t1']);

  const t0 = Date.now();
  await assert.rejects(c.request('api.svc.nobody', 'x', { timeout: 10000 }), NoRespondersError);
  assert.ok(Date.now() - t0 < 5000, 'no responders comes from the broker, not from the timeout');

  await assert.rejects(c.request('api.svc.silent', 'x', { timeout: 300 }), TimeoutError);
  // Many at once, each matched to its own reply.
  const rs = await Promise.all([...Array(50).keys()].map((i) => c.request('api.svc.echo', String(i))));
  assert.deepEqual(rs.map((m) => m.string()), [...Array(50).keys()].map(String));
});

test('publishAck resolves on the broker ack and rejects with its refusal', async () => {
  const c = await conn();
  const sub = c.subscribe('api.ack');
  await c.flush();
  await c.publishAck('api.ack', 'one');
  assert.equal((await next(sub[Symbol.asyncIterator]())).value.string(), 'one');
  // The broker keeps at most 3 retained messages: the 4th topic is refused.
  for (const t of ['api.r.1', 'api.r.2', 'api.r.3']) await c.publishAck(t, 'v', { retain: true });
  await assert.rejects(c.publishAck('api.r.4', 'v', { retain: true }), (e) => {
    assert.ok(e instanceof ServerError);
    assert.equal(e.code, ErrorCode.RETAINED_LIMIT);
    assert.equal(e.codeName, 'RETAINED_LIMIT');
    assert.equal(e.fatal, false);
    return true;
  });
  for (const t of ['api.r.1', 'api.r.2', 'api.r.3']) await c.publishAck(t, '', { retain: true }); // delete
});

test('retained messages: flags, TTL, deletion, retain handling', async () => {
  const c = await conn();
  await c.publishAck('api.cfg.x', 'on', { retain: true, headers: { v: '1' } });
  await c.publishAck('api.cfg.y', 'short', { retain: true, ttl: 60000 });
  const sub = c.subscribe('api.cfg.*');
  const it = sub[Symbol.asyncIterator]();
  const got = [(await next(it)).value, (await next(it)).value].sort((a, b) => a.topic.localeCompare(b.topic));
  assert.equal(got[0].topic, 'api.cfg.x');
  assert.equal(got[0].retained, true);
  assert.equal(got[0].retainFlag, true);
  assert.equal(got[0].headers.get('v'), '1');
  assert.equal(got[0].ttl, undefined);
  assert.equal(got[1].retained, true);
  assert.ok(got[1].ttl > 50000 && got[1].ttl <= 60000, `ttl ${got[1].ttl}`);
  // Live: retainFlag without retained.
  c.publish('api.cfg.x', 'off', { retain: true });
  const live = (await next(it)).value;
  assert.equal(live.retained, false);
  assert.equal(live.retainFlag, true);
  // 'never' and 'if-new'.
  const never = c.subscribe('api.cfg.*', { retain: 'never' });
  const ifNew = c.subscribe('api.cfg.*', { retain: 'if-new' });
  await c.flush();
  c.publish('api.cfg.z', 'live');
  assert.equal((await next(never[Symbol.asyncIterator]())).value.string(), 'live');
  assert.equal((await next(ifNew[Symbol.asyncIterator]())).value.string(), 'live');
  // An empty retained publish deletes.
  await c.publishAck('api.cfg.x', '', { retain: true });
  await c.publishAck('api.cfg.y', '', { retain: true });
  const after = c.subscribe('api.cfg.*');
  await c.flush();
  c.publish('api.cfg.end', 'e');
  assert.equal((await next(after[Symbol.asyncIterator]())).value.topic, 'api.cfg.end');
  await assert.rejects(c.publishAck('api.cfg.q', 'x', { ttl: -5 }), BadArgumentError);
});

test('a message whose time to live runs out while it waits in an iterator queue is dropped', async () => {
  const c = await conn();
  const s = c.subscribe('api.ttl');
  await c.flush();
  c.publish('api.ttl', 'short', { ttl: 150 });
  c.publish('api.ttl', 'long', { ttl: 60000 });
  c.publish('api.ttl', 'forever');
  await c.flush();
  await until(() => s.pending.msgs === 3);
  await new Promise((r) => setTimeout(r, 400));
  const it = s[Symbol.asyncIterator]();
  const m = (await next(it)).value;
  assert.equal(m.string(), 'long');
  assert.ok(m.ttl > 59000 && m.ttl <= 60000);
  assert.equal((await next(it)).value.string(), 'forever');
});

test('queue groups split messages; max and unsubscribe(max) end a subscription', async () => {
  const c = await conn();
  const a = [], b = [];
  c.subscribe('api.q', (m) => a.push(m), { queue: 'workers' });
  c.subscribe('api.q', (m) => b.push(m), { queue: 'workers' });
  const three = c.subscribe('api.q', { max: 3 });
  const later = c.subscribe('api.q');
  await c.flush();
  for (let i = 0; i < 100; i++) c.publish('api.q', String(i));
  await c.flush();
  await until(() => a.length + b.length === 100);
  assert.ok(a.length > 0 && b.length > 0, `split ${a.length}/${b.length}`);
  assert.equal(await three.closed, undefined);
  assert.equal(three.received, 3);
  const got = [];
  for await (const m of three) got.push(m.string());
  assert.deepEqual(got, ['0', '1', '2']);
  assert.equal(later.received, 100);
  later.unsubscribe(102); // 2 more
  c.publish('api.q', 'x');
  c.publish('api.q', 'y');
  c.publish('api.q', 'z');
  await c.flush();
  assert.equal(await later.closed, undefined);
  assert.equal(later.received, 102);
  assert.throws(() => c.subscribe('api.q', { queue: 'has space' }), BadArgumentError);
});

test('unsubscribe stops delivery; leaving a for-await loop unsubscribes', async () => {
  const c = await conn();
  const got = [];
  const s = c.subscribe('api.u', (m) => got.push(m.string()));
  const it = c.subscribe('api.u');
  await c.flush();
  c.publish('api.u', '1');
  await c.flush();
  s.unsubscribe();
  assert.equal(s.isClosed, true);
  for await (const m of it) {
    assert.equal(m.string(), '1');
    break;
  }
  assert.equal(it.isClosed, true);
  c.publish('api.u', '2');
  await c.flush();
  assert.deepEqual(got, ['1']);
  s.unsubscribe(); // a second time does nothing
});

test('subscription drain hands over what is on its way, then ends the iterator', async () => {
  const c = await conn();
  const p = await conn();
  const s = c.subscribe('api.d');
  await c.flush();
  for (let i = 0; i < 200; i++) p.publish('api.d', String(i));
  await p.flush();
  const got = [];
  const reading = (async () => { for await (const m of s) got.push(Number(m.string())); })();
  await s.drain();
  await reading;
  assert.deepEqual(got, [...Array(200).keys()]);
});

test('a subscription drain gives up after its timeout when the iterator does not take its messages', async () => {
  const c = await conn();
  const s = c.subscribe('api.dt');
  await c.flush();
  for (let i = 0; i < 3; i++) c.publish('api.dt', String(i));
  await c.flush();
  const it = s[Symbol.asyncIterator]();
  assert.equal((await next(it)).value.string(), '0');
  await assert.rejects(s.drain({ timeout: 300 }), TimeoutError);
  assert.equal(s.isClosed, true);
  // What was queued is still there for the iterator.
  assert.equal((await next(it)).value.string(), '1');
  assert.equal((await next(it)).value.string(), '2');
  assert.equal((await next(it)).done, true);
});

test('bad topics, filters, headers and payload types fail the call at once', async () => {
  const c = await conn();
  for (const t of ['', 'a..b', 'a.*', 'a.>', 'a b', 'a.b.', 'x'.repeat(1025), 'a\u0000b', 'ord*']) {
    assert.throws(() => c.publish(t, 'x'), BadArgumentError, `publish ${JSON.stringify(t)}`);
  }
  for (const f of ['', 'a.>.b', 'a.b*', 'a..b']) assert.throws(() => c.subscribe(f), BadArgumentError, `filter ${f}`);
  assert.throws(() => c.publish('a.b', 'x', { reply: 'r.*' }), BadArgumentError);
  assert.throws(() => c.publish('a.b', 'x', { headers: { '': 'v' } }), BadArgumentError);
  assert.throws(() => c.publish('a.b', 42), BadArgumentError);
  assert.throws(() => c.subscribe('a.b', { retain: 'toString' }), BadArgumentError);
  assert.throws(() => c.subscribe('a.b', { maxPendingMsgs: 0 }), BadArgumentError);
  assert.throws(() => c.subscribe('a.b', { max: 1.5 }), BadArgumentError);
  c.publish('$SYS.x.y', 'allowed by the syntax');
  await c.flush();
});

test('noEcho and noLocal keep a connection from its own messages', async () => {
  const quiet = await conn({ noEcho: true });
  const other = await conn();
  const own = [];
  quiet.subscribe('api.echo', (m) => own.push(m.string()));
  const normal = await conn();
  const nl = [];
  normal.subscribe('api.echo', (m) => nl.push(m.string()), { noLocal: true });
  await quiet.flush();
  await normal.flush();
  quiet.publish('api.echo', 'mine');
  normal.publish('api.echo', 'normal');
  other.publish('api.echo', 'theirs');
  await Promise.all([quiet.flush(), normal.flush(), other.flush()]);
  await until(() => own.length === 2 && nl.length === 2);
  assert.deepEqual(own.sort(), ['normal', 'theirs']);
  assert.deepEqual(nl.sort(), ['mine', 'theirs']);
});

test('flush, close, closed, and calls after close', async () => {
  const c = await connect(broker.url, { WebSocket });
  const s = c.subscribe('api.close');
  await c.flush();
  await c.close();
  assert.equal(await c.closed, undefined);
  assert.equal(c.isClosed, true);
  assert.equal(await s.closed, undefined);
  assert.throws(() => c.publish('api.close', 'x'), ClosedError);
  assert.throws(() => c.subscribe('api.close'), ClosedError);
  await assert.rejects(c.flush(), ClosedError);
  await assert.rejects(c.request('api.close', 'x'), ClosedError);
  await assert.rejects(c.publishAck('api.close', 'x'), ClosedError);
  await c.close(); // again: nothing
});

test('drain delivers what is on its way, flushes publishes, and closes', async () => {
  const c = await connect(broker.url, { WebSocket });
  const watcher = await conn();
  const seen = [];
  watcher.subscribe('api.drain.out', (m) => seen.push(m.string()));
  await watcher.flush();
  const got = [];
  c.subscribe('api.drain.in', (m) => got.push(m.string()));
  await c.flush();
  for (let i = 0; i < 100; i++) watcher.publish('api.drain.in', String(i));
  await watcher.flush();
  for (let i = 0; i < 100; i++) c.publish('api.drain.out', String(i));
  await c.drain();
  assert.equal(got.length, 100);
  assert.equal(c.isClosed, true);
  await watcher.flush();
  await until(() => seen.length === 100);
});

test('a publish larger than the broker max_payload is refused before sending', async () => {
  const c = await conn();
  const big = new Uint8Array(c.info.maxPayload + 1);
  assert.throws(() => c.publish('api.big', big), (e) => e instanceof PayloadTooLargeError && e.max === c.info.maxPayload && e.size === big.length);
  await assert.rejects(c.publishAck('api.big', big), PayloadTooLargeError);
  // Exactly the limit goes through.
  const sub = c.subscribe('api.big');
  await c.flush();
  await c.publishAck('api.big', new Uint8Array(c.info.maxPayload));
  assert.equal((await next(sub[Symbol.asyncIterator]())).value.data.length, c.info.maxPayload);
  assert.equal(c.isConnected, true);
});
