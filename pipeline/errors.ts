/**
 * The two kinds of failure the CLI distinguishes, mapped to exit codes.
 *
 * Messages are written for the person at the terminal: they name the file, flag, key or stage
 * and say what was expected.
 */

/** Bad usage or bad configuration: exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** A stage instance failed while running: exit code 1. */
export class StageFailure extends Error {
  override name = "StageFailure";
  constructor(readonly instanceId: string, readonly reason: unknown) {
    super(`stage ${instanceId} failed: ${describeError(reason)}`);
  }
}

/** Any other failure the pipeline detected (corrupt cache, missing input): exit code 1. */
export class PipelineError extends Error {
  override name = "PipelineError";
}

/** The message of an error without a stack trace, for users. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** Exit code for an error thrown anywhere under the CLI. */
export function exitCodeFor(error: unknown): number {
  return error instanceof UsageError ? 2 : 1;
}
