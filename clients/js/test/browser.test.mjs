// A real headless Chromium loads a page that imports dist/index.js (no
// bundler) and uses the browser's own WebSocket against the broker; the Go
// SDK (the msgtrans command, over TCP) talks to it in both directions.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startBroker, serve, browser, msgtrans, repoRoot } from './helpers.mjs';

let broker, site, ctx, page;
before(async () => {
  broker = await startBroker({ tcp: true, config: 'retained:\n  store: memory\n' });
  site = await serve({ '/dist/': join(repoRoot, 'clients/js/dist'), '/': join(repoRoot, 'clients/js/test/browser') });
  ctx = await browser();
  page = await ctx.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(e));
  await page.goto(site.url + '/');
  await page.waitForFunction(() => document.title === 'ready', null, { timeout: 10000 }).catch((e) => {
    throw new Error(`the page did not load the module: ${problems.join('; ') || e.message}`);
  });
});
after(async () => {
  await ctx?.close();
  await site?.close();
  await broker?.kill();
});

test('in the browser: publish, subscribe, headers, retained, request-reply, no responders, close', async () => {
  const r = await page.evaluate(async (url) => {
    const { connect, NoRespondersError } = window.msgtrans;
    const c = await connect(url, { name: 'in-browser' }); // the browser's own WebSocket
    const out = { hasGlobalWS: typeof WebSocket === 'function', sessionId: typeof c.info.sessionId };
    const sub = c.subscribe('web.>');
    c.subscribe('web.svc', (m) => m.respond('answer to ' + m.string()));
    await c.flush();
    c.publish('web.a', 'hello', { headers: { k: 'v' } });
    c.publish('web.b', new Uint8Array([1, 2, 3]));
    const it = sub[Symbol.asyncIterator]();
    const m1 = (await it.next()).value;
    const m2 = (await it.next()).value;
    out.got = [m1.topic, m1.string(), m1.headers.get('k'), m2.topic, Array.from(m2.data)];
    await c.publishAck('web.cfg', 'kept', { retain: true });
    const late = c.subscribe('web.cfg');
    const rm = (await late[Symbol.asyncIterator]().next()).value;
    out.retained = [rm.string(), rm.retained];
    out.reply = (await c.request('web.svc', 'q')).string();
    try {
      await c.request('nobody.here', 'q');
      out.noResponders = 'resolved';
    } catch (e) {
      out.noResponders = e instanceof NoRespondersError;
    }
    out.stats = c.stats();
    await c.close();
    const why = await c.closed;
    out.closed = why === undefined && c.isClosed ? true : String(why);
    return out;
  }, broker.url);
  assert.equal(r.hasGlobalWS, true);
  assert.equal(r.sessionId, 'bigint');
  assert.deepEqual(r.got, ['web.a', 'hello', 'v', 'web.b', [1, 2, 3]]);
  assert.deepEqual(r.retained, ['kept', true]);
  assert.equal(r.reply, 'answer to q');
  assert.equal(r.noResponders, true);
  assert.ok(r.stats.inMsgs >= 4);
  assert.equal(r.closed, true);
  await broker.waitLine(['session opened', '"name":"in-browser"']);
});

test('interop: the browser receives what a Go SDK client publishes, and answers its requests', async () => {
  await page.evaluate(async (url) => {
    const c = await window.msgtrans.connect(url);
    window.goSide = c;
    window.fromGo = [];
    c.subscribe('interop.to-browser', (m) => window.fromGo.push({ data: m.string(), h: m.headers?.get('src') }));
    c.subscribe('interop.svc.browser', (m) => m.respond('browser says ' + m.string()));
    await c.flush();
  }, broker.url);
  const pub = msgtrans(['pub', '--server', broker.tcpURL, '--header', 'src=go', 'interop.to-browser', 'from go']);
  assert.equal((await pub.exited).code, 0, pub.lines.join('\n'));
  await page.waitForFunction(() => window.fromGo.length === 1, null, { timeout: 5000 });
  assert.deepEqual(await page.evaluate(() => window.fromGo), [{ data: 'from go', h: 'go' }]);

  const req = msgtrans(['req', '--server', broker.tcpURL, '--timeout', '5s', 'interop.svc.browser', 'hi']);
  assert.equal((await req.exited).code, 0, req.lines.join('\n'));
  assert.deepEqual(req.lines, ['browser says hi']);
});

test('interop: a Go SDK client receives what the browser publishes, and answers its requests', async () => {
  const sub = msgtrans(['sub', '--server', broker.tcpURL, '--count', '1', '--json', 'interop.to-go']);
  const reply = msgtrans(['reply', '--server', broker.tcpURL, '--count', '1', '--quiet', 'interop.svc.go', 'go says {{data}}']);
  const r = await page.evaluate(async () => {
    const c = window.goSide;
    // The Go processes subscribe in their own time: publish until the
    // subscriber has one, ask until a responder is there.
    let answer;
    for (let i = 0; i < 100 && answer === undefined; i++) {
      try {
        answer = (await c.request('interop.svc.go', 'yo', { timeout: 2000 })).string();
      } catch (e) {
        if (!(e instanceof window.msgtrans.NoRespondersError)) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    window.pubbing = setInterval(() => c.publish('interop.to-go', JSON.stringify({ from: 'browser' }), { headers: { src: 'chromium' } }), 50);
    return answer;
  });
  assert.equal(r, 'go says yo');
  try {
    assert.equal((await sub.exited).code, 0, sub.lines.join('\n'));
  } finally {
    await page.evaluate(() => clearInterval(window.pubbing));
  }
  const m = JSON.parse(sub.lines[0]);
  assert.equal(m.topic, 'interop.to-go');
  assert.equal(m.data, '{"from":"browser"}');
  assert.deepEqual(m.headers, { src: ['chromium'] });
  assert.equal((await reply.exited).code, 0, reply.lines.join('\n'));
});
