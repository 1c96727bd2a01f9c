/** One entry of a Google API error's `errors` array. */
export interface BigQueryErrorProto {
  message: string;
  domain: string;
  reason: string;
  location?: string;
  locationType?: string;
}

/** The JSON body of a Google API error response. */
export interface BigQueryErrorBody {
  error: {
    code: number;
    message: string;
    errors: BigQueryErrorProto[];
    status: string;
  };
}

const STATUS_BY_CODE: Readonly<Record<number, string>> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  502: 'UNAVAILABLE',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

/** An error the test server answers with, shaped like the BigQuery API's. */
export class BigQueryServerError extends Error {
  readonly httpStatus: number;
  readonly reason: string;
  readonly location: string | undefined;
  constructor(httpStatus: number, reason: string, message: string, location?: string) {
    super(message);
    this.name = 'BigQueryServerError';
    this.httpStatus = httpStatus;
    this.reason = reason;
    this.location = location;
  }

  /** The `errorResult` / `errors[]` entry of a job resource. */
  toProto(): BigQueryErrorProto {
    const proto: BigQueryErrorProto = { message: this.message, domain: 'global', reason: this.reason };
    if (this.location !== undefined) {
      proto.location = this.location;
      proto.locationType = 'parameter';
    }
    return proto;
  }

  /** The HTTP response body. */
  toBody(): BigQueryErrorBody {
    return {
      error: {
        code: this.httpStatus,
        message: this.message,
        errors: [this.toProto()],
        status: STATUS_BY_CODE[this.httpStatus] ?? 'UNKNOWN',
      },
    };
  }
}

/** The error BigQuery answers for query text over 1,024K characters. */
export function queryTooLargeError(): BigQueryServerError {
  return new BigQueryServerError(
    400,
    'invalid',
    'The query is too large. The maximum standard SQL query length is 1024.00K characters, including comments and white space characters.',
  );
}

/**
 * The error injected by `failNext(n, status)`: what BigQuery answers for that status. A 403 after the
 * job ran (`afterExecution`) is a job's quota error, not the API's request rate limit, which BigQuery
 * applies before a job exists.
 */
export function injectedError(status: number, afterExecution = false): BigQueryServerError {
  if (status === 403 && afterExecution) {
    return new BigQueryServerError(
      403,
      'rateLimitExceeded',
      'Exceeded rate limits: too many table update operations for this table. For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas',
    );
  }
  if (status === 429 || status === 403) {
    return new BigQueryServerError(
      status,
      'rateLimitExceeded',
      'Exceeded rate limits: too many api requests per user per method for this user_method. For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas',
    );
  }
  if (status === 500) {
    return new BigQueryServerError(
      500,
      'internalError',
      'An internal error occurred and the request could not be completed.',
    );
  }
  if (status >= 500) {
    return new BigQueryServerError(
      status,
      'backendError',
      'Error encountered during execution. Retrying may solve the problem.',
    );
  }
  return new BigQueryServerError(status, 'invalid', `Injected error ${status}.`);
}
