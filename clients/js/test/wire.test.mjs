// The protocol's test vectors and malformed frames, read from the same
// files the Go tests use (wire/testdata): every vector decodes and
// re-encodes to the same bytes, every malformed frame is refused with the
// kind of error the Go decoder gives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, encode, WireError, T_HELLO, T_PUB, T_MSG, T_SUB, T_ACK, T_ERR, T_WELCOME } from '../dist/wire.js';
import { testdata, hex } from './helpers.mjs';

const vectors = testdata('vectors.txt').map((l) => {
  const i = l.indexOf(':');
  return { name: l.slice(0, i), bytes: hex(l.slice(i + 1)) };
});

test('every test vector decodes and re-encodes to the same bytes', () => {
  assert.ok(vectors.length >= 30, `only ${vectors.length} vectors read`);
  for (const v of vectors) {
    const f = decode(v.bytes);
    assert.deepEqual(encode(f), v.bytes, `vector ${v.name}`);
  }
});

test('vectors decode to the fields docs/protocol.md describes', () => {
  const by = Object.fromEntries(vectors.map((v) => [v.name, decode(v.bytes)]));
  assert.deepEqual(by['hello-noecho-creds'], { type: T_HELLO, version: 1, noEcho: true, name: 'cli', token: 't0k', user: 'bob', pass: 'pw' });
  const will = by['hello-will'].will;
  assert.equal(will.topic, 'dev.gone');
  assert.equal(will.retain, true);
  assert.equal(will.delayMs, 5000);
  assert.equal(will.ttlMs, 60000);
  assert.equal(new TextDecoder().decode(will.payload), 'off');
  assert.equal(by.welcome.type, T_WELCOME);
  assert.equal(by.welcome.sessionId, 42n, 'u64 fields are BigInt');
  assert.equal(by.welcome.maxPayload, 1 << 20);
  assert.equal(by.welcome.heartbeatMs, 30000);
  assert.equal(by.welcome.maxFrame, undefined);
  assert.equal(by['welcome-limits'].maxFrame, (1 << 20) + (64 << 10));
  assert.equal(by['welcome-limits'].deadPeerMs, 60000);
  assert.equal(by['hello-limits'].wantLimits, true);
  const all = by['pub-all'];
  assert.equal(all.type, T_PUB);
  assert.equal(all.topic, 'orders.eu');
  assert.equal(all.reply, '_INBOX.k3.2');
  assert.equal(all.ackId, 7n);
  assert.equal(all.retain, true);
  assert.deepEqual(all.headers, [['id', '42'], ['tag', 'a'], ['tag', 'b']]);
  assert.equal(by['pub-retain-ttl'].ttlMs, 60000);
  assert.equal(by['sub-queue'].type, T_SUB);
  assert.equal(by['sub-queue'].queue, 'workers');
  assert.equal(by['sub-nolocal-retain-never'].noLocal, true);
  assert.equal(by['sub-nolocal-retain-never'].retainHandling, 2);
  assert.equal(by['msg-no-responders'].type, T_MSG);
  assert.equal(by['msg-no-responders'].flags & 0x10, 0x10);
  assert.equal(by['msg-retain-flag-ttl'].ttlMs, 1500);
  assert.equal(by['ack-error'].type, T_ACK);
  assert.equal(by['ack-error'].code, 4);
  assert.equal(by['ack-error'].text, 'payload too large');
  assert.equal(by['err-fatal'].type, T_ERR);
  assert.equal(by['err-fatal'].fatal, true);
  assert.equal(by['err-sub'].sid, 4);
});

test('malformed frames are refused with the kind of error Go gives', () => {
  const cases = testdata('malformed.txt').map((l) => l.split('|').map((s) => s.trim()));
  assert.ok(cases.length >= 16, `only ${cases.length} malformed frames read`);
  for (const [kind, h, why] of cases) {
    assert.throws(() => decode(hex(h), 1 << 20), (e) => e instanceof WireError && e.kind === kind, `${h} (${why}): want ${kind}`);
  }
});

test('a declared length over the limit is refused before the body is looked at', () => {
  const b = hex('00100001 03 00'); // 1 MiB + 1 declared, nothing there
  assert.throws(() => decode(b, 1 << 20), (e) => e.kind === 'too-large');
});

test('a message that does not hold exactly one frame is refused', () => {
  assert.throws(() => decode(hex('00000000 08 00 00000000 08 00')), (e) => e.kind === 'malformed');
  assert.throws(() => decode(hex('0000')), (e) => e.kind === 'malformed');
});

test('utf8Len counts what TextEncoder writes, lone surrogates included', async () => {
  const { utf8Len } = await import('../dist/wire.js');
  for (const s of ['', 'abc', 'héllo', '€', '😀', 'a😀b', '\ud800', '\ud800é', 'x\udc00', '\udbff\udfff', '日本語']) {
    assert.equal(utf8Len(s), new TextEncoder().encode(s).length, JSON.stringify(s));
  }
});
