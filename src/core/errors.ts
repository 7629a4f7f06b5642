import type { ErrorCode } from '@tickgate/client/protocol';

// The codes are part of the wire protocol, so they live with the other wire types in the client package.
export { ALL_ERROR_CODES, ErrorCode } from '@tickgate/client/protocol';

/** An error with a stable code, safe to show to a client; `cause` holds the underlying error. */
export class TickgateError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TickgateError';
    this.code = code;
  }
}
