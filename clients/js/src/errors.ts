// Errors of the client. Everything it throws or rejects with is an
// instance of MsgtransError; subclasses say what happened, and a
// ServerError carries the broker's own code (docs/protocol.md, Error codes).

/** The broker's error codes. */
export const ErrorCode = {
  PROTOCOL: 1,
  UNKNOWN_FRAME: 2,
  FRAME_TOO_LARGE: 3,
  PAYLOAD_TOO_LARGE: 4,
  BAD_TOPIC: 5,
  TOO_MANY_SUBS: 6,
  MAX_CONNECTIONS: 7,
  AUTH: 8,
  SLOW_CONSUMER: 9,
  HANDSHAKE_TIMEOUT: 10,
  STALE: 11,
  SHUTDOWN: 12,
  VERSION: 13,
  BAD_SUBSCRIPTION: 14,
  RETAINED_LIMIT: 15,
  STORE: 16,
  INTERNAL: 17,
  PERMISSION_DENIED: 18,
} as const;

const codeNames = Object.fromEntries(Object.entries(ErrorCode).map(([k, v]) => [v, k])) as Record<number, string>;

/** The base class of every error of this package. */
export class MsgtransError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * An error the broker reported: in an ERR frame (fatal: the broker closed
 * the connection after it) or in the ACK of an acknowledged publish.
 * Unknown codes are kept as they are; `codeName` is then "INTERNAL".
 */
export class ServerError extends MsgtransError {
  readonly codeName: string;
  constructor(readonly code: number, readonly text: string, readonly fatal: boolean, readonly sid = 0) {
    super(`msgtrans: server: ${text} (${codeNames[code] ?? 'INTERNAL'})`);
    this.codeName = codeNames[code] ?? 'INTERNAL';
  }
}

/** The connection is closed: by close() or drain(), or reconnecting gave up. */
export class ClosedError extends MsgtransError {
  constructor() { super('msgtrans: connection closed'); }
}

/** The connection was lost before the broker answered (an ack, a flush). */
export class ConnectionLostError extends MsgtransError {
  constructor(cause?: unknown) { super('msgtrans: connection lost before the broker confirmed', { cause }); }
}

/** No server of the list could be reached; `errors` holds each one's reason. */
export class NoServersError extends MsgtransError {
  constructor(readonly errors: unknown[], what = 'no server could be reached') {
    super(`msgtrans: ${what}: ${errors.map((e) => (e instanceof Error ? e.message : String(e))).join('; ')}`);
  }
}

/** A request's topic had no subscriber: the broker said so at once. */
export class NoRespondersError extends MsgtransError {
  constructor(readonly topic: string) { super(`msgtrans: no responders on ${topic}`); }
}

/** A request, a flush or a connection attempt took longer than its timeout. */
export class TimeoutError extends MsgtransError {
  constructor(what: string, readonly timeout: number) { super(`msgtrans: ${what} timed out after ${timeout} ms`); }
}

/** A topic, filter, queue name or header the broker would refuse. */
export class BadArgumentError extends MsgtransError {}

/** A payload over the broker's max_payload (from WELCOME), refused before sending. */
export class PayloadTooLargeError extends MsgtransError {
  readonly code = ErrorCode.PAYLOAD_TOO_LARGE;
  constructor(readonly size: number, readonly max: number) {
    super(`msgtrans: payload of ${size} bytes exceeds the broker's limit of ${max}`);
  }
}

/** Publishes made while reconnecting went over the reconnect buffer. */
export class ReconnectBufferError extends MsgtransError {
  constructor(readonly max: number) { super(`msgtrans: reconnect buffer of ${max} bytes is full`); }
}

/**
 * A subscription's queue (messages not yet taken from its iterator) went
 * over its limits: messages were dropped. Reported once per episode.
 */
export class SlowConsumerError extends MsgtransError {
  constructor(readonly filter: string) {
    super(`msgtrans: slow consumer on ${filter}: messages dropped`);
  }
}

/** The server sent something that is not the protocol. */
export class ProtocolError extends MsgtransError {}
