package io.tessera.planner.op;

import io.tessera.layout.DType;
import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.TensorMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.List;

import static io.tessera.planner.op.OpTests.rejected;
import static io.tessera.planner.op.OpTests.summaries;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** LayerNorm: normalised dims unsplit, gamma/beta follow x's trailing strategy, mean/var drop normalised dims. */
class LayerNormTest {

    private static final TensorType X = TensorType.of(DType.FLOAT32, 8, 16, 64);
    private static final TensorType G = TensorType.of(DType.FLOAT32, 64);
    private static final TensorType GG = TensorType.of(DType.FLOAT32, 16, 64);

    private static OpSharding shard(LayerNorm op, TensorType g, Strategy s, int devices) {
        return op.shard("ln", List.of(X, g, g), s, null, devices);
    }

    private static Strategy st(int[] x, int[] p) {
        return Strategy.of(x, p, p);
    }

    @Test
    void outputsKeepTheLeadingDimsAndSizeOneNormalisedDims() {
        assertEquals(List.of(X, X.withShape(8, 16, 1), X.withShape(8, 16, 1)),
                LayerNorm.of(-1).outputs("ln", List.of(X, G, G)));
        assertEquals(List.of(X, X.withShape(8, 1, 1), X.withShape(8, 1, 1)),
                new LayerNorm(1, -2, 1e-5).outputs("ln", List.of(X, GG, GG)));
        assertEquals(new LayerNorm(-1, -1, 1e-7), LayerNorm.of(-1));
        assertEquals("LayerNorm", LayerNorm.of(-1).type());
    }

    @Test
    void batchSplitAndTheGammaBetaGradientAllReduce() {
        OpSharding sh = shard(LayerNorm.of(-1), G, st(new int[] {2, 4, 1}, new int[] {1}), 8);
        assertEquals(DeviceMatrix.of(2, 4, 1), sh.devMatrix());
        assertEquals(TensorMap.of(2, 1, 0), sh.inputMaps().get(0));
        assertEquals(TensorMap.of(0), sh.inputMaps().get(1));
        assertEquals(TensorMap.of(0), sh.inputMaps().get(2));
        assertEquals(TensorMap.of(2, 1, 0), sh.outputMaps().get(0));
        assertEquals(TensorMap.of(2, 1, -1), sh.outputMaps().get(1));
        assertEquals(TensorMap.of(2, 1, -1), sh.outputMaps().get(2));
        assertArrayEquals(new long[] {4, 4, 1}, sh.outputLayout(1, X.withShape(8, 16, 1)).sliceShape());
        assertTrue(sh.forward().isEmpty(), sh.forward().toString());
        assertEquals(List.of("backward AllReduce(sum) of input 1 gradient over device dims [2, 1]",
                "backward AllReduce(sum) of input 2 gradient over device dims [2, 1]"), summaries(sh.backward()));
        assertEquals(List.of(List.of(0, 1, 2, 3, 4, 5, 6, 7)), sh.backward().get(0).groups(sh.devMatrix()));
    }

    @Test
    void repeatedDimensionIsNotPartOfTheGradientGroup() {
        OpSharding sh = shard(LayerNorm.of(-1), G, st(new int[] {2, 1, 1}, new int[] {1}), 8);
        assertEquals(DeviceMatrix.of(2, 1, 1, 4), sh.devMatrix());
        assertEquals(4, sh.repeated());
        assertEquals(TensorMap.of(3, 2, -1), sh.outputMaps().get(1));
        assertEquals(TensorMap.of(1), sh.inputMaps().get(1));
        assertEquals(List.of("backward AllReduce(sum) of input 1 gradient over device dims [3]",
                "backward AllReduce(sum) of input 2 gradient over device dims [3]"), summaries(sh.backward()));
    }

    @Test
    void gammaCoveringASplitDimensionFollowsIt() {
        // begin_norm_axis 2, begin_params_axis 1: gamma [16, 64] follows x's split of dim 1
        LayerNorm op = new LayerNorm(2, 1, 1e-5);
        OpSharding sh = shard(op, GG, st(new int[] {2, 4, 1}, new int[] {4, 1}), 8);
        assertEquals(TensorMap.of(1, 0), sh.inputMaps().get(1));
        assertEquals(TensorMap.of(2, 1, -1), sh.outputMaps().get(1));
        assertEquals(List.of("backward AllReduce(sum) of input 1 gradient over device dims [2]",
                "backward AllReduce(sum) of input 2 gradient over device dims [2]"), summaries(sh.backward()));
        String m = rejected(() -> shard(op, GG, Strategy.of(new int[] {2, 4, 1}, new int[] {2, 1},
                new int[] {4, 1}), 8), "LayerNorm 'ln'");
        assertEquals("LayerNorm 'ln': input 1 (gamma) dim 0 is split 2 ways but input 0 dim 1 is split 4 ways; "
                + "gamma must be split like x's dims from begin_params_axis 1", m);
        rejected(() -> shard(op, GG, Strategy.of(new int[] {2, 4, 1}, new int[] {4, 1}, new int[] {1, 1}), 8),
                "LayerNorm 'ln'", "input 2 (beta) dim 0 is split 1 ways but input 0 dim 1 is split 4 ways",
                "beta must be split like x's dims");
    }

    @Test
    void splittingANormalisedDimensionIsRejected() {
        String m = rejected(() -> shard(LayerNorm.of(-1), G, st(new int[] {2, 1, 4}, new int[] {4}), 8),
                "LayerNorm 'ln'");
        assertEquals("LayerNorm 'ln': input 0 dim 2 is split 4 ways but must not be split (LayerNorm normalises the "
                + "dims from begin_norm_axis -1); set it to 1", m);
        rejected(() -> shard(new LayerNorm(1, -1, 1e-5), G, st(new int[] {2, 4, 1}, new int[] {1}), 8),
                "LayerNorm 'ln'", "input 0 dim 1 is split 4 ways but must not be split",
                "begin_norm_axis 1");
    }

    @Test
    void gammaSplitDifferentFromXIsRejected() {
        String m = rejected(() -> shard(LayerNorm.of(-1), G, Strategy.of(new int[] {2, 4, 1}, new int[] {2},
                new int[] {1}), 16), "LayerNorm 'ln'");
        assertEquals("LayerNorm 'ln': input 1 (gamma) dim 0 is split 2 ways but input 0 dim 2 is split 1 ways; "
                + "gamma must be split like x's dims from begin_params_axis -1", m);
    }

    @Test
    void dataParallelDefaults() {
        Strategy dp = LayerNorm.of(-1).dataParallel(List.of(X, G, G), 16);
        assertEquals(st(new int[] {8, 1, 1}, new int[] {1}), dp);
        assertEquals(List.of("backward AllReduce(sum) of input 1 gradient over device dims [3]",
                "backward AllReduce(sum) of input 2 gradient over device dims [3]"),
                summaries(shard(LayerNorm.of(-1), G, dp, 16).backward()));
        // normalising everything: nothing may be split
        TensorType x = TensorType.of(DType.FLOAT32, 8, 4);
        assertEquals(st(new int[] {1, 1}, new int[] {1, 1}), LayerNorm.of(0).dataParallel(List.of(x, x, x), 8));
        // gamma covering the batch dim follows its split
        assertEquals(st(new int[] {8, 1}, new int[] {8, 1}),
                new LayerNorm(1, 0, 1e-7).dataParallel(List.of(x, x, x), 8));
    }

    @Test
    void shapeAndAttributeErrors() {
        rejected(() -> LayerNorm.of(-1).outputs("ln", List.of(X, TensorType.of(DType.FLOAT32, 32), G)),
                "LayerNorm 'ln'", "input 1 (gamma) Float32[32] does not match input 0 Float32[8, 16, 64]",
                "expected shape [64]");
        rejected(() -> LayerNorm.of(3).outputs("ln", List.of(X, G, G)), "LayerNorm 'ln'",
                "begin_norm_axis 3 is out of range");
        rejected(() -> new LayerNorm(-1, -4, 1e-7).outputs("ln", List.of(X, G, G)), "LayerNorm 'ln'",
                "begin_params_axis -4 is out of range");
        rejected(() -> LayerNorm.of(-1).outputs("ln", List.of(X, G)), "LayerNorm 'ln'",
                "found 2 inputs; expected 3 (x, gamma and beta)");
        rejected(() -> LayerNorm.of(-1).shard("ln", List.of(X, G, G), st(new int[] {1, 1, 1}, new int[] {1}),
                Strategy.of(new int[] {1, 1, 1}), 8), "LayerNorm 'ln'", "out_strategy");
    }

    @ParameterizedTest
    @ValueSource(doubles = {0.0, -1e-5, Double.NaN, Double.POSITIVE_INFINITY})
    void epsilonMustBePositive(double eps) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new LayerNorm(-1, -1, eps));
        assertTrue(e.getMessage().startsWith("LayerNorm: epsilon is " + eps), e.getMessage());
    }
}
