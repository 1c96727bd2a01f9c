import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { utf8Length } from './utf8.js';

describe('utf8Length', () => {
  it('equals Buffer.byteLength for any string, lone surrogates included', () => {
    const unit = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 6 }),
      fc.constantFrom('\uD800', '\uDFFF', '\uDBFF\uDC00', 'é', '😀', '\u07FF', '\u0800', '\uFFFF'),
    );
    fc.assert(
      fc.property(fc.array(unit, { maxLength: 10 }), (parts) => {
        const s = parts.join('');
        expect(utf8Length(s)).toBe(Buffer.byteLength(s, 'utf8'));
      }),
      { numRuns: 2000 },
    );
  });
});
