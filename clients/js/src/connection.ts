// The connection: handshake, reconnects, publishing, requests, flushes.
import {
  BadArgumentError, ClosedError, ConnectionLostError, MsgtransError, NoRespondersError, NoServersError,
  PayloadTooLargeError, ProtocolError, ReconnectBufferError, ServerError, TimeoutError, ErrorCode,
} from './errors.js';
import { MsgHeaders, Msg, toBytes, type HeadersInit, type Payload } from './msg.js';
import { Subscription, type MsgCallback, type SubOwner, type SubscribeOptions } from './sub.js';
import { checkFilter, checkQueue, checkTopic } from './topics.js';
import * as w from './wire.js';

/** The WebSocket subprotocol the broker selects. */
export const SUBPROTOCOL = 'msgtrans.v1';

// Frames the client accepts from a server before its WELCOME says how large
// they may be: enough for any payload a broker may be configured for,
// bounded so that a broken server cannot make the client hold a huge
// message (docs/protocol.md, Limits).
const CLIENT_MAX_FRAME = 64 * 1024 * 1024 + 64 * 1024;

/** What the client needs of a WebSocket: the browser's, Node >= 22's global, or the `ws` package's. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: any) => void) | null;
  onclose: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
}

/** A WebSocket constructor, such as `globalThis.WebSocket` or the `ws` package's default export. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** A last will: published by the broker when the connection ends without close() or drain(). */
export interface WillOptions {
  topic: string;
  data?: Payload;
  headers?: HeadersInit;
  retain?: boolean;
  /** Time to live in milliseconds. */
  ttl?: number;
  /** How long after the connection ends it is published, in milliseconds (0: at once). */
  delay?: number;
}

/** Options of connect. Times are in milliseconds. */
export interface ConnectOptions {
  /** Shown in the broker's logs and stats. */
  name?: string;
  token?: string;
  user?: string;
  password?: string;
  /** Do not deliver this connection's own publishes to its subscriptions. */
  noEcho?: boolean;
  will?: WillOptions;
  /** Bounds opening the WebSocket and the handshake with one server (default 5000). */
  connectTimeout?: number;
  /** Reconnect when the connection is lost (default true). */
  reconnect?: boolean;
  /** Reconnect attempts before giving up (default 60; negative: never give up). */
  maxReconnectAttempts?: number;
  /** First pause before a reconnect attempt (default 250); it doubles, with up to 20% jitter, up to maxReconnectWait (default 10000). */
  reconnectWait?: number;
  maxReconnectWait?: number;
  /** Bytes of publishes kept while reconnecting (default 8 MiB); beyond, publish throws ReconnectBufferError. */
  reconnectBufferSize?: number;
  /** Default bounds of a subscription's iterator queue (defaults 65536 messages, 64 MiB). */
  maxPendingMsgs?: number;
  maxPendingBytes?: number;
  /** The WebSocket constructor; default: globalThis.WebSocket. */
  WebSocket?: WebSocketConstructor;
  /** Called when the connection is lost, with why. */
  onDisconnect?: (err: Error) => void;
  /** Called after a reconnect, once the broker has confirmed the restored subscriptions. */
  onReconnect?: () => void;
  /** Called for asynchronous errors: a refused subscription or publish, a slow iterator, a callback that threw. */
  onError?: (err: Error, sub?: Subscription) => void;
}

/** Options of publish. */
export interface PublishOptions {
  /** Reply-to topic: where responders answer. */
  reply?: string;
  headers?: HeadersInit;
  /** Keep as the topic's retained message (empty data deletes it). */
  retain?: boolean;
  /** Time to live in milliseconds: a retained message is kept that long. */
  ttl?: number;
}

/** Options of request. */
export interface RequestOptions {
  /** How long to wait for the reply (default 5000). */
  timeout?: number;
  headers?: HeadersInit;
}

/** A connection event, from status(). */
export type Status =
  | { type: 'disconnect'; error: Error }
  | { type: 'reconnect'; url: string }
  | { type: 'error'; error: Error; subscription?: Subscription };

/** What the broker said about itself in its WELCOME. */
export interface ServerInfo {
  url: string;
  serverId: string;
  serverVersion: string;
  /** The broker's id for this session (a u64). */
  sessionId: bigint;
  /** The largest payload the broker accepts. */
  maxPayload: number;
  /** The interval at which the broker PINGs. */
  heartbeatMs: number;
  /** The largest frame body the broker accepts (the client reads frames of up to this plus 4 bytes). */
  maxFrame: number;
  /** The broker closes a connection it heard nothing from for this long; 0: an older broker that did not say. */
  deadPeerMs: number;
}

/** A connection's counters. */
export interface Stats {
  inMsgs: number;
  inBytes: number;
  outMsgs: number;
  outBytes: number;
  reconnects: number;
}

interface Waiter { resolve: () => void; reject: (e: Error) => void }

const retainCodes = { send: 0, 'if-new': 1, never: 2 } as const;

/**
 * connect opens a connection to the first server of urls (ws:// or wss://,
 * a string or a list, tried in order) that completes the handshake. A lost
 * connection is re-established through the same list.
 */
export async function connect(urls: string | string[], opts: ConnectOptions = {}): Promise<Connection> {
  const c = new Connection(urls, opts);
  await c.start();
  return c;
}

/** A connection to a msgtrans broker over WebSocket. Create it with connect(). */
export class Connection implements SubOwner {
  /** Resolves when the connection has closed: undefined after close() or drain(), the error after giving up. */
  readonly closed: Promise<Error | undefined>;

  private readonly urls: string[];
  private readonly opts: Required<Pick<ConnectOptions, 'connectTimeout' | 'reconnect' | 'maxReconnectAttempts' | 'reconnectWait' | 'maxReconnectWait' | 'reconnectBufferSize' | 'maxPendingMsgs' | 'maxPendingBytes'>> & ConnectOptions;
  private readonly WS: WebSocketConstructor;
  private readonly hello: Uint8Array;

  private state: 'connecting' | 'connected' | 'reconnecting' | 'closed' = 'connecting';
  private ws: WebSocketLike | null = null;
  private welcome: ServerInfo | null = null;
  // The largest frame body read from the server: its WELCOME's max_frame
  // plus 4 (the room the protocol gives a server's own frames).
  private readLimit = CLIENT_MAX_FRAME;
  private pending: Uint8Array[] = []; // frames made while reconnecting
  private pendingBytes = 0;
  private subs = new Map<number, Subscription>();
  private nextSid = 0;
  private acks = new Map<number, Waiter>();
  private nextAck = 0;
  private pongs: (Waiter | null)[] = []; // null: a reconnect's confirmation
  private inbox = '';
  private inboxSub: Subscription | null = null;
  private resps = new Map<string, { resolve: (m: Msg) => void; reject: (e: Error) => void }>();
  private nextReq = 0;
  private framesIn = 0;
  private lastTopic: string | null = null; // validated, its bytes in lastTopicBytes
  private lastTopicBytes: Uint8Array = new Uint8Array(0);
  private corked = false; // the ws package's socket is corked until the next microtask
  private wakeUp: (() => void) | null = null; // ends a reconnect pause
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  private statusQueues = new Set<{ push: (s: Status | null) => void }>();
  private resolveClosed!: (e: Error | undefined) => void;
  private counters: Stats = { inMsgs: 0, inBytes: 0, outMsgs: 0, outBytes: 0, reconnects: 0 };

  /** @internal Use connect(). */
  constructor(urls: string | string[], opts: ConnectOptions) {
    this.urls = (Array.isArray(urls) ? urls : [urls]).flatMap((u) => String(u).split(',')).map((u) => u.trim()).filter(Boolean);
    if (this.urls.length === 0) throw new BadArgumentError('msgtrans: no server url');
    for (const u of this.urls) {
      if (!/^wss?:\/\/[^/]/i.test(u)) throw new BadArgumentError(`msgtrans: server url ${JSON.stringify(u)} is not ws:// or wss://`);
    }
    this.opts = {
      connectTimeout: 5000, reconnect: true, maxReconnectAttempts: 60, reconnectWait: 250, maxReconnectWait: 10000,
      reconnectBufferSize: 8 << 20, maxPendingMsgs: 65536, maxPendingBytes: 64 << 20, ...definedOnly(opts),
    };
    for (const k of ['connectTimeout', 'reconnectWait', 'maxReconnectWait', 'maxPendingMsgs', 'maxPendingBytes'] as const) {
      if (!(this.opts[k] > 0)) throw new BadArgumentError(`msgtrans: option ${k} must be positive`);
    }
    if (!(this.opts.reconnectBufferSize >= 0)) throw new BadArgumentError('msgtrans: option reconnectBufferSize must not be negative');
    const WS = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WS) throw new BadArgumentError('msgtrans: no WebSocket: pass the `ws` package as the WebSocket option (Node < 22)');
    this.WS = WS;
    for (const k of ['name', 'token', 'user', 'password'] as const) {
      const v = opts[k];
      if (v !== undefined && (typeof v !== 'string' || w.utf8Len(v) > w.MAX_STRING)) {
        throw new BadArgumentError(`msgtrans: option ${k} must be a string of at most ${w.MAX_STRING} bytes`);
      }
    }
    this.hello = w.encode({
      type: w.T_HELLO, version: w.VERSION, noEcho: !!opts.noEcho, name: opts.name ?? '', token: opts.token ?? '',
      user: opts.user ?? '', pass: opts.password ?? '', will: opts.will && makeWill(opts.will),
      wantLimits: true,
    });
    this.closed = new Promise((r) => (this.resolveClosed = r));
  }

  /** @internal */
  async start(): Promise<void> {
    const errs: unknown[] = [];
    for (const u of this.urls) {
      try {
        await this.handshake(u);
        return;
      } catch (e) {
        if (e instanceof ServerError && e.code === ErrorCode.AUTH) {
          this.finish(e);
          throw e;
        }
        errs.push(e);
      }
    }
    const e = new NoServersError(errs);
    this.finish(e);
    throw e;
  }

  // handshake opens a WebSocket to url and sends HELLO; on WELCOME it
  // installs the connection at once, in the same event (a message that
  // follows the WELCOME must find the connection's handlers in place).
  private handshake(url: string): Promise<void> {
    return new Promise((resolve, reject) => {
      let ws: WebSocketLike;
      try {
        ws = new this.WS(url, SUBPROTOCOL);
      } catch (e) {
        reject(e);
        return;
      }
      // The ws package hands messages over as Buffers without a copy with
      // 'nodebuffer'; a browser ignores that value and keeps 'blob'.
      ws.binaryType = 'nodebuffer';
      if (ws.binaryType !== 'nodebuffer') ws.binaryType = 'arraybuffer';
      const fail = (e: Error): void => {
        clearTimeout(timer);
        detach(ws);
        try { ws.close(); } catch { /* not open yet */ }
        reject(e);
      };
      const timer = setTimeout(() => fail(new TimeoutError(`connecting to ${url}`, this.opts.connectTimeout)), this.opts.connectTimeout);
      ws.onopen = () => ws.send(this.hello);
      ws.onerror = (ev) => fail(new MsgtransError(`msgtrans: ${url}: ${ev?.message ?? ev?.error?.message ?? 'WebSocket error'}`));
      ws.onclose = (ev) => fail(new MsgtransError(`msgtrans: ${url}: connection closed during the handshake (code ${ev?.code})`));
      ws.onmessage = (ev) => {
        let f: w.Frame;
        try {
          f = w.decode(bytesOf(ev.data), CLIENT_MAX_FRAME);
        } catch (e) {
          fail(new ProtocolError(`msgtrans: ${url}: handshake: ${(e as Error).message}`, { cause: e }));
          return;
        }
        if (f.type === w.T_ERR) return fail(new ServerError(f.code, f.text, true));
        if (f.type !== w.T_WELCOME) return fail(new ProtocolError(`msgtrans: ${url}: handshake: frame type ${f.type} before WELCOME`));
        if (f.version !== w.VERSION) return fail(new ProtocolError(`msgtrans: ${url}: server speaks protocol version ${f.version}`));
        if (this.state === 'closed') return fail(new ClosedError());
        clearTimeout(timer);
        this.install(ws, url, f);
        resolve();
      };
    });
  }

  private install(ws: WebSocketLike, url: string, f: Extract<w.Frame, { type: typeof w.T_WELCOME }>): void {
    const again = this.state === 'reconnecting';
    this.ws = ws;
    // Without LIMITS (an older broker) its frames are at most the payload
    // limit plus 64 KiB of topics and header (docs/protocol.md, Limits).
    const maxFrame = f.maxFrame ?? f.maxPayload + 64 * 1024;
    this.welcome = {
      url, serverId: f.serverId, serverVersion: f.serverVersion, sessionId: f.sessionId, maxPayload: f.maxPayload,
      heartbeatMs: f.heartbeatMs, maxFrame, deadPeerMs: f.deadPeerMs ?? 0,
    };
    this.readLimit = maxFrame + 4;
    this.state = 'connected';
    ws.onmessage = (ev) => this.onMessage(ws, ev.data);
    ws.onerror = () => { /* the close event follows and says why */ };
    ws.onclose = (ev) => this.lost(ws, new MsgtransError(`msgtrans: connection closed (code ${ev?.code}${ev?.reason ? ': ' + ev.reason : ''})`));
    this.watchHeartbeat(ws, f.heartbeatMs || 30000);
    if (!again) return;
    // Subscriptions first, in sid order, then a PING whose PONG says they
    // are in place (the reconnect is reported then), then what was
    // published meanwhile.
    this.counters.reconnects++;
    for (const s of [...this.subs.values()].sort((a, b) => a.sid - b.sid)) {
      this.send(w.encode({ type: w.T_SUB, sid: s.sid, filter: s.topic, queue: s.queue, noLocal: !!(s.flags & w.SUB_NO_LOCAL), retainHandling: s.flags >> 1 }));
      if (s.max > 0 && s.max > s.received) {
        // The new server counts from this SUB: ask for what is still wanted.
        this.send(w.encode({ type: w.T_UNSUB, sid: s.sid, max: s.max - s.received }));
      }
    }
    this.send(w.encode({ type: w.T_PING }));
    this.pongs.unshift(null);
    const held = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    for (const b of held) this.send(b);
  }

  // watchHeartbeat treats a server silent for two and a half heartbeats
  // as gone (it PINGs every heartbeat): a dead TCP connection can take
  // minutes to be noticed otherwise.
  private watchHeartbeat(ws: WebSocketLike, hb: number): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    let last = this.framesIn, seen = Date.now();
    this.heartbeat = setInterval(() => {
      if (this.framesIn !== last) {
        last = this.framesIn;
        seen = Date.now();
      } else if (Date.now() - seen > 2.5 * hb) {
        this.lost(ws, new MsgtransError(`msgtrans: server silent for ${Date.now() - seen} ms`));
      }
    }, hb);
    (this.heartbeat as { unref?: () => void }).unref?.();
  }

  private onMessage(ws: WebSocketLike, data: unknown): void {
    if (ws !== this.ws) return;
    let f: w.Frame;
    try {
      f = w.decode(bytesOf(data), this.readLimit);
    } catch (e) {
      this.lost(ws, new ProtocolError(`msgtrans: bad frame from the server: ${(e as Error).message}`, { cause: e }));
      return;
    }
    this.framesIn++;
    switch (f.type) {
      case w.T_MSG:
        this.onMsg(f);
        break;
      case w.T_PING:
        this.send(w.encode({ type: w.T_PONG }));
        break;
      case w.T_PONG: {
        const p = this.pongs.shift();
        if (p) p.resolve();
        else if (p === null) {
          this.emit({ type: 'reconnect', url: this.welcome!.url });
          this.call(() => this.opts.onReconnect?.());
        }
        break;
      }
      case w.T_ACK: {
        const id = Number(f.ackId);
        const p = this.acks.get(id);
        if (!p) break;
        this.acks.delete(id);
        if (f.code === 0) p.resolve();
        else p.reject(new ServerError(f.code, f.text, false));
        break;
      }
      case w.T_ERR: {
        const e = new ServerError(f.code, f.text, f.fatal, f.sid);
        if (f.fatal) {
          this.lost(ws, e);
          return;
        }
        const s = f.sid ? this.subs.get(f.sid) : undefined;
        if (s) {
          // The broker refused or withdrew this subscription.
          this.subs.delete(f.sid);
          s.end(e, false);
        }
        this.reportError(e, s);
        break;
      }
      default:
        this.lost(ws, new ProtocolError(`msgtrans: unexpected frame type ${f.type} from the server`));
    }
  }

  private onMsg(f: Extract<w.Frame, { type: typeof w.T_MSG }>): void {
    this.counters.inMsgs++;
    this.counters.inBytes += f.payload.length;
    const s = this.subs.get(f.sid);
    if (!s) return; // unsubscribed meanwhile
    // The payload is a view of the message's own buffer: nothing else uses it.
    const m = new Msg(f.topic, f.payload, f.reply, f.headers && MsgHeaders.fromPairs(f.headers),
      !!(f.flags & w.MSG_RETAINED), !!(f.flags & w.MSG_RETAIN_FLAG), f.ttlMs, f.sid, this);
    m.noResponders = !!(f.flags & w.MSG_NO_RESPONDERS);
    s.deliver(m);
  }

  // lost handles the end of a transport: reconnect, or close.
  private lost(ws: WebSocketLike, err: Error): void {
    if (ws !== this.ws) return;
    detach(ws);
    // The ws package's terminate() drops the socket at once; its close()
    // would wait up to 30 s for a closing handshake from a server that may
    // be gone.
    try {
      const t = (ws as { terminate?: () => void }).terminate;
      if (typeof t === 'function') t.call(ws);
      else ws.close();
    } catch { /* closing already */ }
    this.ws = null;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    if (this.state === 'closed') return;
    this.state = 'reconnecting';
    // Acknowledged publishes and flushes sent on the lost connection are
    // not confirmed: the caller must know. Plain publishes made from now on
    // are kept for the next server.
    this.failWaiters(new ConnectionLostError(err));
    this.emit({ type: 'disconnect', error: err });
    this.call(() => this.opts.onDisconnect?.(err));
    const fatalAuth = err instanceof ServerError && err.code === ErrorCode.AUTH;
    if (!this.opts.reconnect || this.opts.maxReconnectAttempts === 0 || fatalAuth) {
      this.finish(err);
      return;
    }
    void this.reconnect(err);
  }

  private async reconnect(cause: unknown): Promise<void> {
    let wait = this.opts.reconnectWait;
    const max = this.opts.maxReconnectAttempts;
    for (let attempt = 0; max < 0 || attempt < max; attempt++) {
      await this.pause(wait + Math.random() * wait * 0.2);
      if (this.isClosed) return;
      wait = Math.min(2 * wait, this.opts.maxReconnectWait);
      for (const u of this.urls) {
        if (this.isClosed) return;
        try {
          await this.handshake(u);
          return;
        } catch (e) {
          cause = e;
        }
      }
    }
    this.finish(new NoServersError([cause], `gave up after ${max} reconnect attempts`));
  }

  // pause waits ms, or less if the connection closes meanwhile (a pending
  // timer would keep Node running after close()).
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.wakeUp = null; resolve(); }, ms);
      this.wakeUp = () => { clearTimeout(t); this.wakeUp = null; resolve(); };
    });
  }

  /** The server the connection uses now; null while reconnecting or closed. */
  get info(): ServerInfo | null {
    return this.state === 'connected' ? this.welcome : null;
  }

  /** Whether close() or drain() was called, or reconnecting gave up. */
  get isClosed(): boolean { return this.state === 'closed'; }

  /** Whether a server connection is up (false while reconnecting). */
  get isConnected(): boolean { return this.state === 'connected'; }

  /** The connection's counters. */
  stats(): Stats { return { ...this.counters }; }

  /**
   * Connection events as an async iterable: disconnects, reconnects and
   * asynchronous errors, from the moment of the call until the connection
   * closes. Each call gives its own iterator; events it has not taken are
   * kept (the oldest dropped past 1024).
   */
  status(): AsyncIterable<Status> {
    const q: (Status | null)[] = [];
    let wake: (() => void) | null = null;
    const entry = {
      push: (s: Status | null) => {
        if (q.length >= 1024) q.shift();
        q.push(s);
        wake?.();
        wake = null;
      },
    };
    if (this.state === 'closed') q.push(null);
    else this.statusQueues.add(entry);
    return {
      [Symbol.asyncIterator]: () => ({
        next: async (): Promise<IteratorResult<Status>> => {
          while (q.length === 0) await new Promise<void>((r) => (wake = r));
          const s = q.shift()!;
          if (s === null) {
            q.push(null);
            return { value: undefined, done: true };
          }
          return { value: s, done: false };
        },
        return: async (): Promise<IteratorResult<Status>> => {
          this.statusQueues.delete(entry);
          return { value: undefined, done: true };
        },
      }),
    };
  }

  private emit(s: Status): void {
    for (const q of this.statusQueues) q.push(s);
  }

  // call runs a user handler; one that throws harms nobody else.
  private call(fn: () => void): void {
    try { fn(); } catch { /* a handler's own fault */ }
  }

  /** @internal */
  reportError(err: MsgtransError, sub?: Subscription): void {
    this.emit({ type: 'error', error: err, subscription: sub });
    this.call(() => this.opts.onError?.(err, sub));
  }

  /** @internal */
  runCallback(sub: Subscription, cb: MsgCallback, m: Msg): void {
    try {
      cb(m, sub);
    } catch (e) {
      const err = e instanceof MsgtransError ? e : new MsgtransError(`msgtrans: subscription callback on ${sub.topic} threw: ${(e as Error)?.message ?? e}`, { cause: e });
      this.reportError(err, sub);
    }
  }

  // send writes one frame, or keeps it while reconnecting.
  private send(b: Uint8Array): void {
    if (this.state === 'connected') {
      const ws = this.ws!;
      if (!this.corked) this.cork(ws);
      ws.send(b);
    } else {
      this.pending.push(b);
      this.pendingBytes += b.length;
    }
  }

  // cork batches the frames sent in one turn of the event loop into one
  // write, where the WebSocket lets us: the `ws` package's socket has
  // cork(). Each frame is its own WebSocket message (the protocol wants
  // that), so without it every publish costs a system call of its own.
  // Browsers and undici's WebSocket batch by themselves.
  private cork(ws: WebSocketLike): void {
    const sock = (ws as { _socket?: { cork?: () => void; uncork?: () => void } })._socket;
    if (typeof sock?.cork !== 'function' || typeof sock.uncork !== 'function') return;
    this.corked = true;
    sock.cork();
    queueMicrotask(() => {
      this.corked = false;
      sock.uncork!();
    });
  }

  private checkOpen(): void {
    if (this.state === 'closed') throw new ClosedError();
  }

  // pubFrame validates and encodes a PUB; it throws before anything is sent.
  private pubFrame(topic: string, data: Payload | undefined, o: PublishOptions | undefined, ackId: number): Uint8Array {
    this.checkOpen();
    if (topic !== this.lastTopic) {
      // A publisher mostly publishes to one topic again and again: check
      // and encode it once.
      checkTopic(topic);
      this.lastTopicBytes = w.utf8(topic);
      if (this.lastTopicBytes.length > w.MAX_STRING) throw new BadArgumentError('msgtrans: topic too long');
      this.lastTopic = topic;
    }
    const payload = toBytes(data);
    const max = this.welcome?.maxPayload ?? 0;
    if (max > 0 && payload.length > max) throw new PayloadTooLargeError(payload.length, max);
    let ttl = 0, b: Uint8Array;
    if (o) {
      if (o.ttl !== undefined && o.ttl !== 0) {
        if (!(Number.isFinite(o.ttl) && o.ttl > 0 && o.ttl <= 0xffffffff)) throw new BadArgumentError('msgtrans: ttl must be a positive number of milliseconds, at most 2^32-1');
        ttl = Math.ceil(o.ttl);
      }
    }
    if (o?.reply || o?.headers) {
      if (o.reply !== undefined) checkTopic(o.reply, 'reply topic');
      const headers = o.headers ? new MsgHeaders(o.headers).pairs() : undefined;
      b = w.encode({
        type: w.T_PUB, topic, reply: o.reply || undefined, retain: !!o.retain, ackId: ackId ? BigInt(ackId) : undefined,
        ttlMs: ttl || undefined, headers, payload,
      });
    } else {
      if (o?.reply === '') checkTopic('', 'reply topic');
      b = w.encodePlainPub(this.lastTopicBytes, payload, !!o?.retain, ackId, ttl);
    }
    if (this.state !== 'connected' && this.pendingBytes + b.length > this.opts.reconnectBufferSize) {
      throw new ReconnectBufferError(this.opts.reconnectBufferSize);
    }
    this.counters.outMsgs++;
    this.counters.outBytes += payload.length;
    return b;
  }

  /**
   * Publishes data (bytes, or a string sent as UTF-8) to topic. It throws
   * at once for a bad topic, a payload over the broker's limit, a closed
   * connection or a full reconnect buffer; a refusal by the broker comes
   * later, as an error status. While reconnecting, publishes are kept for
   * the next server.
   */
  publish(topic: string, data?: Payload, opts?: PublishOptions): void {
    this.send(this.pubFrame(topic, data, opts, 0));
  }

  /**
   * Publishes and resolves once the broker has accepted the message
   * (routed to current subscribers or, retained, stored durably); rejects
   * with its refusal (a ServerError), or ConnectionLostError if the
   * connection was lost before the answer.
   */
  publishAck(topic: string, data?: Payload, opts?: PublishOptions): Promise<void> {
    let b: Uint8Array;
    const id = this.nextAck + 1;
    try {
      b = this.pubFrame(topic, data, opts, id);
    } catch (e) {
      return Promise.reject(e);
    }
    this.nextAck = id;
    return new Promise((resolve, reject) => {
      this.acks.set(id, { resolve, reject });
      this.send(b);
    });
  }

  /** Subscribes to filter; iterate the subscription for its messages. */
  subscribe(filter: string, opts?: SubscribeOptions): Subscription;
  /** Subscribes to filter; cb is called once per message, in order. */
  subscribe(filter: string, cb: MsgCallback, opts?: SubscribeOptions): Subscription;
  subscribe(filter: string, cb?: MsgCallback | SubscribeOptions, opts?: SubscribeOptions): Subscription {
    if (cb !== undefined && typeof cb !== 'function') {
      opts = cb;
      cb = undefined;
    }
    this.checkOpen();
    checkFilter(filter);
    const o = opts ?? {};
    if (o.queue !== undefined) checkQueue(o.queue);
    if (o.max !== undefined && !(Number.isInteger(o.max) && o.max > 0 && o.max <= 0xffffffff)) throw new BadArgumentError('msgtrans: max must be a positive integer');
    const rname = o.retain ?? 'send';
    if (!Object.hasOwn(retainCodes, rname)) throw new BadArgumentError(`msgtrans: retain must be 'send', 'if-new' or 'never'`);
    const rh = retainCodes[rname];
    for (const k of ['maxPendingMsgs', 'maxPendingBytes'] as const) {
      if (o[k] !== undefined && !(o[k]! > 0)) throw new BadArgumentError(`msgtrans: ${k} must be positive`);
    }
    const flags = (o.noLocal ? w.SUB_NO_LOCAL : 0) | (rh << 1);
    const s = new Subscription(this, ++this.nextSid, filter, o.queue ?? '', flags, cb as MsgCallback | undefined,
      o.maxPendingMsgs ?? this.opts.maxPendingMsgs, o.maxPendingBytes ?? this.opts.maxPendingBytes);
    this.subs.set(s.sid, s);
    if (this.state === 'connected') {
      // While reconnecting, the reconnect sends it from the table.
      this.send(w.encode({ type: w.T_SUB, sid: s.sid, filter, queue: s.queue, noLocal: !!o.noLocal, retainHandling: rh }));
    }
    if (o.max !== undefined) s.unsubscribe(o.max);
    return s;
  }

  /** @internal */
  sendUnsub(s: Subscription, max: number): void {
    if (this.state === 'connected' && this.subs.has(s.sid)) this.send(w.encode({ type: w.T_UNSUB, sid: s.sid, max }));
  }

  /** @internal */
  forget(s: Subscription): void {
    this.subs.delete(s.sid);
  }

  /**
   * Sends data to topic with a reply topic in the connection's inbox and
   * resolves with the first reply. Rejects at once with NoRespondersError
   * when nothing subscribes to topic, with TimeoutError after the timeout.
   */
  request(topic: string, data?: Payload, opts?: RequestOptions): Promise<Msg> {
    const timeout = opts?.timeout ?? 5000;
    if (!(timeout > 0)) return Promise.reject(new BadArgumentError('msgtrans: timeout must be positive'));
    try {
      this.ensureInbox();
    } catch (e) {
      return Promise.reject(e);
    }
    const token = (++this.nextReq).toString(36);
    return new Promise<Msg>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.resps.delete(token);
        reject(new TimeoutError(`request on ${topic}`, timeout));
      }, timeout);
      const done = <T>(fn: (v: T) => void) => (v: T) => {
        clearTimeout(timer);
        this.resps.delete(token);
        fn(v);
      };
      this.resps.set(token, {
        resolve: done((m: Msg) => (m.noResponders ? reject(new NoRespondersError(topic)) : resolve(m))),
        reject: done(reject),
      });
      try {
        this.publish(topic, data, { reply: this.inbox + token, headers: opts?.headers });
      } catch (e) {
        this.resps.get(token)!.reject(e as Error);
      }
    });
  }

  // ensureInbox subscribes, once, to the connection's wildcard inbox; again
  // with a new one if the broker refused it.
  private ensureInbox(): void {
    if (this.inboxSub && !this.inboxSub.isClosed) return;
    const rnd = new Uint8Array(12);
    globalThis.crypto.getRandomValues(rnd);
    const inbox = '_INBOX.' + Array.from(rnd, (b) => b.toString(16).padStart(2, '0')).join('') + '.';
    this.inboxSub = this.subscribe(inbox + '*', (m) => {
      this.resps.get(m.topic.slice(inbox.length))?.resolve(m);
    });
    this.inbox = inbox;
  }

  /**
   * Resolves once the broker has processed everything sent before it
   * (a PING answered by a PONG: frames are processed in order).
   */
  flush(opts?: { timeout?: number }): Promise<void> {
    if (this.state === 'closed') return Promise.reject(new ClosedError());
    const timeout = opts?.timeout ?? 10000;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiter.resolve = waiter.reject = () => {};
        reject(new TimeoutError('flush', timeout));
      }, timeout);
      const waiter: Waiter = {
        resolve: () => { clearTimeout(timer); resolve(); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
      this.pongs.push(waiter);
      this.send(w.encode({ type: w.T_PING }));
    });
  }

  // failWaiters fails every ack and flush waiting for an answer.
  private failWaiters(err: Error): void {
    const acks = [...this.acks.values()];
    const pongs = this.pongs;
    this.acks.clear();
    this.pongs = [];
    for (const p of acks) p.reject(err);
    for (const p of pongs) p?.reject(err);
  }

  /**
   * Closes the connection: what was published is sent first, then a
   * goodbye (so the broker discards the will). Resolves once the socket
   * has closed. Calling it again does nothing.
   */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const ws = this.ws;
    if (ws && this.state === 'connected') this.send(w.encode({ type: w.T_BYE }));
    this.finish(undefined);
    if (ws) await closeSocket(ws, this.opts.connectTimeout);
  }

  /**
   * Unsubscribes everything, lets the messages already on their way reach
   * their callbacks and iterators, flushes what was published, and closes.
   */
  async drain(opts?: { timeout?: number }): Promise<void> {
    this.checkOpen();
    const subs = [...this.subs.values()];
    try {
      // Each subscription's drain is bounded by the timeout, and so is the flush.
      await Promise.all(subs.map((s) => s.drain(opts)));
      if (subs.length === 0) await this.flush(opts);
    } finally {
      await this.close();
    }
  }

  // finish moves to the closed state and ends everything waiting.
  private finish(err: Error | undefined): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.wakeUp?.();
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    if (this.ws) detach(this.ws);
    this.ws = null;
    this.failWaiters(err ?? new ClosedError());
    for (const r of [...this.resps.values()]) r.reject(err ?? new ClosedError());
    const subErr = err instanceof MsgtransError ? err : err && new MsgtransError(err.message, { cause: err });
    // After giving up, iterators still get what they had received; close() drops it.
    for (const s of this.subs.values()) s.end(subErr, err !== undefined);
    this.subs.clear();
    this.pending = [];
    for (const q of this.statusQueues) q.push(null);
    this.statusQueues.clear();
    this.resolveClosed(err);
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function makeWill(o: WillOptions): w.WireWill {
  checkTopic(o.topic, 'will topic');
  const delay = o.delay ?? 0, ttl = o.ttl ?? 0;
  if (!(delay >= 0 && delay <= 0xffffffff) || !(ttl >= 0 && ttl <= 0xffffffff)) throw new BadArgumentError('msgtrans: will delay and ttl must be 0 to 2^32-1 ms');
  return {
    topic: o.topic, retain: !!o.retain, delayMs: Math.ceil(delay), ttlMs: Math.ceil(ttl),
    headers: o.headers ? new MsgHeaders(o.headers).pairs() : undefined, payload: toBytes(o.data),
  };
}

function bytesOf(data: unknown): Uint8Array {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new ProtocolError('msgtrans: text WebSocket message from the server');
}

// detach stops a socket's events from reaching the connection. Its error
// handler stays, as a no-op: the ws package emits 'error' when a socket is
// closed during its handshake or fails later, and an EventEmitter's 'error'
// with no listener would end the Node process.
function detach(ws: WebSocketLike): void {
  ws.onopen = ws.onmessage = ws.onclose = null;
  ws.onerror = () => {};
}

// closeSocket closes ws after what it has queued, waiting at most ms.
function closeSocket(ws: WebSocketLike, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    ws.onclose = () => {
      clearTimeout(t);
      resolve();
    };
    try { ws.close(1000); } catch { clearTimeout(t); resolve(); }
  });
}
