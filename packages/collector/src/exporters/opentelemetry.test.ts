import {
  type Attributes,
  type Context,
  type Counter,
  type Histogram,
  type Meter,
  type MeterProvider,
  metrics,
  type Span,
  type SpanContext,
  SpanKind,
  type SpanOptions,
  type SpanStatus,
  SpanStatusCode,
  type TimeInput,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import type { QueryRecord } from '@sqlbatcher/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createOpenTelemetryCollector } from './opentelemetry.js';

/** A minimal in-memory tracer/meter provider (the SDK is not installed): it stores what it is given. */
interface Finished {
  name: string;
  kind: SpanKind | undefined;
  attributes: Attributes;
  start: TimeInput | undefined;
  end: TimeInput | undefined;
  status: SpanStatus | undefined;
}
class MemoryTracerProvider implements TracerProvider {
  readonly spans: Finished[] = [];
  getTracer(): Tracer {
    const spans = this.spans;
    const tracer: Tracer = {
      startSpan(name: string, options?: SpanOptions, _ctx?: Context): Span {
        const f: Finished = {
          name,
          kind: options?.kind,
          attributes: { ...(options?.attributes ?? {}) },
          start: options?.startTime,
          end: undefined,
          status: undefined,
        };
        const span: Span = {
          spanContext: () =>
            ({ traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: 1 }) as SpanContext,
          setAttribute: (k, v) => {
            if (v !== undefined) f.attributes[k] = v;
            return span;
          },
          setAttributes: (a) => {
            Object.assign(f.attributes, a);
            return span;
          },
          addEvent: () => span,
          addLink: () => span,
          addLinks: () => span,
          setStatus: (s) => {
            f.status = s;
            return span;
          },
          updateName: () => span,
          end: (t?: TimeInput) => {
            f.end = t;
            spans.push(f);
          },
          isRecording: () => true,
          recordException: () => {},
        };
        return span;
      },
      startActiveSpan: (() => {
        throw new Error('not used');
      }) as Tracer['startActiveSpan'],
    };
    return tracer;
  }
}
class MemoryMeterProvider implements MeterProvider {
  readonly points: Array<{ instrument: string; value: number; attributes: Attributes | undefined }> = [];
  getMeter(): Meter {
    const points = this.points;
    const instrument = (name: string) => ({
      add: (value: number, attributes?: Attributes) => points.push({ instrument: name, value, attributes }),
      record: (value: number, attributes?: Attributes) =>
        points.push({ instrument: name, value, attributes }),
    });
    return {
      createHistogram: (name: string) => instrument(name) as unknown as Histogram,
      createCounter: (name: string) => instrument(name) as unknown as Counter,
    } as unknown as Meter;
  }
}

function rec(over: Partial<QueryRecord> = {}): QueryRecord {
  return {
    sql: 'INSERT INTO users (id) VALUES (1),(2),(3)',
    bytes: 41,
    executionTimeMs: 250,
    batchSize: 3,
    rowsSent: 3,
    rows: 3,
    success: true,
    error: undefined,
    retries: 0,
    dryRun: false,
    startTime: 1_700_000_000_000,
    metadata: undefined,
    ...over,
  };
}

afterEach(() => {
  trace.disable();
  metrics.disable();
});

describe('createOpenTelemetryCollector', () => {
  it('creates a CLIENT span per request through the global API, with times and status', async () => {
    const tp = new MemoryTracerProvider();
    const mp = new MemoryMeterProvider();
    expect(trace.setGlobalTracerProvider(tp)).toBe(true);
    expect(metrics.setGlobalMeterProvider(mp)).toBe(true);
    const c = await createOpenTelemetryCollector({ dbSystem: 'postgresql' });
    c.record(rec());
    c.record(
      rec({
        success: false,
        rows: undefined,
        error: { message: 'duplicate key', code: '23505' },
        retries: 1,
      }),
    );
    expect(tp.spans).toHaveLength(2);
    const [ok, failed] = tp.spans as [Finished, Finished];
    expect(ok.name).toBe('sqlbatcher.request');
    expect(ok.kind).toBe(SpanKind.CLIENT);
    expect(ok.start).toBe(1_700_000_000_000);
    expect(ok.end).toBe(1_700_000_000_250);
    expect(ok.status).toBeUndefined();
    expect(ok.attributes).toMatchObject({
      'db.system.name': 'postgresql',
      'db.operation.batch.size': 3,
      'sqlbatcher.request.bytes': 41,
      'db.response.returned_rows': 3,
    });
    expect(ok.attributes['db.query.text']).toBeUndefined();
    expect(failed.status).toEqual({ code: SpanStatusCode.ERROR, message: 'duplicate key' });
    expect(failed.attributes['db.response.status_code']).toBe('23505');
    const durations = mp.points.filter((p) => p.instrument === 'sqlbatcher.request.duration');
    expect(durations.map((p) => p.value)).toEqual([0.25, 0.25]);
    expect(durations.map((p) => p.attributes?.['sqlbatcher.outcome'])).toEqual(['success', 'failure']);
    const rows = mp.points.filter((p) => p.instrument === 'sqlbatcher.rows').reduce((a, p) => a + p.value, 0);
    expect(rows).toBe(6);
  });

  it('adds SQL only when asked, truncated', async () => {
    const tp = new MemoryTracerProvider();
    const c = await createOpenTelemetryCollector({
      tracerProvider: tp,
      metrics: false,
      includeSql: true,
      maxSqlLength: 11,
    });
    c.record(rec());
    expect(tp.spans[0]?.attributes['db.query.text']).toBe('INSERT INTO');
  });

  it('works with the no-op API when no SDK is registered', async () => {
    const c = await createOpenTelemetryCollector();
    expect(() => c.record(rec())).not.toThrow();
  });

  it('explains a missing @opentelemetry/api', async () => {
    const missing = Object.assign(new Error("Cannot find package '@opentelemetry/api'"), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
    await expect(
      createOpenTelemetryCollector({
        loadApi: () => Promise.reject(missing),
      }),
    ).rejects.toThrow(/npm i @opentelemetry\/api/);
  });
});
