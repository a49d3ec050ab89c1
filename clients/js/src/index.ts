// @msgtrans/client: the msgtrans client for browsers and Node, over
// WebSocket. No runtime dependencies: it uses the browser's WebSocket, Node
// 22's global one, or the `ws` package passed as the WebSocket option.
export { connect, Connection, SUBPROTOCOL } from './connection.js';
export type {
  ConnectOptions, PublishOptions, RequestOptions, ServerInfo, Stats, Status, WebSocketConstructor, WebSocketLike, WillOptions,
} from './connection.js';
export { Msg, MsgHeaders } from './msg.js';
export type { HeadersInit, Payload, RespondOptions } from './msg.js';
export { Subscription } from './sub.js';
export type { MsgCallback, RetainHandling, SubscribeOptions } from './sub.js';
export {
  BadArgumentError, ClosedError, ConnectionLostError, ErrorCode, MsgtransError, NoRespondersError, NoServersError,
  PayloadTooLargeError, ProtocolError, ReconnectBufferError, ServerError, SlowConsumerError, TimeoutError,
} from './errors.js';
