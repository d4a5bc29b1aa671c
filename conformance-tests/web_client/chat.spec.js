// The Chat view (client/views/chat.js) with two browsers as two people: a channel and a DM,
// live delivery, unread and mention badges that clear on reading, a thread, a reaction, an
// edit, a deletion, a file with its thumbnail, search, a desktop notification for a mention,
// Korean, and the usual XSS payloads rendered as text with no dialog firing.
'use strict';
const crypto = require('node:crypto');
const zlib = require('node:zlib');
const { test, expect, createUser, apiAs, signIn, collectCspViolations, checkA11y, shot, urlOf } = require('./fixtures');

const CHAT = '/api/v1/chat';
const SIDEBAR = 'Channels and direct messages';

// Chat is off until an administrator turns it on (src/modules.rs); every process sees the
// change within a second.
test.beforeAll(async () => {
  const admin = await createUser({ prefix: 'wcadm', admin: true });
  const r = await apiAs(admin)('PUT', '/api/v1/admin/modules', { chat: true });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  await expect.poll(async () => (await apiAs(admin)('GET', '/api/v1/me')).body.modules.chat, { timeout: 5000 }).toBe(true);
});

const unique = (prefix) => `${prefix}-${crypto.randomBytes(4).toString('hex')}`;

/** A second person in a browser context of their own, signed in and on the chat view. */
async function personPage(browser, user, { contextOptions = {}, initScript = null, path = '/#/chat' } = {}) {
  const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1280, height: 900 }, ...contextOptions });
  if (initScript) await context.addInitScript(initScript);
  const page = await context.newPage();
  await collectCspViolations(page);
  await signIn(page, user);
  await page.goto(urlOf(path));
  return page;
}

async function newChannel(user, name, kind = 'public') {
  const r = await apiAs(user)('POST', `${CHAT}/channels`, { name, kind });
  expect(r.status, `create ${name}: ${JSON.stringify(r.body)}`).toBe(201);
  return r.body;
}

async function join(user, channel) {
  const r = await apiAs(user)('PUT', `${CHAT}/channels/${channel.id}/members/${encodeURIComponent(user.name)}`, {});
  expect([200, 201, 204], `join: ${r.status} ${JSON.stringify(r.body)}`).toContain(r.status);
}

const sidebar = (page) => page.getByRole('navigation', { name: SIDEBAR });
const channelLink = (page, label) => sidebar(page).getByRole('link', { name: new RegExp(label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) });
const log = (page) => page.locator('.chat-main:not([hidden]) [role=log]');
const message = (page, text) => log(page).locator('li.chat-msg', { hasText: text });
const composer = (page) => page.getByRole('combobox', { name: /^Message/ });

async function send(page, text) {
  const box = composer(page);
  await box.click();
  await box.fill(text);
  await box.press('Enter');
  await expect(message(page, text).first()).toBeVisible();
  await expect(message(page, text).first()).not.toHaveClass(/chat-msg-pending/);
}

/** A valid PNG of `w`×`h` pixels (one colour), made here so no fixture file is needed. */
function png(w, h) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(w * 3, 0x5a)]);
  const raw = Buffer.concat(Array.from({ length: h }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0)),
  ]);
}

test('two people chat in a channel: live delivery, unread and mention badges, thread, reaction, edit, delete', async ({ signedInPage: alicePage, user: alice, browser }) => {
  const bob = await createUser({ prefix: 'wcbob' });
  const name = unique('general');
  // Bob is somewhere else when Alice writes, so the channel's badges show in his sidebar.
  const elsewhere = await newChannel(bob, unique('notes'));

  // Alice creates the channel through the view.
  await alicePage.goto(urlOf('/#/chat'));
  await sidebar(alicePage).getByRole('button', { name: 'New channel' }).click();
  await alicePage.getByLabel('Name', { exact: true }).fill(name);
  await alicePage.getByRole('button', { name: 'Create' }).click();
  await expect(alicePage.getByRole('heading', { name: `#${name}` })).toBeVisible();
  const channelId = Number(/#\/chat\/(\d+)/.exec(alicePage.url())[1]);

  // Bob finds and joins it by browsing, then goes back to his own channel.
  const bobPage = await personPage(browser, bob, { path: `/#/chat/${elsewhere.id}` });
  await sidebar(bobPage).getByRole('button', { name: 'Browse channels' }).click();
  await bobPage.getByLabel('Find a channel').fill(name);
  await bobPage.getByRole('dialog').getByRole('button', { name: 'Join' }).click();
  await expect(channelLink(bobPage, name)).toBeVisible();
  await channelLink(bobPage, elsewhere.name).click();
  await expect(bobPage.getByRole('heading', { name: `#${elsewhere.name}` })).toBeVisible();

  // Alice writes; Bob's sidebar shows the channel as unread, then a mention count.
  await send(alicePage, 'hello from alice');
  await expect(channelLink(bobPage, name)).toHaveClass(/chat-unread/);
  await send(alicePage, `look here @${bob.name}`);
  await expect(channelLink(bobPage, name).locator('.chat-badge')).toHaveText('1');
  await shot(bobPage, 'unread-badges');

  // Bob opens the channel: the messages are there, the badges go, and the server agrees.
  await channelLink(bobPage, name).click();
  await expect(message(bobPage, 'hello from alice')).toBeVisible();
  await expect(message(bobPage, 'look here')).toBeVisible();
  await expect(channelLink(bobPage, name)).not.toHaveClass(/chat-unread/);
  await expect(channelLink(bobPage, name).locator('.chat-badge')).toHaveCount(0);
  await expect.poll(async () => {
    const r = await apiAs(bob)('GET', `${CHAT}/channels`);
    const c = (Array.isArray(r.body) ? r.body : r.body.channels).find((x) => x.id === channelId);
    return c && [c.unread, c.mentions];
  }).toEqual([0, 0]);

  // Bob answers live, Alice sees it without reloading.
  await send(bobPage, 'hi alice, bob here');
  await expect(message(alicePage, 'hi alice, bob here')).toBeVisible();

  // Bob replies in a thread; Alice sees the reply count and opens the thread.
  const first = message(bobPage, 'hello from alice');
  await first.hover();
  await first.getByRole('button', { name: 'Reply in thread' }).click();
  const thread = bobPage.getByRole('complementary', { name: 'Thread' });
  await expect(thread).toBeVisible();
  const reply = thread.getByRole('combobox', { name: 'Reply in thread' });
  await reply.fill('a reply in the thread');
  await reply.press('Enter');
  await expect(thread.locator('li.chat-msg', { hasText: 'a reply in the thread' })).not.toHaveClass(/chat-msg-pending/);
  const replies = message(alicePage, 'hello from alice').getByRole('button', { name: '1 reply' });
  await expect(replies).toBeVisible();
  await replies.click();
  await expect(alicePage.getByRole('complementary', { name: 'Thread' }).getByText('a reply in the thread')).toBeVisible();
  await expect(message(alicePage, 'a reply in the thread'), 'replies stay out of the channel list').toHaveCount(0);

  // Alice reacts to Bob's message; Bob sees the count and who.
  const bobs = message(alicePage, 'hi alice, bob here');
  await bobs.hover();
  await bobs.getByRole('button', { name: 'React' }).click();
  await alicePage.getByRole('dialog').getByRole('button', { name: 'React with 👍' }).click();
  const reaction = message(bobPage, 'hi alice, bob here').locator('button.chat-reaction', { hasText: '👍 1' });
  await expect(reaction).toBeVisible();
  await expect(reaction).toHaveAttribute('title', alice.name);

  // Alice edits her last message with the up arrow in the empty composer.
  await composer(alicePage).click();
  await composer(alicePage).press('ArrowUp');
  const editBox = alicePage.getByRole('textbox', { name: 'Edit message' });
  await expect(editBox).toBeFocused();
  await editBox.fill(`look here @${bob.name} (changed)`);
  await editBox.press('Enter');
  await expect(message(bobPage, '(changed)')).toBeVisible();
  await expect(message(bobPage, '(changed)').getByText('(edited)')).toBeVisible();

  // Alice deletes her first message; both see the tombstone.
  const doomed = message(alicePage, 'hello from alice');
  await doomed.hover();
  await doomed.getByRole('button', { name: 'Delete' }).click();
  await alicePage.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await expect(log(bobPage).getByText('This message was deleted.')).toBeVisible();
  await expect(log(alicePage).getByText('This message was deleted.')).toBeVisible();
  await expect(message(bobPage, 'hello from alice')).toHaveCount(0);

  await checkA11y(alicePage, { include: '.chat', name: 'chat-channel' });
  await shot(alicePage, 'channel');
  await bobPage.context().close();
});

test('following a thread on one device shows on the same person\'s other device', async ({ signedInPage: laptop, user: alice, browser }) => {
  const channel = await newChannel(alice, unique('follow'));
  const r = await apiAs(alice)('POST', `${CHAT}/channels/${channel.id}/messages`, { text: 'a question to follow' });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  await laptop.goto(urlOf(`/#/chat/${channel.id}`));
  // A second browser context: another session of the same person, as another machine.
  const desktop = await personPage(browser, alice, { path: `/#/chat/${channel.id}` });
  const followIn = async (page) => {
    const root = message(page, 'a question to follow');
    await root.hover();
    await root.getByRole('button', { name: 'Reply in thread' }).click();
    const pane = page.getByRole('complementary', { name: 'Thread' });
    await expect(pane).toBeVisible();
    return pane.getByRole('button', { name: /^Follow/ });
  };
  const one = await followIn(laptop);
  const two = await followIn(desktop);
  await expect(one).toHaveAttribute('aria-pressed', 'false');
  await expect(two).toHaveAttribute('aria-pressed', 'false');

  // Each device's click reaches the other through `chat.follow`, without a reload.
  await one.click();
  await expect(one).toHaveText('Following');
  await expect(two).toHaveText('Following');
  await expect(two).toHaveAttribute('aria-pressed', 'true');
  await two.click();
  await expect(two).toHaveText('Follow');
  await expect(one).toHaveText('Follow');
  await expect(one).toHaveAttribute('aria-pressed', 'false');
  await desktop.context().close();
});

test('a direct message: search finds it, and an image goes with a message (upload with progress, thumbnail on both sides)', async ({ signedInPage: alicePage, user: alice, browser }) => {
  const bob = await createUser({ prefix: 'wcbob' });
  await alicePage.goto(urlOf('/#/chat'));

  // Alice starts a DM with Bob by picking him.
  await sidebar(alicePage).getByRole('button', { name: 'New direct message' }).click();
  const dialog = alicePage.getByRole('dialog');
  await dialog.getByLabel('Find people').fill(bob.name);
  await dialog.getByRole('button', { name: new RegExp(`^Add .*${bob.name}`) }).click();
  await dialog.getByRole('button', { name: 'Start conversation' }).click();
  await expect(alicePage.getByRole('heading', { name: bob.name })).toBeVisible();
  const needle = unique('needle');
  await send(alicePage, `the plan is ${needle}`);

  // Bob sees the DM in his sidebar, unread, and opens it.
  const bobPage = await personPage(browser, bob);
  const dm = channelLink(bobPage, alice.name);
  await expect(dm).toBeVisible();
  await dm.click();
  await expect(message(bobPage, `the plan is ${needle}`)).toBeVisible();

  // Bob searches for the word and jumps to the message.
  await bobPage.getByRole('searchbox', { name: 'Search messages' }).fill(needle);
  await bobPage.getByRole('searchbox', { name: 'Search messages' }).press('Enter');
  const results = bobPage.locator('.chat-search-pane');
  await expect(results.getByRole('heading', { name: `Results for “${needle}”` })).toBeVisible();
  await expect(results.locator('.chat-result', { hasText: needle })).toHaveCount(1);
  await shot(bobPage, 'search');
  await results.locator('.chat-result', { hasText: needle }).getByRole('button').click();
  const hit = message(bobPage, `the plan is ${needle}`);
  await expect(hit).toBeVisible();
  await expect(hit).toBeFocused();

  // Alice attaches an image: it uploads (progress), then goes with the message.
  await alicePage.locator('.chat-main input[type=file]').setInputFiles({ name: 'diagram.png', mimeType: 'image/png', buffer: png(320, 200) });
  await expect(alicePage.locator('.chat-main .chat-upload progress')).toBeVisible();
  await expect(alicePage.locator('.chat-main .chat-upload')).toHaveClass(/chat-upload-done/);
  await composer(alicePage).fill('the diagram');
  await composer(alicePage).press('Enter');
  for (const page of [alicePage, bobPage]) {
    // Inside a download button, whose name ("Download diagram.png (…)") covers the image's.
    const img = message(page, 'the diagram').locator('img[alt="diagram.png"]');
    await expect(img).toBeVisible();
    await expect(img).toHaveAttribute('src', /^data:image\//);
    await expect.poll(() => img.evaluate((el) => el.naturalWidth)).toBeGreaterThan(0);
  }
  await shot(bobPage, 'dm-image');
  await bobPage.context().close();
});

test('a mention reaches the other person as a desktop notification while their tab is hidden', async ({ signedInPage: alicePage, user: alice, browser }) => {
  const bob = await createUser({ prefix: 'wcbob' });
  const channel = await newChannel(alice, unique('ops'));
  await join(bob, channel);
  const elsewhere = await newChannel(bob, unique('quiet'));

  // Bob's tab is hidden; Notification is wrapped so the test sees each one constructed.
  const hidden = () => {
    Object.defineProperty(Document.prototype, 'visibilityState', { configurable: true, get: () => 'hidden' });
    Object.defineProperty(Document.prototype, 'hidden', { configurable: true, get: () => true });
    window.__notes = [];
    const Real = window.Notification;
    function Spy(title, options) {
      window.__notes.push({ title, body: options && options.body });
      return new Real(title, options);
    }
    Object.defineProperty(Spy, 'permission', { get: () => Real.permission });
    Spy.requestPermission = (...a) => Real.requestPermission(...a);
    window.Notification = Spy;
  };
  const bobPage = await personPage(browser, bob, {
    contextOptions: { permissions: ['notifications'] }, initScript: hidden, path: `/#/chat/${elsewhere.id}`,
  });
  await expect(bobPage.getByRole('heading', { name: `#${elsewhere.name}` })).toBeVisible();
  expect(await bobPage.evaluate(() => Notification.permission)).toBe('granted');

  // A plain message does not notify; a mention does, once.
  await alicePage.goto(urlOf(`/#/chat/${channel.id}`));
  await expect(alicePage.getByRole('heading', { name: `#${channel.name}` })).toBeVisible();
  await send(alicePage, 'nothing for bob here');
  await send(alicePage, `@${bob.name} can you look?`);
  await expect.poll(() => bobPage.evaluate(() => window.__notes.length), { timeout: 10_000 }).toBe(1);
  const [note] = await bobPage.evaluate(() => window.__notes);
  expect(note.title).toContain(`#${channel.name}`);
  expect(note.body).toBe(`@${bob.name} can you look?`);
  await bobPage.context().close();
});

test('XSS payloads in a message render as text and safe links; no dialog fires', async ({ signedInPage: alicePage, user: alice, browser }) => {
  const bob = await createUser({ prefix: 'wcbob' });
  const channel = await newChannel(alice, unique('xss'));
  await join(bob, channel);
  const dialogs = [];
  alicePage.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); });
  await alicePage.goto(urlOf(`/#/chat/${channel.id}`));
  await expect(alicePage.getByRole('heading', { name: `#${channel.name}` })).toBeVisible();
  const bobPage = await personPage(browser, bob, { path: `/#/chat/${channel.id}` });
  bobPage.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); });

  const payload = [
    'xss-probe <img src=x onerror=alert(1)>',
    '[click](javascript:alert(2))',
    '<script>alert(3)</script>',
    '<a href="javascript:alert(4)">a</a>',
    '<svg onload=alert(5)>',
    '[ok](https://example.com/safe)',
    '<iframe src="javascript:alert(6)"></iframe>',
    '`<b onmouseover=alert(7)>code</b>`',
  ].join('\n\n');
  const box = composer(alicePage);
  await box.fill(payload);
  await box.press('Enter');
  for (const page of [alicePage, bobPage]) {
    const m = message(page, 'xss-probe');
    await expect(m).toBeVisible();
    await expect(m).not.toHaveClass(/chat-msg-pending/);
    const body = m.locator('.chat-text');
    // Nothing active: no image, script, frame, svg or handler; links only http(s)/mailto.
    await expect(body.locator('img, script, iframe, svg, object, embed, style')).toHaveCount(0);
    const inventory = await body.evaluate((el) => [...el.querySelectorAll('*')].flatMap((n) => [...n.attributes].map((a) => `${n.localName}[${a.name}=${a.value}]`)));
    for (const a of inventory) expect(a, 'no event handler or style attribute').not.toMatch(/^\w+\[(on\w+|style)=/);
    const hrefs = await body.locator('a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
    for (const href of hrefs) expect(href).toMatch(/^(https?:|mailto:)/);
    expect(hrefs).toContain('https://example.com/safe');
    // The payload text is still there to read.
    await expect(body).toContainText('onerror=alert(1)');
    await expect(body).toContainText('click');
  }
  await alicePage.waitForTimeout(500);
  expect(dialogs, 'no alert/confirm/prompt fired').toEqual([]);
  await bobPage.context().close();
});

test('the chat speaks Korean and sends Korean text', async ({ user, browser }) => {
  // Channels sort by name: "ko-a-…" comes before "ko-b-…".
  const tag = crypto.randomBytes(3).toString('hex');
  const channel = await newChannel(user, `ko-a-${tag}`);
  const page = await personPage(browser, user, { contextOptions: { locale: 'ko-KR', extraHTTPHeaders: { 'Accept-Language': 'ko-KR,ko;q=0.9' } }, path: `/#/chat/${channel.id}` });
  await expect(page.locator('html')).toHaveAttribute('lang', 'ko');
  await expect(page.getByRole('navigation', { name: '채널과 개인 메시지' })).toBeVisible();
  const box = page.getByRole('combobox', { name: `#${channel.name}에 메시지 보내기` });
  await box.fill('안녕하세요, 팀 여러분');
  await box.press('Enter');
  await expect(page.locator('[role=log] li.chat-msg', { hasText: '안녕하세요, 팀 여러분' })).not.toHaveClass(/chat-msg-pending/);
  // Alt+Down moves between channels from the keyboard.
  const other = await newChannel(user, `ko-b-${tag}`);
  await page.reload();
  await expect(page.getByRole('heading', { name: `#${channel.name}` })).toBeVisible();
  await page.getByRole('combobox', { name: /메시지 보내기/ }).press('Alt+ArrowDown');
  await expect(page.getByRole('heading', { name: `#${other.name}` })).toBeVisible();
  await checkA11y(page, { include: '.chat', name: 'chat-korean' });
  await page.context().close();
});
