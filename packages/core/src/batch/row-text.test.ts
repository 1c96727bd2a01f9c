import { Buffer as NodeBuffer } from 'node:buffer';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RowText } from './row-text.js';
import { utf8Length } from './utf8.js';

type RowTextClass = typeof RowText;

const row = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }), // any UTF-16 code units: lone surrogates too
  fc.constantFrom("(1, 'a')", "('é😀')", '(\ud800)', '(\udc00x)', '\ufeff(1)', '', ','),
);

/** Push `rows` (after an earlier store's buffer is handed over, maybe) and check the finished text. */
function checkStore(Store: RowTextClass, rows: string[], reuse: boolean, maxBuffered?: number): void {
  // (more rows than are kept pending, so it has a buffer to hand over)
  const before = new Store('(old, stale, text)', 18);
  for (let i = 0; i < 300; i++) before.push("('more stale')", 14);
  const old = before.finish();
  expect(old.text).toBe(`(old, stale, text)${",('more stale')".repeat(300)}`);
  // (its bytes are handed out with the text, so it keeps no buffer to reuse)
  expect(new TextDecoder().decode(old.bytes!)).toBe(old.text);
  expect(old.spare).toBeUndefined();
  // a reused buffer full of stale bytes
  const spare = reuse
    ? ((globalThis.Buffer
        ? globalThis.Buffer.alloc(20000, 44)
        : new Uint8Array(20000).fill(44)) as ConstructorParameters<typeof RowText>[2])
    : undefined;
  const first = rows[0] as string;
  const store = new Store(first, utf8Length(first), spare, maxBuffered);
  for (const r of rows.slice(1)) store.push(r, utf8Length(r));
  expect(store.count).toBe(rows.length);
  const { text, bytes } = store.finish();
  expect(text).toBe(rows.join(','));
  if (bytes) {
    heldAsBytes++;
    expect(NodeBuffer.from(bytes).equals(NodeBuffer.from(text, 'utf8'))).toBe(true);
  }
  expect(store.rows(`INSERT x ${text}`, 9)).toEqual(rows);
}

let heldAsBytes = 0;

const storeInput = fc.tuple(
  // up to 700 rows: several writes of pending rows to the buffer
  fc.array(row, { minLength: 1, maxLength: 700, size: 'max' }),
  fc.boolean(),
  // sometimes a small byte limit, so the store switches to strings part-way
  fc.option(fc.integer({ min: 1, max: 3000 }), { nil: undefined }),
  // sometimes only well-formed rows, which the store keeps as bytes to the end
  fc.boolean(),
);

describe('RowText', () => {
  it('holds exactly the rows joined by commas, whatever they contain (fast-check)', () => {
    fc.assert(
      fc.property(storeInput, ([rows, reuse, maxBuffered, wellFormed]) =>
        checkStore(
          RowText,
          wellFormed ? rows.map((r) => (r as unknown as { toWellFormed(): string }).toWellFormed()) : rows,
          reuse,
          maxBuffered,
        ),
      ),
      { numRuns: 500 },
    );
    // (the bytes handed out were checked, not only the text; how often depends on the draw, so the
    // deterministic case below makes sure the byte path is always covered)
    expect(heldAsBytes).toBeGreaterThan(0);
  });

  it('hands out its UTF-8 bytes when every row was well formed and written to its buffer', () => {
    const rows = Array.from({ length: 1000 }, (_, i) => `(${i}, 'é😀 ${i}')`);
    const first = rows[0] as string;
    const store = new RowText(first, utf8Length(first));
    for (const r of rows.slice(1)) store.push(r, utf8Length(r));
    const { text, bytes, spare } = store.finish();
    expect(text).toBe(rows.join(','));
    expect(bytes).toBeDefined();
    expect(NodeBuffer.from(bytes as Uint8Array).equals(NodeBuffer.from(text, 'utf8'))).toBe(true);
    expect(spare).toBeUndefined();
  });

  it('writes and decodes ASCII rows as one-byte text, and switches back at the first other row', () => {
    // 'é' (U+00E9) is one byte in latin1 and two in UTF-8: decoded the one-byte way it would come back
    // as 'Ã©'. It arrives after ASCII rows were written, in the middle of a pending run, and as the
    // first row of a run.
    for (const at of [256, 300, 513, 999]) {
      const rows = Array.from({ length: 1000 }, (_, i) => (i === at ? `(${i}, 'é')` : `(${i}, 'a')`));
      const first = rows[0] as string;
      const store = new RowText(first, utf8Length(first));
      for (const r of rows.slice(1)) store.push(r, utf8Length(r));
      const { text, bytes } = store.finish();
      expect(text).toBe(rows.join(','));
      expect(NodeBuffer.from(bytes as Uint8Array).equals(NodeBuffer.from(text, 'utf8'))).toBe(true);
    }
    const ascii = Array.from({ length: 700 }, (_, i) => `(${i}, 'a')`);
    const store = new RowText(ascii[0] as string, (ascii[0] as string).length);
    for (const r of ascii.slice(1)) store.push(r, r.length);
    expect(store.finish().text).toBe(ascii.join(','));
  });

  it('grows past its first buffer and keeps a lone surrogate as written', () => {
    const store = new RowText('(0)', 3);
    const rows = ['(0)'];
    for (let i = 1; i < 3000; i++) {
      const r = i === 1500 ? "('\ud83d')" : `(${i}, 'é ${i}')`;
      store.push(r, utf8Length(r));
      rows.push(r);
    }
    const { text } = store.finish();
    expect(text).toBe(rows.join(','));
    expect(store.rows(text)).toEqual(rows);
  });

  describe('without Node’s Buffer (TextEncoder / TextDecoder)', () => {
    afterEach(() => {
      vi.unstubAllGlobals();
      vi.resetModules();
    });

    it('holds exactly the rows, a leading U+FEFF included (fast-check)', async () => {
      vi.stubGlobal('Buffer', undefined);
      vi.resetModules();
      const { RowText: Portable } = await import('./row-text.js');
      expect(Portable).not.toBe(RowText);
      fc.assert(
        fc.property(storeInput, ([rows, reuse, maxBuffered]) =>
          checkStore(Portable, rows, reuse, maxBuffered),
        ),
        { numRuns: 200 },
      );
      // 300 rows: written to the buffer and decoded, with the BOM first
      const rows = Array.from({ length: 300 }, (_, i) => (i === 0 ? '\ufeff(1)' : `(${i})`));
      checkStore(Portable, rows, false);
    });
  });
});
