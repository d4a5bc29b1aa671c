// The Contacts view in the browser against a real server: a vCard 3.0 card PUT by a CardDAV
// client, edited on the web, is still 3.0 with the client's own properties when read back over
// CardDAV (RFC 2426 / RFC 6350); search as you type; groups; a photo; .vcf import and export;
// keyboard, axe-core and a phone-width pass.
'use strict';
const { test, expect, checkA11y, shot, davGet } = require('./fixtures');

const CONTACTS = '/api/v1/addressbooks/default/contacts';
// A 2×2 PNG; the view scales and re-encodes a picked photo as JPEG.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==', 'base64');

async function openContacts(page) {
  await page.goto('/#/contacts');
  await expect(page.getByRole('heading', { name: 'Contacts', level: 1 })).toBeVisible();
  await expect(page.getByLabel('Address book')).toHaveValue('default');
}

function card30(uid) {
  // As macOS Contacts writes it: TYPE lists, an item1 group with Apple's label, an X- property.
  return [
    'BEGIN:VCARD', 'VERSION:3.0', 'PRODID:-//Apple Inc.//macOS 14.0//EN',
    'N:Kim;Minji;;;', 'FN:Minji Kim', 'ORG:Hanbit Labs;',
    'EMAIL;type=INTERNET;type=WORK;type=pref:minji@hanbit.example',
    'TEL;type=CELL;type=VOICE;type=pref:+82 10 1234 5678',
    'item1.ADR;type=HOME;type=pref:;;12 Sejong-daero;Seoul;;04524;Korea',
    'item1.X-ABADR:kr',
    'X-SOCIALPROFILE;type=twitter:x-apple:minjikim',
    `UID:${uid}`, 'END:VCARD', '',
  ].join('\r\n');
}

test('a vCard 3.0 card from a CardDAV client, edited in the browser, stays 3.0', async ({ signedInPage: page, user, davPut }) => {
  const uid = `minji-${Date.now()}`;
  const url = `${user.addressbookUrl}${uid}.vcf`;
  await davPut(url, card30(uid), 'text/vcard; charset=utf-8');

  await openContacts(page);
  await page.getByLabel('Search contacts').fill('minji');
  await page.getByRole('button', { name: /Minji Kim/ }).click();
  await expect(page.getByRole('heading', { name: 'Minji Kim', level: 2 })).toBeFocused();
  await expect(page.getByRole('link', { name: 'minji@hanbit.example' })).toBeVisible();
  await checkA11y(page, { name: 'contact-card' });
  await shot(page, 'contact-card');

  await page.getByRole('button', { name: 'Edit', exact: true }).click();
  const dlg = page.getByRole('dialog', { name: 'Edit Minji Kim' });
  await checkA11y(page, { name: 'contact-editor-30' });
  await dlg.getByLabel('Organisation').fill('Hanbit Media');
  await dlg.getByRole('button', { name: 'Add phone' }).click();
  const phones = dlg.getByRole('group', { name: 'Phone numbers' });
  await expect(phones.getByLabel('Phone', { exact: true }).nth(1)).toBeFocused();
  await phones.getByLabel('Phone', { exact: true }).nth(1).fill('+82 2 555 0100');
  await phones.getByLabel('Type').nth(1).selectOption('work');
  await dlg.getByLabel('Birthday').fill('--04-12');
  await dlg.getByLabel('Choose a photo').setInputFiles({ name: 'minji.png', mimeType: 'image/png', buffer: PNG });
  await expect(dlg.getByRole('img', { name: 'Current photo' })).toBeVisible();
  await dlg.getByRole('button', { name: 'Save' }).click();
  await expect(dlg).toBeHidden();
  await expect(page.getByRole('link', { name: '+82 2 555 0100' })).toBeVisible();

  const back = await davGet(user, url);
  expect(back.status).toBe(200);
  const text = back.text.replace(/\r\n[ \t]/g, '');
  expect(text).toMatch(/^VERSION:3\.0\r?$/m);
  expect(text).not.toMatch(/^VERSION:4\.0/m);
  expect(text).toMatch(/^ORG:Hanbit Media/m);
  expect(text).toMatch(/^TEL.*:\+82 10 1234 5678\r?$/m);
  expect(text).toMatch(/^TEL.*WORK.*:\+82 2 555 0100\r?$/im);
  expect(text).toMatch(/^item1\.X-ABADR:kr\r?$/m);
  expect(text).toMatch(/^X-SOCIALPROFILE;type=twitter:x-apple:minjikim\r?$/mi);
  expect(text).toMatch(/^EMAIL.*:minji@hanbit\.example\r?$/m);
  expect(text).toMatch(/^BDAY.*:--0412\r?$|^BDAY.*:--04-12\r?$/m);
  // A 3.0 photo is inline base64 (RFC 2426 §3.1.4), not a 4.0 data: URI.
  expect(text).toMatch(/^PHOTO;(?=.*ENCODING=b)(?=.*TYPE=JPEG)[^:]*:\/9j\//im);
});

test('search as you type, groups and a photo', async ({ signedInPage: page, api }) => {
  const uids = {};
  for (const c of [
    { full_name: 'Alice Park', emails: [{ value: 'alice.park@example.com', types: ['work'], pref: false }] },
    { full_name: 'Alicia Stone', organization: 'Stone & Co', categories: ['Work'] },
    { full_name: 'Bob Lee', phones: [{ value: '+1 (555) 123-4567', types: ['cell'], pref: false }] },
  ]) {
    const r = await api('POST', CONTACTS, c);
    expect(r.status).toBe(201);
    uids[c.full_name] = r.body.uid;
  }
  // A group card (RFC 6350 KIND:group) as a CardDAV client would make it.
  const friends = await api('POST', CONTACTS, { kind: 'group', full_name: 'Friends', members: [uids['Alice Park'], uids['Bob Lee']] });
  expect(friends.status).toBe(201);

  await openContacts(page);
  const list = page.getByRole('list', { name: 'Contacts' });
  const names = () => list.getByRole('button').allTextContents();
  // The group card is not listed among the people.
  await expect.poll(async () => (await names()).length).toBe(3);

  await page.getByLabel('Search contacts').pressSequentially('ali', { delay: 30 });
  await expect.poll(names).toEqual([expect.stringContaining('Alice Park'), expect.stringContaining('Alicia Stone')]);
  await page.getByLabel('Search contacts').fill('555-123');
  await expect.poll(names).toEqual([expect.stringContaining('Bob Lee')]);
  await page.getByLabel('Search contacts').fill('');
  await expect.poll(async () => (await names()).length).toBe(3);

  const short = async () => (await names()).map((n) => (n.match(/Alicia|Alice|Bob/) || [n])[0]).sort();
  await page.getByLabel('Group').selectOption({ label: 'Friends' });
  await expect.poll(short).toEqual(['Alice', 'Bob']);
  await page.getByLabel('Group').selectOption({ label: 'Tag: Work' });
  await expect.poll(short).toEqual(['Alicia']);
  await page.getByLabel('Group').selectOption('');

  // Put Alicia into Friends and a new group, and give her a photo.
  await list.getByRole('button', { name: /Alicia Stone/ }).click();
  await page.getByRole('button', { name: 'Edit', exact: true }).click();
  const dlg = page.getByRole('dialog', { name: 'Edit Alicia Stone' });
  await dlg.getByRole('checkbox', { name: 'Friends' }).check();
  await dlg.getByLabel('Add to new groups').fill('Climbing');
  await dlg.getByLabel('Choose a photo').setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: PNG });
  await expect(dlg.getByRole('img', { name: 'Current photo' })).toBeVisible();
  await checkA11y(page, { name: 'contacts-editor' });
  await shot(page, 'contacts-editor');
  await dlg.getByRole('button', { name: 'Save' }).click();
  await expect(dlg).toBeHidden();
  await expect(page.getByRole('img', { name: 'Photo of Alicia Stone' })).toBeVisible();
  const chips = page.getByRole('list', { name: 'Groups' });
  await expect(chips.getByRole('listitem')).toHaveText(['Climbing', 'Friends']);

  const alicia = (await api('GET', `${CONTACTS}/${encodeURIComponent(uids['Alicia Stone'])}`)).body;
  expect(alicia.categories).toEqual(['Work']);
  expect(alicia.photo).toMatch(/^data:image\/jpeg;base64,/);
  expect(alicia.organization).toBe('Stone & Co');
  expect(alicia.groups.map((g) => g.name).sort()).toEqual(['Climbing', 'Friends']);
  const group = (await api('GET', `${CONTACTS}/${encodeURIComponent(friends.body.uid)}`)).body;
  expect(group.members.sort()).toEqual([uids['Alice Park'], uids['Alicia Stone'], uids['Bob Lee']].sort());

  // Out of Friends again.
  await page.getByRole('button', { name: 'Edit', exact: true }).click();
  await dlg.getByRole('checkbox', { name: 'Friends' }).uncheck();
  await dlg.getByRole('button', { name: 'Save' }).click();
  await expect(dlg).toBeHidden();
  await expect(chips.getByRole('listitem')).toHaveText(['Climbing']);
  const after = (await api('GET', `${CONTACTS}/${encodeURIComponent(friends.body.uid)}`)).body;
  expect(after.members).not.toContain(uids['Alicia Stone']);

  await checkA11y(page, { name: 'contacts' });
  await shot(page, 'contacts');
});

test('import a .vcf file and export the address book', async ({ signedInPage: page, api }) => {
  const vcf = [
    'BEGIN:VCARD', 'VERSION:3.0', 'UID:imp-one', 'N:One;Imported;;;', 'FN:Imported One', 'EMAIL:one@example.org', 'END:VCARD',
    'BEGIN:VCARD', 'VERSION:4.0', 'UID:imp-two', 'FN:Imported Two', 'TEL:+44 20 7946 0000', 'END:VCARD', '',
  ].join('\r\n');
  await openContacts(page);
  await page.getByLabel('Import .vcf file').setInputFiles({ name: 'two.vcf', mimeType: 'text/vcard', buffer: Buffer.from(vcf) });
  await expect(page.getByRole('status')).toHaveText('2 contacts imported.');
  const list = page.getByRole('list', { name: 'Contacts' });
  await expect(list.getByRole('button', { name: /Imported One/ })).toBeVisible();
  await expect(list.getByRole('button', { name: /Imported Two/ })).toBeVisible();
  const r = await api('GET', CONTACTS);
  expect(r.body.contacts.map((c) => c.uid).sort()).toEqual(['imp-one', 'imp-two']);

  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Export .vcf' }).click(),
  ]);
  expect(download.suggestedFilename()).toMatch(/\.vcf$/);
  const text = require('node:fs').readFileSync(await download.path(), 'utf8');
  expect(text.match(/^BEGIN:VCARD/gm)).toHaveLength(2);
  expect(text).toContain('UID:imp-one');
  expect(text).toContain('UID:imp-two');
  // Cards are exported as stored: the 3.0 card is still 3.0.
  expect(text).toMatch(/VERSION:3\.0[\s\S]*UID:imp-one|UID:imp-one[\s\S]*VERSION:3\.0/);
});

test('keyboard and phone width: create, open, back, delete', async ({ signedInPage: page, api }) => {
  await page.setViewportSize({ width: 375, height: 740 });
  await openContacts(page);
  await page.getByRole('button', { name: 'New contact' }).focus();
  await page.keyboard.press('Enter');
  const dlg = page.getByRole('dialog', { name: 'New contact' });
  await expect(dlg.getByLabel('Display name')).toBeFocused();
  await page.keyboard.press('Escape');
  await expect(dlg).toBeHidden();
  await expect(page.getByRole('button', { name: 'New contact' })).toBeFocused();

  await page.keyboard.press('Enter');
  await dlg.getByLabel('Given name').fill('Sora');
  await dlg.getByLabel('Family name').fill('Han');
  await dlg.getByRole('button', { name: 'Add e-mail' }).click();
  await dlg.getByLabel('E-mail', { exact: true }).fill('sora@example.com');
  await dlg.getByLabel('E-mail', { exact: true }).press('Enter');
  await expect(dlg).toBeHidden();
  // Saved and opened: on a phone only the card shows, its heading has focus.
  await expect(page.getByRole('heading', { name: 'Sora Han', level: 2 })).toBeFocused();
  await expect(page.getByRole('list', { name: 'Contacts' })).toBeHidden();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow, 'no horizontal scrolling at 375 px').toBeLessThanOrEqual(0);
  await checkA11y(page, { name: 'contact-phone' });
  await shot(page, 'contact-phone');

  await page.getByRole('button', { name: 'Back to the list' }).click();
  await expect(page.getByRole('button', { name: /Sora Han/ })).toBeFocused();
  await page.keyboard.press('Enter');
  await page.getByRole('button', { name: 'Delete' }).click();
  const confirm = page.getByRole('dialog', { name: 'Delete contact' });
  await confirm.getByRole('button', { name: 'Delete' }).click();
  await expect(page.getByRole('status')).toHaveText('Contact “Sora Han” deleted.');
  await expect(page.getByLabel('Search contacts')).toBeFocused();
  const r = await api('GET', CONTACTS);
  expect(r.body.contacts).toHaveLength(0);
});

test('a card PUT over CardDAV appears without a reload', async ({ signedInPage: page, user, davPut }) => {
  await openContacts(page);
  await expect(page.getByText('This address book is empty.')).toBeVisible();
  const uid = `live-${Date.now()}`;
  await davPut(`${user.addressbookUrl}${uid}.vcf`, card30(uid), 'text/vcard; charset=utf-8');
  await expect(page.getByRole('button', { name: /Minji Kim/ })).toBeVisible({ timeout: 5_000 });
});
