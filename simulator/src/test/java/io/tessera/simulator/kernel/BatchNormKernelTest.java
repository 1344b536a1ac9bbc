package io.tessera.simulator.kernel;

import io.tessera.planner.op.BatchNorm;
import io.tessera.simulator.array.NDArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static io.tessera.simulator.kernel.CentralDifference.add;
import static io.tessera.simulator.kernel.CentralDifference.array;
import static io.tessera.simulator.kernel.CentralDifference.assertClose;
import static io.tessera.simulator.kernel.CentralDifference.concat;
import static io.tessera.simulator.kernel.CentralDifference.flags;
import static io.tessera.simulator.kernel.CentralDifference.slice;
import static io.tessera.simulator.kernel.CentralDifference.uniform;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

class BatchNormKernelTest {

    private static List<NDArray> inputs(Random r, long[] shape) {
        long c = shape[1];
        NDArray variance = uniform(r, c);
        for (int i = 0; i < variance.size(); i++) {
            variance.set(i, Math.abs(variance.get(i)) + 0.5);
        }
        return List.of(uniform(r, shape), uniform(r, c), uniform(r, c), uniform(r, c), variance);
    }

    private static List<NDArray> run(BatchNorm op, List<NDArray> in) {
        return BatchNormKernel.forward(op, CentralDifference.single(in, List.of(in.get(0).shape())), in);
    }

    @Test
    void statisticsAreSumSumOfSquaresAndCountPerChannel() {
        NDArray x = array(new long[] {2, 2, 2}, 1, 2, 10, 20, 3, 4, 30, 40);
        assertEquals(array(new long[] {3, 2}, 10, 100, 30, 3000, 4, 4), BatchNormKernel.statistics(x));
    }

    @Test
    void normalisesPerChannelOverTheBatchWithBiasedVariance() {
        double eps = 1e-5;
        BatchNorm op = new BatchNorm(eps, 0.1);
        // channel 0: 1, 3 (mean 2, variance 1); channel 1: 10, 14 (mean 12, variance 4)
        NDArray x = array(new long[] {2, 2}, 1, 10, 3, 14);
        NDArray scale = array(new long[] {2}, 2, 3);
        NDArray bias = array(new long[] {2}, 0.5, -1);
        List<NDArray> in = List.of(x, scale, bias, NDArray.zeros(2), NDArray.full(1, 2));
        double r0 = 1 / Math.sqrt(1 + eps);
        double r1 = 1 / Math.sqrt(4 + eps);
        assertClose(array(new long[] {2, 2}, -2 * r0 + 0.5, -2 * 3 * r1 - 1, 2 * r0 + 0.5, 2 * 3 * r1 - 1),
                run(op, in).get(0), 1e-15, "y");
    }

    @Test
    void movingStatisticsNeverGetGradientsAndUnneededOnesAreNull() {
        Random r = CentralDifference.random("BatchNorm needsGrad", 2100);
        BatchNorm op = BatchNorm.of();
        List<NDArray> in = inputs(r, new long[] {3, 2, 2});
        List<NDArray> g = BatchNormKernel.backward(op, null, in, run(op, in), List.of(uniform(r, 3, 2, 2)),
                flags(5, 1, 3, 4));
        assertNull(g.get(0));
        assertNull(g.get(2));
        assertNull(g.get(3));
        assertNull(g.get(4));
        assertEquals(List.of(2L), Arrays.stream(g.get(1).shape()).boxed().toList());
        List<NDArray> zero = BatchNormKernel.backward(op, null, in, run(op, in), Arrays.asList((NDArray) null),
                flags(5, 0, 1, 2));
        assertEquals(NDArray.zeros(3, 2, 2), zero.get(0));
        assertEquals(NDArray.zeros(2), zero.get(1));
    }

    static Stream<Arguments> splits() {
        return Stream.of(Arguments.of(0, new long[] {4, 3, 2, 2}), Arguments.of(2, new long[] {2, 3, 4, 2}),
                Arguments.of(0, new long[] {6, 2}));
    }

    @ParameterizedTest(name = "x {1} split in two along dim {0}")
    @MethodSource("splits")
    void splitBatchWithSummedStatisticsEqualsTheFullBatch(int axis, long[] shape) {
        String label = "BatchNorm split dim " + axis + " of " + Arrays.toString(shape);
        Random r = CentralDifference.random(label, 2200L + axis);
        BatchNorm op = BatchNorm.of();
        List<NDArray> in = inputs(r, shape);
        NDArray x = in.get(0);
        NDArray scale = in.get(1);
        NDArray bias = in.get(2);
        NDArray dy = uniform(r, shape);
        NDArray y = run(op, in).get(0);
        List<NDArray> grads = BatchNormKernel.backward(op, null, in, List.of(y), List.of(dy), flags(5, 0, 1, 2));
        NDArray fullStats = BatchNormKernel.statistics(x);

        long half = shape[axis] / 2;
        NDArray[] xs = {slice(x, axis, 0, half), slice(x, axis, half, shape[axis])};
        NDArray[] dys = {slice(dy, axis, 0, half), slice(dy, axis, half, shape[axis])};
        NDArray stats = add(BatchNormKernel.statistics(xs[0]), BatchNormKernel.statistics(xs[1]));
        assertClose(fullStats, stats, 1e-14, "summed statistics");
        NDArray gradStats = add(BatchNormKernel.gradStatistics(xs[0], dys[0], stats),
                BatchNormKernel.gradStatistics(xs[1], dys[1], stats));
        assertClose(BatchNormKernel.gradStatistics(x, dy, fullStats), gradStats, 1e-13, "summed gradient statistics");

        NDArray[] ys = new NDArray[2];
        NDArray[] dxs = new NDArray[2];
        NDArray dscale = NDArray.zeros(shape[1]);
        NDArray dbias = NDArray.zeros(shape[1]);
        for (int h = 0; h < 2; h++) {
            ys[h] = BatchNormKernel.normalize(op, xs[h], scale, bias, stats);
            List<NDArray> g = BatchNormKernel.backwardApply(op, xs[h], dys[h], scale, stats, gradStats,
                    flags(5, 0, 1, 2));
            dxs[h] = g.get(0);
            dscale = add(dscale, g.get(1));
            dbias = add(dbias, g.get(2));
        }
        assertClose(y, concat(axis, ys), 1e-13, label + " y");
        assertClose(grads.get(0), concat(axis, dxs), 1e-12, label + " dx");
        assertClose(grads.get(1), dscale, 1e-13, label + " dscale (partial sums added)");
        assertClose(grads.get(2), dbias, 1e-13, label + " dbias (partial sums added)");
    }

    @Test
    void channelSplitIsLocal() {
        Random r = CentralDifference.random("BatchNorm channel split", 2300);
        BatchNorm op = BatchNorm.of();
        List<NDArray> in = inputs(r, new long[] {2, 4, 3});
        NDArray y = run(op, in).get(0);
        NDArray[] parts = new NDArray[2];
        for (int h = 0; h < 2; h++) {
            int from = 2 * h;
            NDArray xh = slice(in.get(0), 1, from, from + 2);
            parts[h] = BatchNormKernel.normalize(op, xh, slice(in.get(1), 0, from, from + 2),
                    slice(in.get(2), 0, from, from + 2), BatchNormKernel.statistics(xh));
        }
        assertClose(y, concat(1, parts), 1e-15, "y");
    }
}
