// A tiny static server for the chat example, with no dependencies: it
// serves public/ at / and the client's build (clients/js/dist) at
// /client/. The chat itself talks to the broker straight from the browser.
//
//   node examples/chat/server.mjs [--port 8080] [--host 127.0.0.1]
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const roots = [
  ['/client/', resolve(here, '../../clients/js/dist')],
  ['/', join(here, 'public')],
];
const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.map': 'application/json', '.png': 'image/png', '.svg': 'image/svg+xml' };

function flag(name, def) {
  const i = process.argv.indexOf('--' + name);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : def;
}

const server = createServer(async (req, res) => {
  const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  for (const [prefix, dir] of roots) {
    if (!path.startsWith(prefix)) continue;
    // normalize and the prefix check keep requests inside dir.
    const file = join(dir, normalize(path.slice(prefix.length) || 'index.html'));
    if (!file.startsWith(dir)) break;
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache' });
      res.end(body);
      return;
    } catch {
      if (prefix === '/client/') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('client not built: run `npm ci && npm run build` in clients/js\n');
        return;
      }
    }
  }
  res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
});

server.listen(Number(flag('port', process.env.PORT ?? 8080)), flag('host', '127.0.0.1'), () => {
  const { address, port } = server.address();
  console.log(`chat: http://${address}:${port}/ (broker: ws://127.0.0.1:8002/ws unless ?broker=...)`);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
