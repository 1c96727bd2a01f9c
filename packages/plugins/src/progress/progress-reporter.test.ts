import type { BatchInfo, BatchOutcome } from '@sqlbatcher/core';
import { describe, expect, it } from 'vitest';
import { ProgressReporter, type ProgressStream } from './progress-reporter.js';

class FakeStream implements ProgressStream {
  readonly chunks: string[] = [];
  constructor(
    readonly isTTY: boolean,
    readonly columns = 100,
  ) {}
  write(chunk: string): boolean {
    this.chunks.push(chunk);
    return true;
  }
  get text(): string {
    return this.chunks.join('');
  }
}

function batch(id: number, inputCount: number): BatchInfo {
  return { id, sql: 'INSERT …', bytes: 10, statements: [], inputCount, rowCount: inputCount };
}
const ok: BatchOutcome = { success: true, executionTimeMs: 5, retries: 0, dryRun: false };
const failed: BatchOutcome = {
  success: false,
  executionTimeMs: 5,
  retries: 0,
  dryRun: false,
  error: new Error('x'),
};

describe('ProgressReporter', () => {
  it('writes periodic plain lines to a non-TTY stream, with rate and ETA', () => {
    let t = 0;
    const stream = new FakeStream(false);
    const p = new ProgressReporter({ total: 1000, stream, intervalMs: 1000, now: () => t });
    p.init();
    t = 500;
    p.afterBatch(batch(0, 100), ok); // first line right away
    t = 900;
    p.afterBatch(batch(1, 100), ok); // within the interval: silent
    t = 2000;
    p.afterBatch(batch(2, 300), ok);
    t = 2500;
    p.onRejected([{ index: 7, sql: 'x', error: new Error('dup') }]);
    t = 4000;
    p.cleanup();
    const lines = stream.text.split('\n');
    expect(lines).toEqual([
      'sqlbatcher progress 10.0%: 100/1,000 statements, 100 rows, 200 statements/s, ETA 5s',
      'sqlbatcher progress 50.0%: 500/1,000 statements, 500 rows, 250 statements/s, ETA 2s',
      'sqlbatcher done 50.1%: 500/1,000 statements, 500 rows, 125 statements/s, 1 rejected in 4s',
      '',
    ]);
    expect(stream.text).not.toContain('\r');
    expect(stream.text).not.toContain('\x1b');
  });

  it('redraws one bar line on a TTY and ends it with a newline', () => {
    let t = 0;
    const stream = new FakeStream(true, 120);
    const p = new ProgressReporter({ total: 4, stream, redrawMs: 0, now: () => t, label: 'load' });
    p.init();
    t = 1000;
    p.afterBatch(batch(0, 2), ok);
    t = 2000;
    p.afterBatch(batch(1, 1), failed);
    p.afterBatch(batch(2, 2), ok);
    p.cleanup();
    p.cleanup(); // idempotent
    expect(stream.chunks).toHaveLength(4);
    expect(stream.chunks[0]).toMatch(
      /^\rload \[#{15}-{15}\] 50\.0% 2\/4 statements, 2 rows, 2 statements\/s ETA 1s\x1b\[K$/,
    );
    expect(stream.chunks[1]).toContain('1 failed batches');
    expect(stream.chunks[3]).toMatch(/^\rload \[#{30}\] 100\.0% 4\/4 statements.* 2s\x1b\[K\n$/);
    expect(stream.text.split('\n')).toHaveLength(2);
  });

  it('never writes a bar line wider than the terminal', () => {
    let t = 0;
    const stream = new FakeStream(true, 60);
    const p = new ProgressReporter({ total: 1_000_000, stream, redrawMs: 0, now: () => t });
    p.init();
    t = 1000;
    p.afterBatch(batch(0, 123_456), ok);
    const line = stream.chunks[0]?.replace(/^\r/, '').replace('\x1b[K', '') ?? '';
    expect(line.length).toBeLessThan(60);
    expect(line).toMatch(/^sqlbatcher \[#-{9}\] 12\.3% /);
  });

  it('works without a total and reports progress', () => {
    let t = 0;
    const stream = new FakeStream(false);
    const p = new ProgressReporter({ stream, now: () => t });
    p.beforeBatch();
    t = 2000;
    p.afterBatch(batch(0, 10), ok);
    expect(p.getProgress()).toMatchObject({
      statements: 10,
      rows: 10,
      batches: 1,
      etaMs: undefined,
      statementsPerSecond: 5,
    });
    expect(stream.text).toBe('sqlbatcher progress: 10 statements, 10 rows, 5 statements/s\n');
  });

  it('writes nothing when no batch ran', () => {
    const stream = new FakeStream(false);
    new ProgressReporter({ stream }).cleanup();
    expect(stream.text).toBe('');
  });
});
