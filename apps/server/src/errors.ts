/**
 * Errors as OpenAI's API writes them: an HTTP status and the body
 * `{"error": {"message", "type", "param", "code"}}`. Every client mistake is
 * an ApiError with a 4xx status; anything else reaching the error handler is
 * the server's fault (500) and is logged with its stack.
 */

/** OpenAI's error object. */
export interface ErrorObject {
  readonly message: string;
  readonly type: string;
  /** The request field at fault (`temperature`, `messages[0].role`), or null. */
  readonly param: string | null;
  readonly code: string | null;
}

export class ApiError extends Error {
  readonly status: number;
  readonly type: string;
  readonly param: string | null;
  readonly code: string | null;
  /** Extra response headers (Retry-After). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, message: string, details: { type?: string; param?: string | null; code?: string | null; headers?: Record<string, string> } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.type = details.type ?? "invalid_request_error";
    this.param = details.param ?? null;
    this.code = details.code ?? null;
    this.headers = details.headers ?? {};
  }

  toJSON(): { error: ErrorObject } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** 400: a field is invalid. */
export function invalidParam(param: string, message: string): ApiError {
  return new ApiError(400, message, { param, code: "invalid_value" });
}

/** The body of a 500, without details a client should not see. */
export function serverError(message = "The server had an error while processing your request."): ApiError {
  return new ApiError(500, message, { type: "server_error" });
}
