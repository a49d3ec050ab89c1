// Messages and their headers.
import { BadArgumentError } from './errors.js';
import { MAX_STRING, utf8, utf8Len, type HeaderPairs } from './wire.js';

/** What a publish accepts as headers. */
export type HeadersInit = MsgHeaders | Record<string, string | string[]> | Iterable<[string, string]>;

/**
 * Message headers, like HTTP headers: each key has one or more values, in
 * order. Keys are case-sensitive (the protocol does not fold them).
 */
export class MsgHeaders implements Iterable<[string, string]> {
  private m = new Map<string, string[]>();

  constructor(init?: HeadersInit) {
    if (!init) return;
    if (init instanceof MsgHeaders) {
      for (const [k, v] of init) this.append(k, v);
    } else if (Symbol.iterator in init) {
      for (const [k, v] of init as Iterable<[string, string]>) this.append(k, v);
    } else {
      for (const [k, v] of Object.entries(init)) {
        for (const x of Array.isArray(v) ? v : [v]) this.append(k, x);
      }
    }
  }

  /** The first value of key, or undefined. */
  get(key: string): string | undefined { return this.m.get(key)?.[0]; }
  /** Every value of key, in order. */
  getAll(key: string): string[] { return [...(this.m.get(key) ?? [])]; }
  has(key: string): boolean { return this.m.has(key); }
  /** Replaces key's values with value. */
  set(key: string, value: string): this { this.m.set(checkKey(key), [String(value)]); return this; }
  /** Adds value to key's values. */
  append(key: string, value: string): this {
    const vs = this.m.get(checkKey(key));
    if (vs) vs.push(String(value));
    else this.m.set(key, [String(value)]);
    return this;
  }
  delete(key: string): boolean { return this.m.delete(key); }
  keys(): IterableIterator<string> { return this.m.keys(); }
  get size(): number { return this.m.size; }
  /** (key, value) pairs, a key once per value. */
  *[Symbol.iterator](): Iterator<[string, string]> {
    for (const [k, vs] of this.m) for (const v of vs) yield [k, v];
  }
  /** A plain object of key -> values, for logging and JSON. */
  toJSON(): Record<string, string[]> { return Object.fromEntries(this.m); }

  /** @internal The wire pairs, keys sorted (as the Go encoder does), each key's values in order. */
  pairs(): HeaderPairs {
    const out: HeaderPairs = [];
    for (const k of [...this.m.keys()].sort()) {
      for (const v of this.m.get(k)!) {
        if (utf8Len(v) > MAX_STRING) throw new BadArgumentError(`msgtrans: header value for ${JSON.stringify(k.slice(0, 64))} longer than ${MAX_STRING} bytes`);
        out.push([k, v]);
      }
    }
    if (out.length > MAX_STRING) throw new BadArgumentError(`msgtrans: ${out.length} header pairs, at most ${MAX_STRING}`);
    return out;
  }

  /** @internal */
  static fromPairs(p: HeaderPairs): MsgHeaders {
    const h = new MsgHeaders();
    for (const [k, v] of p) h.append(k, v);
    return h;
  }
}

function checkKey(key: string): string {
  if (typeof key !== 'string' || key === '' || utf8Len(key) > MAX_STRING) {
    throw new BadArgumentError(`msgtrans: header key must be a non-empty string of at most ${MAX_STRING} bytes`);
  }
  return key;
}

/** The payload types publish accepts: bytes, or a string sent as UTF-8. */
export type Payload = Uint8Array | ArrayBuffer | ArrayBufferView | string;

/** toBytes turns a payload into bytes, without copying bytes it is given. */
export function toBytes(data: Payload | undefined | null): Uint8Array {
  if (data == null) return new Uint8Array(0);
  if (typeof data === 'string') return utf8(data);
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new BadArgumentError('msgtrans: data must be a string, a Uint8Array, an ArrayBuffer or a typed array');
}

/** Options of a reply to a message. */
export interface RespondOptions {
  headers?: HeadersInit;
}

/** The connection side a received message needs to answer. */
export interface Responder {
  publish(topic: string, data?: Payload, opts?: { headers?: HeadersInit }): void;
}

const textDecoder = new TextDecoder();

/** A message received on a subscription. */
export class Msg {
  /** @internal A status message: the request it answers had no responders. */
  noResponders = false;

  /** @internal */
  constructor(
    /** The topic it was published to. */
    readonly topic: string,
    /** The payload. */
    readonly data: Uint8Array,
    /** Where a responder should answer (a request), or undefined. */
    readonly reply: string | undefined,
    /** Headers as published, or undefined when it had none. */
    readonly headers: MsgHeaders | undefined,
    /** It comes from the retained store (delivered on subscribe), not from live traffic. */
    readonly retained: boolean,
    /** It was published with retain (live, or from the store). */
    readonly retainFlag: boolean,
    /** What was left of its time to live, in milliseconds, when the broker sent it; undefined: no limit. */
    readonly ttl: number | undefined,
    /** The subscription's sid on the connection. */
    readonly sid: number,
    private readonly conn: Responder,
  ) {}

  /** The payload decoded as UTF-8. */
  string(): string { return textDecoder.decode(this.data); }

  /** The payload parsed as JSON. */
  json<T = unknown>(): T { return JSON.parse(this.string()) as T; }

  /** Publishes data to the message's reply topic; throws if it has none. */
  respond(data?: Payload, opts?: RespondOptions): void {
    if (!this.reply) throw new BadArgumentError('msgtrans: message has no reply topic');
    this.conn.publish(this.reply, data, opts);
  }
}
