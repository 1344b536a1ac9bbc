package io.tessera.simulator.kernel;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.planner.op.Reshape;
import io.tessera.simulator.array.NDArray;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static io.tessera.simulator.kernel.CentralDifference.array;
import static io.tessera.simulator.kernel.CentralDifference.flags;
import static io.tessera.simulator.kernel.CentralDifference.uniform;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

class ReshapeKernelTest {

    private static KernelContext context(long[] inShape, long[] outShape) {
        return new KernelContext(List.of(Box.full(inShape)), List.of(Box.full(outShape)), DType.FLOAT64, 0);
    }

    @Test
    void keepsTheRowMajorOrderInTheOutputShape() {
        Reshape op = Reshape.of(3, -1);
        NDArray x = array(new long[] {2, 3}, 1, 2, 3, 4, 5, 6);
        long[] outShape = op.outputs("r", CentralDifference.types(List.of(x))).get(0).shape();
        NDArray y = ReshapeKernel.forward(op, context(x.shape(), outShape), List.of(x)).get(0);
        assertEquals(array(new long[] {3, 2}, 1, 2, 3, 4, 5, 6), y);
        y.set(0, 99);
        assertEquals(1, x.get(0), "the output is a copy, not a view of the input");
    }

    @Test
    void usesTheLocalOutputBoxOnASlice() {
        // global (4, 6) -> (4, 2, 3) with rows split in two: rank 1 holds x rows [2, 4) and y rows [2, 4)
        Reshape op = Reshape.of(4, 2, 3);
        NDArray x = array(new long[] {2, 6}, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12);
        KernelContext ctx = new KernelContext(List.of(Box.of(new long[] {2, 0}, new long[] {4, 6})),
                List.of(Box.of(new long[] {2, 0, 0}, new long[] {4, 2, 3})), DType.FLOAT64, 0);
        NDArray y = ReshapeKernel.forward(op, ctx, List.of(x)).get(0);
        assertArrayEquals(new long[] {2, 2, 3}, y.shape());
        assertArrayEquals(x.data(), y.data());
        NDArray dy = uniform(new Random(1), 2, 2, 3);
        NDArray dx = ReshapeKernel.backward(op, ctx, List.of(x), List.of(y), List.of(dy), flags(1, 0)).get(0);
        assertArrayEquals(new long[] {2, 6}, dx.shape());
        assertArrayEquals(dy.data(), dx.data());
    }

    @Test
    void backwardMatchesCentralDifferences() {
        Random r = CentralDifference.random("Reshape", 3000);
        Reshape op = Reshape.of(-1, 4, 2);
        NDArray x = uniform(r, 2, 3, 4);
        long[] outShape = op.outputs("r", CentralDifference.types(List.of(x))).get(0).shape();
        assertArrayEquals(new long[] {3, 4, 2}, outShape);
        KernelContext ctx = context(x.shape(), outShape);
        CentralDifference.check("Reshape", r, List.of(x), flags(1, 0), xs -> ReshapeKernel.forward(op, ctx, xs),
                (xs, ys, dys, needs) -> ReshapeKernel.backward(op, ctx, xs, ys, dys, needs));
        assertEquals(Arrays.asList((NDArray) null),
                ReshapeKernel.backward(op, ctx, List.of(x), List.of(), List.of(NDArray.zeros(outShape)),
                        flags(1)));
        assertEquals(NDArray.zeros(2, 3, 4),
                ReshapeKernel.backward(op, ctx, List.of(x), List.of(), Arrays.asList((NDArray) null), flags(1, 0))
                        .get(0));
    }

    @Test
    void withoutOutputBoxesTheTargetShapeIsInferred() {
        Reshape op = Reshape.of(-1, 2);
        NDArray x = NDArray.zeros(3, 4);
        KernelContext ctx = new KernelContext(List.of(Box.full(x.shape())), List.of(), DType.FLOAT64, 0);
        assertArrayEquals(new long[] {6, 2}, ReshapeKernel.forward(op, ctx, List.of(x)).get(0).shape());
        assertNull(ReshapeKernel.backward(op, ctx, List.of(x), List.of(), List.of(), flags(1)).get(0));
    }
}
