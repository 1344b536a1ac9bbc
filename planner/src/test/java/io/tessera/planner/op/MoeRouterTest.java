package io.tessera.planner.op;

import io.tessera.layout.DType;
import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.TensorMap;
import io.tessera.planner.graph.NetworkJson;
import org.junit.jupiter.api.Test;

import java.util.List;

import static io.tessera.planner.op.OpTests.rejected;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** MoeRouter: outputs, tokens split and experts whole, no communication, attributes and their one-line errors. */
class MoeRouterTest {

    /** Mixtral-8x7B's gate output for 64 tokens. */
    private static final TensorType LOGITS = TensorType.of(DType.BFLOAT16, 64, 8);
    /** DeepSeek-V3's 256 routed experts. */
    private static final TensorType DS_LOGITS = TensorType.of(DType.FLOAT32, 32, 256);
    private static final TensorType DS_BIAS = TensorType.of(DType.FLOAT32, 256);

    @Test
    void weightsInTheLogitsDtypeAndInt32Indices() {
        assertEquals(List.of(TensorType.of(DType.BFLOAT16, 64, 2), TensorType.of(DType.INT32, 64, 2)),
                MoeRouter.softmax(2, true).outputs("gate", List.of(LOGITS)));
        MoeRouter ds = MoeRouter.deepseek(8, 8, 4, 2.5);
        assertEquals(List.of(TensorType.of(DType.FLOAT32, 32, 8), TensorType.of(DType.INT32, 32, 8)),
                ds.outputs("gate", List.of(DS_LOGITS, DS_BIAS)));
        assertEquals(2, ds.inputCount());
        assertEquals(1, MoeRouter.softmax(2, false).inputCount());
        assertEquals("MoeRouter", ds.type());
    }

    @Test
    void tokensSplitExpertsWholeOutputsInTheTokensLayoutNoCommunication() {
        OpSharding sh = MoeRouter.softmax(2, true).shard("gate", List.of(LOGITS), Strategy.of(new int[] {4, 1}),
                null, 8);
        assertEquals(DeviceMatrix.of(4, 1, 2), sh.devMatrix());
        assertEquals(TensorMap.of(2, 1), sh.inputMaps().get(0));
        assertEquals(List.of(TensorMap.of(2, -1), TensorMap.of(2, -1)), sh.outputMaps());
        assertTrue(sh.forward().isEmpty(), sh.forward().toString());
        assertTrue(sh.backward().isEmpty(), sh.backward().toString());
        assertArrayEquals(new long[] {16, 2}, sh.outputLayout(1, TensorType.of(DType.INT32, 64, 2)).sliceShape());
        OpSharding ds = MoeRouter.deepseek(8, 8, 4, 2.5).shard("gate", List.of(DS_LOGITS, DS_BIAS),
                Strategy.of(new int[] {8, 1}, new int[] {1}), null, 8);
        assertEquals(DeviceMatrix.of(8, 1), ds.devMatrix());
        assertEquals(TensorMap.of(0), ds.inputMaps().get(1));
        assertTrue(ds.forward().isEmpty() && ds.backward().isEmpty());
        assertEquals(Strategy.of(new int[] {8, 1}, new int[] {1}),
                MoeRouter.deepseek(8, 8, 4, 2.5).dataParallel(List.of(DS_LOGITS, DS_BIAS), 8));
        assertEquals(Strategy.of(new int[] {4, 1}),
                MoeRouter.softmax(2, true).dataParallel(List.of(TensorType.of(DType.FLOAT32, 12, 8)), 8));
    }

    @Test
    void splittingTheExpertsIsRejectedNamingOpInputDimValueAndFix() {
        String m = rejected(() -> MoeRouter.softmax(2, true).shard("layers.0.gate", List.of(LOGITS),
                Strategy.of(new int[] {1, 2}), null, 2), "MoeRouter 'layers.0.gate'", "input 0 (logits) dim 1",
                "is split 2 ways but must not be split", "whole expert row", "set it to 1");
        assertFalse(m.contains("\n"), m);
        rejected(() -> MoeRouter.deepseek(8, 8, 4, 2.5).shard("gate", List.of(DS_LOGITS, DS_BIAS),
                Strategy.of(new int[] {2, 1}, new int[] {2}), null, 4), "MoeRouter 'gate'",
                "input 1 (bias) dim 0 is split 2 ways", "set it to 1");
        rejected(() -> MoeRouter.softmax(2, true).shard("gate", List.of(LOGITS), Strategy.of(new int[] {3, 1}),
                null, 3), "MoeRouter 'gate'", "input 0 dim 0 of size 64 is split 3 ways");
        rejected(() -> MoeRouter.softmax(2, true).shard("gate", List.of(LOGITS), Strategy.of(new int[] {1, 1}),
                Strategy.of(new int[] {1, 1}), 1), "MoeRouter 'gate'", "out_strategy");
    }

    @Test
    void shapeAndAttributeErrorsAreOneLineNamingTheValueAndTheFix() {
        rejected(() -> MoeRouter.softmax(9, false).outputs("gate", List.of(LOGITS)), "MoeRouter 'gate'",
                "top_k 9 exceeds the 8 experts", "choose top_k <= 8");
        rejected(() -> new MoeRouter(2, MoeRouter.Score.SIGMOID, true, 1, 3, 1, false).outputs("gate",
                List.of(LOGITS)), "MoeRouter 'gate'", "n_group 3 does not divide the 8 experts", "divisor of 8");
        rejected(() -> new MoeRouter(5, MoeRouter.Score.SIGMOID, true, 1, 4, 2, false).outputs("gate",
                List.of(LOGITS)), "MoeRouter 'gate'", "top_k 5 exceeds the 4 experts of the topk_group 2 kept groups");
        rejected(() -> MoeRouter.deepseek(8, 8, 4, 2.5).outputs("gate", List.of(DS_LOGITS,
                TensorType.of(DType.FLOAT32, 128))), "MoeRouter 'gate'", "input 1 (bias) Float32[128]",
                "expected [256]");
        rejected(() -> MoeRouter.deepseek(8, 8, 4, 2.5).outputs("gate", List.of(DS_LOGITS)), "MoeRouter 'gate'",
                "expected 2 (logits and bias)");
        rejected(() -> MoeRouter.softmax(2, false).outputs("gate", List.of(TensorType.of(DType.FLOAT32, 4, 2, 8))),
                "MoeRouter 'gate'", "input 0 (logits)", "[tokens, E]");
        rejected(() -> new MoeRouter(2, MoeRouter.Score.SIGMOID, true, 1, 4, 5, false), "MoeRouter",
                "topk_group is 5 with n_group 4", "1 <= topk_group <= n_group");
        rejected(() -> new MoeRouter(0, MoeRouter.Score.SOFTMAX, true, 1, 1, 1, false), "MoeRouter", "top_k is 0");
        rejected(() -> new MoeRouter(2, MoeRouter.Score.SOFTMAX, true, 0, 1, 1, false), "MoeRouter",
                "routed_scaling_factor is 0.0");
        rejected(() -> MoeRouter.Score.parse("tanh"), "MoeRouter", "score 'tanh'", "\"softmax\"", "\"sigmoid\"");
    }

    @Test
    void gradientForTheLogitsOnlyFromTheWeights() {
        MoeRouter ds = MoeRouter.deepseek(8, 8, 4, 2.5);
        assertTrue(ds.differentiableInput(0));
        assertFalse(ds.differentiableInput(1));
        assertTrue(ds.differentiableOutput(0));
        assertFalse(ds.differentiableOutput(1));
        assertEquals(List.of(TensorRef.input(0), TensorRef.input(1)), ds.gradientReads(0));
        assertEquals(List.of(TensorRef.input(0)), MoeRouter.softmax(2, true).gradientReads(0));
    }

    @Test
    void jsonAttributesWithDefaults() {
        assertEquals(OperatorKind.MOE_ROUTER, OperatorKind.forType("MoeRouter"));
        assertEquals(List.of("top_k", "score", "norm_topk_prob", "routed_scaling_factor", "n_group", "topk_group",
                "with_bias"), OperatorKind.MOE_ROUTER.attrNames());
        MoeRouter ds = MoeRouter.deepseek(8, 8, 4, 2.5);
        assertEquals("{\"top_k\":8,\"score\":\"sigmoid\",\"norm_topk_prob\":true,\"routed_scaling_factor\":2.5,"
                + "\"n_group\":8,\"topk_group\":4,\"with_bias\":true}", ds.encodeAttrs().toString());
        assertEquals(ds, OperatorKind.MOE_ROUTER.decode("MoeRouter", new OpAttrs("ops[0]", ds.encodeAttrs())));
        var top2 = OpAttrs.object();
        top2.put("top_k", 2);
        assertEquals(new MoeRouter(2, MoeRouter.Score.SOFTMAX, false, 1, 1, 1, false),
                OperatorKind.MOE_ROUTER.decode("MoeRouter", new OpAttrs("ops[0]", top2)));
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> OperatorKind.MOE_ROUTER.decode("MoeRouter", new OpAttrs("ops[0]", OpAttrs.object())));
        assertTrue(missing.getMessage().contains("attribute 'top_k' is missing"), missing.getMessage());
    }

    @Test
    void networkFileErrorsAreOneLineNamingTheOp() {
        String head = "{\"name\": \"n\", \"inputs\": [{\"name\": \"x\", \"shape\": [4, 8]}], \"ops\": ["
                + "{\"name\": \"router\", \"type\": \"MoeRouter\", \"inputs\": [\"x\"], \"attrs\": ";
        assertEquals(MoeRouter.softmax(2, true), NetworkJson.parse(head
                + "{\"top_k\": 2, \"norm_topk_prob\": true}}]}").node("router").op());
        IllegalArgumentException score = assertThrows(IllegalArgumentException.class,
                () -> NetworkJson.parse(head + "{\"top_k\": 2, \"score\": \"tanh\"}}]}"));
        assertTrue(score.getMessage().startsWith("network JSON: ") && score.getMessage().contains("'router'")
                && score.getMessage().contains("score 'tanh'") && !score.getMessage().contains("\n"),
                score.getMessage());
        IllegalArgumentException topK = assertThrows(IllegalArgumentException.class,
                () -> NetworkJson.parse(head + "{\"top_k\": 9}}]}"));
        assertTrue(topK.getMessage().contains("top_k 9 exceeds the 8 experts")
                && !topK.getMessage().contains("\n"), topK.getMessage());
    }

    @Test
    void flopsPerLogitAndPerWeightAndBytesStreamed() {
        List<long[]> in = List.of(new long[] {32, 256}, new long[] {256});
        List<long[]> out = List.of(new long[] {32, 8}, new long[] {32, 8});
        assertEquals(8L * 32 * 256 + 3L * 32 * 8, MoeRouter.deepseek(8, 8, 4, 2.5).forwardFlops(in, out));
        assertEquals(4L * (32 * 256 + 256 + 32 * 8 + 32 * 8), MoeRouter.deepseek(8, 8, 4, 2.5).forwardBytes(in,
                List.of(DType.FLOAT32, DType.FLOAT32), out, List.of(DType.FLOAT32, DType.INT32)));
    }
}
