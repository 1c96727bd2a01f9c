/**
 * UTF-8 length of a JS string without encoding it. A surrogate pair counts 4 bytes; a lone surrogate
 * counts 3, the size of the U+FFFD it is sent as, so the count is exact for what drivers send.
 */
export function utf8Length(s: string): number {
  const n = s.length;
  let bytes = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        bytes += 2; // 4 bytes for 2 units
        i++;
      } else bytes += 2;
    } else bytes += 2;
  }
  return bytes;
}

/** Node's native UTF-8 byte count, when there is one. */
export const nativeByteLength: ((s: string) => number) | undefined = (
  globalThis as { Buffer?: { byteLength(s: string): number } }
).Buffer?.byteLength;

/** {@link utf8Length}, natively where Node's `Buffer` exists (same count: lone surrogates are 3 bytes). */
export const utf8Bytes: (s: string) => number = nativeByteLength ?? utf8Length;
