import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addIndex } from './ranges.js';

describe('addIndex', () => {
  it('keeps exactly the indices added, as sorted ranges that do not touch (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 60 }), (indices) => {
        const ranges: [number, number][] = [];
        for (const i of indices) addIndex(ranges, i);
        const expected = [...new Set(indices)].sort((a, b) => a - b);
        const got = ranges.flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, k) => a + k));
        expect(got).toEqual(expected);
        for (let k = 1; k < ranges.length; k++) {
          expect((ranges[k] as [number, number])[0]).toBeGreaterThan(
            (ranges[k - 1] as [number, number])[1] + 1,
          );
        }
      }),
      { numRuns: 2000 },
    );
  });
});
