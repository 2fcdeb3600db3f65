/**
 * An error whose message is for the log (English) and whose `reason` code
 * and `params` let the CLI say the same in the operator's language
 * (`reason.<code>` in cli/messages.ts).
 */
export class ReasonError extends Error {
  constructor(
    readonly reason: string,
    message: string,
    readonly params: Record<string, string | number> = {},
  ) {
    super(message);
  }
}

/** `err` with `message`, its reason code and params kept (`fallback` for an error without one). */
export function rewrap(err: unknown, message: string, fallback = 'unusable'): ReasonError {
  return err instanceof ReasonError ? new ReasonError(err.reason, message, err.params) : new ReasonError(fallback, message, { detail: (err as Error).message });
}

/** The params an OperatorError carries so that the CLI can translate its reason. */
export function reasonParams(err: unknown): Record<string, string | number> {
  return err instanceof ReasonError ? { reasonCode: err.reason, ...err.params } : {};
}
