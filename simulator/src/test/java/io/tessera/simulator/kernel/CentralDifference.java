package io.tessera.simulator.kernel;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
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

/**
 * Test support for the kernels: seeded random arrays, slicing and concatenation along an axis, and the gradient
 * check of a kernel's backward against central finite differences of {@code loss = sum(outputs * random weights)}
 * in float64.
 */
final class CentralDifference {

    /** The finite-difference step. */
    static final double EPS = 1e-6;
    /** The largest accepted relative error (largest difference over largest analytic magnitude, per input). */
    static final double RTOL = 1e-6;

    private CentralDifference() {
    }

    /** A kernel's backward for fixed attributes: (inputs, outputs, output gradients, needsGrad) to input gradients. */
    interface Backward {
        List<NDArray> apply(List<NDArray> inputs, List<NDArray> outputs, List<NDArray> outputGrads,
                            boolean[] needsGrad);
    }

    /** A random number generator whose seed is printed, for reproducing a failure. */
    static Random random(String label, long seed) {
        System.out.println(label + ": seed " + seed);
        return new Random(seed);
    }

    /** Uniform values in [-1, 1). */
    static NDArray uniform(Random r, long... shape) {
        NDArray a = NDArray.zeros(shape);
        for (int i = 0; i < a.size(); i++) {
            a.set(i, 2 * r.nextDouble() - 1);
        }
        return a;
    }

    /** An array of the given values. */
    static NDArray array(long[] shape, double... values) {
        return NDArray.of(shape, values);
    }

    /** Full boxes of the arrays' shapes. */
    static List<Box> fullBoxes(List<NDArray> arrays) {
        List<Box> boxes = new ArrayList<>();
        for (NDArray a : arrays) {
            boxes.add(Box.full(a.shape()));
        }
        return boxes;
    }

    /** A one-device context: full boxes for the given inputs and output shapes, float64. */
    static KernelContext single(List<NDArray> inputs, List<long[]> outputShapes) {
        List<Box> out = new ArrayList<>();
        for (long[] s : outputShapes) {
            out.add(Box.full(s));
        }
        return new KernelContext(fullBoxes(inputs), out, DType.FLOAT64, 7);
    }

    /** Elements {@code [from, to)} of {@code axis}, as a copy. */
    static NDArray slice(NDArray a, int axis, long from, long to) {
        long[] shape = a.shape();
        int outer = 1;
        for (int d = 0; d < axis; d++) {
            outer *= (int) shape[d];
        }
        int inner = 1;
        for (int d = axis + 1; d < shape.length; d++) {
            inner *= (int) shape[d];
        }
        int n = (int) shape[axis];
        int m = (int) (to - from);
        long[] outShape = shape.clone();
        outShape[axis] = m;
        NDArray out = NDArray.zeros(outShape);
        for (int o = 0; o < outer; o++) {
            System.arraycopy(a.data(), (o * n + (int) from) * inner, out.data(), o * m * inner, m * inner);
        }
        return out;
    }

    /** The arrays concatenated along {@code axis}. */
    static NDArray concat(int axis, NDArray... parts) {
        long[] shape = parts[0].shape();
        long total = 0;
        for (NDArray p : parts) {
            total += p.dim(axis);
        }
        shape[axis] = total;
        NDArray out = NDArray.zeros(shape);
        int outer = 1;
        for (int d = 0; d < axis; d++) {
            outer *= (int) shape[d];
        }
        int inner = 1;
        for (int d = axis + 1; d < shape.length; d++) {
            inner *= (int) shape[d];
        }
        int at = 0;
        for (NDArray p : parts) {
            int m = (int) p.dim(axis);
            for (int o = 0; o < outer; o++) {
                System.arraycopy(p.data(), o * m * inner, out.data(), (o * (int) total + at) * inner, m * inner);
            }
            at += m;
        }
        return out;
    }

    /** Element-wise sum of two arrays of one shape. */
    static NDArray add(NDArray a, NDArray b) {
        assertArrayEquals(a.shape(), b.shape(), "shapes");
        NDArray out = a.copy();
        for (int i = 0; i < out.size(); i++) {
            out.set(i, a.get(i) + b.get(i));
        }
        return out;
    }

    /** Asserts equal shapes and values within {@code tol} relative to {@code expected}'s largest magnitude. */
    static void assertClose(NDArray expected, NDArray actual, double tol, String what) {
        assertNotNull(actual, what + " is null");
        assertArrayEquals(expected.shape(), actual.shape(), what + " shape");
        double err = actual.relativeError(expected);
        assertTrue(err <= tol, what + ": relative error " + err + " > " + tol + "\nexpected " + expected
                + "\nactual   " + actual);
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
     * Checks {@code backward} against central differences of {@code sum(forward(inputs) * weights)} with random
     * weights, for every input with {@code needsGrad[i]} (the others must get null); also checks that neither pass
     * modifies its inputs.
     */
    static void check(String label, Random r, List<NDArray> inputs, boolean[] needsGrad,
                      Function<List<NDArray>, List<NDArray>> forward, Backward backward) {
        List<NDArray> originals = new ArrayList<>();
        for (NDArray a : inputs) {
            originals.add(a.copy());
        }
        List<NDArray> outputs = forward.apply(inputs);
        List<NDArray> weights = new ArrayList<>();
        for (NDArray y : outputs) {
            weights.add(uniform(r, y.shape()));
        }
        List<NDArray> grads = backward.apply(inputs, outputs, weights, needsGrad.clone());
        assertEquals(inputs.size(), grads.size(), label + ": one gradient per input");
        for (int i = 0; i < inputs.size(); i++) {
            assertEquals(originals.get(i), inputs.get(i), label + ": input " + i + " was modified");
            if (!needsGrad[i]) {
                assertNull(grads.get(i), label + ": input " + i + " needs no gradient");
                continue;
            }
            NDArray analytic = grads.get(i);
            assertNotNull(analytic, label + ": gradient of input " + i);
            assertArrayEquals(inputs.get(i).shape(), analytic.shape(), label + ": gradient shape of input " + i);
            NDArray numeric = NDArray.zeros(inputs.get(i).shape());
            for (int k = 0; k < numeric.size(); k++) {
                numeric.set(k, difference(inputs, i, k, forward, weights));
            }
            double err = numeric.relativeError(analytic);
            assertTrue(err <= RTOL, label + ": input " + i + " gradient relative error " + err + "\nanalytic "
                    + analytic + "\nnumeric  " + numeric);
            double scale = 0;
            for (int k = 0; k < analytic.size(); k++) {
                scale = Math.max(scale, Math.abs(analytic.get(k)));
            }
            assertTrue(scale > 1e-3, label + ": input " + i + " gradient is (nearly) zero; the check proves nothing");
        }
    }

    private static double difference(List<NDArray> inputs, int i, int k,
                                     Function<List<NDArray>, List<NDArray>> forward, List<NDArray> weights) {
        List<NDArray> shifted = new ArrayList<>(inputs);
        NDArray a = inputs.get(i).copy();
        shifted.set(i, a);
        double v = a.get(k);
        a.set(k, v + EPS);
        double plus = loss(forward.apply(shifted), weights);
        a.set(k, v - EPS);
        double minus = loss(forward.apply(shifted), weights);
        return (plus - minus) / (2 * EPS);
    }

    /** {@code n} flags, true where listed. */
    static boolean[] flags(int n, int... on) {
        boolean[] f = new boolean[n];
        for (int i : on) {
            f[i] = true;
        }
        return f;
    }

    /** The shapes of a list of arrays, for comparison with operator output types. */
    static List<List<Long>> shapes(List<NDArray> arrays) {
        List<List<Long>> out = new ArrayList<>();
        for (NDArray a : arrays) {
            out.add(Arrays.stream(a.shape()).boxed().toList());
        }
        return out;
    }

    /** The shapes of operator output types. */
    static List<List<Long>> typeShapes(List<TensorType> types) {
        List<List<Long>> out = new ArrayList<>();
        for (TensorType t : types) {
            out.add(Arrays.stream(t.shape()).boxed().toList());
        }
        return out;
    }

    /** Float64 tensor types of the arrays' shapes. */
    static List<TensorType> types(List<NDArray> arrays) {
        List<TensorType> out = new ArrayList<>();
        for (NDArray a : arrays) {
            out.add(TensorType.of(DType.FLOAT64, a.shape()));
        }
        return out;
    }
}
