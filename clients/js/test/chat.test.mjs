// The chat example (examples/chat) in real Chromium pages against the
// broker: messages in a room, history for a newcomer, presence, a departure.
// With UPDATE_SCREENSHOT=1 it also refreshes examples/chat/screenshot.png.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBroker, browser, Proc, repoRoot, tempDir } from './helpers.mjs';

const cleanup = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

test('chat: rooms, history, presence and departures across browser pages', async () => {
  const broker = await startBroker({ config: 'retained:\n  store: memory\n' });
  cleanup.push(() => broker.kill());
  const site = new Proc(process.execPath, [join(repoRoot, 'examples/chat/server.mjs'), '--port', '0']);
  cleanup.push(() => site.kill());
  const base = (await site.waitLine('chat: http://')).match(/http:\/\/\S+\//)[0];
  const ctx = await browser();
  cleanup.push(() => ctx.close());

  const open = async (nick, room = 'general') => {
    const page = await ctx.newPage();
    await page.setViewportSize({ width: 900, height: 540 });
    const errors = [];
    page.on('pageerror', (e) => errors.push(e));
    await page.goto(`${base}?${new URLSearchParams({ broker: broker.url, nick, room })}`);
    await page.waitForFunction(() => document.getElementById('status').textContent === 'connected', null, { timeout: 10000 })
      .catch((e) => { throw new Error(`${nick}: ${errors.join('; ') || e.message}`); });
    return page;
  };
  const say = async (page, text) => {
    await page.fill('#text', text);
    await page.press('#text', 'Enter');
  };
  const texts = (page) => page.$$eval('#messages li', (lis) => lis.map((li) => [li.querySelector('.who').textContent, li.querySelector('.text').textContent]));
  const people = (page) => page.$$eval('#people li', (lis) => lis.map((li) => li.textContent));
  const waitFor = (page, fn, arg) => page.waitForFunction(fn, arg, { timeout: 10000 });

  const alice = await open('alice');
  await say(alice, 'hello, anyone here?');
  await say(alice, 'the broker keeps the last messages');
  await waitFor(alice, () => document.querySelectorAll('#messages li').length === 2);

  // Bob arrives later: the room's history comes as retained messages.
  const bob = await open('bob');
  await waitFor(bob, () => document.querySelectorAll('#messages li.history').length === 2);
  assert.deepEqual(await texts(bob), [['alice', 'hello, anyone here?'], ['alice', 'the broker keeps the last messages']]);
  await say(bob, 'hi alice! <b>not bold</b>');
  await waitFor(alice, () => document.querySelectorAll('#messages li').length === 3);
  assert.deepEqual((await texts(alice))[2], ['bob', 'hi alice! <b>not bold</b>']);

  // Presence: both see both.
  await waitFor(alice, () => document.querySelectorAll('#people li').length === 2);
  assert.deepEqual(await people(alice), ['alice', 'bob']);
  await waitFor(bob, () => document.querySelectorAll('#people li').length === 2);

  // Another room is another topic: nothing crosses over.
  const carol = await open('carol', 'games');
  await say(carol, 'anyone for chess?');
  await waitFor(carol, () => document.querySelectorAll('#messages li').length === 1);
  await waitFor(alice, () => [...document.querySelectorAll('#rooms li')].some((li) => li.textContent === '#games'));
  assert.equal((await texts(alice)).length, 3);
  assert.deepEqual(await people(carol), ['carol']);

  // Carol comes to general, then leaves: the others see her go.
  await carol.click('#rooms li:has-text("#general")');
  await waitFor(alice, () => document.querySelectorAll('#people li').length === 3);
  await waitFor(carol, () => document.querySelectorAll('#messages li.history').length === 3);
  await carol.close({ runBeforeUnload: true });
  await waitFor(alice, () => document.querySelectorAll('#people li').length === 2);
  assert.deepEqual(await people(alice), ['alice', 'bob']);

  await say(alice, 'see you all tomorrow');
  await waitFor(bob, () => document.querySelectorAll('#messages li').length === 4);
  const shot = join(tempDir(), 'chat.png');
  await bob.screenshot({ path: shot });
  if (process.env.UPDATE_SCREENSHOT) copyFileSync(shot, join(repoRoot, 'examples/chat/screenshot.png'));
});
