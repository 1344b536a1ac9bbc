package io.tessera.planner.op;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.TensorMap;
import org.junit.jupiter.api.Test;

import java.util.List;

import static io.tessera.planner.op.OpTests.rejected;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * FlashAttentionScore: shape rule (grouped-query heads, the log-sum-exp output), sharding rule (batch and heads split
 * together, sequence and head dimension not), gradient rule, attributes, FLOPs, gemms and bytes.
 */
class FlashAttentionTest {

    private static final TensorType Q = TensorType.of(DType.FLOAT16, 4, 8, 16, 32);
    private static final TensorType KV = TensorType.of(DType.FLOAT16, 4, 2, 16, 32);
    private static final String LABEL = "FlashAttentionScore 'attn'";

    private static Strategy st(int[] q, int[] k, int[] v) {
        return Strategy.of(q, k, v);
    }

    private static int[] t(int... v) {
        return v;
    }

    @Test
    void outputsTheAttentionAndTheRowLogSumExp() {
        FlashAttention op = FlashAttention.of(true, 0.9);
        assertEquals("FlashAttentionScore", op.type());
        assertEquals(OperatorKind.FLASH_ATTENTION, op.operatorKind());
        assertEquals(3, op.inputCount());
        assertEquals(List.of(Q, TensorType.of(DType.FLOAT32, 4, 8, 16)), op.outputs("attn", List.of(Q, KV, KV)));
        // a narrower v gives a narrower output; float64 keeps a float64 statistic
        TensorType q64 = TensorType.of(DType.FLOAT64, 2, 4, 6, 8);
        TensorType k64 = TensorType.of(DType.FLOAT64, 2, 4, 10, 8);
        TensorType v64 = TensorType.of(DType.FLOAT64, 2, 4, 10, 3);
        assertEquals(List.of(TensorType.of(DType.FLOAT64, 2, 4, 6, 3), TensorType.of(DType.FLOAT64, 2, 4, 6)),
                op.outputs("attn", List.of(q64, k64, v64)));
        assertEquals(1 / Math.sqrt(32), op.scaleFor(32), 0);
        assertEquals(0.125, new FlashAttention(0.125, false, 1).scaleFor(32), 0);
    }

    @Test
    void rejectsInputsThatAreNotAttention() {
        FlashAttention op = FlashAttention.of();
        rejected(() -> op.outputs("attn", List.of(Q, KV)), LABEL, "expected 3 (q, k and v)");
        rejected(() -> op.outputs("attn", List.of(TensorType.of(DType.FLOAT16, 4, 16, 32), KV, KV)), LABEL,
                "input 0 (q)", "expected 4 [batch, heads, seq, head_dim]");
        rejected(() -> op.outputs("attn", List.of(Q, TensorType.of(DType.FLOAT32, 4, 2, 16, 32), KV)), LABEL,
                "input 1 (k) is Float32", "expected q's floating dtype");
        rejected(() -> op.outputs("attn", List.of(Q, TensorType.of(DType.FLOAT16, 4, 3, 16, 32),
                TensorType.of(DType.FLOAT16, 4, 3, 16, 32))), LABEL, "3 heads", "kv_heads dividing heads");
        rejected(() -> op.outputs("attn", List.of(Q, TensorType.of(DType.FLOAT16, 2, 2, 16, 32), KV)), LABEL,
                "dim 0 (batch)");
        rejected(() -> op.outputs("attn", List.of(Q, KV, TensorType.of(DType.FLOAT16, 4, 2, 8, 32))), LABEL,
                "expected the same [batch, kv_heads, s_k] for k and v");
        rejected(() -> op.outputs("attn", List.of(Q, TensorType.of(DType.FLOAT16, 4, 2, 16, 16), KV)), LABEL,
                "head_dim 32", "expected the same head_dim for q and k");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new FlashAttention(-1, false, 1)).getMessage()
                .startsWith("FlashAttentionScore: scale_value is -1.0; expected a positive finite factor, or 0"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new FlashAttention(0, false, 0)).getMessage()
                .startsWith("FlashAttentionScore: keep_prob is 0.0; expected a probability in (0, 1]"));
    }

    @Test
    void batchAndHeadsSplitTogetherWithoutCommunication() {
        FlashAttention op = FlashAttention.of(true, 1);
        OpSharding sh = op.shard("attn", List.of(Q, KV, KV), st(t(2, 2, 1, 1), t(2, 2, 1, 1), t(2, 2, 1, 1)), null,
                8);
        assertEquals(DeviceMatrix.of(2, 2, 1, 1, 2), sh.devMatrix());
        for (int i = 0; i < 3; i++) {
            assertEquals(TensorMap.of(4, 3, 2, 1), sh.inputMaps().get(i));
        }
        assertEquals(TensorMap.of(4, 3, 2, 1), sh.outputMaps().get(0));
        assertEquals(TensorMap.of(4, 3, 2), sh.outputMaps().get(1));
        assertTrue(sh.comms().isEmpty(), sh.comms().toString());
        // the local slices: 4 of 8 query heads with their 1 of 2 key/value heads
        assertEquals(List.of(2L, 4L, 16L, 32L), box(sh.inputLayout(0, Q).sliceShape()));
        assertEquals(List.of(2L, 1L, 16L, 32L), box(sh.inputLayout(1, KV).sliceShape()));
        assertEquals(Strategy.of(t(4, 1, 1, 1), t(4, 1, 1, 1), t(4, 1, 1, 1)),
                op.dataParallel(List.of(Q, KV, KV), 8));
    }

    private static List<Long> box(long[] shape) {
        return java.util.Arrays.stream(shape).boxed().toList();
    }

    @Test
    void rejectsSplitsOfTheHeadDimMismatchedInputsAndOtherContextForms() {
        FlashAttention op = FlashAttention.of();
        List<TensorType> in = List.of(Q, KV, KV);
        rejected(() -> op.shard("attn", in, st(t(1, 1, 1, 2), t(1, 1, 1, 2), t(1, 1, 1, 2)), null, 2), LABEL,
                "input 0 (q) dim 3 is split 2 ways", "head dimension");
        rejected(() -> op.shard("attn", in, st(t(2, 2, 1, 1), t(1, 2, 1, 1), t(2, 2, 1, 1)), null, 4), LABEL,
                "input 1 (k) dim 0 is split 1 ways but input 0 (q) dim 0 is split 2 ways", "batch split 2");
        rejected(() -> op.shard("attn", in, st(t(2, 2, 1, 1), t(2, 2, 1, 1), t(2, 1, 1, 1)), null, 4), LABEL,
                "input 2 (v) dim 1 is split 1 ways but input 1 (k) dim 1 is split 2 ways", "give v k's split");
        // k's head split must divide kv_heads and q's head split, and be q's or kv_heads
        rejected(() -> op.shard("attn", in, st(t(1, 4, 1, 1), t(1, 4, 1, 1), t(1, 4, 1, 1)), null, 4), LABEL,
                "heads of input 0 (q) are split 4 ways and those of input 1 (k) 4 ways, with 2 key/value heads",
                "g = min(tensor, kv_heads) = 2");
        rejected(() -> op.shard("attn", in, st(t(1, 4, 1, 1), t(1, 1, 1, 1), t(1, 1, 1, 1)), null, 4), LABEL,
                "split 4 ways and those of input 1 (k) 1 ways", "equal to 4 or to 2");
        rejected(() -> op.shard("attn", in, st(t(1, 1, 1, 1), t(1, 2, 1, 1), t(1, 2, 1, 1)), null, 2), LABEL,
                "dividing 2 and 1");
        // the sequence of k and v: 1 (all-gather form) or q's split (ring form), nothing else
        String m = rejected(() -> op.shard("attn", in, st(t(1, 1, 4, 1), t(1, 1, 2, 1), t(1, 1, 2, 1)), null, 4),
                LABEL, "input 1 (k) dim 2 (sequence) is split 2 ways but input 0 (q) dim 2 is split 4 ways",
                "expected 1 (context parallel, all-gather form", "or 4 (ring form");
        assertFalse(m.contains("\n"));
        rejected(() -> op.shard("attn", in, st(t(1, 1, 1, 1), t(1, 1, 2, 1), t(1, 1, 2, 1)), null, 2), LABEL,
                "input 1 (k) dim 2 (sequence) is split 2 ways but input 0 (q) dim 2 is split 1 ways");
        rejected(() -> op.shard("attn", in, st(t(1, 1, 1, 1), t(1, 1, 1, 1), t(1, 1, 1, 1)),
                st(t(1, 1, 1, 1), t(1, 1, 1, 1), t(1, 1, 1, 1)), 1), LABEL, "out_strategy");
        rejected(() -> op.shard("attn", in, Strategy.of(t(1, 1, 1, 1)), null, 1), LABEL,
                "give one tuple per input");
        rejected(() -> op.shard("attn", in, st(t(1, 1, 1), t(1, 1, 1, 1), t(1, 1, 1, 1)), null, 1), LABEL,
                "input 0 (q) strategy [1, 1, 1] has 3 values");
        rejected(() -> op.shard("attn", in, st(t(3, 1, 1, 1), t(3, 1, 1, 1), t(3, 1, 1, 1)), null, 3), LABEL,
                "dim 0 of size 4 is split 3 ways");
        // load balance: 2c chunks must divide both sequences
        rejected(() -> op.withLoadBalance(3).outputs("attn", in), LABEL, "sequence length 16",
                "2 x load_balance = 6 chunks do not divide", "2c dividing 16");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> op.withLoadBalance(0)).getMessage()
                .startsWith("FlashAttentionScore: load_balance is 0; expected a positive number"));
    }

    @Test
    void groupedQueryHeadsBeyondTheKeyValueHeadsShareSlicesAndSumTheirGradients() {
        // 8 query heads split 4 ways, 2 key/value heads split 2 ways: pairs of ranks share a key/value slice
        FlashAttention op = FlashAttention.of(true, 1);
        OpSharding sh = op.shard("attn", List.of(Q, KV, KV), st(t(2, 4, 1, 1), t(2, 2, 1, 1), t(2, 2, 1, 1)), null,
                8);
        assertEquals(DeviceMatrix.of(2, 2, 2, 1, 1), sh.devMatrix());
        assertEquals(TensorMap.of(List.of(TensorMap.Entry.of(4), TensorMap.Entry.of(new int[] {3, 2}),
                TensorMap.Entry.of(1), TensorMap.Entry.of(0))), sh.inputMaps().get(0));
        assertEquals(TensorMap.of(4, 3, 1, 0), sh.inputMaps().get(1));
        assertEquals(List.of(2L, 2L, 16L, 32L), box(sh.inputLayout(0, Q).sliceShape()));
        assertEquals(List.of(2L, 1L, 16L, 32L), box(sh.inputLayout(1, KV).sliceShape()));
        // ranks 0 and 1 (the fastest dimension) hold query heads 0-1 and 2-3, both with key/value head 0
        assertEquals(0, sh.inputLayout(1, KV).sliceBox(1).start(1));
        assertEquals(2, sh.inputLayout(0, Q).sliceBox(1).start(1));
        assertEquals(1, sh.inputLayout(1, KV).sliceBox(2).start(1));
        assertEquals(List.of("backward AllReduce(sum) of input 1 gradient over device dims [2]",
                "backward AllReduce(sum) of input 2 gradient over device dims [2]"), OpTests.summaries(sh.comms()));
    }

    @Test
    void contextParallelFormsFollowTheSequenceSplitOfKeysAndValues() {
        FlashAttention op = FlashAttention.of(true, 1);
        List<TensorType> in = List.of(Q, KV, KV);
        // all-gather form: k and v whole, their gradients partial over the context ranks
        OpSharding gather = op.shard("attn", in, st(t(1, 2, 4, 1), t(1, 2, 1, 1), t(1, 2, 1, 1)), null, 8);
        assertEquals(DeviceMatrix.of(1, 4, 2, 1), gather.devMatrix());
        assertEquals(TensorMap.of(3, 1, 2, 0), gather.inputMaps().get(0));
        assertEquals(TensorMap.of(3, 1, -1, 0), gather.inputMaps().get(1));
        assertEquals(List.of("backward AllReduce(sum) of input 1 gradient over device dims [2]",
                "backward AllReduce(sum) of input 2 gradient over device dims [2]"), OpTests.summaries(gather.comms()));
        assertEquals(FlashAttention.ContextForm.ALL_GATHER, FlashAttention.contextForm(
                List.of(gather.inputLayout(0, Q), gather.inputLayout(1, KV), gather.inputLayout(2, KV))));
        // ring form: q, k and v split alike, no collective of the sharding (the ring is the kernel's)
        OpSharding ring = op.shard("attn", in, st(t(1, 2, 4, 1), t(1, 2, 4, 1), t(1, 2, 4, 1)), null, 8);
        assertEquals(TensorMap.of(3, 1, 2, 0), ring.inputMaps().get(1));
        assertTrue(ring.comms().isEmpty(), ring.comms().toString());
        assertEquals(FlashAttention.ContextForm.RING, FlashAttention.contextForm(
                List.of(ring.inputLayout(0, Q), ring.inputLayout(1, KV), ring.inputLayout(2, KV))));
        // with the heads shared beyond the key/value heads: [batch, cp, g, t/g, 1]
        OpSharding both = op.shard("attn", in, st(t(1, 4, 2, 1), t(1, 2, 1, 1), t(1, 2, 1, 1)), null, 8);
        assertEquals(DeviceMatrix.of(1, 2, 2, 2, 1), both.devMatrix());
        assertEquals(List.of("backward AllReduce(sum) of input 1 gradient over device dims [3, 1]",
                "backward AllReduce(sum) of input 2 gradient over device dims [3, 1]"), OpTests.summaries(both.comms()));
    }

    @Test
    void gradientsReachQkvFromQkvTheOutputAndTheLogSumExp() {
        FlashAttention op = FlashAttention.of();
        for (int i = 0; i < 3; i++) {
            assertTrue(op.differentiableInput(i));
            assertEquals(List.of(TensorRef.input(0), TensorRef.input(1), TensorRef.input(2), TensorRef.output(0),
                    TensorRef.output(1)), op.gradientReads(i));
        }
        assertTrue(op.differentiableOutput(0));
        assertFalse(op.differentiableOutput(1));
    }

    @Test
    void attributesRoundTripWithTheDefaultScaleAsZero() {
        FlashAttention op = FlashAttention.of(true, 0.9);
        ObjectNode attrs = op.encodeAttrs();
        assertEquals("{\"scale_value\":0.0,\"causal\":true,\"keep_prob\":0.9}", attrs.toString());
        // load_balance is written only when set, and read back
        FlashAttention lb = op.withLoadBalance(2);
        assertEquals("{\"scale_value\":0.0,\"causal\":true,\"keep_prob\":0.9,\"load_balance\":2}",
                lb.encodeAttrs().toString());
        assertEquals(lb, OperatorKind.FLASH_ATTENTION.decode("FlashAttentionScore", new OpAttrs("t",
                lb.encodeAttrs())));
        assertEquals(op, OperatorKind.FLASH_ATTENTION.decode("FlashAttentionScore", new OpAttrs("t", attrs)));
        assertEquals(FlashAttention.of(), OperatorKind.FLASH_ATTENTION.decode("FlashAttentionScore",
                new OpAttrs("t", OpAttrs.object())));
        assertEquals(OperatorKind.FLASH_ATTENTION, OperatorKind.forType("FlashAttentionScore"));
    }

    private static long sum(List<Gemm> gemms) {
        long s = 0;
        for (Gemm g : gemms) {
            s += (long) g.flops();
        }
        return s;
    }

    @Test
    void flopsAreTheTwoProductsHalvedWhenCausalAndEqualTheForwardGemms() {
        List<long[]> in = List.of(Q.shape(), KV.shape(), KV.shape());
        List<long[]> out = List.of(Q.shape(), new long[] {4, 8, 16});
        long b = 4;
        long h = 8;
        long s = 16;
        long d = 32;
        FlashAttention full = FlashAttention.of();
        FlashAttention causal = FlashAttention.of(true, 1);
        assertEquals(4 * b * h * s * s * d, full.forwardFlops(in, out));
        assertEquals(2 * b * h * s * s * d, causal.forwardFlops(in, out));
        assertEquals(List.of(Gemm.of(b * h, s, s, d), Gemm.of(b * h, s, d, s)), full.forwardGemms(in, out));
        assertEquals(List.of(Gemm.of(b * h, s / 2, s, d), Gemm.of(b * h, s / 2, d, s)), causal.forwardGemms(in, out));
        for (FlashAttention op : List.of(full, causal)) {
            assertEquals(op.forwardFlops(in, out), sum(op.forwardGemms(in, out)));
            // the recompute of QK^T and four gradient products: 2.5 times the forward
            List<Gemm> back = op.backwardGemms(in, out);
            assertEquals(5, back.size());
            assertEquals(5 * op.forwardFlops(in, out) / 2, sum(back));
        }
        assertEquals(List.of(Gemm.of(b * h, s, s, d), Gemm.of(b * h, s, d, s), Gemm.of(b * h, s, s, d),
                Gemm.of(b * h, s, d, s), Gemm.of(b * h, s, d, s)), full.backwardGemms(in, out));
        // an odd query count under the mask: half the rows rounded up, still the gemms' sum
        List<long[]> odd = List.of(new long[] {1, 2, 5, 4}, new long[] {1, 2, 5, 4}, new long[] {1, 2, 5, 4});
        assertEquals(2L * 2 * 3 * 5 * (4 + 4), causal.forwardFlops(odd, List.of()));
        assertEquals(causal.forwardFlops(odd, List.of()), sum(causal.forwardGemms(odd, List.of())));
        // empty slices: no products
        List<long[]> empty = List.of(new long[] {0, 2, 5, 4}, new long[] {0, 2, 5, 4}, new long[] {0, 2, 5, 4});
        assertEquals(List.of(), full.forwardGemms(empty, List.of()));
        assertEquals(0, full.forwardFlops(empty, List.of()));
    }

    @Test
    void contextParallelCostsCountTheSlowestRanksVisiblePairsExactly() {
        TensorType q = TensorType.of(DType.FLOAT16, 1, 2, 16, 8);
        List<TensorType> in = List.of(q, q, q);
        Strategy gathered = st(t(1, 1, 2, 1), t(1, 1, 1, 1), t(1, 1, 1, 1));
        Strategy ring = st(t(1, 1, 2, 1), t(1, 1, 2, 1), t(1, 1, 2, 1));
        for (Strategy st : List.of(gathered, ring)) {
            // natural order, 2 ranks: queries 0-7 see 36 pairs, 8-15 see 100: the last rank prices the operator,
            // ceil(100 / 16) = 7 rows of 16 keys
            FlashAttention natural = FlashAttention.of(true, 1);
            OpSharding sh = natural.shard("attn", in, st, null, 2);
            List<io.tessera.layout.Layout> li = List.of(sh.inputLayout(0, q), sh.inputLayout(1, q),
                    sh.inputLayout(2, q));
            List<TensorType> outTypes = natural.outputs("attn", in);
            List<io.tessera.layout.Layout> lo = List.of(sh.outputLayout(0, outTypes.get(0)),
                    sh.outputLayout(1, outTypes.get(1)));
            assertEquals(List.of(Gemm.of(2, 7, 16, 8), Gemm.of(2, 7, 8, 16)), natural.rankGemms(li, lo, false));
            assertEquals(5, natural.rankGemms(li, lo, true).size());
            assertEquals(2L * 2 * 7 * 16 * 16, natural.rankFlops(li, lo));
            // load balanced: 68 pairs on each rank, ceil(68 / 16) = 5 rows
            FlashAttention balanced = natural.withLoadBalance(2);
            assertEquals(List.of(Gemm.of(2, 5, 16, 8), Gemm.of(2, 5, 8, 16)), balanced.rankGemms(li, lo, false));
            // without the mask every rank computes its 8 queries against all 16 keys
            assertEquals(List.of(Gemm.of(2, 8, 16, 8), Gemm.of(2, 8, 8, 16)),
                    FlashAttention.of().rankGemms(li, lo, false));
        }
        // without context parallelism: the slices' products, as before
        FlashAttention causal = FlashAttention.of(true, 1);
        OpSharding none = causal.shard("attn", in, st(t(1, 2, 1, 1), t(1, 2, 1, 1), t(1, 2, 1, 1)), null, 2);
        List<io.tessera.layout.Layout> li = List.of(none.inputLayout(0, q), none.inputLayout(1, q),
                none.inputLayout(2, q));
        List<long[]> slices = List.of(new long[] {1, 1, 16, 8}, new long[] {1, 1, 16, 8}, new long[] {1, 1, 16, 8});
        assertEquals(causal.forwardGemms(slices, List.of()), causal.rankGemms(li, List.of(), false));
        assertEquals(causal.backwardGemms(slices, List.of()), causal.rankGemms(li, List.of(), true));
    }

    @Test
    void bytesAreQkvTheOutputAndTheLogSumExpNeverTheScores() {
        FlashAttention op = FlashAttention.of(true, 0.9);
        List<long[]> in = List.of(Q.shape(), KV.shape(), KV.shape());
        List<long[]> out = List.of(Q.shape(), new long[] {4, 8, 16});
        long bytes = op.forwardBytes(in, List.of(DType.FLOAT16, DType.FLOAT16, DType.FLOAT16), out,
                List.of(DType.FLOAT16, DType.FLOAT32));
        long expected = 2 * (Q.elements() * 2 + KV.elements() * 2) + 4 * (4 * 8 * 16);
        assertEquals(expected, bytes);
        // at a sequence longer than the head dimension, less than the fp16 scores alone would take
        long[] q = {4, 8, 1024, 32};
        long[] kv = {4, 2, 1024, 32};
        long longBytes = op.forwardBytes(List.of(q, kv, kv), List.of(DType.FLOAT16, DType.FLOAT16, DType.FLOAT16),
                List.of(q, new long[] {4, 8, 1024}), List.of(DType.FLOAT16, DType.FLOAT32));
        assertTrue(longBytes < 2L * 4 * 8 * 1024 * 1024, longBytes + " bytes");
        assertTrue(op.keepsIntermediatesOnChip());
        assertFalse(MatMul.batched(false, true).keepsIntermediatesOnChip());
    }
}
