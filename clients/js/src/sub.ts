// Subscriptions: interest in a topic filter, delivering to a callback or to
// an async iterator.
import { BadArgumentError, SlowConsumerError, TimeoutError, type MsgtransError } from './errors.js';
import type { Msg } from './msg.js';

/** When a new subscription receives the retained messages it matches. */
export type RetainHandling = 'send' | 'if-new' | 'never';

/** Options of subscribe. */
export interface SubscribeOptions {
  /** Join this queue group: each message goes to one member of the group. */
  queue?: string;
  /** End the subscription by itself after this many messages. */
  max?: number;
  /** Do not deliver this connection's own publishes to this subscription. */
  noLocal?: boolean;
  /**
   * 'send' (the default): receive the matching retained messages first;
   * 'if-new': only if the connection has no other subscription to the same
   * filter and queue; 'never'.
   */
  retain?: RetainHandling;
  /** Bounds of the queue an iterator has not taken yet (defaults: the connection's). */
  maxPendingMsgs?: number;
  maxPendingBytes?: number;
}

/** A subscription's callback; it runs in order, once per message. */
export type MsgCallback = (msg: Msg, sub: Subscription) => void;

/** What a subscription needs of its connection. */
export interface SubOwner {
  sendUnsub(sub: Subscription, max: number): void;
  forget(sub: Subscription): void;
  flush(opts?: { timeout?: number }): Promise<void>;
  reportError(err: MsgtransError, sub?: Subscription): void;
  runCallback(sub: Subscription, cb: MsgCallback, m: Msg): void;
}

interface Queued { m: Msg; expires: number }

/**
 * Subscription is interest in a topic filter. Messages reach either the
 * callback given to subscribe or, without one, the subscription's async
 * iterator: `for await (const m of sub)`. The iterator ends when the
 * subscription ends (unsubscribe, drain, max reached, connection closed)
 * and throws if the broker refused or withdrew it.
 */
export class Subscription implements AsyncIterable<Msg> {
  /** The number of messages delivered to the callback or queued for the iterator. */
  received = 0;
  /** Resolves when the subscription has ended: with the broker's refusal or the connection's failure, or undefined. */
  readonly closed: Promise<MsgtransError | undefined>;

  private q: Queued[] = [];
  private qHead = 0;
  private qBytes = 0;
  private waiter: (() => void) | null = null;
  private ended = false;
  private err: MsgtransError | undefined;
  private slow = 0; // messages dropped in this slow episode
  private iterating = false;
  private onEmpty: (() => void) | null = null; // a drain waiting for the iterator to take the queue
  private resolveClosed!: (e: MsgtransError | undefined) => void;
  /** @internal Auto-unsubscribe count; 0: none. */
  max = 0;

  /** @internal */
  constructor(
    private readonly owner: SubOwner,
    /** The subscription id on the connection (kept across reconnects). */
    readonly sid: number,
    /** The filter. */
    readonly topic: string,
    /** The queue group, or ''. */
    readonly queue: string,
    /** @internal SUB flags. */
    readonly flags: number,
    private readonly cb: MsgCallback | undefined,
    private readonly maxPendingMsgs: number,
    private readonly maxPendingBytes: number,
  ) {
    this.closed = new Promise((r) => (this.resolveClosed = r));
  }

  /** Whether the subscription still receives messages. */
  get isClosed(): boolean { return this.ended; }

  /** Messages and bytes waiting in the iterator's queue. */
  get pending(): { msgs: number; bytes: number } {
    return { msgs: this.q.length - this.qHead, bytes: this.qBytes };
  }

  /**
   * Ends the subscription: at once, or with max after max messages in all
   * (those already received count). Messages still queued for the iterator
   * are dropped when it ends at once. Does nothing once it has ended.
   */
  unsubscribe(max?: number): void {
    if (this.ended) return;
    if (max !== undefined) {
      if (!Number.isInteger(max) || max <= 0 || max > 0xffffffff) throw new BadArgumentError('msgtrans: unsubscribe max must be a positive integer');
      this.max = max;
      if (this.received < max) {
        // The broker counts deliveries since the SUB, as we do.
        this.owner.sendUnsub(this, max);
        return;
      }
    }
    this.owner.sendUnsub(this, 0);
    this.owner.forget(this);
    this.end(undefined, max !== undefined);
  }

  /**
   * Unsubscribes, lets the messages already on their way arrive (the
   * broker confirms with a flush), and resolves once the callback has had
   * them all, or the iterator has taken them all; rejects with a
   * TimeoutError after opts.timeout (default 10000) in all.
   */
  async drain(opts?: { timeout?: number }): Promise<void> {
    if (this.ended) return;
    const timeout = opts?.timeout ?? 10000;
    const deadline = Date.now() + timeout;
    this.owner.sendUnsub(this, 0);
    try {
      await this.owner.flush({ timeout });
    } finally {
      this.owner.forget(this);
      this.end(undefined, true);
    }
    if (this.cb || !this.iterating || this.q.length === this.qHead) return;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        this.onEmpty = null;
        reject(new TimeoutError(`draining ${this.topic}`, timeout));
      }, Math.max(0, deadline - Date.now()));
      this.onEmpty = () => {
        clearTimeout(t);
        this.onEmpty = null;
        resolve();
      };
    });
  }

  /** @internal Called by the connection for each message. */
  deliver(m: Msg): void {
    if (this.ended) return;
    if (this.max > 0 && this.received >= this.max) return;
    if (this.cb) {
      this.received++;
      this.owner.runCallback(this, this.cb, m);
    } else {
      const n = this.q.length - this.qHead;
      if (n >= this.maxPendingMsgs || this.qBytes + m.data.length > this.maxPendingBytes) {
        if (this.slow++ === 0) this.owner.reportError(new SlowConsumerError(this.topic), this);
        return;
      }
      this.slow = 0;
      this.received++;
      this.q.push({ m, expires: m.ttl ? Date.now() + m.ttl : 0 });
      this.qBytes += m.data.length;
      this.wake();
    }
    if (this.max > 0 && this.received >= this.max) {
      this.owner.forget(this);
      this.end(undefined, true);
    }
  }

  /** @internal Ends the subscription; with keep, the iterator still gets what is queued. */
  end(err: MsgtransError | undefined, keep: boolean): void {
    if (this.ended) return;
    this.ended = true;
    this.err = err;
    if (!keep) {
      this.q = [];
      this.qHead = 0;
      this.qBytes = 0;
    }
    this.resolveClosed(err);
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    if (w) {
      this.waiter = null;
      w();
    }
  }

  private pop(): Msg | undefined {
    while (this.qHead < this.q.length) {
      const it = this.q[this.qHead];
      this.q[this.qHead++] = undefined as unknown as Queued;
      this.qBytes -= it.m.data.length;
      if (this.qHead > 1024 && this.qHead * 2 > this.q.length) {
        this.q = this.q.slice(this.qHead);
        this.qHead = 0;
      }
      // A message whose time to live ran out while it waited is dropped.
      if (it.expires && Date.now() > it.expires) continue;
      if (this.qHead === this.q.length) this.onEmpty?.();
      return it.m;
    }
    this.onEmpty?.();
    return undefined;
  }

  [Symbol.asyncIterator](): AsyncIterator<Msg> {
    if (this.cb) throw new BadArgumentError('msgtrans: a subscription with a callback cannot be iterated');
    if (this.iterating) throw new BadArgumentError('msgtrans: a subscription has one iterator');
    this.iterating = true;
    const next = async (): Promise<IteratorResult<Msg>> => {
      for (;;) {
        const m = this.pop();
        if (m) return { value: m, done: false };
        if (this.ended) {
          this.iterating = false;
          if (this.err) throw this.err;
          return { value: undefined, done: true };
        }
        await new Promise<void>((r) => (this.waiter = r));
      }
    };
    return {
      next,
      return: async (): Promise<IteratorResult<Msg>> => {
        // Leaving a for-await loop early ends the subscription.
        this.iterating = false;
        this.onEmpty?.();
        this.unsubscribe();
        return { value: undefined, done: true };
      },
    };
  }
}
