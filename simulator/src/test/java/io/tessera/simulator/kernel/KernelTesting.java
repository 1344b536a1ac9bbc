package io.tessera.simulator.kernel;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.planner.op.Operator;
import io.tessera.planner.op.TensorType;
import io.tessera.simulator.array.NDArray;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Shared helpers of the kernel tests: random arrays, contexts, shape checks and the finite-difference check. */
final class KernelTesting {

    /** Central-difference step. */
    static final double EPS = 1e-6;
    /** Largest accepted relative error of an analytic gradient (max abs difference / max abs numeric value). */
    static final double TOL = 1e-6;

    private KernelTesting() {
    }

    /** A backward call with everything but the operator and context bound. */
    interface Backward {
        List<NDArray> apply(List<NDArray> inputs, List<NDArray> outputs, List<NDArray> outputGrads,
                            boolean[] needsGrad);
    }

    /** Uniform values in [-1, 1). */
    static NDArray random(Random r, long... shape) {
        NDArray a = NDArray.zeros(shape);
        double[] d = a.data();
        for (int i = 0; i < d.length; i++) {
            d[i] = 2 * r.nextDouble() - 1;
        }
        return a;
    }

    /** Uniform magnitudes in [lo, hi) with random signs. */
    static NDArray awayFromZero(Random r, double lo, double hi, long... shape) {
        NDArray a = NDArray.zeros(shape);
        double[] d = a.data();
        for (int i = 0; i < d.length; i++) {
            double v = lo + (hi - lo) * r.nextDouble();
            d[i] = r.nextBoolean() ? v : -v;
        }
        return a;
    }

    /** An array of the given shape and values. */
    static NDArray array(long[] shape, double... values) {
        return NDArray.of(shape, values);
    }

    /** A shape literal. */
    static long[] shape(long... dims) {
        return dims;
    }

    /** A float64 context over full boxes of the inputs and the given output shapes, seed 0. */
    static KernelContext ctx(List<NDArray> inputs, long[]... outputShapes) {
        List<Box> in = new ArrayList<>();
        for (NDArray a : inputs) {
            in.add(Box.full(a.shape()));
        }
        List<Box> out = new ArrayList<>();
        for (long[] s : outputShapes) {
            out.add(Box.full(s));
        }
        return new KernelContext(in, out, DType.FLOAT64, 0);
    }

    /**
     * A random generator for {@code test}: a fixed seed per test name, or {@code -Dtessera.seed=N} for all; printed so
     * that a failure can be replayed.
     */
    static Random seeded(String test) {
        long seed = Long.getLong("tessera.seed", 20260611L * 31 + test.hashCode());
        System.out.println(test + ": seed " + seed + " (rerun with -Dtessera.seed=" + seed + ")");
        return new Random(seed);
    }

    /** Asserts that the kernel's output shapes are the operator's {@code outputs(...)} shapes. */
    static void assertShapes(Operator op, List<NDArray> inputs, List<NDArray> outputs) {
        List<TensorType> types = new ArrayList<>();
        for (NDArray a : inputs) {
            types.add(new TensorType(a.shape(), DType.FLOAT32));
        }
        List<TensorType> expected = op.outputs("test", types);
        assertEquals(expected.size(), outputs.size(), op + ": output count");
        for (int i = 0; i < expected.size(); i++) {
            assertArrayEquals(expected.get(i).shape(), outputs.get(i).shape(), op + ": output " + i + " shape for "
                    + types);
        }
    }

    /** Asserts equal shapes and values within {@code tol} (absolute). */
    static void assertClose(NDArray expected, NDArray actual, double tol) {
        assertArrayEquals(expected.shape(), actual.shape(), "shape");
        for (int i = 0; i < expected.size(); i++) {
            assertEquals(expected.get(i), actual.get(i), tol, "element " + i + " of " + actual);
        }
    }

    private static List<NDArray> deepCopy(List<NDArray> arrays) {
        List<NDArray> c = new ArrayList<>();
        for (NDArray a : arrays) {
            c.add(a.copy());
        }
        return c;
    }

    private static double loss(List<NDArray> outputs, List<NDArray> weights) {
        double l = 0;
        for (int o = 0; o < outputs.size(); o++) {
            double[] y = outputs.get(o).data();
            double[] w = weights.get(o).data();
            for (int i = 0; i < y.length; i++) {
                l += y[i] * w[i];
            }
        }
        return l;
    }

    /**
     * Checks the analytic gradients of {@code loss = sum(outputs * random weights)} against central differences for
     * every input with {@code needsGrad}, that the other gradients are null, and that neither call modifies its
     * inputs.
     */
    static void checkGradients(String label, Random r, Function<List<NDArray>, List<NDArray>> forward,
                               Backward backward, List<NDArray> inputs, boolean[] needsGrad, double eps, double tol) {
        List<NDArray> original = deepCopy(inputs);
        List<NDArray> outputs = forward.apply(inputs);
        List<NDArray> weights = new ArrayList<>();
        for (NDArray y : outputs) {
            weights.add(random(r, y.shape()));
        }
        List<NDArray> weightsCopy = deepCopy(weights);
        List<NDArray> outputsCopy = deepCopy(outputs);
        List<NDArray> grads = backward.apply(inputs, outputs, weights, needsGrad);
        assertEquals(original, inputs, label + ": the kernel modified its inputs");
        assertEquals(weightsCopy, weights, label + ": backward modified the output gradients");
        assertEquals(outputsCopy, outputs, label + ": backward modified the outputs");
        assertEquals(inputs.size(), grads.size(), label + ": one gradient per input");
        for (int i = 0; i < inputs.size(); i++) {
            if (!needsGrad[i]) {
                assertNull(grads.get(i), label + ": gradient " + i + " not asked for");
                continue;
            }
            NDArray g = grads.get(i);
            assertNotNull(g, label + ": gradient " + i);
            assertArrayEquals(inputs.get(i).shape(), g.shape(), label + ": gradient " + i + " shape");
            List<NDArray> work = deepCopy(inputs);
            double[] x = work.get(i).data();
            NDArray numeric = NDArray.zeros(inputs.get(i).shape());
            for (int e = 0; e < x.length; e++) {
                double v = x[e];
                x[e] = v + eps;
                double plus = loss(forward.apply(work), weights);
                x[e] = v - eps;
                double minus = loss(forward.apply(work), weights);
                x[e] = v;
                numeric.set(e, (plus - minus) / (2 * eps));
            }
            double err = g.relativeError(numeric);
            assertTrue(err <= tol, label + ": gradient " + i + " relative error " + err + "\n analytic " + g
                    + " " + Arrays.toString(g.data()) + "\n numeric  " + Arrays.toString(numeric.data()));
        }
    }

    /** {@link #checkGradients} with the default step and tolerance, every input needing a gradient. */
    static void checkGradients(String label, Random r, Function<List<NDArray>, List<NDArray>> forward,
                               Backward backward, List<NDArray> inputs) {
        boolean[] all = new boolean[inputs.size()];
        Arrays.fill(all, true);
        checkGradients(label, r, forward, backward, inputs, all, EPS, TOL);
    }

    /** Asserts that backward with absent output gradients gives zeros, and null where not asked for. */
    static void checkAbsentGradients(String label, Backward backward, List<NDArray> inputs, List<NDArray> outputs,
                                     int asked) {
        boolean[] needs = new boolean[inputs.size()];
        needs[asked] = true;
        List<NDArray> nulls = new ArrayList<>();
        for (int o = 0; o < outputs.size(); o++) {
            nulls.add(null);
        }
        List<NDArray> grads = backward.apply(inputs, outputs, nulls, needs);
        for (int i = 0; i < inputs.size(); i++) {
            if (i == asked) {
                assertEquals(NDArray.zeros(inputs.get(i).shape()), grads.get(i), label + ": zero gradient " + i);
            } else {
                assertNull(grads.get(i), label + ": gradient " + i + " not asked for");
            }
        }
    }
}
