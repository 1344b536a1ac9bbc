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

/** RMSNorm: the last dim unsplit, the leading dims split any way, weight whole, rstd drops the last dim. */
class RMSNormTest {

    private static final TensorType X = TensorType.of(DType.BFLOAT16, 8, 16, 64);
    private static final TensorType W = TensorType.of(DType.BFLOAT16, 64);

    private static OpSharding shard(Strategy s, int devices) {
        return RMSNorm.of().shard("norm", List.of(X, W), s, null, devices);
    }

    @Test
    void outputsAreYAndASizeOneLastDimRstd() {
        assertEquals(List.of(X, X.withShape(8, 16, 1)), RMSNorm.of().outputs("norm", List.of(X, W)));
        assertEquals(new RMSNorm(1e-6), RMSNorm.of());
        assertEquals("RMSNorm", RMSNorm.of().type());
        assertEquals(2, RMSNorm.of().inputCount());
        TensorType v = TensorType.of(DType.FLOAT32, 5);
        assertEquals(List.of(v, v.withShape(1)), new RMSNorm(1e-5).outputs("norm", List.of(v, v)));
    }

    @Test
    void batchAndSequenceSplitAndTheWeightGradientAllReduce() {
        // data parallel 2 x sequence parallel 4: rows split, the normalised dim whole
        OpSharding sh = shard(Strategy.of(new int[] {2, 4, 1}, new int[] {1}), 8);
        assertEquals(DeviceMatrix.of(2, 4, 1), sh.devMatrix());
        assertEquals(TensorMap.of(2, 1, 0), sh.inputMaps().get(0));
        assertEquals(TensorMap.of(0), sh.inputMaps().get(1));
        assertEquals(TensorMap.of(2, 1, 0), sh.outputMaps().get(0));
        assertEquals(TensorMap.of(2, 1, -1), sh.outputMaps().get(1));
        assertArrayEquals(new long[] {4, 4, 1}, sh.outputLayout(1, X.withShape(8, 16, 1)).sliceShape());
        assertTrue(sh.forward().isEmpty(), sh.forward().toString());
        assertEquals(List.of("backward AllReduce(sum) of input 1 gradient over device dims [2, 1]"),
                summaries(sh.backward()));
        assertEquals(List.of(List.of(0, 1, 2, 3, 4, 5, 6, 7)), sh.backward().get(0).groups(sh.devMatrix()));
    }

    @Test
    void repeatedDevicesAreNotPartOfTheGradientGroup() {
        OpSharding sh = shard(Strategy.of(new int[] {2, 1, 1}, new int[] {1}), 8);
        assertEquals(DeviceMatrix.of(2, 1, 1, 4), sh.devMatrix());
        assertEquals(4, sh.repeated());
        assertEquals(List.of("backward AllReduce(sum) of input 1 gradient over device dims [3]"),
                summaries(sh.backward()));
    }

    @Test
    void splittingTheNormalisedDimOrTheWeightIsRejected() {
        String m = rejected(() -> shard(Strategy.of(new int[] {2, 1, 4}, new int[] {4}), 8), "RMSNorm 'norm'");
        assertEquals("RMSNorm 'norm': input 0 dim 2 is split 4 ways but must not be split (RMSNorm normalises x's"
                + " last dim); set it to 1", m);
        rejected(() -> shard(Strategy.of(new int[] {2, 4, 1}, new int[] {2}), 16), "RMSNorm 'norm'",
                "input 1 (weight) dim 0 is split 2 ways but input 0 dim 2 is split 1 ways",
                "weight must be split like x's last dim");
    }

    @Test
    void dataParallelSplitsTheBatchOnly() {
        Strategy dp = RMSNorm.of().dataParallel(List.of(X, W), 16);
        assertEquals(Strategy.of(new int[] {8, 1, 1}, new int[] {1}), dp);
        assertEquals(List.of("backward AllReduce(sum) of input 1 gradient over device dims [3]"),
                summaries(shard(dp, 16).backward()));
        TensorType v = TensorType.of(DType.FLOAT32, 8);
        assertEquals(Strategy.of(new int[] {1}, new int[] {1}), RMSNorm.of().dataParallel(List.of(v, v), 8));
    }

    @Test
    void shapeAndStrategyErrors() {
        rejected(() -> RMSNorm.of().outputs("norm", List.of(X, TensorType.of(DType.BFLOAT16, 16))),
                "RMSNorm 'norm'", "input 1 (weight)", "does not match input 0", "expected shape [64]");
        rejected(() -> RMSNorm.of().outputs("norm", List.of(X, TensorType.of(DType.BFLOAT16, 16, 64))),
                "RMSNorm 'norm'", "expected shape [64]");
        rejected(() -> RMSNorm.of().outputs("norm", List.of(X)), "RMSNorm 'norm'",
                "found 1 input; expected 2 (x and weight)");
        TensorType scalar = TensorType.of(DType.FLOAT32);
        rejected(() -> RMSNorm.of().outputs("norm", List.of(scalar, W)), "RMSNorm 'norm'", "is a scalar");
        rejected(() -> RMSNorm.of().shard("norm", List.of(X, W), Strategy.of(new int[] {1, 1, 1}, new int[] {1}),
                Strategy.of(new int[] {1, 1, 1}), 8), "RMSNorm 'norm'", "out_strategy");
    }

    @ParameterizedTest
    @ValueSource(doubles = {0.0, -1e-6, Double.NaN, Double.POSITIVE_INFINITY})
    void epsMustBePositive(double eps) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new RMSNorm(eps));
        assertTrue(e.getMessage().startsWith("RMSNorm: eps is " + eps), e.getMessage());
    }

    @Test
    void gradientRuleReadsXWeightAndRstd() {
        RMSNorm op = RMSNorm.of();
        assertTrue(op.differentiableInput(0) && op.differentiableInput(1));
        assertTrue(op.differentiableOutput(0));
        assertEquals(false, op.differentiableOutput(1));
        assertEquals(List.of(TensorRef.input(0), TensorRef.input(1), TensorRef.output(1)), op.gradientReads(0));
        assertEquals(List.of(TensorRef.input(0), TensorRef.output(1)), op.gradientReads(1));
    }

    @Test
    void jsonAttributeEpsDefaultsToOneInAMillion() {
        assertEquals(OperatorKind.RMS_NORM, OperatorKind.forType("RMSNorm"));
        assertEquals(List.of("eps"), OperatorKind.RMS_NORM.attrNames());
        assertEquals("{\"eps\":1.0E-5}", new RMSNorm(1e-5).encodeAttrs().toString());
        assertEquals(new RMSNorm(1e-5), OperatorKind.RMS_NORM.decode("RMSNorm",
                new OpAttrs("ops[0]", new RMSNorm(1e-5).encodeAttrs())));
        assertEquals(new RMSNorm(1e-6), OperatorKind.RMS_NORM.decode("RMSNorm", new OpAttrs("ops[0]",
                OpAttrs.object())));
    }

    @Test
    void flopsAndBytesPerRank() {
        List<long[]> in = List.of(new long[] {4, 4, 64}, new long[] {64});
        List<long[]> out = List.of(new long[] {4, 4, 64}, new long[] {4, 4, 1});
        assertEquals(Flops.RMS_NORM * 4L * 4 * 64, RMSNorm.of().forwardFlops(in, out));
        assertEquals(2L * (4 * 4 * 64 + 64 + 4 * 4 * 64 + 4 * 4),
                RMSNorm.of().forwardBytes(in, List.of(DType.BFLOAT16, DType.BFLOAT16), out,
                        List.of(DType.BFLOAT16, DType.BFLOAT16)));
    }
}
