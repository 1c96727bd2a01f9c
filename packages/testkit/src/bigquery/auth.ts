/** The bearer token the stub auth client hands out; the test server accepts any bearer token. */
export const BIGQUERY_TEST_TOKEN = 'sqlbatcher-testkit-token';

/**
 * The subset of google-auth-library's `AuthClient` that `@google-cloud/bigquery` calls. Pass an
 * instance as `authClient` so the client never looks for Google credentials.
 */
export interface BigQueryStubAuthClient {
  getAccessToken(): Promise<{ token: string; res: null }>;
  getRequestHeaders(url?: string | URL): Promise<Headers>;
  getProjectId(): Promise<string>;
  getCredentials(): Promise<Record<string, never>>;
  request(options: unknown): Promise<never>;
}

/**
 * A stub `authClient` for `new BigQuery({ apiEndpoint, authClient })`: it returns a fixed bearer token
 * and the given project id, and never contacts Google.
 *
 * @example
 * ```ts
 * const bq = new BigQuery({ projectId: 'p', apiEndpoint: server.url, authClient: createBigQueryAuthClient('p') });
 * ```
 */
export function createBigQueryAuthClient(projectId = 'test-project'): BigQueryStubAuthClient {
  return {
    async getAccessToken() {
      return { token: BIGQUERY_TEST_TOKEN, res: null };
    },
    async getRequestHeaders() {
      return new Headers({ authorization: `Bearer ${BIGQUERY_TEST_TOKEN}` });
    },
    async getProjectId() {
      return projectId;
    },
    async getCredentials() {
      return {};
    },
    async request() {
      throw new Error('the BigQuery test auth client does not send requests of its own');
    },
  };
}
