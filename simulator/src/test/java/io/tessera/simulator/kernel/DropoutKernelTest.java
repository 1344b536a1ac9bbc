package io.tessera.simulator.kernel;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.planner.op.Dropout;
import io.tessera.simulator.array.NDArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.List;
import java.util.Random;

import static io.tessera.simulator.kernel.KernelTesting.shape;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DropoutKernelTest {

    private static KernelContext ctx(Box box, long seed) {
        return new KernelContext(List.of(box), List.of(box), DType.FLOAT64, seed);
    }

    private static NDArray run(Dropout op, NDArray x, Box box, long seed) {
        return DropoutKernel.forward(op, ctx(box, seed), List.of(x)).get(0);
    }

    /** The region {@code box} of the full row-major array {@code full}. */
    private static NDArray region(NDArray full, Box box) {
        long[] shape = full.shape();
        long[] local = box.shape();
        NDArray out = NDArray.zeros(local);
        int[] strides = Shapes.strides(shape);
        long[] idx = new long[local.length];
        for (int i = 0; i < out.size(); i++) {
            int rest = i;
            int off = 0;
            for (int d = local.length - 1; d >= 0; d--) {
                idx[d] = rest % local[d];
                rest /= (int) local[d];
                off += (int) (idx[d] + box.start(d)) * strides[d];
            }
            out.set(i, full.get(off));
        }
        return out;
    }

    @Test
    void keepsAboutKeepProbAndScalesKeptValues() {
        Dropout op = new Dropout(0.8);
        long[] s = shape(100, 100);
        NDArray x = NDArray.full(2, s);
        NDArray y = run(op, x, Box.full(s), 42);
        KernelTesting.assertShapes(op, List.of(x), List.of(y));
        int kept = 0;
        for (int i = 0; i < y.size(); i++) {
            if (y.get(i) != 0) {
                kept++;
                assertEquals(2 / 0.8, y.get(i), 1e-15);
            }
        }
        assertTrue(Math.abs(kept - 8000) < 300, "kept " + kept + " of 10000 at keep_prob 0.8");
        assertEquals(x, run(new Dropout(1), x, Box.full(s), 42));
    }

    @Test
    void sameSeedSameMaskOtherSeedOtherMask() {
        Box box = Box.full(shape(8, 16));
        assertEquals(DropoutKernel.mask(0.5, 7, box), DropoutKernel.mask(0.5, 7, box));
        assertNotEquals(DropoutKernel.mask(0.5, 7, box), DropoutKernel.mask(0.5, 8, box));
        NDArray x = NDArray.full(1, 8, 16);
        Dropout op = new Dropout(0.5);
        assertEquals(run(op, x, box, 7), run(op, x, box, 7));
    }

    @ParameterizedTest(name = "keep_prob {0}")
    @ValueSource(doubles = {0.3, 0.9})
    void sliceMaskEqualsTheFullTensorsMaskOverItsRegion(double keepProb) {
        Random r = KernelTesting.seeded("Dropout slices");
        long seed = r.nextLong();
        long[] s = shape(4, 6, 10);
        NDArray x = KernelTesting.random(r, s);
        Dropout op = new Dropout(keepProb);
        NDArray full = run(op, x, Box.full(s), seed);
        NDArray fullMask = DropoutKernel.mask(keepProb, seed, Box.full(s));
        // slices along each dimension, two at once, and an uneven corner
        Box[] boxes = {
            Box.of(new long[] {2, 0, 0}, new long[] {4, 6, 10}),
            Box.of(new long[] {0, 3, 0}, new long[] {4, 6, 10}),
            Box.of(new long[] {0, 0, 5}, new long[] {4, 6, 10}),
            Box.of(new long[] {1, 2, 0}, new long[] {2, 4, 10}),
            Box.of(new long[] {3, 5, 7}, new long[] {4, 6, 9}),
        };
        for (Box box : boxes) {
            NDArray local = region(x, box);
            assertEquals(region(full, box), run(op, local, box, seed), "slice " + box);
            assertEquals(region(fullMask, box), DropoutKernel.mask(keepProb, seed, box), "mask of " + box);
            NDArray g = region(x, box);
            NDArray dx = DropoutKernel.backward(op, ctx(box, seed), List.of(local), null, List.of(g),
                    new boolean[] {true}).get(0);
            assertEquals(run(op, g, box, seed), dx, "gradient of " + box);
        }
    }

    @Test
    void backwardMatchesFiniteDifferences() {
        Random r = KernelTesting.seeded("Dropout backward");
        Dropout op = new Dropout(0.6);
        Box box = Box.of(new long[] {3, 0}, new long[] {6, 5});
        List<NDArray> in = List.of(KernelTesting.random(r, 3, 5));
        KernelContext ctx = ctx(box, r.nextLong());
        KernelTesting.checkGradients("Dropout", r, x -> DropoutKernel.forward(op, ctx, x),
                (x, y, g, needs) -> DropoutKernel.backward(op, ctx, x, y, g, needs), in);
        KernelTesting.checkAbsentGradients("Dropout", (x, y, g, needs) -> DropoutKernel.backward(op, ctx, x, y, g,
                needs), in, DropoutKernel.forward(op, ctx, in), 0);
    }

    @Test
    void rejectsABoxThatDoesNotFitTheInput() {
        Dropout op = new Dropout(0.5);
        assertThrows(IllegalArgumentException.class, () -> run(op, NDArray.zeros(2, 3), Box.full(shape(3, 2)), 1));
    }
}
