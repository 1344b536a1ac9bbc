package io.tessera.simulator.kernel;

import io.tessera.layout.DType;
import io.tessera.planner.op.Cast;
import io.tessera.simulator.array.NDArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.List;
import java.util.Random;

import static io.tessera.simulator.kernel.KernelTesting.array;
import static io.tessera.simulator.kernel.KernelTesting.shape;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

class CastKernelTest {

    private static NDArray run(DType to, double... values) {
        Cast op = new Cast(to);
        List<NDArray> in = List.of(array(shape(values.length), values));
        List<NDArray> out = CastKernel.forward(op, KernelTesting.ctx(in), in);
        KernelTesting.assertShapes(op, in, out);
        return out.get(0);
    }

    @Test
    void floatingTargetsRoundToTheirPrecision() {
        assertEquals(array(shape(2), 0.1, -1e300), run(DType.FLOAT64, 0.1, -1e300));
        assertEquals(array(shape(2), (float) 0.1, (float) (1.0 / 3)), run(DType.FLOAT32, 0.1, 1.0 / 3));
        // float16: 11 significant bits, largest 65504, subnormal spacing 2^-24
        assertEquals(array(shape(6), 0.333251953125, 65504, Double.POSITIVE_INFINITY, 2 * 0x1.0p-24, 1, -2048),
                run(DType.FLOAT16, 1.0 / 3, 65504, 70000, 1e-7, 1.0002, -2049));
        // bfloat16: 8 significant bits, float32's exponent range
        assertEquals(array(shape(3), 0.333984375, 1, 256), run(DType.BFLOAT16, 1.0 / 3, 1.001, 257));
    }

    @Test
    void integerTargetsTruncateAndWrap() {
        assertEquals(array(shape(4), 2, -2, 0, 3e9), run(DType.INT64, 2.7, -2.7, -0.5, 3e9));
        assertEquals(array(shape(2), 2, -1294967296), run(DType.INT32, 2.9, 3e9));
        assertEquals(array(shape(2), -126, 127), run(DType.INT8, 130.5, 127));
        assertEquals(array(shape(2), -25536, 1), run(DType.INT16, 40000, 1.5));
        assertEquals(array(shape(2), 255, 4), run(DType.UINT8, -1, 260));
        assertEquals(array(shape(4), 0, 1, 1, 0), run(DType.BOOL, 0, 0.2, -3, Double.NaN));
    }

    @ParameterizedTest
    @EnumSource(DType.class)
    void gradientPassesThroughFloatingTargetsOnly(DType to) {
        Random r = KernelTesting.seeded("Cast backward " + to);
        Cast op = new Cast(to);
        List<NDArray> in = List.of(KernelTesting.random(r, 3, 4));
        KernelContext ctx = KernelTesting.ctx(in);
        NDArray g = KernelTesting.random(r, 3, 4);
        List<NDArray> grads = CastKernel.backward(op, ctx, in, CastKernel.forward(op, ctx, in), List.of(g),
                new boolean[] {true});
        assertEquals(to.isFloating() ? g : NDArray.zeros(3, 4), grads.get(0));
        assertNull(CastKernel.backward(op, ctx, in, null, List.of(g), new boolean[] {false}).get(0));
        KernelTesting.checkAbsentGradients(to.toString(), (x, y, gr, needs) -> CastKernel.backward(op, ctx, x, y,
                gr, needs), in, List.of(g), 0);
    }

    @Test
    void backwardMatchesFiniteDifferences() {
        Random r = KernelTesting.seeded("Cast finite differences");
        List<NDArray> in = List.of(KernelTesting.random(r, 2, 3));
        KernelContext ctx = KernelTesting.ctx(in);
        Cast f64 = new Cast(DType.FLOAT64);
        KernelTesting.checkGradients("Cast float64", r, x -> CastKernel.forward(f64, ctx, x),
                (x, y, g, needs) -> CastKernel.backward(f64, ctx, x, y, g, needs), in);
        // rounding to float32 is a step function: a wider step sees its slope 1 up to an ulp (2^-24) over the step
        Cast f32 = new Cast(DType.FLOAT32);
        KernelTesting.checkGradients("Cast float32", r, x -> CastKernel.forward(f32, ctx, x),
                (x, y, g, needs) -> CastKernel.backward(f32, ctx, x, y, g, needs), in, new boolean[] {true}, 1e-3,
                1e-4);
    }
}
