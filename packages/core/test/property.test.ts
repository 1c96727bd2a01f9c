import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lexStatement, SQLBatcher, splitRowValues, splitStatements } from '../src/index.js';
import { canon, canonCols, type Event, type GenStatement, streamArb } from './generators.js';
import { recordingAdapter } from './helpers.js';

const configArb = fc.record({
  multiStatement: fc.boolean(),
  extraCeiling: fc.nat({ max: 3000 }),
  maxBytes: fc.integer({ min: 1, max: 6000 }),
  autoAdjust: fc.boolean(),
  referenceColumnCount: fc.integer({ min: 1, max: 12 }),
  maxRowsPerInsert: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }),
  batchMode: fc.oneof(
    { weight: 5, arbitrary: fc.constant(true) },
    { weight: 1, arbitrary: fc.constant(false) },
  ),
  mergeInserts: fc.oneof(
    { weight: 5, arbitrary: fc.constant(true) },
    { weight: 1, arbitrary: fc.constant(false) },
  ),
  mergeScope: fc.constantFrom('adjacent' as const, 'table' as const),
});

/** Events of one emitted statement, from re-lexing it. */
function outputEvents(sql: string): Event[] {
  const l = lexStatement(sql, 'postgres');
  expect(l.multiple).toBe(false);
  const ins = l.insert;
  if (ins && ins.arity > 0 && ins.tailKind !== 'unknown') {
    const table = canon(ins.table);
    const cols = canonCols(ins.columns);
    return ins.rows.map((row) => ({ k: 'row', table, cols, tail: ins.tail, row }));
  }
  return [{ k: 'whole', text: l.text }];
}

const evKey = (e: Event) =>
  e.k === 'row' ? `row|${e.table}|${e.cols}|${e.tail}|${e.row}` : `whole|${e.text}`;

/** Split at "whole" events (barriers); inside a segment, group row events per target. */
function segments(events: Event[]): string[] {
  const out: string[] = [];
  let seg = new Map<string, string[]>();
  const close = () => {
    for (const [k, v] of [...seg.entries()].sort(([a], [b]) => (a < b ? -1 : 1)))
      out.push(`${k}=>${v.join('\n')}`);
    seg = new Map();
  };
  for (const e of events) {
    if (e.k === 'whole') {
      close();
      out.push(evKey(e));
    } else {
      // per table (whatever the columns or tail): 'table' scope never reorders rows within one table
      const k = e.table.split('.').pop() as string;
      const list = seg.get(k) ?? [];
      list.push(`${e.cols}|${e.tail}|${e.row}`);
      seg.set(k, list);
    }
  }
  close();
  return out;
}

describe('merger + batcher properties', () => {
  it('rows, order, barriers, sizes, indices and conflict keys', async () => {
    await fc.assert(
      fc.asyncProperty(streamArb, configArb, async (stream: GenStatement[], cfg) => {
        const longest = Math.max(...stream.map((s) => Buffer.byteLength(s.sql)));
        const ceiling = longest + cfg.extraCeiling;
        const { adapter, sent } = recordingAdapter(
          {
            multiStatement: cfg.multiStatement,
            dialect: 'postgres',
            ...(cfg.maxRowsPerInsert ? { maxRowsPerInsert: cfg.maxRowsPerInsert } : {}),
          },
          ceiling,
        );
        const batcher = new SQLBatcher({
          adapter,
          maxBytes: cfg.maxBytes,
          autoAdjustForColumns: cfg.autoAdjust,
          referenceColumnCount: cfg.referenceColumnCount,
          batchMode: cfg.batchMode,
          mergeInserts: cfg.mergeInserts,
          mergeScope: cfg.mergeScope,
        });
        const n = await batcher.processStatements(stream.map((s) => s.sql));
        expect(n).toBe(stream.length);

        const out: Event[] = [];
        const rowsSeen = new Map<number, number>();
        const batchesOf = new Map<number, Set<number>>();
        for (const [b, { sql, batch }] of sent.entries()) {
          // (b) sizes are exact and under the ceiling
          expect(batch).toBeDefined();
          if (!batch) return;
          expect(batch.sql).toBe(sql);
          expect(batch.bytes).toBe(Buffer.byteLength(sql));
          expect(Buffer.byteLength(sql)).toBeLessThanOrEqual(ceiling);
          // the request is exactly its statements joined
          const parts = splitStatements(sql);
          expect(parts).toEqual(batch.statements.map((s) => s.sql));
          if (!cfg.multiStatement || !cfg.batchMode) expect(batch.statements).toHaveLength(1);
          for (const st of batch.statements) {
            const ev = outputEvents(st.sql);
            out.push(...ev);
            if (st.insert) {
              expect(st.insert.rowIndices).toHaveLength(st.insert.rows.length);
              const at = st.insert.rowsAt;
              if (at !== undefined) {
                // the documented contract: the rows, comma-joined, from rowsAt on, then the tail
                const tail = st.insert.tail === '' ? '' : ` ${st.insert.tail}`;
                expect(st.sql.slice(at)).toBe(st.insert.rows.join(',') + tail);
              }
              if (
                cfg.maxRowsPerInsert &&
                cfg.batchMode &&
                cfg.mergeInserts &&
                st.insert.rows.length > cfg.maxRowsPerInsert
              ) {
                // the row cap holds for every INSERT the merger builds; an input statement with more
                // rows is sent as written (whole: the engine judges it as it would one by one)
                expect(st.indices).toHaveLength(1);
                expect(st.insert.rows).toHaveLength(stream[st.indices[0] as number]?.events.length ?? -1);
              }
              for (const i of st.insert.rowIndices) rowsSeen.set(i, (rowsSeen.get(i) ?? 0) + 1);
            }
            for (const i of st.indices) {
              const set = batchesOf.get(i) ?? new Set();
              set.add(b);
              batchesOf.set(i, set);
            }
            // (d) ON CONFLICT DO UPDATE: no two rows of different input statements with the same key
            // literal in one statement (rows of one input statement stay as the user wrote them)
            if (/DO UPDATE/.test(st.sql) && st.insert) {
              const owner = new Map<string, number>();
              for (const [r, row] of st.insert.rows.entries()) {
                const k = splitRowValues(row, 'postgres')?.[0] as string;
                const idx = st.insert.rowIndices[r] as number;
                expect(owner.get(k) ?? idx, `key ${k} twice in: ${st.sql}`).toBe(idx);
                owner.set(k, idx);
              }
            }
          }
        }

        // (a) the same rows in the same order per table; barriers keep their place
        const expected = stream.flatMap((s) => s.events);
        if (cfg.mergeScope === 'adjacent') expect(out.map(evKey)).toEqual(expected.map(evKey));
        else expect(segments(out)).toEqual(segments(expected));

        // (c) every input statement in exactly one batch (rows of a statement too big to stay whole excepted)
        for (const [i, s] of stream.entries()) {
          const inBatches = batchesOf.get(i);
          expect(inBatches, `statement #${i} was not sent`).toBeDefined();
          if (s.mergeable && s.events.length > 1) {
            expect(rowsSeen.get(i)).toBe(s.events.length);
            // (whatever its row count: more rows than the row cap are sent as written)
            const fitsAlone = Buffer.byteLength(s.sql) <= ceiling;
            if (fitsAlone) expect(inBatches?.size, `statement #${i} split across batches`).toBe(1);
          } else {
            expect(inBatches?.size).toBe(1);
          }
        }
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 400) },
    );
  }, 120_000);
});

describe('onError properties (atomic fake engine)', () => {
  /** An engine that runs a request atomically and refuses any request holding a row marked BAD. */
  /**
   * A fake engine that refuses any statement holding a row marked BAD. Atomic: a failing request has no
   * effect. Not atomic: statements run one by one and a failure reports how far it got ('partial').
   */
  function engine(
    multiStatement: boolean,
    ceiling: number,
    maxRowsPerInsert: number | undefined,
    atomic: boolean,
  ) {
    const committed: string[] = [];
    class Refused extends Error {
      constructor(readonly position: number) {
        super('refused');
      }
    }
    const { adapter } = recordingAdapter(
      {
        multiStatement,
        atomicMultiStatement: atomic,
        dialect: 'postgres',
        ...(maxRowsPerInsert ? { maxRowsPerInsert } : {}),
      },
      ceiling,
      async (sql) => {
        // yield a random number of turns so concurrent requests interleave
        for (let k = Math.floor(Math.random() * 3); k > 0; k--) await new Promise((r) => setImmediate(r));
        const done: string[] = [];
        for (const [position, st] of splitStatements(sql).entries()) {
          const rows = outputEvents(st).map((e) => (e.k === 'row' ? e.row : e.text));
          if (rows.some((r) => r.includes('BAD'))) {
            if (!atomic) committed.push(...done);
            throw new Refused(position);
          }
          done.push(...rows);
        }
        committed.push(...done);
        return { rowCount: done.length };
      },
    );
    const classified = Object.assign(adapter, {
      classifyError: (err: unknown) =>
        atomic
          ? { transient: false, effect: 'rolled-back' as const }
          : { transient: false, effect: 'partial' as const, statementPosition: (err as Refused).position },
    });
    return { adapter: classified, committed };
  }

  it("'isolate' commits every good statement exactly once, in order, and rejects exactly the bad ones", async () => {
    await fc.assert(
      fc.asyncProperty(
        streamArb,
        fc.array(fc.boolean(), { maxLength: 40 }),
        configArb,
        fc.constantFrom('skip' as const, 'isolate' as const),
        fc.boolean(),
        fc.constantFrom(1, 1, 2, 3),
        async (stream, badFlags, cfg, onError, atomic, concurrency) => {
          // mark some statements bad: one row of a mergeable INSERT, or the whole text of another
          const input = stream.map((s, i) => {
            if (!badFlags[i]) return s;
            const mark = (t: string) => t.replace(/(VALUES \(|SELECT |UPDATE |DELETE FROM )/, '$1/* BAD */ ');
            const events = s.events.map((e, k): Event => {
              if (e.k === 'whole') return { k: 'whole', text: mark(e.text) };
              return k === 0 ? { ...e, row: `(/* BAD */ ${e.row.slice(1)}` } : e;
            });
            return { ...s, sql: mark(s.sql), events };
          });
          const bad = new Set(input.flatMap((s, i) => (s.sql.includes('BAD') ? [i] : [])));
          const longest = Math.max(...input.map((s) => Buffer.byteLength(s.sql)));
          const eng = engine(cfg.multiStatement, longest + cfg.extraCeiling, cfg.maxRowsPerInsert, atomic);
          const batcher = new SQLBatcher({
            adapter: eng.adapter,
            maxBytes: cfg.maxBytes,
            mergeInserts: cfg.mergeInserts,
            concurrency,
            onError,
            mergeScope: cfg.mergeScope,
            batchMode: cfg.batchMode,
          });
          await batcher.processStatements(input.map((s) => s.sql));
          // what was rejected, row by row (a statement split across requests may be rejected in part)
          const rejectedRows = new Map<number, string[]>();
          for (const r of batcher.report.rejected) {
            const rows = outputEvents(r.sql).map((e) => (e.k === 'row' ? e.row : e.text));
            rejectedRows.set(r.index, [...(rejectedRows.get(r.index) ?? []), ...rows]);
          }
          const rejectedIdx = [...rejectedRows.keys()].sort((x, y) => x - y);
          // A non-atomic engine that stopped inside an input statement split over several statements of
          // a request leaves that request in doubt (reported, never retried).
          const doubt = new Set(batcher.report.inDoubt.flatMap((d) => d.indices));
          if (atomic) expect(doubt.size).toBe(0);
          for (const i of bad) expect(rejectedIdx.includes(i) || doubt.has(i), `bad #${i}`).toBe(true);
          if (onError === 'isolate') {
            for (const i of rejectedIdx) expect(bad.has(i), `good #${i} rejected`).toBe(true);
            for (const r of batcher.report.rejected) expect(r.sql).toContain('BAD');
          }
          expect(eng.committed.some((r) => r.includes('BAD'))).toBe(false);
          // every input row is committed exactly once or rejected exactly once, in input order
          const expected = input.flatMap((s, i) => {
            const gone = [...(rejectedRows.get(i) ?? [])];
            const kept: string[] = [];
            for (const e of s.events) {
              const t = e.k === 'row' ? e.row : e.text;
              const at = gone.indexOf(t);
              if (at >= 0) gone.splice(at, 1);
              else kept.push(t);
            }
            expect(gone, `rejected rows of #${i} that it does not have`).toEqual([]);
            return kept;
          });
          if (doubt.size === 0) {
            // (batches of plain INSERTs may complete in any order when several are in flight)
            if (cfg.mergeScope === 'adjacent' && concurrency === 1) expect(eng.committed).toEqual(expected);
            if (concurrency > 1) {
              // barriers (non-INSERT statements) still wait: everything before them committed first,
              // nothing after them committed earlier
              const owner = new Map<string, number>();
              const ambiguous = new Set<string>();
              const barrier = new Set<string>();
              for (const [i, st] of input.entries()) {
                for (const e of st.events) {
                  const t = e.k === 'row' ? e.row : e.text;
                  if (owner.has(t)) ambiguous.add(t);
                  owner.set(t, i);
                  if (e.k === 'whole') barrier.add(t);
                }
              }
              const at = (t: string) => (ambiguous.has(t) ? undefined : owner.get(t));
              for (const [p, t] of eng.committed.entries()) {
                const b = at(t);
                if (b === undefined || !barrier.has(t)) continue;
                for (const [q, u] of eng.committed.entries()) {
                  const o = at(u);
                  if (o === undefined || q === p) continue;
                  expect(
                    q < p ? o < b : o > b,
                    `#${o} committed ${q < p ? 'before' : 'after'} barrier #${b}`,
                  ).toBe(true);
                }
              }
            } else expect([...eng.committed].sort()).toEqual([...expected].sort());
          } else {
            // outside the in-doubt requests, every good row was committed
            const pool = [...eng.committed];
            for (const [i, st] of input.entries()) {
              if (doubt.has(i) || rejectedRows.has(i)) continue;
              for (const e of st.events) {
                const at = pool.indexOf(e.k === 'row' ? e.row : e.text);
                expect(at, `row of #${i} not committed`).toBeGreaterThanOrEqual(0);
                pool.splice(at, 1);
              }
            }
          }
        },
      ),
      { numRuns: Number(process.env.FC_RUNS ?? 300) },
    );
  }, 120_000);
});
