/**
 * An SAE method as the pipeline sees it: one module per method in trainers/ exports one of these
 * beside its trainer (the way SAELens registers an architecture), and trainers/registry.ts lists
 * them. The config schema, the stage list, 03_train and the report all derive from that list, so
 * a new method is one module and one line there.
 */
import { z } from "zod";
import type { ImportanceWeights } from "./importance.ts";
import type { SaeTrainer, TrainerSettings } from "./trainer.ts";

/** The config's `importance` section, as the importance-driven methods train with it. */
export type TrainingImportanceSettings = {
  update_every: number;
  memory: number;
  weights: ImportanceWeights;
};

/** What a method needs besides its own options. */
export interface MethodInputs {
  /** The config's importance settings; given to the methods with `needsImportance`. */
  importance?: TrainingImportanceSettings;
}

/** One SAE method: its config settings, what it needs, its trainer and where it is defined. */
export interface SaeMethod<Shape extends z.ZodRawShape = z.ZodRawShape> {
  /** The config's `method` value (`"plain"`). */
  name: string;
  /** Schema of the variant's own settings (its keys besides `method` and `description`). */
  options: Shape;
  /** Trains with the config's importance settings (eq. 3); they enter its cache key. */
  needsImportance: boolean;
  /** Trains on forget/retain-corpus residuals too (mutual information in the importance). */
  needsLabelledResiduals: boolean;
  /** Modules (repository paths) whose doc comments define the method; the report quotes them. */
  documentedBy: string[];
  /**
   * Why these options cannot work over a run of `steps` optimisation steps (a message naming
   * the option), or undefined when they can; the config is refused at load time otherwise.
   */
  checkSteps?(options: z.infer<z.ZodObject<Shape>>, steps: number): string | undefined;
  /** A trainer for `settings` with the variant's options, already checked against `options`. */
  createTrainer(
    settings: TrainerSettings,
    options: z.infer<z.ZodObject<Shape>>,
    inputs: MethodInputs,
  ): SaeTrainer;
}

/**
 * Declares a method: `createTrainer`'s options are typed by the method's own schema here; the
 * result is a plain `SaeMethod`, so that methods of different settings share one list.
 */
export function defineSaeMethod<Shape extends z.ZodRawShape>(method: SaeMethod<Shape>): SaeMethod {
  // Sound because createMethodTrainer parses the options with `method.options` before the call.
  return method as unknown as SaeMethod;
}

/** The config's importance settings for `method`, or an error naming what is missing. */
export function requiredImportance(method: string, inputs: MethodInputs) {
  if (inputs.importance === undefined) {
    throw new Error(`SAE method "${method}" needs the config's importance settings`);
  }
  return inputs.importance;
}

/** A trainer of `method` for `settings`, its options checked by the method's schema first. */
export function createMethodTrainer(
  method: SaeMethod,
  settings: TrainerSettings,
  variant: { options: unknown; inputs: MethodInputs },
): SaeTrainer {
  const parsed = z.strictObject(method.options).safeParse(variant.options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `SAE method "${method.name}": variant setting "${issue.path.join(".")}": ${issue.message}`,
    );
  }
  return method.createTrainer(settings, parsed.data, variant.inputs);
}

/** The `SaeMethod` named `name` that the module at `moduleUrl` exports (03_train loads one). */
export async function loadSaeMethod(moduleUrl: URL, name: string): Promise<SaeMethod> {
  const exported: Record<string, unknown> = await import(moduleUrl.href);
  const method = Object.values(exported).find((value): value is SaeMethod =>
    typeof value === "object" && value !== null && (value as SaeMethod).name === name &&
    typeof (value as SaeMethod).createTrainer === "function"
  );
  if (method === undefined) {
    throw new Error(`${moduleUrl.pathname} exports no SAE method "${name}"`);
  }
  return method;
}
