// The Mail view (client/views/mail.js) against the harness's real Dovecot (.ci/test starts it
// and exports MADANG_TEST_DOVECOT_*; lib.sh lets the server reach it): linking an account with a
// failing connection test first, reading a message with an attachment (the HTML's script and
// tracker gone), and a message delivered to Dovecot appearing in the open browser by IDLE and
// the push channel, without a reload; folders made, renamed and deleted from the sidebar, a
// message copied into one, and a word only the body holds found by the server's search; remote
// images hidden, then shown through Madang's image proxy, for the message and for the sender; a
// message written in rich text with an attachment leaving as multipart/alternative; a folder of
// 300 messages scrolled as a virtual list; an account linked by signing in at an OAuth provider.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { test, expect, createUser, apiAs, signIn, collectCspViolations, checkA11y, shot, urlOf } = require('./fixtures');

const DIR = process.env.MADANG_TEST_DOVECOT_DIR;
const DOVECOT = path.join(__dirname, '..', 'dovecot.sh');

test.skip(!DIR, 'no Dovecot: start conformance-tests/dovecot.sh and export its MADANG_TEST_DOVECOT_* lines');

test.beforeAll(async () => {
  const admin = await createUser({ prefix: 'wcmadm', admin: true });
  const r = await apiAs(admin)('PUT', '/api/v1/admin/modules', { mail: true });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  await expect.poll(async () => (await apiAs(admin)('GET', '/api/v1/me')).body.modules.mail, { timeout: 5000 }).toBe(true);
});

/** A mailbox of its own, and a way to deliver into it as an MTA would. */
function mailbox() {
  const box = `wc-${crypto.randomBytes(4).toString('hex')}@example.test`;
  execFileSync('bash', [DOVECOT, 'adduser', DIR, box, 'wc-box-pw']);
  return {
    box,
    deliver(id, subject, extra = '') {
      const file = path.join(os.tmpdir(), `madang-wc-${id}.eml`);
      fs.writeFileSync(file, `From: Kim Minji <kim@example.test>\r\nTo: ${box}\r\nSubject: ${subject}\r\n` +
        `Message-ID: <${id}@example.test>\r\nDate: ${new Date().toUTCString()}\r\n${extra}`);
      execFileSync('bash', [DOVECOT, 'deliver', DIR, box, file]);
      fs.unlinkSync(file);
    },
  };
}

/**
 * The link dialog's server fields for the harness's Dovecot. The address was left before: its
 * suggestion (a guess for example.test) may have set the security to go with its own ports;
 * these are Dovecot's (IMAPS, and submission with STARTTLS).
 */
async function fillDovecotServers(dialog, box) {
  await dialog.getByLabel('User name').fill(box);
  await dialog.getByLabel('IMAP server').fill('localhost');
  await dialog.getByLabel('IMAP port').fill(process.env.MADANG_TEST_DOVECOT_IMAPS);
  await dialog.getByLabel('SMTP server').fill('localhost');
  await dialog.getByLabel('SMTP port').fill(process.env.MADANG_TEST_DOVECOT_SUBMISSION);
  await dialog.locator('#mail-f-imap_security').selectOption('tls');
  await dialog.locator('#mail-f-smtp_security').selectOption('starttls');
}

const REPORT = 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="m"\r\n\r\n--m\r\n' +
  'Content-Type: text/html; charset=utf-8\r\n\r\n<p>Quarterly <b>numbers</b> attached.<script>alert(1)</script>' +
  '<img src="https://tracker.example/p.gif"></p>\r\n--m\r\nContent-Type: application/pdf; name="q4.pdf"\r\n' +
  'Content-Disposition: attachment; filename="q4.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--m--\r\n';

test('link an account, read a message, and see new mail arrive live', async ({ page }) => {
  const user = await createUser({ prefix: 'wcmail' });
  const { box, deliver } = mailbox();
  deliver(`first-${crypto.randomBytes(3).toString('hex')}`, '회의 자료 Q4 report', REPORT);
  await collectCspViolations(page);
  await signIn(page, user);
  await page.goto(urlOf('/#/mail'));
  await page.getByRole('button', { name: 'Link an account' }).click();
  const dialog = page.getByRole('dialog', { name: 'Link an account' });
  await dialog.getByLabel('E-mail address').fill(box);
  await dialog.getByLabel('Password (or app password)').fill('not-the-password');
  await fillDovecotServers(dialog, box);
  // A wrong password is named as such, and nothing is linked.
  await dialog.getByRole('button', { name: 'Test connection' }).click();
  await expect(dialog.getByText('the user name or password was refused').first()).toBeVisible({ timeout: 15000 });
  await dialog.getByLabel('Password (or app password)').fill('wc-box-pw');
  await dialog.getByRole('button', { name: 'Link account' }).click();
  await expect(dialog).toBeHidden({ timeout: 15000 });

  const row = page.locator('.mail-row', { hasText: '회의 자료 Q4 report' });
  await expect(row).toBeVisible({ timeout: 15000 });
  await expect(row).toHaveClass(/unread/);
  await row.getByRole('button').click();
  const reader = page.locator('.mail-reader');
  await expect(reader.getByRole('heading', { name: '회의 자료 Q4 report' })).toBeVisible();
  await expect(reader.getByText('Images are hidden to protect your privacy.')).toBeVisible();
  await expect(reader.getByRole('button', { name: /Download q4\.pdf/ })).toBeVisible();
  // The message's HTML, in its shadow root: the text is there, the script and tracker are not.
  const html = await reader.locator('.mail-html').evaluate((el) => el.shadowRoot.innerHTML);
  expect(html).toContain('numbers');
  expect(html).not.toMatch(/script|tracker/);
  await expect(row).not.toHaveClass(/unread/);
  // Reading marked it seen on the server and in the index: the unread counts go (push event).
  await expect(page.locator('.mail-folders .mail-count')).toHaveCount(0);
  await shot(page, 'mail-reading');
  await checkA11y(page);

  // Reply with an attachment: it leaves through Dovecot's submission with the threading headers.
  await reader.getByRole('button', { name: 'Reply', exact: true }).click();
  const compose = page.getByRole('dialog', { name: 'Reply' });
  await expect(compose.getByLabel('Subject')).toHaveValue('Re: 회의 자료 Q4 report');
  await expect(compose.getByLabel('To')).toHaveValue('Kim Minji <kim@example.test>');
  await compose.getByLabel('Message').press('Control+Home');
  await compose.getByLabel('Message').pressSequentially('Thanks, see my notes.');
  // The draft is saved while writing (Drafts folder on the server), and deleted once sent.
  await expect(compose.getByText('Draft saved.')).toBeVisible({ timeout: 15000 });
  await compose.getByLabel('Attach files').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('my notes') });
  await compose.getByRole('button', { name: 'Send' }).click();
  await expect(compose).toBeHidden({ timeout: 15000 });
  await expect(page.getByText('Sent.')).toBeVisible();
  const sink = path.join(DIR, 'sink', 'new');
  await expect.poll(() => fs.readdirSync(sink).map((f) => fs.readFileSync(path.join(sink, f), 'utf8'))
    .some((text) => text.includes('In-Reply-To: <first-') && text.includes('notes.txt') && text.includes('Thanks, see my notes.')),
  { timeout: 10000 }).toBe(true);

  // Search looks in every folder: the reply's copy in Sent, by a word of its text and a Korean
  // word of its subject (the inbox list showed only the original).
  await page.getByRole('searchbox', { name: 'Search mail' }).fill('notes 자료');
  await page.getByRole('searchbox', { name: 'Search mail' }).press('Enter');
  await expect(page.locator('.mail-row', { hasText: 'Re: 회의 자료 Q4 report' })).toBeVisible();
  await expect(page.locator('.mail-row')).toHaveCount(1);
  await page.getByRole('searchbox', { name: 'Search mail' }).fill('');
  await page.getByRole('searchbox', { name: 'Search mail' }).press('Enter');

  // Delete: to Trash, out of the list.
  await row.getByRole('button').click();
  await reader.getByRole('button', { name: 'Delete' }).click();
  await expect(row).toHaveCount(0);
  await page.getByRole('link', { name: /^Trash/ }).click();
  await expect(page.locator('.mail-row', { hasText: '회의 자료 Q4 report' })).toBeVisible();
  await page.getByRole('link', { name: /^All inboxes/ }).click();

  // New mail while the page is open: Dovecot → IDLE → index → push → the list.
  const subject = `Live ${crypto.randomBytes(3).toString('hex')}`;
  const started = Date.now();
  deliver(`live-${crypto.randomBytes(3).toString('hex')}`, subject, '\r\nHello while you watch.\r\n');
  await expect(page.locator('.mail-row', { hasText: subject })).toBeVisible({ timeout: 15000 });
  console.log(`mail: delivered to Dovecot → shown in the browser in ${Date.now() - started} ms`);
});

// CI (2026-12-07): the server suggestion for an address arrived while Playwright was filling the
// user name, and the name came out doubled ("a@b.testa@b.test"); the upstream refused the login.
// Here the suggestion is held until the user is in the (empty) field, then let through: what they
// type must be the name, not the suggestion with their typing after it.
test('a server suggestion arriving while the user name is typed leaves the name alone', async ({ page }) => {
  const user = await createUser({ prefix: 'wcsug' });
  let release;
  const held = new Promise((resolve) => { release = resolve; });
  let asked = 0;
  await page.route('**/api/v1/mail/providers?*', async (route) => {
    asked += 1;
    await held;
    await route.continue();
  });
  await collectCspViolations(page);
  await signIn(page, user);
  await page.goto(urlOf('/#/mail'));
  await page.getByRole('button', { name: 'Link an account' }).click();
  const dialog = page.getByRole('dialog', { name: 'Link an account' });
  await dialog.getByLabel('E-mail address').fill('minji@example.test');
  const name = dialog.getByLabel('User name');
  await name.click();
  await expect.poll(() => asked, { timeout: 5000 }).toBe(1);
  const answered = page.waitForResponse((r) => r.url().includes('/api/v1/mail/providers'));
  release();
  await answered;
  // The answer has been applied (the servers are filled) before the first keystroke.
  await expect(dialog.getByLabel('IMAP server')).not.toHaveValue('');
  await name.pressSequentially('minji');
  await expect(name).toHaveValue('minji');
  // With nobody at it, an empty name is still filled from the address ("Find settings" asks again).
  await name.fill('');
  await dialog.getByLabel('Password (or app password)').click();
  await dialog.getByRole('button', { name: 'Find settings' }).click();
  await expect(name).toHaveValue(/^minji(@example\.test)?$/);
});

test('make a folder, copy a message into it, and find a word only its body holds', async ({ page }) => {
  const user = await createUser({ prefix: 'wcmailf' });
  const { box, deliver } = mailbox();
  const word = `okapi${crypto.randomBytes(3).toString('hex')}`;
  // The word sits past the first 2 KiB, which is all of the text the index keeps.
  const filler = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n'.repeat(60);
  deliver(`body-${crypto.randomBytes(3).toString('hex')}`, 'Field notes',
    `Content-Type: text/plain; charset=utf-8\r\n\r\n${filler}We saw an ${word} at the river.\r\n`);
  await linkByApi(user, box);
  await collectCspViolations(page);
  await signIn(page, user);
  await page.goto(urlOf('/#/mail'));

  // A new folder, from the account's "+" in the sidebar.
  const folder = `Keepers ${crypto.randomBytes(2).toString('hex')}`;
  await page.getByRole('button', { name: `New folder: ${box}` }).click();
  const create = page.getByRole('dialog', { name: 'New folder' });
  await create.getByLabel('Folder name').fill(folder);
  await create.getByRole('button', { name: 'Create folder' }).click();
  await expect(create).toBeHidden({ timeout: 15000 });
  const link = page.getByRole('link', { name: new RegExp(`^${folder}`) });
  await expect(link).toBeVisible();

  // Copy the message there; it stays in the inbox too.
  const row = page.locator('.mail-row', { hasText: 'Field notes' });
  await row.getByRole('button').click();
  const reader = page.locator('.mail-reader');
  await expect(reader.getByRole('heading', { name: 'Field notes' })).toBeVisible();
  await reader.getByRole('combobox', { name: 'Copy to…' }).selectOption({ label: folder });
  await expect(page.getByText(`Copied to ${folder}.`)).toBeVisible({ timeout: 15000 });
  await link.click();
  await expect(page.locator('.mail-row', { hasText: 'Field notes' })).toBeVisible();
  await shot(page, 'mail-folder-copy');

  // Search: the index does not know the word (it is past the preview); the server does.
  await page.getByRole('link', { name: /^INBOX/ }).click();
  const search = page.getByRole('searchbox', { name: 'Search mail' });
  await search.fill(word);
  await search.press('Enter');
  await expect(page.getByText('No messages here.')).toBeVisible();
  await page.getByRole('button', { name: 'Search message text' }).click();
  await expect(page.locator('.mail-row', { hasText: 'Field notes' })).toBeVisible({ timeout: 15000 });
  await expect(page.locator('.mail-row')).toHaveCount(1);
  await page.getByRole('button', { name: 'Search message text' }).click();
  await search.fill('');
  await search.press('Enter');

  // Rename it, then delete it (with a confirmation): gone from the sidebar.
  await page.getByRole('button', { name: `Folder: ${folder}` }).click();
  const edit = page.getByRole('dialog', { name: `Folder: ${folder}` });
  await edit.getByLabel('Folder name').fill(`${folder} 2027`);
  await edit.getByRole('button', { name: 'Save' }).click();
  await expect(edit).toBeHidden({ timeout: 15000 });
  await expect(page.getByRole('link', { name: new RegExp(`^${folder} 2027`) })).toBeVisible();
  await page.getByRole('button', { name: `Folder: ${folder} 2027` }).click();
  await page.getByRole('dialog', { name: `Folder: ${folder} 2027` }).getByRole('button', { name: 'Delete folder' }).click();
  const confirm = page.getByRole('dialog', { name: 'Delete folder' });
  await confirm.getByRole('button', { name: 'Delete folder' }).click();
  await expect(page.getByRole('link', { name: new RegExp(`^${folder}`) })).toHaveCount(0, { timeout: 15000 });
  await expect(page.locator('.mail-folders')).toContainText('INBOX');
  await checkA11y(page);
});

/** Links `box` for `user` through the API and synchronises it. */
async function linkByApi(user, box) {
  const api = apiAs(user);
  const linked = await api('POST', '/api/v1/mail/accounts', {
    email: box, username: box, password: 'wc-box-pw',
    imap_host: 'localhost', imap_port: Number(process.env.MADANG_TEST_DOVECOT_IMAPS), imap_security: 'tls',
    smtp_host: 'localhost', smtp_port: Number(process.env.MADANG_TEST_DOVECOT_SUBMISSION), smtp_security: 'starttls',
  });
  expect(linked.status, linked.text).toBe(201);
  expect((await api('POST', `/api/v1/mail/accounts/${linked.body.id}/sync`)).status).toBe(200);
  return linked.body.id;
}

test('write in rich text with an attachment, and it leaves as multipart/alternative', async ({ page }) => {
  const user = await createUser({ prefix: 'wcrich' });
  const { box } = mailbox();
  await linkByApi(user, box);
  const limits = (await apiAs(user)('GET', '/api/v1/me')).body.limits;
  const budget = Math.min(limits.mail_max_message_size, Math.floor((limits.max_body_size - 256 * 1024) * 3 / 4));
  await collectCspViolations(page);
  await signIn(page, user);
  await page.goto(urlOf('/#/mail'));
  await page.getByRole('button', { name: 'Write' }).click();
  const compose = page.getByRole('dialog', { name: 'Write' });
  const subject = `Rich ${crypto.randomBytes(3).toString('hex')}`;
  await compose.getByLabel('To').fill('lee@example.test');
  await compose.getByLabel('Subject').fill(subject);
  await compose.getByRole('radio', { name: 'Rich text' }).check();

  // Bold by the keyboard, a list and a link by the toolbar.
  const editor = compose.getByRole('textbox', { name: 'Message' });
  const toolbar = compose.getByRole('toolbar', { name: 'Formatting' });
  await editor.click();
  await editor.press('Control+b');
  await editor.pressSequentially('Important');
  await editor.press('Control+b');
  await editor.pressSequentially(' news');
  await editor.press('Enter');
  await toolbar.getByRole('button', { name: 'Bulleted list' }).click();
  await expect(toolbar.getByRole('button', { name: 'Bulleted list' })).toHaveAttribute('aria-pressed', 'true');
  await editor.pressSequentially('first point');
  await editor.press('Enter');
  await editor.pressSequentially('second point');
  await editor.press('Enter');
  await editor.press('Enter');
  await editor.pressSequentially('our site');
  await editor.press('Shift+Home');
  await toolbar.getByRole('button', { name: 'Link' }).click();
  await compose.getByLabel('Link address').fill('https://example.org/madang');
  await compose.getByLabel('Link address').press('Enter');
  await expect(compose.getByLabel('Link address')).toBeHidden();
  await expect(editor.locator('a[href="https://example.org/madang"]')).toHaveText('our site');
  await expect(editor.locator('b, strong')).toHaveText('Important');
  await expect(editor.locator('ul li')).toHaveText(['first point', 'second point']);

  // Attachments: read with progress to "Ready"; one removed again; one past the server's limit
  // refused before anything is uploaded.
  const files = compose.getByLabel('Attach files');
  await files.setInputFiles({ name: 'plan.bin', mimeType: 'application/octet-stream', buffer: crypto.randomBytes(2 << 20) });
  const plan = compose.locator('.mail-file', { hasText: 'plan.bin' });
  await expect(plan).toContainText('Ready', { timeout: 10000 });
  await expect(plan.getByRole('progressbar')).toHaveJSProperty('value', 1);
  await files.setInputFiles({ name: 'wrong.txt', mimeType: 'text/plain', buffer: Buffer.from('not this one') });
  await compose.getByRole('button', { name: 'Remove wrong.txt' }).click();
  await expect(compose.locator('.mail-file', { hasText: 'wrong.txt' })).toHaveCount(0);
  await files.setInputFiles({ name: 'huge.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(budget + 1) });
  await expect(compose.getByRole('alert').filter({ hasText: 'huge.bin was not attached' })).toBeVisible();
  await expect(compose.locator('.mail-file')).toHaveCount(1);
  await checkA11y(page);
  await shot(page, 'mail-compose-rich');

  await compose.getByRole('button', { name: 'Send' }).click();
  await expect(compose).toBeHidden({ timeout: 20000 });
  await expect(page.getByText('Sent.')).toBeVisible();
  // The recipient's copy: text and HTML as alternatives, the file beside them.
  const sink = path.join(DIR, 'sink', 'new');
  let sent = '';
  await expect.poll(() => {
    sent = fs.readdirSync(sink).map((f) => fs.readFileSync(path.join(sink, f), 'utf8')).find((x) => x.includes(`Subject: ${subject}`)) || '';
    return Boolean(sent);
  }, { timeout: 10000 }).toBe(true);
  expect(sent).toMatch(/multipart\/alternative/);
  // The HTML part is quoted-printable (its lines are long): decoded before looking at it.
  const html = sent.slice(sent.indexOf('Content-Type: text/html')).split('\r\n--')[0]
    .replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, x) => String.fromCharCode(parseInt(x, 16)));
  const text = sent.slice(sent.indexOf('Content-Type: text/plain'), sent.indexOf('Content-Type: text/html'));
  expect(html).toMatch(/<(b|strong)>Important<\/(b|strong)>/);
  expect(html).toContain('<li>first point</li>');
  expect(html).toContain('href="https://example.org/madang"');
  expect(text).toContain('Important news');
  expect(text).toContain('- first point\r\n- second point');
  expect(text).toContain('our site <https://example.org/madang>');
  expect(sent).toContain('plan.bin');
  expect(sent).not.toContain('wrong.txt');
});

test('a draft keeps its attachment, opens again from Drafts, and is sent as the reply it was', async ({ page }) => {
  const user = await createUser({ prefix: 'wcdraft' });
  const { box, deliver } = mailbox();
  const original = `orig-${crypto.randomBytes(3).toString('hex')}`;
  const words = `First thoughts ${original}, sheet attached.`;
  deliver(original, 'Budget question', '\r\nCan you check the budget?\r\n');
  await linkByApi(user, box);
  await collectCspViolations(page);
  await signIn(page, user);
  await page.goto(urlOf('/#/mail'));
  const row = page.locator('.mail-row', { hasText: 'Budget question' });
  await row.getByRole('button').click();
  const reader = page.locator('.mail-reader');
  await reader.getByRole('button', { name: 'Reply', exact: true }).click();
  let compose = page.getByRole('dialog', { name: 'Reply' });
  await compose.getByRole('radio', { name: 'Plain text' }).check();
  await compose.getByLabel('Message').press('Control+Home');
  await compose.getByLabel('Message').pressSequentially(words);
  await compose.getByLabel('Attach files').setInputFiles({ name: 'budget.csv', mimeType: 'text/csv', buffer: Buffer.from('item,cost\r\nchairs,120\r\n') });
  // Saved with the file (the save after the file was added says so), then the dialog closed.
  await expect(compose.getByText('Draft saved.')).toBeVisible({ timeout: 15000 });
  await page.keyboard.press('Escape');
  await expect(compose).toBeHidden();

  // In Drafts: "Edit draft" instead of Reply; the composer has the text and the file back.
  await page.getByRole('link', { name: /^Drafts/ }).click();
  const draftRow = page.locator('.mail-row', { hasText: 'Re: Budget question' });
  await expect(draftRow).toHaveCount(1, { timeout: 15000 });
  await draftRow.getByRole('button').click();
  await expect(reader.getByRole('button', { name: /Download budget\.csv/ })).toBeVisible();
  await expect(reader.getByRole('button', { name: 'Reply', exact: true })).toHaveCount(0);
  await reader.getByRole('button', { name: 'Edit draft' }).click();
  compose = page.getByRole('dialog', { name: 'Edit draft' });
  await expect(compose.getByLabel('Subject')).toHaveValue('Re: Budget question');
  await expect(compose.getByLabel('To')).toHaveValue('Kim Minji <kim@example.test>');
  await expect(compose.getByLabel('Message')).toHaveValue(new RegExp(words));
  await expect(compose.locator('.mail-file', { hasText: 'budget.csv' })).toContainText('Ready', { timeout: 10000 });
  await compose.getByLabel('Message').press('Control+Home');
  await compose.getByLabel('Message').pressSequentially('Final: ');
  await checkA11y(page);
  await compose.getByRole('button', { name: 'Send' }).click();
  await expect(compose).toBeHidden({ timeout: 20000 });

  // It left as the reply it was: threaded to the original, with the file; the draft is gone.
  const sink = path.join(DIR, 'sink', 'new');
  let sent = '';
  await expect.poll(() => {
    sent = fs.readdirSync(sink).map((f) => fs.readFileSync(path.join(sink, f), 'utf8')).find((x) => x.includes(`Final: ${words}`)) || '';
    return Boolean(sent);
  }, { timeout: 10000 }).toBe(true);
  expect(sent).toContain(`In-Reply-To: <${original}@example.test>`);
  expect(sent).toContain('budget.csv');
  await expect(draftRow).toHaveCount(0, { timeout: 15000 });
  // And the original is marked answered on the server (Maildir flag R).
  const cur = path.join(DIR, 'mail', box, 'Maildir', 'cur');
  await expect.poll(() => fs.readdirSync(cur).filter((f) => fs.readFileSync(path.join(cur, f), 'utf8').includes(`<${original}@example.test>`))
    .some((f) => /:2,[A-Z]*R/.test(f)), { timeout: 10000 }).toBe(true);
});

test('a folder of 300 messages scrolls as a virtual list, by mouse and keyboard', async ({ page }) => {
  const user = await createUser({ prefix: 'wcvirt' });
  const { box } = mailbox();
  // 300 messages straight into the Maildir (what dovecot.sh deliver does, without 300
  // processes); each file's time is its arrival time, one minute apart, newest "000".
  const tag = `Bulk${crypto.randomBytes(2).toString('hex')}`;
  const maildir = path.join(DIR, 'mail', box, 'Maildir');
  for (const d of ['tmp', 'new', 'cur']) fs.mkdirSync(path.join(maildir, d), { recursive: true });
  // Owned as Dovecot's mail is (the suite may run as root, Dovecot's mail user is not).
  const { uid, gid } = fs.statSync(path.join(DIR, 'mail'));
  const own = (p) => { try { fs.chownSync(p, uid, gid); } catch { /* not root: already ours */ } };
  for (const p of [path.join(DIR, 'mail', box), maildir, ...['tmp', 'new', 'cur'].map((d) => path.join(maildir, d))]) own(p);
  const now = Date.now();
  for (let i = 0; i < 300; i++) {
    const n = String(i).padStart(3, '0');
    const name = `${Math.floor(now / 1000)}.wc${i}_${crypto.randomBytes(3).toString('hex')}.localhost`;
    const when = new Date(now - i * 60_000);
    fs.writeFileSync(path.join(maildir, 'tmp', name), `From: Kim Minji <kim@example.test>\r\nTo: ${box}\r\n` +
      `Subject: ${tag} ${n}\r\nMessage-ID: <${tag}-${n}@example.test>\r\nDate: ${when.toUTCString()}\r\n\r\nNumber ${n}.\r\n`);
    fs.utimesSync(path.join(maildir, 'tmp', name), when, when);
    own(path.join(maildir, 'tmp', name));
    fs.renameSync(path.join(maildir, 'tmp', name), path.join(maildir, 'new', name));
  }
  await linkByApi(user, box);
  await collectCspViolations(page);
  await signIn(page, user);
  await page.goto(urlOf('/#/mail'));
  await expect(page.locator('.mail-row', { hasText: `${tag} 000` })).toBeVisible({ timeout: 15000 });

  // Scrolled to the end, page after page: the last message is reached, the DOM stays small.
  const column = page.locator('.mail-column');
  const last = page.locator('.mail-row', { hasText: `${tag} 299` });
  await expect.poll(async () => {
    await column.evaluate((el) => { el.scrollTop = el.scrollHeight; });
    return last.count();
  }, { timeout: 30000 }).toBe(1);
  await expect(last).toBeVisible();
  const drawn = await page.locator('.mail-row').count();
  expect(drawn).toBeLessThan(60);
  console.log(`mail: 300 messages loaded, ${drawn} rows in the DOM`);
  await expect(last).toHaveAttribute('aria-setsize', '300');
  await expect(last).toHaveAttribute('aria-posinset', '300');
  await expect(last).not.toHaveClass(/open/);

  // The keyboard walks the rows, drawing them as it goes; opening keeps the row marked.
  await last.getByRole('button').focus();
  await page.keyboard.press('ArrowUp');
  await expect(page.locator('.mail-row', { hasText: `${tag} 298` }).getByRole('button')).toBeFocused();
  await page.keyboard.press('Home');
  const first = page.locator('.mail-row', { hasText: `${tag} 000` });
  await expect(first.getByRole('button')).toBeFocused();
  await expect(last).toHaveCount(0);
  await page.keyboard.press('Enter');
  await expect(page.locator('.mail-reader').getByRole('heading', { name: `${tag} 000` })).toBeVisible();
  await expect(first).toHaveClass(/open/);
  await expect(first.getByRole('button')).toHaveAttribute('aria-current', 'true');
  await checkA11y(page);
});

test('link an account by signing in at the provider, and sign in again when consent is withdrawn', async ({ page }) => {
  const idp = process.env.MADANG_TEST_DOVECOT_OAUTH;
  test.skip(!idp, 'no local OAuth provider (dovecot.sh starts one)');
  const user = await createUser({ prefix: 'wcoauth' });
  const { box, deliver } = mailbox();
  const subject = `Token ${crypto.randomBytes(3).toString('hex')}`;
  deliver(`oauth-${crypto.randomBytes(3).toString('hex')}`, subject, '\r\nSigned in without a password.\r\n');
  // The check after consent was withdrawn is answered 409 consent_required, on purpose.
  (await collectCspViolations(page)).allow(/409 \(Conflict\).*\/sync/);
  await signIn(page, user);
  await page.goto(urlOf('/#/mail'));
  await page.getByRole('button', { name: 'Link an account' }).click();
  const dialog = page.getByRole('dialog', { name: 'Link an account' });
  await dialog.getByLabel('E-mail address').fill(box);
  await fillDovecotServers(dialog, box);
  // No password typed: the provider (which approves at once here) sends the browser back.
  await dialog.getByRole('button', { name: 'Sign in with Test IdP' }).click();
  await expect(page).toHaveURL(/#\/mail$/, { timeout: 15000 });
  await expect(page.locator('.mail-row', { hasText: subject })).toBeVisible({ timeout: 15000 });
  await expect(page.locator('.mail-account', { hasText: box })).toBeVisible();

  // The user withdraws consent at the provider: the next check says so, and offers to sign in again.
  await fetch(`${idp}/control?user=${encodeURIComponent(box)}&revoke=1`, { method: 'POST' });
  await page.getByRole('button', { name: `Check for mail: ${box}` }).click();
  const notice = page.locator('.mail-problem', { hasText: box });
  await expect(notice).toBeVisible({ timeout: 15000 });
  await checkA11y(page);
  await notice.getByRole('button', { name: 'Sign in again' }).click();
  await expect(page).toHaveURL(/#\/mail$/, { timeout: 15000 });
  await expect(page.locator('.mail-problem')).toHaveCount(0, { timeout: 15000 });
  await expect(page.locator('.mail-row', { hasText: subject })).toBeVisible();
});

/** A 1×1 PNG. */
const PIXEL = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==', 'base64');

test('remote images are hidden, then shown through the image proxy', async ({ page }) => {
  // The "remote" image server, on 127.0.0.1 (which lib.sh lets the server reach with the
  // Dovecot, `mail.allowed_networks`); it counts what it is asked.
  const asked = [];
  const images = http.createServer((req, res) => {
    asked.push({ url: req.url, headers: req.headers });
    if (req.url === '/logo.png') {
      res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': PIXEL.length });
      res.end(PIXEL);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((resolve) => images.listen(0, '127.0.0.1', resolve));
  const remote = `http://127.0.0.1:${images.address().port}`;
  try {
    const user = await createUser({ prefix: 'wcmaili' });
    const { box } = mailbox();
    const file = path.join(os.tmpdir(), `madang-wc-img-${crypto.randomBytes(3).toString('hex')}.eml`);
    fs.writeFileSync(file, `From: Shop News <news@shop.example>\r\nTo: ${box}\r\nSubject: Winter sale\r\n` +
      `Message-ID: <sale-${crypto.randomBytes(3).toString('hex')}@shop.example>\r\nDate: ${new Date().toUTCString()}\r\n` +
      'MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n' +
      `<p>Everything half price.</p><img src="${remote}/logo.png" alt="Shop logo" width="1" height="1">\r\n`);
    execFileSync('bash', [DOVECOT, 'deliver', DIR, box, file]);
    fs.unlinkSync(file);
    const api = apiAs(user);
    await linkByApi(user, box);
    await collectCspViolations(page);
    // Every request the browser makes goes to Madang, never to the image's server.
    const origin = new URL(urlOf('/')).origin;
    const requested = [];
    page.on('request', (r) => { if (!r.url().startsWith('data:')) requested.push(r.url()); });
    await signIn(page, user);
    await page.goto(urlOf('/#/mail'));

    const row = page.locator('.mail-row', { hasText: 'Winter sale' });
    await row.getByRole('button').click();
    const reader = page.locator('.mail-reader');
    await expect(reader.getByText('Everything half price.')).toBeVisible();
    // Hidden, with the bar; nothing asked of the image's server.
    const bar = reader.locator('.mail-images');
    await expect(bar).toContainText('Images are hidden to protect your privacy.');
    const shadowImages = () => reader.locator('.mail-html').evaluate((el) =>
      Array.from(el.shadowRoot.querySelectorAll('img')).map((i) => ({ src: i.getAttribute('src') || '', proxied: i.dataset.src || '' })));
    expect(await shadowImages()).toEqual([]);
    expect(asked).toEqual([]);
    await shot(page, 'mail-images-hidden');
    await checkA11y(page);

    // Shown for this message: through the proxy, on Madang's origin, as a data: URL.
    await bar.getByRole('button', { name: 'Show images' }).click();
    await expect.poll(async () => (await shadowImages()).map((i) => i.src.slice(0, 15)), { timeout: 10000 }).toEqual(['data:image/png;']);
    const [shown] = await shadowImages();
    expect(shown.proxied).toMatch(/^\/api\/v1\/mail\/image\?u=http%3A%2F%2F127\.0\.0\.1%3A\d+%2Flogo\.png&s=[A-Za-z0-9_-]+$/);
    expect(asked.map((a) => a.url)).toEqual(['/logo.png']);
    expect(asked[0].headers.cookie).toBeUndefined();
    expect(asked[0].headers.referer).toBeUndefined();
    expect(asked[0].headers['user-agent']).toBe('Madang-Image-Proxy/1');
    expect(requested.some((u) => u.startsWith(`${origin}/api/v1/mail/image?`))).toBe(true);
    expect(requested.filter((u) => !u.startsWith(origin))).toEqual([]);
    await expect(reader.locator('.mail-images')).toHaveCount(0);

    // Always for this sender: opened again, the message shows its images without asking.
    await row.getByRole('button').click();
    await expect(reader.locator('.mail-images')).toContainText('Images are hidden');
    await reader.getByRole('button', { name: 'Always show from news@shop.example' }).click();
    await expect(reader.locator('.mail-images')).toContainText('Images from news@shop.example are always shown.');
    await expect.poll(async () => (await shadowImages()).length, { timeout: 10000 }).toBe(1);
    expect((await api('GET', '/api/v1/mail/image-senders')).body.map((s) => s.address)).toEqual(['news@shop.example']);
    await shot(page, 'mail-images-shown');
    // And back: hidden again.
    await reader.getByRole('button', { name: 'Stop showing automatically' }).click();
    await expect(reader.locator('.mail-images')).toContainText('Images are hidden');
    expect((await api('GET', '/api/v1/mail/image-senders')).body).toEqual([]);
    expect(requested.filter((u) => !u.startsWith(origin))).toEqual([]);
  } finally {
    images.close();
  }
});
