package io.tessera.planner.op;

import io.tessera.layout.DType;
import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.TensorMap;
import org.junit.jupiter.api.Test;

import java.util.List;

import static io.tessera.planner.op.OpTests.rejected;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** MoeAuxLoss: a scalar from logits and the router's indices, nothing split, gradient for the logits only. */
class MoeAuxLossTest {

    private static final TensorType LOGITS = TensorType.of(DType.FLOAT32, 64, 8);
    private static final TensorType INDICES = TensorType.of(DType.INT32, 64, 2);

    @Test
    void aScalarOfTheLogitsDtypeLikeAFullReduceMean() {
        List<TensorType> out = MoeAuxLoss.of(2).outputs("aux", List.of(LOGITS, INDICES));
        assertEquals(List.of(TensorType.of(DType.FLOAT32)), out);
        assertEquals(Reduce.mean(false).outputs("m", List.of(LOGITS)), out);
        assertEquals("MoeAuxLoss", MoeAuxLoss.of(2).type());
        assertEquals(2, MoeAuxLoss.of(2).inputCount());
    }

    @Test
    void replicatedInputsNoCommunication() {
        OpSharding sh = MoeAuxLoss.of(2).shard("aux", List.of(LOGITS, INDICES),
                Strategy.of(new int[] {1, 1}, new int[] {1, 1}), null, 4);
        assertEquals(DeviceMatrix.of(1, 1, 4), sh.devMatrix());
        // mapped to the size-1 device dims: every rank holds the whole tensors
        assertEquals(List.of(TensorMap.of(2, 1), TensorMap.of(2, 1)), sh.inputMaps());
        assertArrayEquals(new long[] {64, 8}, sh.inputLayout(0, LOGITS).sliceShape());
        assertArrayEquals(new long[] {64, 2}, sh.inputLayout(1, INDICES).sliceShape());
        assertTrue(sh.forward().isEmpty() && sh.backward().isEmpty(), sh.forward() + " " + sh.backward());
        assertEquals(Strategy.of(new int[] {1, 1}, new int[] {1, 1}),
                MoeAuxLoss.of(2).dataParallel(List.of(LOGITS, INDICES), 8));
    }

    @Test
    void anySplitIsRejectedNamingOpInputDimValueAndFix() {
        rejected(() -> MoeAuxLoss.of(2).shard("layers.0.aux", List.of(LOGITS, INDICES),
                Strategy.of(new int[] {2, 1}, new int[] {2, 1}), null, 2), "MoeAuxLoss 'layers.0.aux'",
                "input 0 (logits) dim 0 is split 2 ways but must not be split", "over all tokens",
                "lay the tokens out replicated", "set it to 1");
        rejected(() -> MoeAuxLoss.of(2).shard("aux", List.of(LOGITS, INDICES),
                Strategy.of(new int[] {1, 2}, new int[] {1, 1}), null, 2), "MoeAuxLoss 'aux'",
                "input 0 (logits) dim 1 is split 2 ways", "every expert");
        rejected(() -> MoeAuxLoss.of(2).shard("aux", List.of(LOGITS, INDICES),
                Strategy.of(new int[] {1, 1}, new int[] {4, 1}), null, 4), "MoeAuxLoss 'aux'",
                "input 1 (indices) dim 0 is split 4 ways");
    }

    @Test
    void shapeErrorsNameTheValueAndTheFix() {
        rejected(() -> MoeAuxLoss.of(3).outputs("aux", List.of(LOGITS, INDICES)), "MoeAuxLoss 'aux'",
                "input 1 (indices) Int32[64, 2] does not fit top_k 3", "expected int32 [64, 3]",
                "set top_k to the router's");
        rejected(() -> MoeAuxLoss.of(2).outputs("aux", List.of(LOGITS, TensorType.of(DType.FLOAT32, 64, 2))),
                "MoeAuxLoss 'aux'", "input 1 (indices) Float32[64, 2]");
        rejected(() -> MoeAuxLoss.of(9).outputs("aux", List.of(LOGITS, TensorType.of(DType.INT32, 64, 9))),
                "MoeAuxLoss 'aux'", "top_k 9 exceeds the 8 experts");
        rejected(() -> MoeAuxLoss.of(2).outputs("aux", List.of(LOGITS)), "MoeAuxLoss 'aux'",
                "expected 2 (logits and indices)");
        rejected(() -> new MoeAuxLoss(0, 0.01), "MoeAuxLoss", "top_k is 0");
        rejected(() -> new MoeAuxLoss(2, Double.NaN), "MoeAuxLoss", "coefficient is NaN");
    }

    @Test
    void gradientRuleAndJson() {
        MoeAuxLoss op = new MoeAuxLoss(2, 0.02);
        assertTrue(op.differentiableInput(0));
        assertFalse(op.differentiableInput(1));
        assertTrue(op.differentiableOutput(0));
        assertEquals(List.of(TensorRef.input(0), TensorRef.input(1)), op.gradientReads(0));
        assertEquals(OperatorKind.MOE_AUX_LOSS, OperatorKind.forType("MoeAuxLoss"));
        assertEquals("{\"top_k\":2,\"coefficient\":0.02}", op.encodeAttrs().toString());
        assertEquals(op, OperatorKind.MOE_AUX_LOSS.decode("MoeAuxLoss", new OpAttrs("ops[0]", op.encodeAttrs())));
        var k2 = OpAttrs.object();
        k2.put("top_k", 2);
        assertEquals(MoeAuxLoss.of(2), OperatorKind.MOE_AUX_LOSS.decode("MoeAuxLoss", new OpAttrs("ops[0]", k2)));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> OperatorKind.MOE_AUX_LOSS.decode("MoeAuxLoss", new OpAttrs("ops[0]", OpAttrs.object())));
        assertTrue(e.getMessage().contains("attribute 'top_k' is missing"), e.getMessage());
    }

    @Test
    void flopsAndBytes() {
        List<long[]> in = List.of(new long[] {64, 8}, new long[] {64, 2});
        List<long[]> out = List.of(new long[0]);
        assertEquals(6L * 64 * 8 + 64 * 2, MoeAuxLoss.of(2).forwardFlops(in, out));
        assertEquals(4L * (64 * 8 + 64 * 2 + 1), MoeAuxLoss.of(2).forwardBytes(in,
                List.of(DType.FLOAT32, DType.INT32), out, List.of(DType.FLOAT32)));
    }
}
