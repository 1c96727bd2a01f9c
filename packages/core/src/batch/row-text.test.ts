import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RowText } from './row-text.js';
import { utf8Length } from './utf8.js';

const row = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }), // any UTF-16 code units: lone surrogates too
  fc.constantFrom("(1, 'a')", "('é😀')", '(\ud800)', '(\udc00x)', '', ','),
);

describe('RowText', () => {
  it('holds exactly the rows joined by commas, whatever they contain (fast-check)', () => {
    fc.assert(
      fc.property(
        // up to 600 rows: several writes of pending rows to the buffer
        fc.array(row, { minLength: 1, maxLength: 600 }),
        fc.boolean(),
        (ops, reuse) => {
          // A reused buffer (from an earlier group) must not leak into the new text.
          // (more rows than are kept pending, so it has a buffer to hand over)
          const before = new RowText('(old, stale, text)', 18);
          for (let i = 0; i < 300; i++) before.push("('more stale')", 14);
          const oldText = before.text();
          const spare = reuse ? before.release() : undefined;
          const first = ops[0]!;
          const store = new RowText(first, utf8Length(first), spare);
          const rows = [first];
          for (const r of ops.slice(1)) {
            store.push(r, utf8Length(r));
            rows.push(r);
          }
          expect(store.count).toBe(rows.length);
          const text = store.text();
          expect(text).toBe(rows.join(','));
          expect(store.rows(`INSERT x ${text}`, 9)).toEqual(rows);
          expect(oldText).toBe(`(old, stale, text)${",('more stale')".repeat(300)}`);
          if (reuse) expect(spare).toBeDefined();
        },
      ),
      { numRuns: 500 },
    );
  });

  it('grows past its first buffer and keeps a lone surrogate as written', () => {
    const store = new RowText('(0)', 3);
    const rows = ['(0)'];
    for (let i = 1; i < 3000; i++) {
      const r = i === 1500 ? "('\ud83d')" : `(${i}, 'é ${i}')`;
      store.push(r, utf8Length(r));
      rows.push(r);
    }
    expect(store.text()).toBe(rows.join(','));
    expect(store.rows(store.text())).toEqual(rows);
  });
});
