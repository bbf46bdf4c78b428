/** The `sweep` artifact: one row per intervention setting, shared by evaluations and controls. */
import * as arrow from "apache-arrow";
import type { SweepRow } from "./sweep.ts";

/** Which SAE and selector (or control) a block of sweep rows belongs to. */
export interface SweepLabels {
  run: string;
  preset: string;
  /** "frequency", "importance_low", "importance_high", or "control_<name>". */
  selector: string;
}

/**
 * Columns: run, preset, selector, retain_threshold (NaN where it does not apply), n_features,
 * multiplier, selected, forget_accuracy, retain_accuracy, retain_accuracy_<subject>.
 */
export function sweepTable(rows: SweepRow[], labels: SweepLabels): arrow.Table {
  const subjects = Object.keys(rows[0]?.retainBySubject ?? {});
  const float = (pick: (row: SweepRow) => number) =>
    arrow.makeVector(Float64Array.from(rows, pick));
  const text = (value: string) => arrow.vectorFromArray(rows.map(() => value), new arrow.Utf8());
  return new arrow.Table({
    run: text(labels.run),
    preset: text(labels.preset),
    selector: text(labels.selector),
    retain_threshold: float((r) => r.retainThreshold),
    n_features: arrow.makeVector(Int32Array.from(rows, (r) => r.nFeatures)),
    multiplier: float((r) => r.multiplier),
    selected: arrow.makeVector(Int32Array.from(rows, (r) => r.selected)),
    forget_accuracy: float((r) => r.forgetAccuracy),
    retain_accuracy: float((r) => r.retainAccuracy),
    ...Object.fromEntries(
      subjects.map((s) => [`retain_accuracy_${s}`, float((r) => r.retainBySubject[s])]),
    ),
  });
}
