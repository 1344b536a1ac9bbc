package io.tessera.planner.op;

import io.tessera.layout.DType;
import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.TensorMap;
import org.junit.jupiter.api.Test;

import java.util.Collections;
import java.util.List;

import static io.tessera.planner.op.OpTests.rejected;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Split: equal outputs along the axis, the axis never split, every output in the input's layout, no communication. */
class SplitTest {

    /** GPT-2's fused c_attn output: [tokens, 3 * hidden]. */
    private static final TensorType QKV = TensorType.of(DType.BFLOAT16, 64, 3 * 768);

    @Test
    void outputsAreEqualPiecesAlongTheAxis() {
        TensorType piece = TensorType.of(DType.BFLOAT16, 64, 768);
        assertEquals(List.of(piece, piece, piece), Split.of(-1, 3).outputs("qkv", List.of(QKV)));
        assertEquals(Split.of(1, 3).outputs("qkv", List.of(QKV)), Split.of(-1, 3).outputs("qkv", List.of(QKV)));
        TensorType x = TensorType.of(DType.FLOAT32, 4, 6, 2);
        assertEquals(Collections.nCopies(2, x.withShape(2, 6, 2)), Split.of(0, 2).outputs("s", List.of(x)));
        assertEquals(List.of(x), Split.of(1, 1).outputs("s", List.of(x)));
        assertEquals("Split", Split.of(0, 2).type());
        assertEquals(1, Split.of(0, 2).inputCount());
    }

    @Test
    void everyDimButTheAxisMaySplitAndEveryOutputKeepsTheInputLayout() {
        // data parallel 2 over tokens, nothing else split: 4 devices, 2 repeated
        OpSharding sh = Split.of(-1, 3).shard("qkv", List.of(QKV), Strategy.of(new int[] {2, 1}), null, 4);
        assertEquals(DeviceMatrix.of(2, 1, 2), sh.devMatrix());
        assertEquals(3, sh.outputMaps().size());
        for (TensorMap m : sh.outputMaps()) {
            assertEquals(sh.inputMaps().get(0), m);
        }
        assertEquals(TensorMap.of(2, 1), sh.inputMaps().get(0));
        assertTrue(sh.forward().isEmpty(), sh.forward().toString());
        assertTrue(sh.backward().isEmpty(), sh.backward().toString());
        assertArrayEquals(new long[] {32, 768},
                sh.outputLayout(1, TensorType.of(DType.BFLOAT16, 64, 768)).sliceShape());
        // a split along a middle axis with the dims around it split
        TensorType x = TensorType.of(DType.FLOAT32, 4, 6, 8);
        OpSharding mid = Split.of(1, 3).shard("s", List.of(x), Strategy.of(new int[] {2, 1, 4}), null, 8);
        assertEquals(DeviceMatrix.of(2, 1, 4), mid.devMatrix());
        assertEquals(List.of(TensorMap.of(2, 1, 0), TensorMap.of(2, 1, 0), TensorMap.of(2, 1, 0)), mid.outputMaps());
        assertTrue(mid.forward().isEmpty() && mid.backward().isEmpty());
    }

    @Test
    void splittingTheAxisIsRejectedNamingOpInputDimValueAndFix() {
        String m = rejected(() -> Split.of(-1, 3).shard("attn.qkv", List.of(QKV), Strategy.of(new int[] {1, 2}),
                null, 2), "Split 'attn.qkv'");
        assertTrue(m.startsWith("Split 'attn.qkv': input 0 dim 1 is split 2 ways but must not be split (Split cuts"
                + " this dim into 3 outputs"), m);
        assertTrue(m.endsWith("; set it to 1"), m);
        rejected(() -> Split.of(0, 2).shard("s", List.of(QKV), Strategy.of(new int[] {1, 5}), null, 5),
                "Split 's'", "input 0 dim 1 of size 2304 is split 5 ways", "does not divide", "choose a divisor");
        rejected(() -> Split.of(0, 2).shard("s", List.of(QKV), Strategy.of(new int[] {1, 1}),
                Strategy.of(new int[] {1, 1}), 1), "Split 's'", "out_strategy");
    }

    @Test
    void shapeErrorsNameTheOpAndTheFix() {
        rejected(() -> Split.of(-1, 5).outputs("qkv", List.of(QKV)), "Split 'qkv'",
                "input 0 (x) BFloat16[64, 2304] dim 1 of size 2304 does not divide into output_num 5 equal parts",
                "choose an output_num dividing 2304");
        rejected(() -> Split.of(2, 3).outputs("qkv", List.of(QKV)), "Split 'qkv'", "axis 2 is out of range",
                "[-2, 1]");
        rejected(() -> Split.of(0, 1).outputs("s", List.of(TensorType.of(DType.FLOAT32))), "Split 's'", "scalar");
        rejected(() -> Split.of(0, 1).outputs("s", List.of(QKV, QKV)), "Split 's'", "expected 1 (x)");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Split.of(0, 0));
        assertEquals("Split: output_num is 0; expected a positive number of outputs, e.g. 3 for q, k and v",
                e.getMessage());
    }

    @Test
    void dataParallelSplitsDimZeroUnlessItIsTheAxis() {
        assertEquals(Strategy.of(new int[] {8, 1}), Split.of(-1, 3).dataParallel(List.of(QKV), 8));
        assertEquals(Strategy.of(new int[] {1, 1}), Split.of(0, 2).dataParallel(List.of(QKV), 8));
        assertEquals(Strategy.of(new int[] {3, 1}),
                Split.of(1, 2).dataParallel(List.of(TensorType.of(DType.FLOAT32, 6, 4)), 9));
    }

    @Test
    void gradientRuleReadsNothing() {
        Split op = Split.of(-1, 3);
        assertTrue(op.differentiableInput(0));
        for (int o = 0; o < 3; o++) {
            assertTrue(op.differentiableOutput(o));
        }
        assertEquals(List.of(), op.gradientReads(0));
    }

    @Test
    void jsonAttributesAxisAndOutputNum() {
        assertEquals(OperatorKind.SPLIT, OperatorKind.forType("Split"));
        assertEquals(OperatorKind.SPLIT, Split.of(0, 1).operatorKind());
        assertEquals(List.of("axis", "output_num", "size_splits"), OperatorKind.SPLIT.attrNames());
        assertEquals("{\"axis\":-1,\"output_num\":3}", Split.of(-1, 3).encodeAttrs().toString());
        assertEquals(Split.of(-1, 3), OperatorKind.SPLIT.decode("Split",
                new OpAttrs("ops[0]", Split.of(-1, 3).encodeAttrs())));
        // MindSpore's defaults: axis 0, one output
        assertEquals(Split.of(0, 1), OperatorKind.SPLIT.decode("Split", new OpAttrs("ops[0]", OpAttrs.object())));
        // appended after the seed's kinds (later operators follow it)
        List<String> types = OperatorKind.allTypes();
        assertEquals("Split", types.get(types.indexOf("RotaryPositionEmbedding") + 1));
    }

    @Test
    void noFlopsAndTheInputReadAndOutputsWritten() {
        List<long[]> in = List.of(new long[] {32, 2304});
        List<long[]> out = List.of(new long[] {32, 768}, new long[] {32, 768}, new long[] {32, 768});
        assertEquals(0, Split.of(-1, 3).forwardFlops(in, out));
        assertEquals(2L * (32 * 2304 + 3 * 32 * 768), Split.of(-1, 3).forwardBytes(in, List.of(DType.BFLOAT16), out,
                List.of(DType.BFLOAT16, DType.BFLOAT16, DType.BFLOAT16)));
    }

    @Test
    void sizeSplitsCutUnequalPiecesAsSplitV() {
        // DeepSeek-V3's kv_a_proj_with_mqa output: the compressed key/value and the shared rotary key
        Split op = Split.sizes(-1, 512, 64);
        TensorType x = TensorType.of(DType.FLOAT32, 8, 576);
        assertEquals(List.of(TensorType.of(DType.FLOAT32, 8, 512), TensorType.of(DType.FLOAT32, 8, 64)),
                op.outputs("kv_split", List.of(x)));
        assertEquals("{\"axis\":-1,\"output_num\":2,\"size_splits\":[512,64]}", op.encodeAttrs().toString());
        assertEquals(op, OperatorKind.SPLIT.decode("Split", new OpAttrs("ops[0]", op.encodeAttrs())));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Split.sizes(-1, 512, 32).outputs("kv_split", List.of(x)));
        assertEquals("Split 'kv_split': size_splits [512, 32] sum to 544 but input 0 (x) " + x + " has 576 along"
                + " dim 1; give sizes summing to 576", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new Split(0, 3, List.of(1L, 2L)));
        assertEquals("Split: size_splits [1, 2] has 2 sizes but output_num is 3; give one size per output",
                e.getMessage());
        // the split axis stays whole; the token rows may be split
        assertThrows(IllegalArgumentException.class,
                () -> op.shard("kv_split", List.of(x), Strategy.of(new int[] {1, 2}), null, 2));
        op.shard("kv_split", List.of(x), Strategy.of(new int[] {4, 1}), null, 4);
    }
}
