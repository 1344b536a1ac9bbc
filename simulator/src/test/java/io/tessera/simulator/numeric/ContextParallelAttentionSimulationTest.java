package io.tessera.simulator.numeric;

import io.tessera.layout.DType;
import io.tessera.planner.graph.Network;
import io.tessera.planner.op.Binary;
import io.tessera.planner.op.FlashAttention;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.Reduce;
import io.tessera.planner.op.Reshape;
import io.tessera.planner.op.Rope;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.op.Transpose;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.strategy.DatasetStrategy;
import io.tessera.simulator.cluster.Instruction;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A Llama attention block executed on simulated ranks equals one device (float64 within 1e-12, float32 within 1e-5):
 * x -> q/k/v projections (Hugging Face's [out, in] weights, {@code MatMul(false, true)}) -> heads split and
 * transposed -> RoPE on q and k -> causal FlashAttention with grouped-query attention (4 query heads, 2 key/value
 * heads) -> heads merged -> output projection -> loss. Covered: tensor parallel beyond the key/value heads (t 4, g 2),
 * context parallel in the all-gather and the ring form, the causal load balance, and tensor x context x data.
 * Parameters start from seeded initialisers (the simulator's), so the runs are reproducible.
 */
class ContextParallelAttentionSimulationTest {

    private static final SimulationOptions F32 = SimulationOptions.defaults().withSteps(2);
    private static final SimulationOptions F64 = F32.withDtype(DType.FLOAT64);
    private static final int B = 2;
    private static final int HIDDEN = 16;
    private static final int HEADS = 4;
    private static final int KV = 2;
    private static final int HD = 4;

    /** The attention block on x [2, seq, 16]; RoPE and the attention with load balance {@code lb}. */
    static Network attention(int seq, int lb) {
        Network.Builder b = Network.builder("llama_attention");
        b.input("x", TensorType.of(DType.FLOAT32, B, seq, HIDDEN));
        b.input("target", TensorType.of(DType.FLOAT32, B, seq, HIDDEN));
        String wq = b.parameter("self_attn.q_proj.weight", "xavier_uniform", DType.FLOAT32, HEADS * HD, HIDDEN);
        String wk = b.parameter("self_attn.k_proj.weight", "xavier_uniform", DType.FLOAT32, KV * HD, HIDDEN);
        String wv = b.parameter("self_attn.v_proj.weight", "xavier_uniform", DType.FLOAT32, KV * HD, HIDDEN);
        String wo = b.parameter("self_attn.o_proj.weight", "xavier_uniform", DType.FLOAT32, HIDDEN, HEADS * HD);
        String q = b.op("q_proj", MatMul.of(false, true), "x", wq);
        String k = b.op("k_proj", MatMul.of(false, true), "x", wk);
        String v = b.op("v_proj", MatMul.of(false, true), "x", wv);
        q = b.op("q_heads", Transpose.of(0, 2, 1, 3), b.op("q_split", Reshape.of(B, seq, HEADS, HD), q));
        k = b.op("k_heads", Transpose.of(0, 2, 1, 3), b.op("k_split", Reshape.of(B, seq, KV, HD), k));
        v = b.op("v_heads", Transpose.of(0, 2, 1, 3), b.op("v_split", Reshape.of(B, seq, KV, HD), v));
        q = b.op("q_rope", new Rope(50, null, lb), q);
        k = b.op("k_rope", new Rope(50, null, lb), k);
        String o = b.op("flash", new FlashAttention(0, true, 1, lb), q, k, v);
        o = b.op("merge", Reshape.of(B, seq, HEADS * HD), b.op("o_heads", Transpose.of(0, 2, 1, 3), o));
        String y = b.op("o_proj", MatMul.of(false, true), o, wo);
        String m = b.op("weighted", Binary.mul(), y, "target");
        b.loss(b.op("loss", Reduce.mean(false), m));
        return b.build();
    }

    /**
     * Data {@code dp} x context {@code cp} x tensor {@code t} (k and v heads split {@code g} ways), the context form
     * {@code ring} or all-gather: the projections split the tokens (dp, cp) and their output features t (q, o) or g
     * (k, v); RoPE and attention split the heads and the sequence.
     */
    static PlanConfig config(int dp, int cp, int t, int g, boolean ring) {
        int[] rows = {dp, cp, 1};
        int ckv = ring ? cp : 1;
        return PlanConfig.builder(dp * cp * t)
                .dataset(new DatasetStrategy.Explicit(Strategy.of(rows, rows)))
                .strategy("q_proj", rows, new int[] {t, 1})
                .strategy("k_proj", rows, new int[] {g, 1})
                .strategy("v_proj", rows, new int[] {g, 1})
                .strategy("q_split", new int[] {dp, cp, t})
                .strategy("k_split", new int[] {dp, cp, g})
                .strategy("v_split", new int[] {dp, cp, g})
                .strategy("q_heads", new int[] {dp, cp, t, 1})
                .strategy("k_heads", new int[] {dp, cp, g, 1})
                .strategy("v_heads", new int[] {dp, cp, g, 1})
                .strategy("q_rope", new int[] {dp, t, cp, 1})
                .strategy("k_rope", new int[] {dp, g, cp, 1})
                .strategy("flash", new int[] {dp, t, cp, 1}, new int[] {dp, g, ckv, 1}, new int[] {dp, g, ckv, 1})
                .strategy("o_heads", new int[] {dp, t, cp, 1})
                .strategy("merge", new int[] {dp, cp, t, 1})
                .strategy("o_proj", new int[] {dp, cp, t}, new int[] {1, t})
                .strategy("weighted", rows, rows)
                .strategy("loss", rows)
                .build();
    }

    /** The labels of the collectives in rank {@code rank}'s program of one training step. */
    static List<String> collectives(Plan plan, int rank) {
        Execution e = new Execution(plan, F32.withSteps(1));
        List<String> labels = new ArrayList<>();
        e.programHook(p -> p.get(rank).forEach(i -> {
            if (i instanceof Instruction.Collective) {
                labels.add(i.label());
            }
        }));
        e.step(0);
        return labels;
    }

    static SimulationReport assertEqualsOneDevice(String what, Plan plan, String dtype) {
        SimulationOptions o = DType.parse(dtype) == DType.FLOAT64 ? F64 : F32;
        SimulationReport r = Simulation.run(plan, o);
        System.out.printf(Locale.ROOT, "llama attention %s %s: %d ranks, max rel err %.3e%n", what, dtype, r.ranks(),
                r.maxRelError());
        assertTrue(r.passed(), what + "\n" + r.summary());
        assertEquals(2, r.steps().size());
        if (o.dtype() == DType.FLOAT64) {
            assertTrue(r.maxRelError() <= 1e-12, r.summary());
        }
        for (String p : new String[] {"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
            "self_attn.o_proj.weight"}) {
            assertTrue(r.paramErrors().containsKey(p), p + " compared: " + r.paramErrors());
        }
        return r;
    }

    @ParameterizedTest(name = "tensor {0} with k/v heads split {1}, data {2}, {3}")
    @CsvSource({"4, 2, 1, float64", "4, 2, 1, float32", "2, 2, 2, float64", "4, 2, 2, float64", "4, 2, 2, float32"})
    void groupedQueryAttentionBeyondTheKeyValueHeadsEqualsOneDevice(int t, int g, int dp, String dtype) {
        Plan plan = Planner.plan(attention(16, 1), config(dp, 1, t, g, false));
        // k and v reach the attention from their projections without moving (the shared slices line up: no
        // redistribution anywhere); Megatron's AllReduce of the output projection's partial sums, and with t > g the
        // partial gradients of k and v over the t/g ranks sharing a key/value slice summed
        List<String> c = collectives(plan, 0);
        assertFalse(c.stream().anyMatch(l -> l.contains("redistribution")), c.toString());
        List<String> expected = t > g ? List.of("AllReduce(sum) o_proj", "AllReduce(sum) grad/k_rope",
                "AllReduce(sum) grad/v_heads") : List.of("AllReduce(sum) o_proj");
        if (dp == 1) {
            assertEquals(expected, c);
        } else {
            assertTrue(c.containsAll(expected), c.toString());
        }
        assertEqualsOneDevice("tensor " + t + " kv split " + g + " data " + dp, plan, dtype);
    }

    @ParameterizedTest(name = "context {0}, ring {1}, load balance {2}, seq {3}, {4}")
    @CsvSource({"2, false, 1, 16, float64", "2, false, 1, 16, float32", "4, false, 1, 16, float64",
        "4, false, 1, 32, float32", "2, false, 2, 16, float64", "2, false, 2, 32, float32",
        "2, true, 1, 16, float64", "2, true, 1, 16, float32", "4, true, 1, 16, float64", "4, true, 1, 32, float32",
        "2, true, 2, 16, float64", "2, true, 2, 32, float32", "4, true, 2, 32, float64", "4, true, 4, 32, float32"})
    void contextParallelEqualsOneDevice(int cp, boolean ring, int lb, int seq, String dtype) {
        Plan plan = Planner.plan(attention(seq, lb), config(1, cp, 1, 1, ring));
        List<String> c = collectives(plan, 0);
        if (ring) {
            // the key/value blocks really travel: cp - 1 forward steps, cp - 1 backward steps and the return of the
            // gradient blocks; k and v are never gathered
            assertEquals(cp - 1, c.stream().filter(l -> l.matches(
                    "CollectivePermute \\(ring step \\d\\) k, v of flash")).count(), c.toString());
            assertEquals(cp - 1, c.stream().filter(l -> l.matches(
                    "CollectivePermute \\(ring step \\d\\) k, v, dk, dv of flash")).count(), c.toString());
            assertTrue(c.contains("CollectivePermute (ring return) dk, dv of flash"), c.toString());
            assertFalse(c.contains("redistribution of flash input 1"), c.toString());
        } else {
            // k and v gathered by the planner's redistribution, their partial gradients (over the cp ranks)
            // reduce-scattered back in backward; no ring
            assertTrue(c.contains("redistribution of flash input 1") && c.contains("redistribution of flash input 2"),
                    c.toString());
            assertTrue(c.contains("ReduceScatter(sum) igrad/flash/1") && c.contains("ReduceScatter(sum) igrad/flash/2"),
                    c.toString());
            assertFalse(c.stream().anyMatch(l -> l.contains("ring")), c.toString());
        }
        assertEqualsOneDevice("context " + cp + (ring ? " ring" : " all-gather") + " load balance " + lb, plan,
                dtype);
    }

    @ParameterizedTest(name = "data {0} x context {1} x tensor {2} (k/v heads {3}), ring {4}, load balance {5}, {6}")
    @CsvSource({"2, 2, 2, 2, false, 1, float64", "2, 2, 2, 2, false, 2, float32", "2, 2, 2, 2, true, 1, float64",
        "2, 2, 2, 2, true, 2, float32", "1, 2, 4, 2, true, 2, float64", "1, 2, 4, 2, false, 2, float32"})
    void tensorTimesContextTimesDataEqualsOneDevice(int dp, int cp, int t, int g, boolean ring, int lb,
                                                   String dtype) {
        Plan plan = Planner.plan(attention(16, lb), config(dp, cp, t, g, ring));
        assertEquals(8, plan.devices());
        // RoPE's and the attention's device matrices agree (tensor ranks fastest): q, k and v reach the attention
        // without moving in the ring form; in the all-gather form only k and v are gathered
        List<String> c = collectives(plan, 0);
        List<String> moved = c.stream().filter(l -> l.startsWith("redistribution of flash")).toList();
        assertEquals(ring ? List.of() : List.of("redistribution of flash input 1", "redistribution of flash input 2"),
                moved, c.toString());
        assertEqualsOneDevice("data " + dp + " x context " + cp + " x tensor " + t + " (kv " + g + ")"
                + (ring ? " ring" : " all-gather") + " lb " + lb, plan, dtype);
    }
}
