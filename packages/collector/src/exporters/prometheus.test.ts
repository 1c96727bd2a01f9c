import type { QueryRecord } from '@sqlbatcher/core';
import { describe, expect, it } from 'vitest';
import { QueryCollector } from '../collector/query-collector.js';
import { toPrometheus } from './prometheus.js';

function rec(executionTimeMs: number, success = true, code?: string): QueryRecord {
  return {
    sql: 'INSERT INTO t VALUES (1)',
    bytes: 24,
    executionTimeMs,
    batchSize: 1,
    rowsSent: 1,
    rows: success ? 1 : undefined,
    success,
    error: success ? undefined : { message: 'x', ...(code ? { code } : {}) },
    retries: success ? 0 : 1,
    dryRun: false,
    startTime: 0,
    metadata: undefined,
  };
}

/**
 * Checks the text exposition format 0.0.4: line grammar, HELP/TYPE before samples of their family,
 * one TYPE per family, counters end in `_total`, histogram buckets cumulative and ending in `+Inf` equal
 * to `_count`.
 */
function validate(text: string): Map<string, Array<{ labels: Record<string, string>; value: number }>> {
  expect(text.endsWith('\n')).toBe(true);
  const types = new Map<string, string>();
  const samples = new Map<string, Array<{ labels: Record<string, string>; value: number }>>();
  const sampleRe = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$/;
  const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|$)/y;
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('# HELP ')) {
      expect(line).toMatch(/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* \S/);
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
      expect(m, line).not.toBeNull();
      const [, name, type] = m as RegExpExecArray;
      expect(types.has(name as string), `duplicate TYPE ${name}`).toBe(false);
      expect(samples.has(name as string), `TYPE after samples ${name}`).toBe(false);
      types.set(name as string, type as string);
      if (type === 'counter') expect(name).toMatch(/_total$/);
      continue;
    }
    const m = sampleRe.exec(line);
    expect(m, line).not.toBeNull();
    const [, name, , body, value] = m as RegExpExecArray;
    const labels: Record<string, string> = {};
    if (body) {
      labelRe.lastIndex = 0;
      let pos = 0;
      while (pos < body.length) {
        labelRe.lastIndex = pos;
        const lm = labelRe.exec(body);
        expect(lm, `labels of ${line}`).not.toBeNull();
        labels[(lm as RegExpExecArray)[1] as string] = (lm as RegExpExecArray)[2] as string;
        pos = labelRe.lastIndex;
      }
    }
    const familyName = [...types.keys()].find(
      (f) =>
        name === f ||
        (types.get(f) === 'histogram' && /^(.*)_(bucket|sum|count)$/.exec(name as string)?.[1] === f),
    );
    expect(familyName, `sample ${name} without TYPE`).toBeDefined();
    const list = samples.get(name as string) ?? [];
    list.push({ labels, value: Number(value === '+Inf' ? Infinity : value) });
    samples.set(name as string, list);
  }
  for (const [name, type] of types) {
    if (type !== 'histogram') continue;
    const buckets = samples.get(`${name}_bucket`) ?? [];
    const les = buckets.map((b) => b.labels.le);
    expect(les.at(-1)).toBe('+Inf');
    const le = (i: number) => Number(les[i]?.replace('+Inf', 'Infinity'));
    for (let i = 1; i < buckets.length; i++) {
      expect(buckets[i]?.value).toBeGreaterThanOrEqual(buckets[i - 1]?.value ?? 0);
      expect(le(i)).toBeGreaterThan(le(i - 1));
    }
    expect(buckets.at(-1)?.value).toBe(samples.get(`${name}_count`)?.[0]?.value);
  }
  return samples;
}

describe('toPrometheus', () => {
  it('writes valid exposition text whose numbers match the stats', () => {
    const c = new QueryCollector();
    c.countInput(4);
    c.record(rec(0.5));
    c.record(rec(7));
    c.record(rec(300));
    c.record(rec(2000, false, '23505'));
    const text = toPrometheus(c, { labels: { job: 'load "nightly"\\x\n' } });
    const samples = validate(text);
    const requests = samples.get('sqlbatcher_requests_total') ?? [];
    expect(requests.find((s) => s.labels.status === 'success')?.value).toBe(3);
    expect(requests.find((s) => s.labels.status === 'failure')?.value).toBe(1);
    expect(requests[0]?.labels.job).toBe('load \\"nightly\\"\\\\x\\n');
    expect(samples.get('sqlbatcher_input_statements_total')?.[0]?.value).toBe(4);
    expect(samples.get('sqlbatcher_retries_total')?.[0]?.value).toBe(1);
    expect(samples.get('sqlbatcher_request_errors_total')?.[0]).toEqual({
      labels: { job: 'load \\"nightly\\"\\\\x\\n', code: '23505' },
      value: 1,
    });
    const buckets = samples.get('sqlbatcher_request_duration_seconds_bucket') ?? [];
    const at = (le: string) => buckets.find((b) => b.labels.le === le)?.value;
    expect(at('0.001')).toBe(1);
    expect(at('0.01')).toBe(2);
    expect(at('0.5')).toBe(3);
    expect(at('1')).toBe(3);
    expect(at('2.5')).toBe(4);
    expect(at('+Inf')).toBe(4);
    expect(samples.get('sqlbatcher_request_duration_seconds_sum')?.[0]?.value).toBeCloseTo(2.3075);
  });

  it('is valid for an empty collector and a custom prefix', () => {
    const samples = validate(toPrometheus(new QueryCollector(), { prefix: 'etl_batcher' }));
    expect(samples.get('etl_batcher_requests_total')?.map((s) => s.value)).toEqual([0, 0]);
    expect(samples.get('etl_batcher_request_duration_seconds_count')?.[0]?.value).toBe(0);
  });

  it('rejects invalid names', () => {
    expect(() => toPrometheus(new QueryCollector(), { prefix: '1bad' })).toThrow(TypeError);
    expect(() => toPrometheus(new QueryCollector(), { labels: { le: 'x' } })).toThrow(TypeError);
    expect(() => toPrometheus(new QueryCollector(), { labels: { 'a-b': 'x' } })).toThrow(TypeError);
  });

  it('refuses constant labels named like its own labels (a sample would repeat a label)', () => {
    const c = new QueryCollector();
    c.record({
      sql: 'x',
      bytes: 1,
      executionTimeMs: 1,
      batchSize: 1,
      rowsSent: 0,
      rows: undefined,
      success: false,
      error: { message: 'e', code: '23505' },
      retries: 0,
      dryRun: false,
      startTime: Date.now(),
      metadata: undefined,
    });
    for (const name of ['status', 'code', 'le']) {
      expect(() => toPrometheus(c, { labels: { [name]: 'nightly' } }), name).toThrow(/used by the exporter/);
    }
    // Other names still pass and the output stays valid.
    validate(toPrometheus(c, { labels: { job: 'nightly', status_group: 'etl' } }));
  });
});
