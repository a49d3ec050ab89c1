// The msgtrans native protocol, version 1 (docs/protocol.md): frame types,
// flags, and one encoder and one decoder for every frame, in both directions
// (the client sends only some of them, but the test vectors cover all, and a
// decoder that knows every type can tell a broken server from a new one).

/** The protocol version this client speaks. */
export const VERSION = 1;
/** Bytes before a frame's body: u32 length, u8 type, u8 flags. */
export const HEADER_LEN = 6;
/** Longest s16 string. */
export const MAX_STRING = 0xffff;

export const T_HELLO = 0x01, T_WELCOME = 0x02, T_PUB = 0x03, T_SUB = 0x04, T_UNSUB = 0x05, T_MSG = 0x06,
  T_ACK = 0x07, T_PING = 0x08, T_PONG = 0x09, T_ERR = 0x0a, T_BYE = 0x0b;

// Flags, by frame type.
export const HELLO_NO_ECHO = 0x01, HELLO_WILL = 0x02, HELLO_WANT_LIMITS = 0x04;
export const WELCOME_LIMITS = 0x01;
export const PUB_RETAIN = 0x01, PUB_REPLY = 0x02, PUB_HEADER = 0x04, PUB_ACK = 0x08, PUB_TTL = 0x10;
export const SUB_NO_LOCAL = 0x01;
export const MSG_RETAINED = 0x01, MSG_REPLY = 0x02, MSG_HEADER = 0x04, MSG_RETAIN_FLAG = 0x08,
  MSG_NO_RESPONDERS = 0x10, MSG_TTL = 0x20;
export const ERR_FATAL = 0x01;

// Which flag bits each type defines; any other bit is a protocol error.
const allowedFlags: Record<number, number> = {
  [T_HELLO]: 0x07, [T_WELCOME]: 0x01, [T_PUB]: 0x1f, [T_SUB]: 0x07, [T_UNSUB]: 0, [T_MSG]: 0x3f,
  [T_ACK]: 0, [T_PING]: 0, [T_PONG]: 0, [T_ERR]: 0x01, [T_BYE]: 0,
};

/** Message headers as sent on the wire: (key, value) pairs, a key may repeat. */
export type HeaderPairs = [string, string][];

/** A last will carried by HELLO. */
export interface WireWill {
  topic: string;
  retain: boolean;
  delayMs: number;
  ttlMs: number; // 0: no TTL
  headers?: HeaderPairs;
  payload: Uint8Array;
}

/** A decoded frame; which fields are set depends on `type`. */
export type Frame =
  | { type: typeof T_HELLO; version: number; noEcho: boolean; name: string; token: string; user: string; pass: string; will?: WireWill; wantLimits?: boolean }
  | { type: typeof T_WELCOME; version: number; serverId: string; serverVersion: string; sessionId: bigint; maxPayload: number; heartbeatMs: number; maxFrame?: number; deadPeerMs?: number }
  | { type: typeof T_PUB; topic: string; reply?: string; ackId?: bigint; ttlMs?: number; retain: boolean; headers?: HeaderPairs; payload: Uint8Array }
  | { type: typeof T_SUB; sid: number; filter: string; queue: string; noLocal: boolean; retainHandling: number }
  | { type: typeof T_UNSUB; sid: number; max: number }
  | { type: typeof T_MSG; sid: number; topic: string; reply?: string; ttlMs?: number; flags: number; headers?: HeaderPairs; payload: Uint8Array }
  | { type: typeof T_ACK; ackId: bigint; code: number; text: string }
  | { type: typeof T_PING | typeof T_PONG | typeof T_BYE }
  | { type: typeof T_ERR; code: number; sid: number; text: string; fatal: boolean };

export type PubFrame = Extract<Frame, { type: typeof T_PUB }>;
export type MsgFrame = Extract<Frame, { type: typeof T_MSG }>;

/** Why a frame could not be decoded; `kind` names the class of fault. */
export class WireError extends Error {
  constructor(readonly kind: 'too-large' | 'unknown-type' | 'bad-flags' | 'malformed' | 'header', message: string) {
    super('msgtrans wire: ' + message);
    this.name = 'WireError';
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();
// Header text must be valid UTF-8 (docs/protocol.md): a block that is not
// is malformed, as the Go decoder says, rather than silently repaired.
const strictDec = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 bytes of s. */
export function utf8(s: string): Uint8Array {
  return enc.encode(s);
}

/** The number of UTF-8 bytes of s, without encoding it. */
export function utf8Len(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) {
      if (c < 0x800) n += 1;
      else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
        n += 2; // a surrogate pair: 4 bytes for 2 code units
        i++;
      } else n += 2; // 3 bytes (a lone surrogate becomes U+FFFD, 3 bytes too)
    }
  }
  return n;
}

// str decodes bytes as UTF-8; short ASCII (every topic in practice) is
// decoded by hand, which is several times cheaper than TextDecoder per call.
function str(b: Uint8Array, from: number, to: number): string {
  if (to - from <= 32) {
    let s = '';
    for (let i = from; i < to; i++) {
      const c = b[i];
      if (c >= 0x80) return dec.decode(b.subarray(from, to));
      s += String.fromCharCode(c);
    }
    return s;
  }
  return dec.decode(b.subarray(from, to));
}

// Writer appends big-endian fields to a growing buffer.
class Writer {
  buf: Uint8Array;
  view: DataView;
  n = 0;
  constructor(size: number) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }
  room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const nb = new Uint8Array(Math.max(this.buf.length * 2, this.n + k));
    nb.set(this.buf.subarray(0, this.n));
    this.buf = nb;
    this.view = new DataView(nb.buffer);
  }
  u8(v: number): void { this.room(1); this.buf[this.n++] = v; }
  u16(v: number): void { this.room(2); this.view.setUint16(this.n, v); this.n += 2; }
  u32(v: number): void { this.room(4); this.view.setUint32(this.n, v); this.n += 4; }
  u64(v: bigint): void { this.room(8); this.view.setBigUint64(this.n, v); this.n += 8; }
  bytes(b: Uint8Array): void { this.room(b.length); this.buf.set(b, this.n); this.n += b.length; }
  s16(s: string): void {
    this.room(2 + 3 * s.length);
    const r = enc.encodeInto(s, this.buf.subarray(this.n + 2));
    if (r.written > MAX_STRING) throw new RangeError(`msgtrans wire: string of ${r.written} bytes is over ${MAX_STRING}`);
    this.view.setUint16(this.n, r.written);
    this.n += 2 + r.written;
  }
  headers(h: HeaderPairs): void {
    const at = this.n;
    this.u32(0);
    this.u16(h.length);
    for (const [k, v] of h) { this.s16(k); this.s16(v); }
    this.view.setUint32(at, this.n - at - 4);
  }
  // finish writes the frame header in front of the body written since
  // start and returns a copy of the frame.
  finish(start: number, type: number, flags: number): Uint8Array {
    this.view.setUint32(start, this.n - start - HEADER_LEN);
    this.buf[start + 4] = type;
    this.buf[start + 5] = flags;
    return this.buf.slice(start, this.n);
  }
}

/**
 * encode returns the bytes of frame f. Every frame gets its own buffer
 * (a WebSocket message may be kept by the socket until it is sent).
 */
export function encode(f: Frame): Uint8Array {
  const w = new Writer(64 + ('payload' in f ? f.payload.length : 0));
  w.n = HEADER_LEN;
  let flags = 0;
  switch (f.type) {
    case T_HELLO:
      if (f.noEcho) flags |= HELLO_NO_ECHO;
      if (f.wantLimits) flags |= HELLO_WANT_LIMITS;
      w.u8(f.version); w.s16(f.name); w.s16(f.token); w.s16(f.user); w.s16(f.pass);
      if (f.will) {
        const wl = f.will;
        flags |= HELLO_WILL;
        const wf = (wl.retain ? PUB_RETAIN : 0) | (wl.headers ? PUB_HEADER : 0) | (wl.ttlMs ? PUB_TTL : 0);
        w.s16(wl.topic); w.u8(wf); w.u32(wl.delayMs);
        if (wl.ttlMs) w.u32(wl.ttlMs);
        if (wl.headers) w.headers(wl.headers);
        w.bytes(wl.payload);
      }
      break;
    case T_WELCOME:
      w.u8(f.version); w.s16(f.serverId); w.s16(f.serverVersion); w.u64(f.sessionId); w.u32(f.maxPayload); w.u32(f.heartbeatMs);
      if (f.maxFrame && f.deadPeerMs) {
        flags |= WELCOME_LIMITS;
        w.u32(f.maxFrame); w.u32(f.deadPeerMs);
      }
      break;
    case T_PUB:
      flags = (f.retain ? PUB_RETAIN : 0) | (f.reply ? PUB_REPLY : 0) | (f.headers ? PUB_HEADER : 0) | (f.ackId ? PUB_ACK : 0) | (f.ttlMs ? PUB_TTL : 0);
      w.s16(f.topic);
      if (f.reply) w.s16(f.reply);
      if (f.ackId) w.u64(f.ackId);
      if (f.ttlMs) w.u32(f.ttlMs);
      if (f.headers) w.headers(f.headers);
      w.bytes(f.payload);
      break;
    case T_SUB:
      flags = (f.noLocal ? SUB_NO_LOCAL : 0) | ((f.retainHandling & 3) << 1);
      w.u32(f.sid); w.s16(f.filter); w.s16(f.queue);
      break;
    case T_UNSUB:
      w.u32(f.sid); w.u32(f.max);
      break;
    case T_MSG:
      flags = f.flags & ~(MSG_REPLY | MSG_HEADER | MSG_TTL);
      flags |= (f.reply ? MSG_REPLY : 0) | (f.headers ? MSG_HEADER : 0) | (f.ttlMs ? MSG_TTL : 0);
      w.u32(f.sid); w.s16(f.topic);
      if (f.reply) w.s16(f.reply);
      if (f.ttlMs) w.u32(f.ttlMs);
      if (f.headers) w.headers(f.headers);
      w.bytes(f.payload);
      break;
    case T_ACK:
      w.u64(f.ackId); w.u16(f.code); w.s16(f.text);
      break;
    case T_ERR:
      flags = f.fatal ? ERR_FATAL : 0;
      w.u16(f.code); w.u32(f.sid); w.s16(f.text);
      break;
  }
  return w.finish(0, f.type, flags);
}

// In Node, frames are Buffers from Buffer.allocUnsafe: small ones are
// slices of a shared slab (fewer allocations, no zero-filling), and the ws
// package takes a Buffer as it is instead of wrapping each Uint8Array.
// Browsers have no Buffer and get a Uint8Array.
const NodeBuffer = (globalThis as { Buffer?: { allocUnsafe(n: number): Uint8Array } }).Buffer;
function alloc(n: number): Uint8Array {
  return NodeBuffer ? NodeBuffer.allocUnsafe(n) : new Uint8Array(n);
}

/**
 * encodePlainPub encodes a PUB without reply topic or headers, the common
 * publish, into one exactly sized buffer: topic is already UTF-8 (callers
 * keep the bytes of the topic they publish to again and again).
 */
export function encodePlainPub(topic: Uint8Array, payload: Uint8Array, retain: boolean, ackId: number, ttlMs: number): Uint8Array {
  const body = 2 + topic.length + (ackId ? 8 : 0) + (ttlMs ? 4 : 0) + payload.length;
  const b = alloc(HEADER_LEN + body); // every byte is written below
  b[0] = body >>> 24; b[1] = body >>> 16; b[2] = body >>> 8; b[3] = body;
  b[4] = T_PUB;
  b[5] = (retain ? PUB_RETAIN : 0) | (ackId ? PUB_ACK : 0) | (ttlMs ? PUB_TTL : 0);
  b[6] = topic.length >>> 8; b[7] = topic.length;
  b.set(topic, 8);
  let i = 8 + topic.length;
  if (ackId) {
    // Ack ids are counters, far below 2^53.
    const hi = Math.floor(ackId / 0x100000000), lo = ackId >>> 0;
    b[i++] = hi >>> 24; b[i++] = hi >>> 16; b[i++] = hi >>> 8; b[i++] = hi;
    b[i++] = lo >>> 24; b[i++] = lo >>> 16; b[i++] = lo >>> 8; b[i++] = lo;
  }
  if (ttlMs) {
    b[i++] = ttlMs >>> 24; b[i++] = ttlMs >>> 16; b[i++] = ttlMs >>> 8; b[i++] = ttlMs;
  }
  b.set(payload, i);
  return b;
}

/**
 * frameLength reads the body length a frame's header declares, or -1 when
 * fewer than 6 bytes are there.
 */
export function frameLength(b: Uint8Array): number {
  if (b.length < HEADER_LEN) return -1;
  return ((b[0] << 24) >>> 0) + (b[1] << 16) + (b[2] << 8) + b[3];
}

// Reader takes fields off a frame body, failing as the protocol says.
class Reader {
  constructor(readonly b: Uint8Array, public i: number, readonly end: number) {}
  need(k: number, what: string): void {
    if (this.i + k > this.end) throw new WireError('malformed', `${what} runs past the end of the frame`);
  }
  // Fields are read by hand rather than through a DataView: one fewer
  // object per frame on the receive path.
  u8(what: string): number { this.need(1, what); return this.b[this.i++]; }
  u16(what: string): number { this.need(2, what); const b = this.b, i = this.i; this.i += 2; return (b[i] << 8) | b[i + 1]; }
  u32(what: string): number {
    this.need(4, what);
    const b = this.b, i = this.i;
    this.i += 4;
    return ((b[i] << 24) >>> 0) + ((b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]);
  }
  u64(what: string): bigint {
    this.need(8, what);
    const hi = this.u32(what), lo = this.u32(what);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }
  s16(what: string): string {
    const n = this.u16(what);
    this.need(n, what);
    const s = str(this.b, this.i, this.i + n);
    this.i += n;
    return s;
  }
  // s16Strict is s16 refusing text that is not valid UTF-8.
  s16Strict(what: string): string {
    const n = this.u16(what);
    this.need(n, what);
    let s: string;
    try {
      s = strictDec.decode(this.b.subarray(this.i, this.i + n));
    } catch {
      throw new WireError('malformed', `${what} is not valid UTF-8`);
    }
    this.i += n;
    return s;
  }
  rest(): Uint8Array {
    const p = this.b.subarray(this.i, this.end);
    this.i = this.end;
    return p;
  }
  done(what: string): void {
    if (this.i !== this.end) throw new WireError('malformed', `${this.end - this.i} bytes left after ${what}`);
  }
  headers(): HeaderPairs {
    const n = this.u32('header block');
    this.need(n, 'header block');
    const r = new Reader(this.b, this.i, this.i + n);
    this.i += n;
    try {
      const count = r.u16('header count');
      const h: HeaderPairs = [];
      for (let k = 0; k < count; k++) {
        const key = r.s16Strict('header key');
        if (key === '') throw new WireError('header', 'empty header key');
        h.push([key, r.s16Strict('header value')]);
      }
      r.done('the last header');
      return h;
    } catch (e) {
      if (e instanceof WireError) throw new WireError('header', e.message.replace(/^msgtrans wire: /, ''));
      throw e;
    }
  }
}

/**
 * decode decodes exactly one frame held in b (a WebSocket message holds
 * one), refusing a declared length over maxBody before looking at the body.
 */
export function decode(b: Uint8Array, maxBody = 64 * 1024 * 1024 + 64 * 1024): Frame {
  const n = frameLength(b);
  if (n < 0) throw new WireError('malformed', `a frame needs ${HEADER_LEN} bytes, got ${b.length}`);
  if (n > maxBody) throw new WireError('too-large', `frame body of ${n} bytes is over the limit of ${maxBody}`);
  if (b.length !== HEADER_LEN + n) throw new WireError('malformed', `frame declares ${n} body bytes but ${b.length - HEADER_LEN} are there`);
  const type = b[4], flags = b[5];
  const allowed = allowedFlags[type];
  if (allowed === undefined) throw new WireError('unknown-type', `unknown frame type 0x${type.toString(16).padStart(2, '0')}`);
  if (flags & ~allowed) throw new WireError('bad-flags', `flags 0x${flags.toString(16)} not defined for frame type ${type}`);
  const r = new Reader(b, HEADER_LEN, b.length);
  let f: Frame;
  switch (type) {
    case T_HELLO: {
      const version = r.u8('version');
      if (version === 0) throw new WireError('malformed', 'version 0');
      f = { type, version, noEcho: !!(flags & HELLO_NO_ECHO), name: r.s16('name'), token: r.s16('token'), user: r.s16('user'), pass: r.s16('pass') };
      if (flags & HELLO_WANT_LIMITS) f.wantLimits = true;
      if (flags & HELLO_WILL) {
        const topic = r.s16('will topic');
        const wf = r.u8('will flags');
        if (wf & ~(PUB_RETAIN | PUB_HEADER | PUB_TTL)) throw new WireError('malformed', `will flags 0x${wf.toString(16)}`);
        const delayMs = r.u32('will delay');
        let ttlMs = 0;
        if (wf & PUB_TTL) {
          ttlMs = r.u32('will ttl');
          if (ttlMs === 0) throw new WireError('malformed', 'will TTL flag with a TTL of 0');
        }
        const headers = wf & PUB_HEADER ? r.headers() : undefined;
        f.will = { topic, retain: !!(wf & PUB_RETAIN), delayMs, ttlMs, headers, payload: r.rest() };
      }
      break;
    }
    case T_WELCOME: {
      const version = r.u8('version');
      if (version === 0) throw new WireError('malformed', 'version 0');
      const wf: Extract<Frame, { type: typeof T_WELCOME }> = { type, version, serverId: r.s16('server id'), serverVersion: r.s16('server version'), sessionId: r.u64('session id'), maxPayload: r.u32('max payload'), heartbeatMs: r.u32('heartbeat') };
      if (flags & WELCOME_LIMITS) {
        // Announced only to a HELLO with WANT_LIMITS (docs/protocol.md).
        wf.maxFrame = nonZero(r.u32('max frame'), 'max frame');
        wf.deadPeerMs = nonZero(r.u32('dead peer'), 'dead peer timeout');
      }
      f = wf;
      break;
    }
    case T_PUB: {
      const topic = r.s16('topic');
      const p: PubFrame = { type, topic, retain: !!(flags & PUB_RETAIN), payload: new Uint8Array(0) };
      if (flags & PUB_REPLY) p.reply = nonEmpty(r.s16('reply'), 'reply topic');
      if (flags & PUB_ACK) {
        p.ackId = r.u64('ack id');
        if (p.ackId === 0n) throw new WireError('malformed', 'ack id 0');
      }
      if (flags & PUB_TTL) p.ttlMs = nonZero(r.u32('ttl'), 'ttl');
      if (flags & PUB_HEADER) p.headers = r.headers();
      p.payload = r.rest();
      f = p;
      break;
    }
    case T_SUB: {
      const rh = (flags >> 1) & 3;
      if (rh === 3) throw new WireError('malformed', 'retain handling 3');
      f = { type, sid: r.u32('sid'), filter: r.s16('filter'), queue: r.s16('queue'), noLocal: !!(flags & SUB_NO_LOCAL), retainHandling: rh };
      break;
    }
    case T_UNSUB:
      f = { type, sid: r.u32('sid'), max: r.u32('max') };
      break;
    case T_MSG: {
      const m: MsgFrame = { type, sid: r.u32('sid'), topic: r.s16('topic'), flags, payload: new Uint8Array(0) };
      if (flags & MSG_REPLY) m.reply = nonEmpty(r.s16('reply'), 'reply topic');
      if (flags & MSG_TTL) m.ttlMs = nonZero(r.u32('ttl'), 'ttl');
      if (flags & MSG_HEADER) m.headers = r.headers();
      m.payload = r.rest();
      f = m;
      break;
    }
    case T_ACK:
      f = { type, ackId: r.u64('ack id'), code: r.u16('code'), text: r.s16('text') };
      break;
    case T_ERR:
      f = { type, code: r.u16('code'), sid: r.u32('sid'), text: r.s16('text'), fatal: !!(flags & ERR_FATAL) };
      break;
    default: // PING, PONG, BYE: empty bodies
      f = { type: type as typeof T_PING };
  }
  r.done('the last field');
  return f;
}

function nonEmpty(s: string, what: string): string {
  if (s === '') throw new WireError('malformed', `${what} flag with an empty ${what}`);
  return s;
}

function nonZero(v: number, what: string): number {
  if (v === 0) throw new WireError('malformed', `${what} flag with a ${what} of 0`);
  return v;
}
