/** Credential redaction: the core's scanner (also used for the excerpts in its error messages). */
export { REDACTED, redactAndTruncate, redactSecrets } from '@sqlbatcher/core';
