// Topic syntax, checked on the client so that a bad topic fails the call
// that names it with the reason, instead of coming back from the broker
// later as an asynchronous error. The rules are docs/protocol.md's Limits.
import { BadArgumentError } from './errors.js';
import { MAX_STRING, utf8Len } from './wire.js';

const MAX_LEN = 1024;
const MAX_TOKENS = 32;
// Control characters, white space (Go's unicode.IsSpace and IsControl) and
// lone surrogates, which have no UTF-8 encoding.
const badChar = /[\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]|\p{Cs}/u;

function fail(what: string, s: string, why: string): never {
  const shown = s.length > 64 ? JSON.stringify(s.slice(0, 64)) + '...' : JSON.stringify(s);
  throw new BadArgumentError(`msgtrans: invalid ${what} ${shown}: ${why}`);
}

function check(s: string, filter: boolean, what: string): void {
  if (typeof s !== 'string' || s === '') fail(what, String(s ?? ''), 'empty');
  if (utf8Len(s) > MAX_LEN) fail(what, s, `longer than ${MAX_LEN} bytes`);
  if (badChar.test(s)) fail(what, s, 'white space or a control character');
  const toks = s.split('.');
  if (toks.length > MAX_TOKENS) fail(what, s, `more than ${MAX_TOKENS} tokens`);
  toks.forEach((t, i) => {
    if (t === '') fail(what, s, 'empty token');
    if (!t.includes('*') && !t.includes('>')) return;
    if (t.length > 1) fail(what, s, 'wildcard inside a token');
    if (!filter) fail(what, s, 'wildcard in a publish topic');
    if (t === '>' && i !== toks.length - 1) fail(what, s, '">" not last');
  });
}

/** Throws BadArgumentError unless topic is a valid topic to publish to. */
export function checkTopic(topic: string, what = 'topic'): void {
  check(topic, false, what);
}

/** Throws BadArgumentError unless filter is a valid subscription filter. */
export function checkFilter(filter: string): void {
  check(filter, true, 'filter');
}

/** Throws BadArgumentError unless q can be a queue group name. */
export function checkQueue(q: string): void {
  if (typeof q !== 'string' || q === '' || utf8Len(q) > MAX_STRING || /\s/.test(q)) fail('queue group', String(q ?? ''), 'empty, too long or with white space');
}
