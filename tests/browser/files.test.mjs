// Files on messages (notes/files-spec.md; web/uploads.js, web/composer.js,
// web/attachments.js): a screenshot pasted into the box, a file chosen with
// the attach button and an upload cancelled with ×, each uploading at once
// with its progress on a chip; the message carries the finished ones, and the
// others see a thumbnail (full size in a dialog) or a card whose link
// downloads the very bytes sent. Files that could run script here (HTML, SVG)
// come back as attachments in a sandbox and run nothing. A message with files
// cut off by a disconnect is sent again, with the same files, after the
// reconnect. Uploads are slowed with Chromium's network throttling where a
// test must see them part way.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { WsClient, browserTest, expectCount, expectHidden, expectTexts, expectVisible, messageBodies, saveScreenshot, sendMessage, sharedFixture, waitFor } from './helpers.mjs';
import { pdfLikeBytes, pngBytes, sha256 } from './pictures.mjs';
import { THUMB_BOX, fitThumb, typeLabel } from '../../web/attachments.js';
import { humanSize } from '../../web/format.js';
import { FILES_PER_MESSAGE_MAX, frames } from '../../web/protocol.js';
import { ChatStore } from '../../web/store.js';

/** Small limits, so a test can go over them: files up to 20 MiB, 30 MiB a person. */
const MAX_FILE_BYTES = 20 * 1024 * 1024;
const QUOTA_BYTES = 30 * 1024 * 1024;
const fixture = sharedFixture({ args: ['--max-file-bytes', String(MAX_FILE_BYTES), '--upload-quota-bytes', String(QUOTA_BYTES)] });
const env = fixture.env;

// ---- without a browser ------------------------------------------------------------

test('sizes read as people say them', () => {
  assert.equal(humanSize(0), '0 bytes');
  assert.equal(humanSize(1), '1 byte');
  assert.equal(humanSize(1023), '1023 bytes');
  assert.equal(humanSize(1536), '1.5 KB');
  assert.equal(humanSize(10 * 1024 - 1), '10 KB', '9.999 KB rounds to 10, not "10.0"');
  assert.equal(humanSize(3 * 1024 * 1024 + 12345), '3.0 MB');
  assert.equal(humanSize(250 * 1024 * 1024), '250 MB');
  assert.equal(humanSize(5 * 1024 ** 3), '5.0 GB');
});

test('a thumbnail is scaled down into its box, keeping its shape, never up', () => {
  assert.deepEqual(fitThumb(640, 320), { width: 360, height: 180 }, 'wide: the width decides');
  assert.deepEqual(fitThumb(300, 900), { width: 80, height: 240 }, 'tall: the height decides');
  assert.deepEqual(fitThumb(100, 50), { width: 100, height: 50 }, 'small: as it is');
  assert.deepEqual(fitThumb(10000, 1), { width: 360, height: 1 }, 'never thinner than a pixel');
  assert.equal(fitThumb(undefined, 10), null, 'no dimensions, no size');
  assert.ok(THUMB_BOX.width <= 400 && THUMB_BOX.height <= 400, 'the box fits the server’s 400 px thumbnails');
});

test('file types read as words', () => {
  assert.equal(typeLabel('application/pdf'), 'PDF');
  assert.equal(typeLabel('image/png'), 'PNG image');
  assert.equal(typeLabel('video/x-matroska'), 'MATROSKA video');
  assert.equal(typeLabel('application/x-weird'), 'application/x-weird');
  assert.equal(typeLabel(''), 'File');
});

test('send carries the file ids only when there are some', () => {
  assert.deepEqual(frames.send(3, 'hi', 'c1'), { type: 'send', channel: 3, body: 'hi', client_id: 'c1' });
  assert.deepEqual(frames.send(3, '', 'c2', 7, ['f1', 'f2']), { type: 'send', channel: 3, body: '', client_id: 'c2', reply_to: 7, files: ['f1', 'f2'] });
  assert.deepEqual(frames.send(3, 'x', 'c3', undefined, []), { type: 'send', channel: 3, body: 'x', client_id: 'c3' });
  assert.equal(FILES_PER_MESSAGE_MAX, 10);
});

test('a pending message keeps its files, and so does the copy built from its ack', () => {
  const store = new ChatStore();
  store.me = { id: 1, name: 'alice' };
  store.applyWelcome({
    type: 'welcome',
    user: { id: 1, name: 'alice', guest: false },
    channels: [{ id: 1, name: 'General', kind: 'public', last_seq: 0, read_seq: 0, member: true }],
    online: ['alice'],
  });
  store.applyHistory({ type: 'history', channel: 1, messages: [], has_more: false }, 'latest');
  const file = { id: 'AAAAAAAAAAAAAAAAAAAAAA', name: 'a.png', size: 10, type: 'image/png', width: 2, height: 2, thumb: true };
  const pending = store.addPending(1, '', 'client-1', null, [file]);
  assert.deepEqual(pending.files, [file]);
  // A retry sends the very same pending object, files and all.
  store.failPending(1, 'client-1', 'Not connected.');
  assert.equal(store.retryPending(1, 'client-1').files[0].id, file.id);
  store.applyAck({ type: 'ack', channel: 1, client_id: 'client-1', seq: 1, id: 11 });
  assert.deepEqual(store.channel(1).bySeq.get(1).files, [file], 'the confirmed copy shows the files at once');
  assert.equal(store.addPending(1, 'no files', 'client-2').files, undefined, 'no files, no field');
});

// ---- in the browser ------------------------------------------------------------------

/** Slows the page's uploads to `bytesPerSecond` (Chromium's network emulation); returns the undo. */
async function throttleUploads(page, bytesPerSecond) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: bytesPerSecond });
  return async () => {
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await cdp.detach();
  };
}

function chips(page) {
  return page.locator('#upload-list .upload-chip');
}

/** The messages list's row holding an attachment named `name` (a card's text, or a thumbnail's alt). */
function messageWithFile(page, name) {
  const attachments = page.locator('.attachments');
  return page.locator('#messages .msg').filter({ has: attachments.getByText(name, { exact: true }).or(attachments.getByAltText(name, { exact: true })) });
}

/** The bytes behind a link in the page, fetched as the page would (its cookie). */
function fetchInPage(link) {
  return link.evaluate(async (anchor) => {
    const response = await fetch(anchor.href);
    const bytes = new Uint8Array(await response.arrayBuffer());
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
    return { status: response.status, size: bytes.length, sha256: [...digest].map((b) => b.toString(16).padStart(2, '0')).join('') };
  });
}

browserTest('a pasted screenshot uploads, goes without text, and shows another user a thumbnail that opens full size', env, async (session) => {
  const alice = await fixture.server.register('paste_alice');
  const bob = await fixture.server.register('paste_bob');
  const alicePage = await session.newPage({ account: alice });
  const bobPage = await session.newPage({ account: bob });

  const input = alicePage.locator('#composer-input');
  await input.focus();
  const prevented = await alicePage.evaluate(async () => {
    const canvas = document.createElement('canvas');
    canvas.width = 640;
    canvas.height = 320;
    const paint = canvas.getContext('2d');
    paint.fillStyle = '#1164a3';
    paint.fillRect(0, 0, 640, 320);
    paint.fillStyle = '#ffffff';
    paint.fillRect(40, 40, 200, 100);
    const blob = await new Promise((done) => canvas.toBlob(done, 'image/png'));
    const clipboard = new DataTransfer();
    clipboard.items.add(new File([blob], 'screenshot.png', { type: 'image/png' }));
    const paste = new ClipboardEvent('paste', { clipboardData: clipboard, bubbles: true, cancelable: true });
    document.getElementById('composer-input').dispatchEvent(paste);
    return paste.defaultPrevented;
  });
  assert.equal(prevented, true, 'an image alone on the clipboard is not pasted as text');
  await expectTexts(chips(alicePage).locator('.upload-name'), ['screenshot.png'], 'a chip for the pasted image');
  await waitFor('the upload to finish', async () => (await chips(alicePage).getAttribute('data-state')) === 'done');
  await expectTexts(chips(alicePage).locator('.upload-status'), ['Ready'], 'the chip says it is ready');
  assert.equal(await input.inputValue(), '', 'nothing went into the box');
  await saveScreenshot(alicePage, 'files-chip-ready');
  await input.press('Enter');
  await expectCount(chips(alicePage), 0, 'the chip gone once sent');
  await expectHidden(alicePage.locator('#upload-list'), 'the empty chip list');

  // Bob sees the thumbnail load, sized from the image's own dimensions, with no empty text line.
  const row = messageWithFile(bobPage, 'screenshot.png');
  const thumb = bobPage.locator('#messages .file-thumb img[alt="screenshot.png"]');
  await expectVisible(thumb, 'the thumbnail in bob’s page');
  await waitFor('the thumbnail to load in bob’s page', () => thumb.evaluate((img) => img.complete && img.naturalWidth > 0));
  assert.match(await thumb.getAttribute('src'), /^\/api\/files\/[A-Za-z0-9_-]{22}\/thumb$/, 'the thumbnail’s address');
  assert.deepEqual([await thumb.getAttribute('width'), await thumb.getAttribute('height')], ['360', '180'], '640 x 320 fitted into the 360 x 240 box');
  const box = await thumb.boundingBox();
  assert.ok(Math.abs(box.width - 360) < 1 && Math.abs(box.height - 180) < 1, `shown at 360 x 180 (${box.width} x ${box.height})`);
  assert.equal(await row.locator('.msg-body').count(), 0, 'a message of files alone has no empty text');
  await expectTexts(row.locator('.msg-sender'), ['paste_alice'], 'from alice');
  await saveScreenshot(bobPage, 'files-thumbnail');

  // A click opens the full image in a dialog; Escape closes it.
  await thumb.click();
  const dialog = bobPage.locator('#image-dialog');
  await expectVisible(dialog, 'the image dialog');
  const full = dialog.locator('img');
  await waitFor('the full image to load', () => full.evaluate((img) => img.complete && img.naturalWidth === 640 && img.naturalHeight === 320));
  await waitFor('the caption to name it and give its size', async () => /^screenshot\.png · \d+(\.\d)? (bytes|KB)$/.test(await dialog.locator('#image-dialog-caption').textContent()));
  await saveScreenshot(bobPage, 'files-image-dialog');
  await bobPage.keyboard.press('Escape');
  await expectHidden(dialog, 'the image dialog after Escape');

  // Alice's own copy shows the same picture.
  await waitFor('alice’s own thumbnail', () => alicePage.locator('#messages .file-thumb img[alt="screenshot.png"]').evaluate((img) => img.complete && img.naturalWidth > 0));
});

browserTest('a file chosen with the attach button shows its progress, waits to be sent, and arrives as a card that downloads the same bytes', env, async (session) => {
  const alice = await fixture.server.register('attach_alice');
  const bob = await fixture.server.register('attach_bob');
  const alicePage = await session.newPage({ account: alice });
  const bobPage = await session.newPage({ account: bob });
  const bytes = pdfLikeBytes(3 * 1024 * 1024 + 12345);
  const input = alicePage.locator('#composer-input');

  const unthrottle = await throttleUploads(alicePage, 1024 * 1024);
  // The attach button opens the file chooser (the hidden input).
  const [chooser] = await Promise.all([alicePage.waitForEvent('filechooser'), alicePage.getByRole('button', { name: 'Attach files' }).click()]);
  assert.equal(chooser.isMultiple(), true, 'several files may be chosen at once');
  await chooser.setFiles({ name: 'report.pdf', mimeType: 'application/pdf', buffer: bytes });
  const chip = chips(alicePage);
  await expectTexts(chip.locator('.upload-name'), ['report.pdf'], 'a chip for the file');
  await waitFor('the progress bar part way', async () => {
    const value = await chip.locator('progress').evaluate((bar) => bar.value);
    return value > 0 && value < 1;
  });
  assert.match(await chip.locator('.upload-status').textContent(), /^\d+%$/, 'the percentage beside the bar');
  await saveScreenshot(alicePage, 'files-uploading');

  // Send waits for the upload, and says so; the text stays.
  await input.fill('the quarterly report');
  await input.press('Enter');
  await waitFor('the composer to say it waits', async () => /Wait for the upload/.test(await alicePage.locator('#composer-error').textContent()));
  assert.equal(await input.inputValue(), 'the quarterly report', 'nothing sent yet');
  assert.equal(await alicePage.locator('#messages .msg.sending').count(), 0, 'no pending message');
  assert.match(await alicePage.locator('#send-button').getAttribute('title'), /Waiting for uploads/);

  await unthrottle();
  await waitFor('the upload to finish', async () => (await chip.getAttribute('data-state')) === 'done', { timeout: 20000 });
  await waitFor('the waiting note to go', async () => (await alicePage.locator('#composer-error').textContent()) === '');
  await input.press('Enter');
  await expectCount(chips(alicePage), 0, 'the chip gone once sent');

  // Bob: the text, and a card with the name, size and type that downloads the same bytes.
  const row = messageWithFile(bobPage, 'report.pdf');
  await expectTexts(row.locator('.msg-body'), ['the quarterly report'], 'the text with the file');
  const card = row.locator('a.file-card');
  await expectTexts(card.locator('.file-card-name'), ['report.pdf'], 'the card’s name');
  assert.match(await card.locator('.file-card-meta').textContent(), /^3\.0 MB · /, 'the size in MB, then the type');
  assert.equal(await card.getAttribute('download'), 'report.pdf', 'the link downloads under its name');
  assert.match(await card.getAttribute('href'), /^\/api\/files\/[A-Za-z0-9_-]{22}$/);
  const got = await fetchInPage(card);
  assert.deepEqual(got, { status: 200, size: bytes.length, sha256: sha256(bytes) }, 'the very bytes sent');
  await saveScreenshot(bobPage, 'files-card');
});

browserTest('several files chosen at once upload three at a time, and the message carries them all, in order', env, async (session) => {
  const alice = await fixture.server.register('many_alice');
  const bob = await fixture.server.register('many_bob');
  const alicePage = await session.newPage({ account: alice });
  const bobPage = await session.newPage({ account: bob });
  const names = ['one.png', 'two.png', 'three.png', 'four.png', 'five.png'];
  const unthrottle = await throttleUploads(alicePage, 64 * 1024);
  await alicePage.locator('#file-input').setInputFiles(names.map((name, i) => ({ name, mimeType: 'image/png', buffer: pngBytes(200 + i * 10, 120, [40 * i, 90, 160], { noise: true }) })));
  await expectTexts(chips(alicePage).locator('.upload-name'), names, 'a chip per file, in the order chosen');
  // The server takes four uploads of one person at a time: the page runs three, the others wait.
  const states = await chips(alicePage).evaluateAll((items) => items.map((item) => item.dataset.state));
  assert.equal(states.filter((state) => state === 'uploading').length, 3, `three running (${states})`);
  assert.equal(states.filter((state) => state === 'queued').length, 2, `two waiting (${states})`);
  await expectTexts(alicePage.locator('#upload-list .upload-chip[data-state="queued"] .upload-status'), ['Waiting…', 'Waiting…'], 'the waiting ones say so');
  await unthrottle();
  await waitFor('every upload to finish', async () => (await chips(alicePage).evaluateAll((items) => items.every((item) => item.dataset.state === 'done'))));
  await alicePage.locator('#composer-input').fill('five pictures');
  await alicePage.locator('#composer-input').press('Enter');
  await expectCount(chips(alicePage), 0, 'the chips gone once sent');

  const row = bobPage.locator('#messages .msg').filter({ hasText: 'five pictures' });
  await expectVisible(row, 'the message in bob’s page');
  await waitFor('five thumbnails, in the order chosen', async () => {
    const alts = await row.locator('.file-thumb img').evaluateAll((images) => images.map((image) => image.alt));
    return JSON.stringify(alts) === JSON.stringify(names);
  });
});

browserTest('files dragged over the conversation are offered a drop zone, and dropped, they attach', env, async (session) => {
  const alice = await fixture.server.register('drop_alice');
  const alicePage = await session.newPage({ account: alice });
  const dropZone = alicePage.locator('#drop-zone');
  await expectHidden(dropZone, 'no drop zone before a drag');
  // A drag from the desktop, as the page sees it: dragenter, dragover, drop with files.
  await alicePage.evaluate(() => {
    const data = new DataTransfer();
    data.items.add(new File(['plain words\n'], 'dropped.txt', { type: 'text/plain' }));
    window.__drag = data;
    const target = document.getElementById('messages');
    target.dispatchEvent(new DragEvent('dragenter', { dataTransfer: data, bubbles: true, cancelable: true }));
    target.dispatchEvent(new DragEvent('dragover', { dataTransfer: data, bubbles: true, cancelable: true }));
  });
  await expectVisible(dropZone, 'the drop zone while files are over the conversation');
  const accepted = await alicePage.evaluate(() => {
    const drop = new DragEvent('drop', { dataTransfer: window.__drag, bubbles: true, cancelable: true });
    document.getElementById('messages').dispatchEvent(drop);
    return drop.defaultPrevented;
  });
  assert.equal(accepted, true, 'the page takes the drop (the browser does not open the file)');
  await expectHidden(dropZone, 'the drop zone after the drop');
  await expectTexts(chips(alicePage).locator('.upload-name'), ['dropped.txt'], 'a chip for the dropped file');
  await waitFor('the upload to finish', async () => (await chips(alicePage).getAttribute('data-state')) === 'done');
  await alicePage.locator('#composer-input').press('Enter');
  const row = messageWithFile(alicePage, 'dropped.txt');
  await expectTexts(row.locator('.file-card-meta'), ['12 bytes · Text'], 'its size and type');
});

browserTest('× cancels an upload under way: the chip goes, the request is aborted, and the next message carries no file', env, async (session) => {
  const alice = await fixture.server.register('cancel_alice');
  const bob = await fixture.server.register('cancel_bob');
  const alicePage = await session.newPage({ account: alice });
  const bobPage = await session.newPage({ account: bob });
  const dir = mkdtempSync(join(tmpdir(), 'natter-upload-'));
  try {
    const path = join(dir, 'big.bin');
    // Under the size limit and the quota, so only the cancel ends the upload:
    // a file over the limit is refused as soon as its headers arrive, and
    // that refusal raced the click (64 s to send at the throttled rate).
    writeFileSync(path, Buffer.alloc(16 * 1024 * 1024, 7));
    const aborted = [];
    alicePage.on('requestfailed', (request) => {
      if (new URL(request.url()).pathname === '/api/files') aborted.push(request.failure()?.errorText);
    });
    const unthrottle = await throttleUploads(alicePage, 256 * 1024);

    await alicePage.locator('#file-input').setInputFiles(path);
    const chip = chips(alicePage);
    await expectTexts(chip.locator('.upload-name'), ['big.bin'], 'a chip for the file');
    assert.equal(await chip.getAttribute('data-state'), 'uploading');
    await alicePage.getByRole('button', { name: 'Cancel upload of big.bin' }).click();
    await expectCount(chip, 0, 'the chip gone');
    await expectHidden(alicePage.locator('#upload-list'), 'the empty chip list');
    await waitFor('the upload request to be aborted', () => aborted.length === 1);
    assert.match(aborted[0], /ABORTED/, `aborted, not failed otherwise (${aborted[0]})`);
    assert.equal(await alicePage.locator('#send-button').getAttribute('title'), 'Send (Enter)', 'Send no longer waits');
    await unthrottle();

    await sendMessage(alicePage, 'no file after all');
    for (const page of [alicePage, bobPage]) {
      const row = page.locator('#messages .msg').filter({ hasText: 'no file after all' });
      await expectVisible(row, `${page.label}: the message`);
      assert.equal(await row.locator('.attachments').count(), 0, `${page.label}: with no file`);
    }
    assert.equal(await bobPage.locator('#messages .attachments').getByText('big.bin').count(), 0, 'big.bin never shown to bob');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

browserTest('a file over the size limit or the quota is refused on its chip in words, and the message goes with the others', env, async (session) => {
  const alice = await fixture.server.register('limit_alice');
  const alicePage = await session.newPage({ account: alice });
  const dir = mkdtempSync(join(tmpdir(), 'natter-upload-'));
  try {
    const file = (name, size) => {
      const path = join(dir, name);
      writeFileSync(path, Buffer.alloc(size, 1));
      return path;
    };
    const chip = (name) => chips(alicePage).filter({ has: alicePage.locator('.upload-name').getByText(name, { exact: true }) });
    const settled = (name) => waitFor(`${name} to finish or fail`, async () => ['done', 'failed'].includes(await chip(name).getAttribute('data-state')), { timeout: 30000 });

    // Over the size limit: refused before its bytes are taken.
    await alicePage.locator('#file-input').setInputFiles(file('huge.bin', MAX_FILE_BYTES + 1));
    await settled('huge.bin');
    assert.equal(await chip('huge.bin').getAttribute('data-state'), 'failed');
    await expectTexts(chip('huge.bin').locator('.upload-status'), ['Too large: the server takes files up to a set size.'], 'the size refusal in words');

    // Two files fit the quota; the third goes over it.
    await alicePage.locator('#file-input').setInputFiles([file('first.bin', 12 * 1024 * 1024), file('second.bin', 12 * 1024 * 1024)]);
    await settled('first.bin');
    await settled('second.bin');
    await alicePage.locator('#file-input').setInputFiles(file('third.bin', 12 * 1024 * 1024));
    await settled('third.bin');
    assert.deepEqual(await chips(alicePage).evaluateAll((items) => items.map((item) => item.dataset.state)), ['failed', 'done', 'done', 'failed']);
    await expectTexts(chip('third.bin').locator('.upload-status'), ['Your upload space is full.'], 'the quota refusal in words');
    await saveScreenshot(alicePage, 'files-refused');

    // Sent: the finished ones go; the refused ones stay, with their reasons, until ×.
    await alicePage.locator('#composer-input').fill('within the limits');
    await alicePage.locator('#composer-input').press('Enter');
    const row = alicePage.locator('#messages .msg').filter({ hasText: 'within the limits' });
    await expectTexts(row.locator('.file-card-name'), ['first.bin', 'second.bin'], 'the two that fit');
    await waitFor('the message to be confirmed', async () => (await alicePage.locator('#messages .msg.sending, #messages .msg.failed').count()) === 0);
    await expectTexts(chips(alicePage).locator('.upload-name'), ['huge.bin', 'third.bin'], 'the refused ones stay');
    await alicePage.getByRole('button', { name: 'Remove huge.bin' }).click();
    await alicePage.getByRole('button', { name: 'Remove third.bin' }).click();
    await expectCount(chips(alicePage), 0, 'no chips left');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

browserTest('an HTML or SVG file with a script comes back as a sandboxed attachment and runs nothing', env, async (session) => {
  const alice = await fixture.server.register('script_alice');
  const alicePage = await session.newPage({ account: alice });
  const payload = (marker) =>
    `document.title = 'ran ${marker}'; try { localStorage.setItem('pwned', '${marker}'); } catch (e) {} try { parent.__pwned = 1; } catch (e) {} fetch('/pwned-${marker}').catch(() => {});`;
  const files = [
    // The name is markup too (without a "/", which the server takes for a path and cuts off).
    { name: 'page <img src=x onerror="window.__pwned=1">.html', mimeType: 'text/html', buffer: Buffer.from(`<!doctype html><html><head><title>page</title><script>${payload('html')}</script></head><body onload="${payload('html')}">hi</body></html>`) },
    { name: 'drawing.svg', mimeType: 'image/svg+xml', buffer: Buffer.from(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" onload="${payload('svg')}"><script>${payload('svg')}</script><rect width="10" height="10"/></svg>`) },
  ];
  for (const file of files) {
    await alicePage.locator('#file-input').setInputFiles(file);
    await waitFor(`${file.name} to upload`, async () => (await chips(alicePage).getAttribute('data-state')) === 'done');
    await alicePage.locator('#composer-input').press('Enter');
    await expectCount(chips(alicePage), 0, 'the chip gone once sent');
    const card = alicePage.locator('#messages a.file-card').filter({ has: alicePage.locator('.file-card-name').getByText(file.name, { exact: true }) });
    await expectVisible(card, `the card of ${file.name}`);
    assert.equal(await card.locator('img').count(), 0, 'the name is text, not markup');
    const href = await card.getAttribute('href');

    // The headers: an attachment, never sniffed, sandboxed.
    const response = await alicePage.request.get(`${fixture.server.url}${href}`);
    assert.equal(response.status(), 200);
    const headers = response.headers();
    assert.match(headers['content-disposition'] || '', /^attachment/i, `${file.name} is served as an attachment`);
    assert.equal(headers['x-content-type-options'], 'nosniff');
    assert.match(headers['content-security-policy'] || '', /sandbox/);
    assert.match(headers['content-security-policy'] || '', /default-src 'none'/);
    assert.ok((await response.body()).equals(file.buffer), 'the bytes as sent');

    // Opened in a tab of its own, it downloads; its script never runs.
    const viewer = await alicePage.context().newPage();
    const requested = [];
    viewer.on('request', (request) => requested.push(new URL(request.url()).pathname));
    const download = viewer.waitForEvent('download');
    await viewer.goto(`${fixture.server.url}${href}`).catch(() => {}); // "Download is starting"
    const saved = await download;
    assert.ok((await saved.path()) !== null, 'the browser saved it as a download');
    assert.ok(!(await viewer.title()).startsWith('ran'), `${file.name}'s script did not run (title ${await viewer.title()})`);
    assert.ok(!requested.some((path) => path.startsWith('/pwned')), `${file.name}'s script fetched nothing`);
    await viewer.close();
    assert.equal(await alicePage.evaluate(() => localStorage.getItem('pwned')), null, 'nothing wrote to the app’s storage');
    assert.equal(await alicePage.evaluate(() => window.__pwned), undefined);
    assert.ok(!(await alicePage.title()).startsWith('ran'));
  }
});

browserTest('a message with a file cut off by a server crash is sent again after the reconnect, with the same file', env, async (session) => {
  const alice = await fixture.server.register('resend_alice');
  const bob = await fixture.server.register('resend_bob');
  const alicePage = await session.newPage({ account: alice });

  await alicePage.locator('#file-input').setInputFiles({ name: 'notes.png', mimeType: 'image/png', buffer: pngBytes(120, 80) });
  await waitFor('the upload to finish', async () => (await chips(alicePage).getAttribute('data-state')) === 'done');

  await fixture.server.kill();
  await waitFor('alice’s page to notice', async () => (await alicePage.locator('body').getAttribute('data-connection')) !== 'open');
  await alicePage.locator('#composer-input').fill('sent while the server was down');
  await alicePage.locator('#composer-input').press('Enter');
  const pending = alicePage.locator('#messages .msg.sending').filter({ hasText: 'sent while the server was down' });
  await expectVisible(pending, 'the message waiting, with its file');
  await expectVisible(pending.locator('.file-thumb'), 'the file on the waiting message');
  const fileId = await pending.locator('.file-thumb').getAttribute('data-file-id');

  await fixture.server.restart();
  await alicePage.locator('body[data-connection="open"]').waitFor({ timeout: 20000 });
  await waitFor('the message to be confirmed', async () => (await alicePage.locator('#messages .msg.sending, #messages .msg.failed').count()) === 0);

  const bobWs = await WsClient.connect(fixture.server, bob);
  try {
    const general = bobWs.channelNamed('General').id;
    const history = await bobWs.request({ type: 'history', channel: general, limit: 20 });
    const sent = history.messages.filter((message) => message.body === 'sent while the server was down');
    assert.equal(sent.length, 1, 'stored once');
    assert.deepEqual(sent[0].files?.map((file) => file.id), [fileId], 'with the same file');
    assert.equal(sent[0].files[0].name, 'notes.png');
  } finally {
    bobWs.close();
  }
  await expectTexts(messageBodies(alicePage).filter({ hasText: 'sent while the server was down' }), ['sent while the server was down'], 'shown once');
});
