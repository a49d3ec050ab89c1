// Test helpers: build and run the real broker (and the Go command-line
// client) on free loopback ports, stop them by pid, read the shared test
// vectors. Programs are built once per test file into a temporary
// directory, with Go's build cache making it quick.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after } from 'node:test';
import WebSocket from 'ws';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export { WebSocket };

const tmp = mkdtempSync(join(tmpdir(), 'msgtrans-js-'));
const procs = new Set();
after(async () => {
  // Wait for every process to be gone (Chromium writes its profile here
  // until it exits), then remove what they left; retries for the files a
  // browser's helpers may still be closing.
  await Promise.all([...procs].map((p) => p.kill()));
  rmSync(tmp, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

const built = new Map();
/** goBuild compiles a package of the repository (./cmd/broker) and returns the binary's path. */
export function goBuild(pkg) {
  if (!built.has(pkg)) {
    const bin = join(tmp, pkg.split('/').pop());
    // Output captured, not inherited: a helper process the go command may
    // leave behind (telemetry) would otherwise hold the test's stdout open.
    try {
      execFileSync('go', ['build', '-o', bin, pkg], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      throw new Error(`go build ${pkg}: ${e.message}\n${e.stderr}`);
    }
    built.set(pkg, bin);
  }
  return built.get(pkg);
}

/** tempDir returns a new directory that is removed after the test file. */
export function tempDir() {
  return mkdtempSync(join(tmp, 'd-'));
}

/**
 * Proc is a program started by start(): its output lines are kept, and it is
 * killed by pid when the test file ends.
 */
export class Proc {
  constructor(bin, args, opts = {}) {
    this.lines = [];
    this.waiters = [];
    this.child = spawn(bin, args, { cwd: opts.cwd ?? repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
    this.exited = new Promise((r) => this.child.on('exit', (code, signal) => { procs.delete(this); r({ code, signal }); this.check(); }));
    procs.add(this);
    for (const stream of [this.child.stdout, this.child.stderr]) {
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          this.lines.push(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
        this.check();
      });
    }
  }
  get pid() { return this.child.pid; }
  check() {
    for (const w of [...this.waiters]) {
      const line = this.lines.find(w.match);
      if (line !== undefined) { this.waiters.splice(this.waiters.indexOf(w), 1); w.resolve(line); }
      else if (this.child.exitCode !== null || this.child.signalCode !== null) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.reject(new Error(`${this.child.spawnfile} exited before the line wanted; output:\n${this.lines.join('\n')}`));
      }
    }
  }
  /** waitLine resolves with the first output line containing every string of want. */
  waitLine(want, ms = 15000) {
    const wants = Array.isArray(want) ? want : [want];
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no line with ${JSON.stringify(wants)} within ${ms} ms; output:\n${this.lines.join('\n')}`)), ms);
      this.waiters.push({ match: (l) => wants.every((s) => l.includes(s)), resolve: (l) => { clearTimeout(t); resolve(l); }, reject: (e) => { clearTimeout(t); reject(e); } });
      this.check();
    });
  }
  /** kill stops the program by its pid (SIGKILL unless told) and waits for it. */
  async kill(signal = 'SIGKILL') {
    if (this.child.exitCode === null && this.child.signalCode === null) process.kill(this.child.pid, signal);
    return this.exited;
  }
}

/**
 * startBroker runs cmd/broker with WebSocket only, on a free loopback port
 * unless ws is given (a restart on the same address), and resolves once it
 * listens. config is YAML written to a file for --config.
 */
export async function startBroker({ ws = '127.0.0.1:0', tcp = false, config, dataDir = tempDir(), args = [] } = {}) {
  const bin = goBuild('./cmd/broker');
  // --http '' and --mqtt '': the monitoring and MQTT listeners' fixed
  // default ports would let only one broker of a test run start.
  const a = ['--log-format', 'json', '--log-level', 'debug', '--http', '', '--mqtt', '', '--tcp', tcp ? '127.0.0.1:0' : '', '--quic', '', '--ws', ws, '--data-dir', dataDir, ...args];
  if (config) {
    const f = join(dataDir, 'broker.yaml');
    writeFileSync(f, config);
    a.push('--config', f);
  }
  const p = new Proc(bin, a);
  const line = await p.waitLine('listening for ws://');
  const addr = JSON.parse(line).addr;
  const tcpURL = tcp ? 'tcp://' + JSON.parse(await p.waitLine('listening for tcp://')).addr : undefined;
  return Object.assign(p, { addr, url: `ws://${addr}/ws`, tcpURL, dataDir });
}

/** msgtrans runs the Go command-line client (the Go SDK) with args. */
export function msgtrans(args) {
  return new Proc(goBuild('./cmd/msgtrans'), args);
}

/** lines of a testdata file of wire/, without comments and blank lines. */
export function testdata(name) {
  const text = readFileSync(join(repoRoot, 'wire/testdata', name), 'utf8');
  return text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
}

/** hex turns a vector's spaced hex into bytes. */
export function hex(s) {
  return Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
}

/** until polls cond until it holds or ms pass. */
export async function until(cond, ms = 10000, what = 'condition') {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** next takes one value from an async iterator, failing after ms. */
export function next(it, ms = 5000) {
  return Promise.race([
    it.next(),
    new Promise((_, rej) => setTimeout(() => rej(new Error(`nothing within ${ms} ms`)), ms)),
  ]);
}

/** freeze stops a process (SIGSTOP) and returns once it is stopped. */
export async function freeze(pid) {
  process.kill(pid, 'SIGSTOP');
  await until(() => /^\d+ \(.*\) T/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')), 5000, `process ${pid} to stop`);
}

const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.map': 'application/json', '.png': 'image/png' };

/**
 * serve runs a static HTTP server on a free loopback port: routes maps a
 * URL prefix to a directory. It resolves with the base URL and a close().
 */
export async function serve(routes) {
  const { createServer } = await import('node:http');
  const { extname, normalize } = await import('node:path');
  const srv = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    for (const [prefix, dir] of Object.entries(routes)) {
      if (!path.startsWith(prefix)) continue;
      const rel = normalize(path.slice(prefix.length) || 'index.html').replace(/^(\.\.[/\\])+/, '');
      try {
        const body = readFileSync(join(dir, rel));
        res.writeHead(200, { 'content-type': types[extname(rel)] ?? 'application/octet-stream' });
        res.end(body);
      } catch {
        continue;
      }
      return;
    }
    res.writeHead(404).end('not found');
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${srv.address().port}`, close: () => new Promise((r) => srv.close(r)) };
}

/** browser starts the installed Chromium (never a downloaded one) with a fresh profile. */
export async function browser() {
  const { chromium } = await import('playwright-core');
  const ctx = await chromium.launchPersistentContext(tempDir(), {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
  return ctx;
}
