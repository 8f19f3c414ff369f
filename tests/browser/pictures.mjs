// Small files for the upload tests, made in Node: a real PNG of any size and
// colour (so the server's image reader accepts it), and bytes of a given
// length with their SHA-256, to compare what comes back with what went up.

import { createHash, randomBytes } from 'node:crypto';
import { deflateSync } from 'node:zlib';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/**
 * A `width` x `height` RGB PNG filled with `rgb` ([r, g, b]), with a darker
 * diagonal so it is not flat; with `noise`, random pixels instead, which do
 * not compress (a file of a predictable size, about 3 bytes a pixel).
 */
export function pngBytes(width, height, rgb = [200, 40, 90], { noise = false } = {}) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bits per channel
  header[9] = 2; // RGB
  const rows = noise ? randomBytes((width * 3 + 1) * height) : Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y += 1) {
    if (noise) {
      rows[y * (width * 3 + 1)] = 0; // no filter
      continue;
    }
    const start = y * (width * 3 + 1);
    rows[start] = 0; // no filter
    for (let x = 0; x < width; x += 1) {
      const shade = Math.abs(x - y) < 3 ? 0.4 : 1;
      rows[start + 1 + x * 3] = Math.round(rgb[0] * shade);
      rows[start + 2 + x * 3] = Math.round(rgb[1] * shade);
      rows[start + 3 + x * 3] = Math.round(rgb[2] * shade);
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** `size` bytes that start like a PDF (so a type sniffer has something to find) and go on at random. */
export function pdfLikeBytes(size) {
  const head = Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n', 'latin1');
  return Buffer.concat([head, randomBytes(Math.max(0, size - head.length))]).subarray(0, size);
}

export function sha256(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}
