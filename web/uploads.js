// Files attached to the message being written (notes/files-spec.md, `POST
// /api/files`). Each file uploads the moment it is chosen, dropped or pasted,
// with XMLHttpRequest for its progress (fetch cannot report an upload's), as
// the raw bytes (`application/octet-stream`; the session cookie goes along).
// Each shows as a chip over the message box: its name, a progress bar, and ×,
// which aborts an upload still running or drops a finished one from the
// message. A refusal (too large, over the quota, ...) stays on its chip, in
// words, until ×. The server takes a few uploads of one person at a time, so
// at most MAX_PARALLEL run here and the others wait their turn on their chips
// ("Waiting…"). Every channel keeps its own attachments, like its draft: an
// upload belongs to the channel it went to. Sending takes the finished ones
// (composer.js); nothing here touches the socket or the store.

import { h, replaceChildren } from './dom.js';
import { humanSize } from './format.js';
import { FILES_PER_MESSAGE_MAX } from './protocol.js';

/**
 * Uploads running at once from this page. The server takes four per person
 * at a time (more are refused with `rate_limited`); one is left for another
 * tab or device.
 */
const MAX_PARALLEL = 3;
/** An upload refused as one too many at once (another tab's) tries again this much later, times its tries. */
const BUSY_RETRY_MS = 1000;
/** ... and gives up after this many tries. */
const BUSY_RETRIES = 5;

/** The upload refusals of notes/files-spec.md, in words. */
const UPLOAD_ERROR_TEXT = {
  file_too_large: 'Too large: the server takes files up to a set size.',
  quota_exceeded: 'Your upload space is full.',
  no_such_channel: 'You can no longer post in this conversation.',
  archived: 'This channel is archived: read-only.',
  unauthorized: 'Your session has ended. Sign in again.',
  unsupported_media_type: 'The server refused this kind of upload.',
  bad_request: 'The server refused this upload.',
  rate_limited: 'Too many uploads at once. Wait a moment and try again.',
  upload_interrupted: 'The upload stalled or was cut off. Try again.',
  network: 'The upload was cut off (the file may be too large, or the connection dropped).',
  timeout: 'The upload took too long.',
};

/** What an upload refusal means, for its chip. */
export function uploadErrorText(code, message) {
  if (UPLOAD_ERROR_TEXT[code]) return UPLOAD_ERROR_TEXT[code];
  if (message) return message;
  const status = /^http_(\d+)$/.exec(code || '')?.[1];
  return status ? `The upload failed (HTTP ${status}).` : 'The upload failed.';
}

/** A name for a file that has none (a pasted screenshot may come unnamed). */
function fileName(file) {
  const name = (file.name || '').trim();
  if (name) return name;
  const extension = (file.type || '').match(/^image\/(png|jpeg|gif|webp)$/)?.[1];
  return extension ? `pasted image.${extension === 'jpeg' ? 'jpg' : extension}` : 'pasted file';
}

let nextKey = 1;

export class Uploads {
  /**
   * @param {object} app
   * @param {HTMLElement} app.list the <ul> of chips over the message box
   * @param {() => void} app.changed told whenever an upload starts, finishes, fails or goes
   */
  constructor({ list, changed }) {
    this.list = list;
    this.changed = changed;
    /**
     * channel id -> its uploads, in the order chosen: {key, channelId, name,
     * size, loaded, state ('queued', 'uploading', 'done', 'failed'), error,
     * blob (until it starts), tries, file (the ATTACHMENT, once done), xhr, element}.
     */
    this.byChannel = new Map();
    /** The channel whose chips show. */
    this.shownId = null;
    list.addEventListener('click', (event) => {
      const button = event.target.closest('button[data-upload]');
      if (!button) return;
      const item = this.items(this.shownId).find((upload) => upload.key === Number(button.dataset.upload));
      if (item) this.remove(item);
    });
  }

  items(channelId) {
    return this.byChannel.get(channelId) || [];
  }

  /** Uploads of a channel still running or waiting their turn. */
  inFlight(channelId) {
    return this.items(channelId).filter((item) => item.state === 'uploading' || item.state === 'queued').length;
  }

  /** Every upload of every channel, in the order chosen (per channel). */
  all() {
    return [...this.byChannel.values()].flat();
  }

  /** Finished uploads of a channel (ATTACHMENTs), in the order chosen. */
  ready(channelId) {
    return this.items(channelId).filter((item) => item.state === 'done').map((item) => item.file);
  }

  /**
   * Starts uploading `files` to a channel. Returns why some were not
   * attached (a message carries at most FILES_PER_MESSAGE_MAX), or ''.
   */
  add(channelId, files) {
    const list = this.items(channelId);
    const room = FILES_PER_MESSAGE_MAX - list.filter((item) => item.state !== 'failed').length;
    const taken = files.slice(0, Math.max(0, room));
    for (const blob of taken) {
      list.push({ key: nextKey++, channelId, name: fileName(blob), size: blob.size, loaded: 0, state: 'queued', error: '', blob, tries: 0, file: null, xhr: null, element: null });
      this.byChannel.set(channelId, list);
    }
    if (channelId === this.shownId) this.render();
    this.pump();
    if (taken.length) this.changed();
    const left = files.length - taken.length;
    return left > 0 ? `A message can carry at most ${FILES_PER_MESSAGE_MAX} files; ${left === 1 ? 'one was' : `${left} were`} not attached.` : '';
  }

  /** Starts waiting uploads, oldest first, while fewer than MAX_PARALLEL run. */
  pump() {
    const items = this.all();
    let running = items.filter((item) => item.state === 'uploading').length;
    for (const item of items) {
      if (running >= MAX_PARALLEL) break;
      if (item.state !== 'queued' || item.waitUntil > Date.now()) continue;
      running += 1;
      this.start(item);
    }
  }

  start(item) {
    const blob = item.blob;
    const xhr = new XMLHttpRequest();
    item.state = 'uploading';
    item.tries += 1;
    item.xhr = xhr;
    if (item.element) this.redraw(item);
    xhr.open('POST', `/api/files?channel=${encodeURIComponent(item.channelId)}&name=${encodeURIComponent(item.name)}`);
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.upload.addEventListener('progress', (event) => {
      item.loaded = event.loaded;
      if (event.lengthComputable) item.size = event.total;
      this.drawProgress(item);
    });
    xhr.addEventListener('load', () => {
      let data = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        // Not JSON (a proxy's page): judged by the status alone.
      }
      if (xhr.status === 201 && data?.file?.id) this.finish(item, data.file);
      else this.fail(item, data?.error?.code || (xhr.status === 413 ? 'file_too_large' : `http_${xhr.status}`), data?.error?.message);
    });
    xhr.addEventListener('error', () => this.fail(item, 'network'));
    xhr.addEventListener('timeout', () => this.fail(item, 'timeout'));
    xhr.send(blob);
  }

  finish(item, file) {
    if (item.state !== 'uploading') return; // Cancelled meanwhile.
    item.state = 'done';
    item.file = file;
    item.blob = null;
    item.loaded = item.size = file.size;
    item.xhr = null;
    this.redraw(item);
    this.pump();
  }

  fail(item, code, message) {
    if (item.state !== 'uploading') return;
    item.xhr = null;
    item.loaded = 0;
    if (code === 'rate_limited' && item.tries < BUSY_RETRIES) {
      // Too many at once (another tab's uploads): its turn comes again shortly.
      item.state = 'queued';
      item.waitUntil = Date.now() + BUSY_RETRY_MS * item.tries;
      setTimeout(() => this.pump(), BUSY_RETRY_MS * item.tries);
    } else {
      item.state = 'failed';
      item.error = uploadErrorText(code, message);
      item.blob = null;
    }
    this.redraw(item);
    this.pump();
  }

  /** × on a chip: a running upload is aborted, a waiting one never starts; a finished or failed one leaves the message. */
  remove(item) {
    const wasUploading = item.state === 'uploading';
    item.state = 'removed';
    item.blob = null;
    if (wasUploading) item.xhr?.abort();
    item.xhr = null;
    const list = this.items(item.channelId).filter((upload) => upload !== item);
    if (list.length) this.byChannel.set(item.channelId, list);
    else this.byChannel.delete(item.channelId);
    if (item.channelId === this.shownId) {
      // The focus moves to the next chip's ×, or back to the message box.
      const hadFocus = item.element?.contains(document.activeElement);
      const index = [...this.list.children].indexOf(item.element);
      this.render();
      if (hadFocus) {
        const next = (this.list.children[index] || this.list.children[index - 1])?.querySelector('button');
        (next || this.list.closest('form')?.querySelector('textarea'))?.focus();
      }
    }
    this.changed();
    this.pump();
  }

  /** Sending: the finished uploads leave the list (failed ones stay, with their reasons); returns them. */
  take(channelId) {
    const list = this.items(channelId);
    const done = list.filter((item) => item.state === 'done');
    const rest = list.filter((item) => item.state !== 'done');
    if (rest.length) this.byChannel.set(channelId, rest);
    else this.byChannel.delete(channelId);
    if (channelId === this.shownId) this.render();
    if (done.length) this.changed();
    return done.map((item) => item.file);
  }

  /** Signing out: every upload stops and every chip goes. */
  clearAll() {
    for (const item of this.all()) {
      const wasUploading = item.state === 'uploading';
      item.state = 'removed';
      item.blob = null;
      if (wasUploading) item.xhr?.abort();
    }
    this.byChannel.clear();
    this.render();
  }

  /** Shows the chips of `channelId` (the open channel). */
  show(channelId) {
    this.shownId = channelId;
    this.render();
  }

  render() {
    const list = this.items(this.shownId);
    for (const item of list) if (!item.element) item.element = this.chip(item);
    replaceChildren(this.list, list.map((item) => item.element));
    this.list.hidden = list.length === 0;
  }

  /** A chip whose state changed is built anew; progress alone is updated in place. */
  redraw(item) {
    const old = item.element;
    item.element = null;
    if (item.channelId === this.shownId && old?.isConnected) {
      const hadFocus = old.contains(document.activeElement);
      item.element = this.chip(item);
      old.replaceWith(item.element);
      if (hadFocus) item.element.querySelector('button').focus();
    }
    this.changed();
  }

  drawProgress(item) {
    const element = item.element;
    if (!element || item.state !== 'uploading') return;
    const fraction = item.size > 0 ? Math.min(1, item.loaded / item.size) : 0;
    element.querySelector('progress').value = fraction;
    element.querySelector('.upload-status').textContent = `${Math.floor(fraction * 100)}%`;
  }

  chip(item) {
    const uploading = item.state === 'uploading' || item.state === 'queued';
    const fraction = item.size > 0 ? Math.min(1, item.loaded / item.size) : 0;
    const label = uploading ? `Cancel upload of ${item.name}` : `Remove ${item.name}`;
    const status = item.state === 'queued' ? 'Waiting…' : uploading ? `${Math.floor(fraction * 100)}%` : item.state === 'failed' ? item.error : 'Ready';
    return h(
      'li',
      { class: `upload-chip ${item.state}`, dataset: { state: item.state } },
      h(
        'span',
        { class: 'upload-text' },
        h('span', { class: 'upload-name', text: item.name, title: item.name }),
        h('span', { class: 'upload-size', text: humanSize(item.size) }),
      ),
      uploading ? h('progress', { class: 'upload-progress', max: 1, value: fraction, 'aria-label': `Uploading ${item.name}` }) : null,
      h('span', {
        class: item.state === 'failed' ? 'upload-status error' : 'upload-status',
        role: item.state === 'failed' ? 'alert' : null,
        text: status,
      }),
      h('button', { type: 'button', class: 'icon-button upload-remove', dataset: { upload: String(item.key) }, 'aria-label': label, title: label, text: '×' }),
    );
  }
}
