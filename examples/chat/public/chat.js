// The chat, all in the browser, on @msgtrans/client (served at /client/).
//
// Topics:
//   chat.<room>.msg.<id>     one message; published retained with a time to
//                            live, so that a newcomer receives the room's
//                            recent messages as retained ones (the history)
//                            and the broker forgets them after HISTORY_TTL
//   chat.presence.<client>   who is here and in which room; retained, with a
//                            TTL refreshed while the page is open. The
//                            connection's will replaces it with "offline"
//                            when the page vanishes without saying goodbye.
import { connect, NoServersError } from '/client/index.js';

const HISTORY = 50; // messages shown per room
const HISTORY_TTL = 60 * 60 * 1000; // how long the broker keeps a message
const PRESENCE_TTL = 90 * 1000; // an online mark lives this long unless refreshed
const PRESENCE_REFRESH = 30 * 1000;
const DEFAULT_ROOMS = ['general', 'random'];

const params = new URLSearchParams(location.search);
const brokerURL = params.get('broker') ?? 'ws://127.0.0.1:8002/ws';
const $ = (id) => document.getElementById(id);
const clientId = crypto.getRandomValues(new Uint32Array(2)).join('');

let conn, nick, room, roomSub;
let messages = []; // the current room's, sorted by time
const people = new Map(); // client id -> { nick, room, expires }

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function renderMessages() {
  const list = $('messages');
  list.replaceChildren(...messages.map((m) => {
    const li = el('li', m.history ? 'history' : '');
    li.append(el('span', 'when', new Date(m.at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })), el('span', 'who', m.nick), el('span', 'text', m.text));
    return li;
  }));
  list.scrollTop = list.scrollHeight;
}

function renderPeople() {
  const now = Date.now();
  const here = [...people.values()].filter((p) => p.room === room && p.expires > now).map((p) => p.nick).sort();
  $('people').replaceChildren(...here.map((n) => el('li', '', n)));
  const rooms = new Set([...DEFAULT_ROOMS, room, ...[...people.values()].filter((p) => p.expires > now).map((p) => p.room)]);
  $('rooms').replaceChildren(...[...rooms].sort().map((r) => {
    const li = el('li', r === room ? 'current' : '', '#' + r);
    li.onclick = () => join(r);
    return li;
  }));
}

function setStatus(text, ok) {
  $('status').textContent = text;
  $('status').classList.toggle('down', !ok);
}

function announce() {
  conn.publish(`chat.presence.${clientId}`, JSON.stringify({ nick, room, online: true }), { retain: true, ttl: PRESENCE_TTL });
}

async function join(next) {
  if (roomSub) roomSub.unsubscribe();
  room = next;
  messages = [];
  $('title').textContent = '#' + room;
  history.replaceState(null, '', `?${new URLSearchParams({ ...Object.fromEntries(params), room })}`);
  roomSub = conn.subscribe(`chat.${room}.msg.*`, (m) => {
    let body;
    try {
      body = m.json();
    } catch {
      return; // not one of ours
    }
    if (typeof body.text !== 'string' || typeof body.nick !== 'string') return;
    messages.push({ nick: body.nick, text: body.text, at: Number(body.at) || 0, history: m.retained });
    messages.sort((a, b) => a.at - b.at);
    messages = messages.slice(-HISTORY);
    renderMessages();
  });
  announce();
  renderPeople();
  renderMessages();
}

async function start(n, r) {
  nick = n;
  const offline = JSON.stringify({ nick, online: false });
  conn = await connect(brokerURL, {
    name: `chat:${nick}`,
    // Published by the broker if this page vanishes without close().
    will: { topic: `chat.presence.${clientId}`, data: offline, retain: true, ttl: 60 * 1000 },
    maxReconnectAttempts: -1,
  });
  conn.subscribe('chat.presence.*', (m) => {
    const id = m.topic.slice('chat.presence.'.length);
    let p;
    try {
      p = m.json();
    } catch {
      return;
    }
    if (p.online && typeof p.room === 'string') people.set(id, { nick: String(p.nick), room: p.room, expires: Date.now() + (m.ttl ?? PRESENCE_TTL) });
    else people.delete(id);
    renderPeople();
  });
  setInterval(() => { announce(); renderPeople(); }, PRESENCE_REFRESH);
  (async () => {
    for await (const s of conn.status()) {
      if (s.type === 'disconnect') setStatus('reconnecting…', false);
      if (s.type === 'reconnect') { setStatus('connected', true); announce(); }
    }
    setStatus('disconnected', false);
  })();
  addEventListener('pagehide', () => {
    conn.publish(`chat.presence.${clientId}`, offline, { retain: true, ttl: 60 * 1000 });
    conn.close();
  });
  $('login').hidden = true;
  $('app').hidden = false;
  setStatus('connected', true);
  await join(r);
  $('text').focus();
}

$('login').onsubmit = async (e) => {
  e.preventDefault();
  $('login-error').textContent = '';
  try {
    await start($('nick').value.trim(), $('room').value.trim());
  } catch (err) {
    $('login-error').textContent = err instanceof NoServersError ? `no broker at ${brokerURL}: is it running?` : String(err.message ?? err);
  }
};

$('say').onsubmit = (e) => {
  e.preventDefault();
  const text = $('text').value.trim();
  if (!text) return;
  const at = Date.now();
  const id = at.toString(36) + Math.random().toString(36).slice(2, 8);
  conn.publish(`chat.${room}.msg.${id}`, JSON.stringify({ nick, text, at }), { retain: true, ttl: HISTORY_TTL });
  $('text').value = '';
};

$('new-room').onsubmit = (e) => {
  e.preventDefault();
  const r = $('new-room-name').value.trim();
  if (/^[A-Za-z0-9_-]+$/.test(r)) join(r);
  $('new-room-name').value = '';
};

if (params.get('nick')) {
  $('nick').value = params.get('nick');
  $('room').value = params.get('room') ?? 'general';
  $('login').requestSubmit();
} else {
  $('nick').value = localStorage.getItem('chat-nick') ?? '';
  $('room').value = params.get('room') ?? 'general';
}
$('nick').onchange = () => localStorage.setItem('chat-nick', $('nick').value);
