// A message's files as the list shows them (notes/files-spec.md, ATTACHMENT):
// an image with a thumbnail as that thumbnail, sized from the dimensions the
// server read so nothing moves when it loads, opening the full image in a
// dialog (or, with a modifier key or the middle button, in a new tab); any
// other file as a card that downloads it, with its name, size and type. File
// names are whatever the sender called them: text only, like every other
// string here, and the `download` attribute (a property, never markup).
// The server serves every file with `Content-Security-Policy: sandbox` and,
// for anything but png/jpeg/gif/webp, as an attachment, so no upload runs as
// this page's script.

import { h, replaceChildren } from './dom.js';
import { humanSize } from './format.js';

/** The box a thumbnail is fitted into, in CSS pixels (the server's thumbnails are at most 400 px a side). */
export const THUMB_BOX = Object.freeze({ width: 360, height: 240 });

/** Where a file's bytes are. */
export function fileUrl(file) {
  return `/api/files/${encodeURIComponent(file.id)}`;
}

/** Where its thumbnail is (only when `thumb` is true). */
export function thumbUrl(file) {
  return `${fileUrl(file)}/thumb`;
}

/**
 * The size a picture of `width` x `height` is shown at inside `box`: scaled
 * down to fit, keeping its shape, never up; at least 1 px a side. Null when
 * the dimensions are unknown.
 */
export function fitThumb(width, height, box = THUMB_BOX) {
  if (!(width > 0) || !(height > 0)) return null;
  const scale = Math.min(1, box.width / width, box.height / height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/** Short words for a file's (sniffed) type: "PDF", "PNG image", "ZIP archive"; else the type itself. */
export function typeLabel(type) {
  if (!type) return 'File';
  const base = type.split(';')[0].trim().toLowerCase();
  const named = {
    'application/pdf': 'PDF',
    'application/zip': 'ZIP archive',
    'application/gzip': 'Gzip archive',
    'application/x-tar': 'Tar archive',
    'application/json': 'JSON',
    'application/octet-stream': 'File',
    'text/plain': 'Text',
    'text/html': 'HTML',
    'text/csv': 'CSV',
    'image/svg+xml': 'SVG image',
  };
  if (named[base]) return named[base];
  const [kind, sub] = base.split('/');
  if (sub && ['image', 'audio', 'video'].includes(kind)) return `${sub.replace(/^x-/, '').toUpperCase()} ${kind}`;
  return base;
}

/** The files of a message, for under its text. */
export function attachmentList(files) {
  return h(
    'div',
    { class: 'attachments', role: 'group', 'aria-label': files.length === 1 ? 'Attached file' : `${files.length} attached files` },
    files.map((file) => (file.thumb ? imageItem(file) : fileCard(file))),
  );
}

function imageItem(file) {
  const size = fitThumb(file.width, file.height);
  const image = h('img', {
    src: thumbUrl(file),
    alt: file.name,
    loading: 'lazy',
    decoding: 'async',
    // Width and height reserve the box before the image loads: the list does not move.
    width: size?.width,
    height: size?.height,
  });
  if (!size) image.classList.add('unsized');
  return h(
    'a',
    {
      class: 'file-thumb',
      href: fileUrl(file),
      target: '_blank',
      rel: 'noopener',
      title: `${file.name} (${humanSize(file.size)})`,
      dataset: { fileId: file.id },
    },
    image,
  );
}

function fileCard(file) {
  return h(
    'a',
    {
      class: 'file-card',
      href: fileUrl(file),
      download: file.name,
      title: `Download ${file.name}`,
      dataset: { fileId: file.id },
    },
    h('span', { class: 'file-card-icon', 'aria-hidden': 'true', text: extensionBadge(file.name) }),
    h(
      'span',
      { class: 'file-card-text' },
      h('span', { class: 'file-card-name', text: file.name }),
      h('span', { class: 'file-card-meta', text: `${humanSize(file.size)} · ${typeLabel(file.type)}` }),
    ),
  );
}

/** Up to four letters of a name's extension for the card's badge ("PDF"), or "FILE". */
function extensionBadge(name) {
  const match = /\.([A-Za-z0-9]{1,4})$/.exec(name || '');
  return match ? match[1].toUpperCase() : 'FILE';
}

/** The file `fileId` among a channel's messages (sent or pending), or null. */
export function fileInChannel(channel, fileId) {
  if (!channel) return null;
  for (const message of [...channel.messages, ...channel.pending.values()]) {
    const file = message.files?.find((candidate) => candidate.id === fileId);
    if (file) return file;
  }
  return null;
}

/**
 * The full-size image viewer: a plain click on a thumbnail inside `container`
 * opens the image in the dialog #image-dialog (name, size, Open in new tab,
 * Download, Close); a click with a modifier key, or the middle button, is
 * left to the browser (a new tab). `filesOf(fileId)` gives the ATTACHMENT.
 */
export function imageViewer(container, filesOf) {
  const dialog = document.getElementById('image-dialog');
  const frame = document.getElementById('image-dialog-frame');
  const caption = document.getElementById('image-dialog-caption');
  const openLink = document.getElementById('image-dialog-open');
  const download = document.getElementById('image-dialog-download');
  let opener = null;

  for (const button of dialog.querySelectorAll('[data-close]')) button.addEventListener('click', () => dialog.close());
  // A click on the backdrop or the dark frame around the picture closes it too.
  dialog.addEventListener('click', (event) => {
    if (event.target === dialog || event.target === frame) dialog.close();
  });
  dialog.addEventListener('close', () => {
    replaceChildren(frame);
    if (opener?.isConnected) opener.focus();
    opener = null;
  });

  container.addEventListener('click', (event) => {
    const link = event.target.closest('a.file-thumb');
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    const file = filesOf(link.dataset.fileId);
    if (!file) return;
    event.preventDefault();
    opener = link;
    const fitted = fitThumb(file.width, file.height, { width: window.innerWidth * 0.9, height: window.innerHeight * 0.75 });
    replaceChildren(frame, h('img', { src: fileUrl(file), alt: file.name, width: fitted?.width, height: fitted?.height }));
    caption.textContent = `${file.name} · ${humanSize(file.size)}`;
    openLink.href = fileUrl(file);
    download.href = fileUrl(file);
    download.download = file.name;
    dialog.showModal();
    dialog.querySelector('[data-close]').focus();
  });
}
