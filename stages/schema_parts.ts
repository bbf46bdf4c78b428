/** zod pieces shared by the config schema and the SAE methods' option schemas. */
import { z } from "zod";

/** An integer ≥ 1. */
export const positiveInt = z.number().int().positive();

/** A number in [0, 1]. */
export const fraction = z.number().min(0).max(1);
