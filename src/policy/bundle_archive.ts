import { gunzipSync } from 'node:zlib';

const BLOCK = 512;

/**
 * Reads the regular files of an `opa build` bundle (a gzipped ustar
 * archive) into a map keyed by path without the leading `/`. Only what a
 * bundle holds is supported: regular files, with PAX/GNU headers skipped.
 */
export function readBundleArchive(gzipped: Uint8Array): Map<string, Buffer> {
  const tar = gunzipSync(gzipped);
  const files = new Map<string, Buffer>();
  let offset = 0;
  while (offset + BLOCK <= tar.length) {
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) break; // end-of-archive marker
    const name = cString(header.subarray(0, 100));
    const size = parseInt(cString(header.subarray(124, 136)).trim() || '0', 8);
    const type = String.fromCharCode(header[156] ?? 0);
    const prefix = cString(header.subarray(345, 500));
    if (!Number.isSafeInteger(size) || size < 0) throw new Error(`corrupt bundle: bad size for ${name}`);
    const start = offset + BLOCK;
    if (start + size > tar.length) throw new Error(`corrupt bundle: ${name} is truncated`);
    if (type === '0' || type === '\0') {
      const path = (prefix === '' ? name : `${prefix}/${name}`).replace(/^\/+/, '');
      files.set(path, Buffer.from(tar.subarray(start, start + size)));
    }
    offset = start + Math.ceil(size / BLOCK) * BLOCK;
  }
  return files;
}

function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return Buffer.from(end === -1 ? bytes : bytes.subarray(0, end)).toString('utf8');
}
