/** Credential redaction: the core's scanner (also used for the excerpts in its error messages). */
export { REDACTED, redactAndTruncate, redactMessage, redactSecrets } from '@sqlbatcher/core';
