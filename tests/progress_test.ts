import { assertEquals } from "./helpers/assert.ts";
import {
  createProgressReporter,
  etaText,
  formatDuration,
  useColour,
} from "../pipeline/progress.ts";

Deno.test("plain progress prints at most one line per interval plus a final line", () => {
  let clock = 0;
  const lines: string[] = [];
  const progress = createProgressReporter("02_extract", {
    interactive: false,
    writeLine: (line) => lines.push(line),
    plainIntervalSeconds: 10,
    now: () => clock,
  });
  progress.start({ label: "extracting", unit: "tokens", total: 1000 });
  for (let i = 0; i < 100; i++) {
    clock += 1000; // one second per 10 tokens
    progress.advance(10);
  }
  progress.finish();
  assertEquals(lines.length, 11);
  assertEquals(lines[0], "[02_extract] extracting: 100/1,000 tokens (10%), 10 tokens/s, ETA 1m30s");
  assertEquals(lines.at(-1), "[02_extract] extracting: 1,000 tokens in 1m40s");
});

Deno.test("formatDuration", () => {
  assertEquals(formatDuration(5), "5s");
  assertEquals(formatDuration(185), "3m05s");
  assertEquals(formatDuration(3720), "1h02m");
});

Deno.test("the ETA waits for the first unit instead of reading 0 s", () => {
  assertEquals(etaText(0, 20, 3), "—");
  assertEquals(etaText(5, undefined, 3), "—");
  assertEquals(etaText(5, 20, 10), "30s"); // 0.5 units/s, 15 to go
});

Deno.test("colour only when asked (on a terminal without NO_COLOR), never in plain lines", () => {
  const finishLine = (colour: boolean) => {
    const lines: string[] = [];
    const progress = createProgressReporter("03_train", {
      interactive: false,
      writeLine: (line) => lines.push(line),
      colour,
      now: () => 0,
    });
    progress.start({ label: "training", unit: "steps", total: 2 });
    progress.advance(2);
    progress.finish();
    return lines.at(-1)!;
  };
  assertEquals(finishLine(false), "[03_train] training: 2 steps in 0s");
  assertEquals(finishLine(true), "[03_train] \x1b[32mtraining\x1b[0m: 2 steps in 0s");
  // Piped (as in this test run) the default is no colour.
  assertEquals(useColour(), false);
});
