// Compiled (not run) by `npm test`: the published declarations type a
// consumer's use of the API the way the README shows it.
import {
  connect, type Connection, type Msg, type Status, type Subscription, MsgHeaders, ServerError, ErrorCode, NoRespondersError,
} from '../dist/index.js';
import { decode, encode, type Frame } from '../dist/wire.js';

export async function use(WebSocket: NonNullable<Parameters<typeof connect>[1]>['WebSocket']): Promise<void> {
  const nc: Connection = await connect(['ws://127.0.0.1:8002/ws'], { WebSocket, name: 'types', reconnectWait: 100 });
  const cb: Subscription = nc.subscribe('a.*', (m: Msg, s: Subscription) => m.respond(m.data, { headers: { sid: String(s.sid) } }));
  const it: Subscription = nc.subscribe('b.>', { queue: 'q', max: 10, retain: 'never' });
  for await (const m of it) {
    const text: string = m.string();
    const obj = m.json<{ id: number }>();
    const h: string | undefined = m.headers?.get('id');
    const ttl: number | undefined = m.ttl;
    void [text, obj.id, h, ttl, m.retained, m.retainFlag, m.reply];
  }
  nc.publish('a.b', 'text', { headers: new MsgHeaders({ k: ['1', '2'] }), retain: true, ttl: 1000, reply: 'r.x' });
  nc.publish('a.b', new Uint8Array(3));
  await nc.publishAck('a.b', new ArrayBuffer(2));
  try {
    await nc.request('svc', 'x', { timeout: 100 });
  } catch (e) {
    if (e instanceof NoRespondersError || (e instanceof ServerError && e.code === ErrorCode.PERMISSION_DENIED)) return;
  }
  const sessionId: bigint | undefined = nc.info?.sessionId;
  for await (const s of nc.status()) {
    const st: Status = s;
    if (st.type === 'error') void st.subscription;
  }
  const f: Frame = decode(encode({ type: 0x08 }));
  void [cb.closed, sessionId, f, nc.stats().reconnects];
  await cb.drain({ timeout: 1000 });
  await nc.drain();
  const why: Error | undefined = await nc.closed;
  void why;
}
