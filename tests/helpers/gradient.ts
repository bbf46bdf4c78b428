/** Finite-difference checks of tfjs gradients. */
import { tf } from "../../stages/tensor/backend.ts";
import { assert } from "./assert.ts";

/**
 * Asserts that autodiff's gradient of `lossOf` with respect to `variable` matches central
 * differences at the given flat `indices`.
 */
export function assertGradientMatches(
  lossOf: () => tf.Scalar,
  variable: tf.Variable,
  options: { indices: number[]; epsilon: number; tolerance: number },
): void {
  const { grads } = tf.variableGrads(lossOf, [variable]);
  const analytic = grads[variable.name].dataSync();
  const values = variable.dataSync().slice();
  for (const index of options.indices) {
    const at = (delta: number) => {
      const shifted = values.slice();
      shifted[index] += delta;
      variable.assign(tf.tensor(shifted, variable.shape));
      return lossOf().dataSync()[0];
    };
    const numeric = (at(options.epsilon) - at(-options.epsilon)) / (2 * options.epsilon);
    variable.assign(tf.tensor(values, variable.shape));
    assert(
      Math.abs(numeric - analytic[index]) < options.tolerance,
      `${variable.name}[${index}]: finite differences ${numeric}, autodiff ${analytic[index]}`,
    );
  }
}
