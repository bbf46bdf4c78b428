/**
 * Assertions in the style of Deno std's `@std/assert` (unreachable here: JSR is blocked), built
 * on `node:assert/strict`.
 */
import nodeAssert from "node:assert/strict";

/** Fails unless `condition` is truthy. */
export function assert(condition: unknown, message?: string): asserts condition {
  nodeAssert.ok(condition, message);
}

/** Fails unless `actual` deep-equals `expected`. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, message);
}

/** Fails unless `text` matches `pattern`. */
export function assertMatch(text: string, pattern: RegExp, message?: string): void {
  nodeAssert.match(text, pattern, message);
}

/** Fails unless `text` contains `part`. */
export function assertStringIncludes(text: string, part: string, message?: string): void {
  if (!text.includes(part)) {
    nodeAssert.fail(message ?? `expected to find ${JSON.stringify(part)} in:\n${text}`);
  }
}

/** Fails unless `body` throws (or rejects) with an error whose message contains `part`. */
export async function assertRejects(body: () => unknown, part: string): Promise<void> {
  try {
    await body();
  } catch (error) {
    assertStringIncludes((error as Error).message, part);
    return;
  }
  nodeAssert.fail(`expected an error containing ${JSON.stringify(part)}, but nothing was thrown`);
}
