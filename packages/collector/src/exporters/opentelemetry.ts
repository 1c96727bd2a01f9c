import type { Collector, QueryRecord } from '@sqlbatcher/core';

type OtelApi = typeof import('@opentelemetry/api');
type Tracer = import('@opentelemetry/api').Tracer;
type Histogram = import('@opentelemetry/api').Histogram;
type Counter = import('@opentelemetry/api').Counter;
type Attributes = import('@opentelemetry/api').Attributes;

/** Options of {@link createOpenTelemetryCollector}. */
export interface OpenTelemetryCollectorOptions {
  /** Create one span per request. Default true. */
  readonly spans?: boolean;
  /** Record request metrics (duration histogram, request/byte/row counters). Default true. */
  readonly metrics?: boolean;
  /** Instrumentation scope name for the tracer and meter. Default `'@sqlbatcher/collector'`. */
  readonly name?: string;
  /**
   * A tracer provider to use instead of the global one (`trace.getTracerProvider()`). Typed
   * structurally so this package does not require `@opentelemetry/api`'s types.
   */
  readonly tracerProvider?: { getTracer(name: string, version?: string): unknown };
  /** A meter provider to use instead of the global one (`metrics.getMeterProvider()`). */
  readonly meterProvider?: { getMeter(name: string, version?: string): unknown };
  /** `db.system.name` attribute, e.g. `'postgresql'`. Omitted when not set. */
  readonly dbSystem?: string;
  /**
   * Put the request's SQL (first `maxSqlLength` characters) on the span as `db.query.text`. Default
   * false: SQL text may hold personal data or credentials.
   */
  readonly includeSql?: boolean;
  /** Characters of SQL kept with `includeSql`. Default 1,000. */
  readonly maxSqlLength?: number;
  /** Extra attributes on every span and measurement. */
  readonly attributes?: Readonly<Record<string, string | number | boolean>>;
  /** Load the API from somewhere else (tests, bundlers). Default `import('@opentelemetry/api')`. */
  readonly loadApi?: () => Promise<unknown>;
}

/**
 * A collector that reports every request to OpenTelemetry: a `CLIENT` span per request (start and end
 * times are the request's own; status `ERROR` with the message on failure) and metrics
 * (`sqlbatcher.request.duration` histogram in seconds, `sqlbatcher.requests`, `sqlbatcher.request.bytes`,
 * `sqlbatcher.rows` counters). It does nothing visible until you register an OpenTelemetry SDK.
 *
 * `@opentelemetry/api` is an optional peer dependency, loaded here on first use; this function rejects
 * with a clear message when it is not installed. Combine it with a `QueryCollector` through
 * {@link combineCollectors}.
 */
export async function createOpenTelemetryCollector(
  options: OpenTelemetryCollectorOptions = {},
): Promise<Collector> {
  let api: OtelApi;
  try {
    const mod = (await (options.loadApi ?? (() => import('@opentelemetry/api')))()) as OtelApi & {
      default?: OtelApi;
    };
    api = mod.trace ? mod : (mod.default as OtelApi);
  } catch (err) {
    throw new Error(
      'createOpenTelemetryCollector needs the optional peer dependency @opentelemetry/api: npm i @opentelemetry/api',
      { cause: err },
    );
  }
  const name = options.name ?? '@sqlbatcher/collector';
  const maxSql = options.maxSqlLength ?? 1000;
  const base: Attributes = { ...(options.attributes ?? {}) };
  if (options.dbSystem !== undefined) base['db.system.name'] = options.dbSystem;

  const tracer: Tracer | undefined =
    options.spans === false
      ? undefined
      : options.tracerProvider
        ? (options.tracerProvider.getTracer(name) as Tracer)
        : api.trace.getTracer(name);

  let duration: Histogram | undefined;
  let requests: Counter | undefined;
  let bytes: Counter | undefined;
  let rows: Counter | undefined;
  if (options.metrics !== false) {
    const meter = (
      options.meterProvider ? options.meterProvider.getMeter(name) : api.metrics.getMeter(name)
    ) as import('@opentelemetry/api').Meter;
    duration = meter.createHistogram('sqlbatcher.request.duration', {
      unit: 's',
      description: 'Time per request sent by SQL Batcher, retries included.',
    });
    requests = meter.createCounter('sqlbatcher.requests', { description: 'Requests sent by SQL Batcher.' });
    bytes = meter.createCounter('sqlbatcher.request.bytes', {
      unit: 'By',
      description: 'UTF-8 bytes of SQL sent.',
    });
    rows = meter.createCounter('sqlbatcher.rows', { description: 'VALUES rows sent.' });
  }

  return {
    record(record: QueryRecord): void {
      const outcome = record.success ? 'success' : 'failure';
      if (tracer) {
        const attributes: Attributes = {
          ...base,
          'db.operation.batch.size': record.batchSize,
          'sqlbatcher.request.bytes': record.bytes,
          'sqlbatcher.rows_sent': record.rowsSent,
          'sqlbatcher.retries': record.retries,
          'sqlbatcher.dry_run': record.dryRun,
        };
        if (record.rows !== undefined) attributes['db.response.returned_rows'] = record.rows;
        if (options.includeSql) attributes['db.query.text'] = record.sql.slice(0, maxSql);
        if (record.error?.code !== undefined) attributes['db.response.status_code'] = record.error.code;
        const span = tracer.startSpan('sqlbatcher.request', {
          kind: api.SpanKind.CLIENT,
          startTime: record.startTime,
          attributes,
        });
        if (!record.success) {
          span.setStatus({
            code: api.SpanStatusCode.ERROR,
            message: record.error?.message ?? 'request failed',
          });
        }
        span.end(record.startTime + record.executionTimeMs);
      }
      const metricAttributes: Attributes = { ...base, 'sqlbatcher.outcome': outcome };
      duration?.record(record.executionTimeMs / 1000, metricAttributes);
      requests?.add(1, metricAttributes);
      bytes?.add(record.bytes, base);
      rows?.add(record.rowsSent, base);
    },
  };
}
