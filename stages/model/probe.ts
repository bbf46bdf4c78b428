/**
 * `deno task pipeline probe --model DIR|hf:REPO --layer L (--text "…" | --tokens 2,17,…) [--json]`:
 * the residual stream at layer L and the top next-token predictions, for inspecting a model or
 * comparing numbers with another implementation.
 */
import { parseArgs } from "node:util";
import { UsageError } from "../../pipeline/errors.ts";
import type { CommandIo } from "../../pipeline/stage.ts";
import { hubOptionsFor } from "../hub/hub_cache.ts";
import { tf, useBackend } from "../tensor/backend.ts";
import { forward } from "./gemma2.ts";
import { loadModel, type ModelSource, resolveModelDirectory } from "./load_model.ts";

const TOP_K = 5;

function parseModelSource(model: string): ModelSource {
  return model.startsWith("hf:")
    ? { kind: "hub", repo: model.slice(3), revision: "main" }
    : { kind: "local", path: model };
}

const PROBE_HELP =
  `Usage: ./pipeline.sh probe --model DIR|hf:REPO --layer L (--text T | --tokens IDS) [--json]

Runs a model on one sequence and prints the residual stream at the output of decoder layer L
(its norm and first values) and the most likely next tokens.
  --model DIR|hf:REPO   a model folder (config.json, safetensors, tokenizer.json) or a hub repo
  --layer L             decoder layer, 0 … num_hidden_layers − 1
  --text T              text to tokenize (BOS is added), or
  --tokens IDS          token ids, comma-separated
  --json                machine-readable output

Examples:
  ./pipeline.sh probe --model data/models/gemma2-tiny --layer 2 --text "Question: What is the capital of Kelnoria?"
  ./pipeline.sh probe --model hf:google/gemma-2-2b --layer 19 --tokens 2,651,6037 --json`;

/** Runs the probe command; returns the exit code. */
export async function command(args: string[], io: CommandIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        model: { type: "string" },
        layer: { type: "string" },
        text: { type: "string" },
        tokens: { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (error) {
    throw new UsageError(`probe: ${(error as Error).message} (\`probe --help\` lists the options)`);
  }
  if (values.help) {
    io.print(PROBE_HELP);
    return 0;
  }
  if (
    !values.model || values.layer === undefined ||
    (values.text === undefined) === (values.tokens === undefined)
  ) {
    throw new UsageError(
      'probe needs --model DIR|hf:REPO, --layer L and either --text "…" or --tokens 2,17,…',
    );
  }
  const layer = Number(values.layer);
  await useBackend("auto");
  const directory = await resolveModelDirectory(
    parseModelSource(values.model),
    hubOptionsFor(),
    {
      root: io.root,
      weights: true,
    },
  );
  const model = await loadModel(directory);
  if (!Number.isInteger(layer) || layer < 0 || layer >= model.config.num_hidden_layers) {
    throw new UsageError(
      `--layer must be 0…${model.config.num_hidden_layers - 1} for this model, got ${values.layer}`,
    );
  }
  const ids = values.text !== undefined
    ? model.tokenizer.encode(values.text)
    : values.tokens!.split(",").map((token) => {
      const id = Number(token.trim());
      if (!Number.isInteger(id) || id < 0 || id >= model.config.vocab_size) {
        throw new UsageError(
          `--tokens: "${token}" is not a token id in 0…${model.config.vocab_size - 1}`,
        );
      }
      return id;
    });
  const [residualTensor, logitsTensor] = tf.tidy(() => {
    const result = forward(model.weights, model.config, tf.tensor2d([ids], undefined, "int32"), {
      hook: { layer },
    });
    return [result.residual!, result.logits!];
  });
  const residual = (await residualTensor.array() as number[][][])[0];
  const logits = (await logitsTensor.array() as number[][][])[0];
  tf.dispose([residualTensor, logitsTensor]);
  if (values.json) {
    io.print(JSON.stringify({ tokens: ids, residual, logits }));
    return 0;
  }
  io.print(
    `model ${directory}, layer ${layer} (output of decoder layer ${layer}), ${ids.length} tokens`,
  );
  ids.forEach((id, t) => {
    const norm = Math.sqrt(residual[t].reduce((a, v) => a + v * v, 0));
    const top = logits[t].map((value, token) => ({ value, token })).sort((a, b) =>
      b.value - a.value
    ).slice(0, TOP_K);
    const predictions = top.map((p) =>
      `${JSON.stringify(model.tokenizer.decode([p.token]))} ${p.value.toFixed(2)}`
    );
    io.print(
      `${String(t).padStart(3)} ${
        JSON.stringify(id === model.tokenizer.bosId ? "<bos>" : model.tokenizer.decode([id]))
          .padEnd(16)
      } |resid| ${norm.toFixed(2).padStart(8)}` +
        `  next: ${predictions.join(", ")}`,
    );
  });
  return 0;
}
