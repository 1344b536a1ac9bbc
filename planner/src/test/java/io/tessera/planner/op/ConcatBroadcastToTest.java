package io.tessera.planner.op;

import io.tessera.layout.DType;
import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.TensorMap;
import io.tessera.layout.comm.CollectiveKind;
import org.junit.jupiter.api.Test;

import java.util.List;

import static io.tessera.planner.op.OpTests.rejected;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Concat (inputs split alike, the axis whole, no communication) and BroadcastTo (a tuple over the output's dims; a
 * repeated dim splits the output alone and x's gradient is AllReduced over it), as DeepSeek-V3's latent attention
 * joins {@code k_nope} with the shared {@code k_pe} repeated over the heads.
 */
class ConcatBroadcastToTest {

    private static final TensorType K_NOPE = TensorType.of(DType.BFLOAT16, 2, 8, 16, 128);
    private static final TensorType K_PE = TensorType.of(DType.BFLOAT16, 2, 8, 16, 64);
    private static final TensorType SHARED = TensorType.of(DType.BFLOAT16, 2, 1, 16, 64);

    @Test
    void concatJoinsAlongTheAxisInTheInputsLayout() {
        assertEquals(List.of(TensorType.of(DType.BFLOAT16, 2, 8, 16, 192)),
                Concat.of(-1).outputs("k", List.of(K_NOPE, K_PE)));
        OpSharding sh = Concat.of(-1).shard("k", List.of(K_NOPE, K_PE),
                Strategy.of(new int[] {2, 4, 1, 1}, new int[] {2, 4, 1, 1}), null, 8);
        assertEquals(DeviceMatrix.of(2, 4, 1, 1), sh.devMatrix());
        assertEquals(List.of(TensorMap.of(3, 2, 1, 0), TensorMap.of(3, 2, 1, 0)), sh.inputMaps());
        assertEquals(sh.inputMaps().get(0), sh.outputMaps().get(0));
        assertTrue(sh.forward().isEmpty() && sh.backward().isEmpty());
        assertEquals(Strategy.of(new int[] {2, 1, 1, 1}, new int[] {2, 1, 1, 1}),
                Concat.of(-1).dataParallel(List.of(K_NOPE, K_PE), 2));
        rejected(() -> Concat.of(-1).shard("k", List.of(K_NOPE, K_PE),
                Strategy.of(new int[] {1, 1, 1, 2}, new int[] {1, 1, 1, 2}), null, 2), "Concat 'k'",
                "input 0 dim 3 is split 2 ways but must not be split");
        rejected(() -> Concat.of(-1).shard("k", List.of(K_NOPE, K_PE),
                Strategy.of(new int[] {2, 1, 1, 1}, new int[] {1, 2, 1, 1}), null, 2), "Concat 'k'",
                "input 1 dim 0 is split 1 ways but input 0 dim 0 is split 2 ways");
        rejected(() -> Concat.of(1).outputs("k", List.of(K_NOPE, K_PE)), "Concat 'k'",
                "input 1 " + K_PE + " does not fit input 0");
        assertEquals("{\"axis\":-1,\"input_num\":2}", Concat.of(-1).encodeAttrs().toString());
        assertEquals(new Concat(0, 3), OperatorKind.CONCAT.decode("Concat",
                new OpAttrs("ops[0]", new Concat(0, 3).encodeAttrs())));
        assertEquals(0, Concat.of(0).forwardFlops(List.of(), List.of()));
    }

    @Test
    void broadcastSplitsTheRepeatedHeadsAndReducesTheGradientOverThem() {
        BroadcastTo op = BroadcastTo.of(2, 8, 16, 64);
        assertEquals(List.of(K_PE), op.outputs("k_pe", List.of(SHARED)));
        // batch 2 x heads 4: the shared key whole over the head split, its gradient AllReduced over it
        OpSharding sh = op.shard("k_pe", List.of(SHARED), Strategy.of(new int[] {2, 4, 1, 1}), null, 8);
        assertEquals(DeviceMatrix.of(2, 4, 1, 1), sh.devMatrix());
        assertEquals(TensorMap.of(3, -1, 1, 0), sh.inputMaps().get(0));
        assertEquals(TensorMap.of(3, 2, 1, 0), sh.outputMaps().get(0));
        assertTrue(sh.forward().isEmpty(), sh.forward().toString());
        assertEquals(1, sh.backward().size());
        assertEquals(CollectiveKind.ALL_REDUCE, sh.backward().get(0).kind());
        assertArrayEquals(new int[] {2}, sh.backward().get(0).axes());
        // not split along the repeated dim: nothing at all
        OpSharding dp = op.shard("k_pe", List.of(SHARED), Strategy.of(new int[] {2, 1, 2, 1}), null, 4);
        assertTrue(dp.forward().isEmpty() && dp.backward().isEmpty());
        rejected(() -> op.shard("k_pe", List.of(SHARED), Strategy.of(new int[] {1, 3, 1, 1}), null, 3),
                "BroadcastTo 'k_pe'", "dim 1 of size 8 is split 3 ways");
        rejected(() -> BroadcastTo.of(2, 8, 16, 32).outputs("k_pe", List.of(SHARED)), "BroadcastTo 'k_pe'",
                "does not broadcast to [2, 8, 16, 32]");
        assertEquals("{\"shape\":[2,8,16,64]}", op.encodeAttrs().toString());
        assertEquals(op, OperatorKind.BROADCAST_TO.decode("BroadcastTo", new OpAttrs("ops[0]", op.encodeAttrs())));
        assertEquals(List.of("Concat", "BroadcastTo"), OperatorKind.allTypes().subList(
                OperatorKind.allTypes().size() - 2, OperatorKind.allTypes().size()));
    }
}
