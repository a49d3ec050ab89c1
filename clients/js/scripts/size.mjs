// Measures the browser build: src/index.ts bundled into one ES module and
// minified by esbuild, then gzipped (level 9): what a page that bundles the
// client downloads. Run after `npm ci`: node scripts/size.mjs
import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';

const out = await build({
  entryPoints: [new URL('../src/index.ts', import.meta.url).pathname],
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2022',
  write: false,
});
const code = out.outputFiles[0].contents;
const gz = gzipSync(code, { level: 9 });
const kb = (n) => (n / 1024).toFixed(1) + ' KiB';
console.log(`minified: ${kb(code.length)} (${code.length} bytes), minified + gzipped: ${kb(gz.length)} (${gz.length} bytes)`);
