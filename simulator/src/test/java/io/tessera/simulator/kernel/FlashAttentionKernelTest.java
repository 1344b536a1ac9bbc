package io.tessera.simulator.kernel;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.planner.op.Binary;
import io.tessera.planner.op.CausalMask;
import io.tessera.planner.op.Dropout;
import io.tessera.planner.op.FlashAttention;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.Operator;
import io.tessera.planner.op.Softmax;
import io.tessera.simulator.array.NDArray;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The FlashAttention kernel against the unfused composition it replaces, on random data (seeded, the seed printed,
 * {@code -Dtessera.seed=N} to replay): scores {@code q k^T} (BatchMatMul), scale (Mul), causal mask (CausalMask),
 * Softmax, Dropout of the probabilities (same seed: the same mask) and context {@code P v} (BatchMatMul), with the
 * key/value heads repeated for grouped-query attention; forward (output and log-sum-exp) and backward (the three
 * gradients, chained through the unfused kernels' backwards) agree within 1e-12 in float64. A slice of the heads
 * and the batch, run with its global boxes, gives the slice of the whole result.
 */
class FlashAttentionKernelTest {

    private static final long SEED = Long.getLong("tessera.seed", 20261202L);

    static {
        System.out.println("FlashAttentionKernelTest: seed " + SEED + " (rerun with -Dtessera.seed=" + SEED + ")");
    }

    private static KernelContext ctx(List<NDArray> in, List<long[]> out, long seed) {
        List<Box> ib = new ArrayList<>();
        in.forEach(a -> ib.add(Box.full(a.shape())));
        List<Box> ob = new ArrayList<>();
        out.forEach(s -> ob.add(Box.full(s)));
        return new KernelContext(ib, ob, DType.FLOAT64, seed);
    }

    /** One unfused step: the operator, its inputs and outputs, for the backward chain. */
    private record Step(Operator op, List<NDArray> in, List<NDArray> out, KernelContext ctx) {
    }

    private static NDArray run(List<Step> tape, Operator op, long seed, NDArray... in) {
        List<NDArray> inputs = List.of(in);
        List<long[]> shapes = new ArrayList<>();
        List<NDArray> probe = Kernels.forward(op, ctx(inputs, List.of(in[0].shape()), seed), inputs);
        probe.forEach(a -> shapes.add(a.shape()));
        KernelContext c = ctx(inputs, shapes, seed);
        List<NDArray> out = Kernels.forward(op, c, inputs);
        tape.add(new Step(op, inputs, out, c));
        return out.get(0);
    }

    /** {@code [b, hkv, s, d]} with each head repeated {@code group} times: {@code [b, hkv * group, s, d]}. */
    private static NDArray repeatHeads(NDArray x, int group) {
        long[] s = x.shape();
        NDArray out = NDArray.zeros(s[0], s[1] * group, s[2], s[3]);
        int plane = (int) (s[2] * s[3]);
        for (int b = 0; b < s[0]; b++) {
            for (int h = 0; h < s[1] * group; h++) {
                System.arraycopy(x.data(), (int) ((b * s[1] + h / group) * plane), out.data(),
                        (int) ((b * s[1] * group + h) * plane), plane);
            }
        }
        return out;
    }

    /** The gradient of the repeated heads summed back onto {@code [b, hkv, s, d]}. */
    private static NDArray sumHeads(NDArray g, int group) {
        long[] s = g.shape();
        NDArray out = NDArray.zeros(s[0], s[1] / group, s[2], s[3]);
        int plane = (int) (s[2] * s[3]);
        for (int b = 0; b < s[0]; b++) {
            for (int h = 0; h < s[1]; h++) {
                int from = (int) ((b * s[1] + h) * plane);
                int to = (int) ((b * (s[1] / group) + h / group) * plane);
                for (int i = 0; i < plane; i++) {
                    out.data()[to + i] += g.data()[from + i];
                }
            }
        }
        return out;
    }

    private static void close(NDArray expected, NDArray actual, String what) {
        assertArrayEquals(expected.shape(), actual.shape(), what);
        double scale = 0;
        for (double v : expected.data()) {
            scale = Math.max(scale, Math.abs(v));
        }
        for (int i = 0; i < expected.size(); i++) {
            assertEquals(expected.get(i), actual.get(i), 1e-12 * Math.max(1, scale), what + " element " + i);
        }
    }

    @ParameterizedTest(name = "b {0} h {1} kv {2} s_q {3} s_k {4} d {5} d_v {6} causal {7} keep {8} scale {9}")
    @CsvSource({"2, 4, 4, 6, 6, 4, 4, false, 1, 0", "2, 4, 4, 6, 6, 4, 4, true, 1, 0",
        "2, 4, 2, 8, 8, 4, 3, true, 0.75, 0", "1, 6, 2, 5, 7, 3, 3, true, 0.5, 0.3",
        "3, 2, 1, 4, 4, 2, 5, false, 0.8, 0", "1, 2, 2, 16, 16, 8, 8, true, 0.9, 0"})
    void equalsTheUnfusedComposition(int b, int h, int kv, int sq, int sk, int d, int dv, boolean causal,
                                     double keep, double scaleValue) {
        Random r = new Random(SEED * 31 + Arrays.hashCode(new double[] {b, h, kv, sq, sk, d, dv, keep, scaleValue})
                + (causal ? 1 : 0));
        long seed = r.nextLong();
        NDArray q = CentralDifference.uniform(r, b, h, sq, d);
        NDArray k = CentralDifference.uniform(r, b, kv, sk, d);
        NDArray v = CentralDifference.uniform(r, b, kv, sk, dv);
        for (NDArray x : List.of(q, k, v)) {
            for (int i = 0; i < x.size(); i++) {
                x.set(i, 2 * x.get(i)); // scores of a few units: a softmax far from uniform
            }
        }
        NDArray dOut = CentralDifference.uniform(r, b, h, sq, dv);
        FlashAttention op = new FlashAttention(scaleValue, causal, keep);
        List<NDArray> in = List.of(q, k, v);
        KernelContext fc = ctx(in, List.of(new long[] {b, h, sq, dv}, new long[] {b, h, sq}), seed);
        List<NDArray> fused = Kernels.forward(op, fc, in);
        List<NDArray> fusedGrads = Kernels.backward(op, fc, in, fused, Arrays.asList(dOut, null),
                new boolean[] {true, true, true});

        // the unfused composition
        int group = h / kv;
        NDArray kr = repeatHeads(k, group);
        NDArray vr = repeatHeads(v, group);
        List<Step> tape = new ArrayList<>();
        NDArray s = run(tape, MatMul.batched(false, true), seed, q, kr);
        s = run(tape, Binary.mul(), seed, s, NDArray.full(op.scaleFor(d), 1));
        if (causal) {
            s = run(tape, CausalMask.of(), seed, s);
        }
        NDArray scores = s;
        s = run(tape, Softmax.of(-1), seed, s);
        if (keep < 1) {
            s = run(tape, new Dropout(keep), seed, s);
        }
        NDArray out = run(tape, MatMul.batched(false, false), seed, s, vr);
        close(out, fused.get(0), "attention_out");
        // the log-sum-exp of each row of the masked, scaled scores
        NDArray lse = NDArray.zeros(b, h, sq);
        for (int row = 0; row < lse.size(); row++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < sk; j++) {
                max = Math.max(max, scores.get(row * sk + j));
            }
            double sum = 0;
            for (int j = 0; j < sk; j++) {
                sum += Math.exp(scores.get(row * sk + j) - max);
            }
            lse.set(row, max + Math.log(sum));
        }
        close(lse, fused.get(1), "softmax_lse");

        // backward through the tape: gradient of output 0 of each step to its input 0 (and input 1 of the products)
        NDArray g = dOut;
        NDArray dvr = null;
        NDArray dkr = null;
        for (int i = tape.size() - 1; i >= 0; i--) {
            Step st = tape.get(i);
            boolean[] needs = new boolean[st.in().size()];
            needs[0] = true;
            if (st.op() instanceof MatMul) {
                needs[1] = true;
            }
            List<NDArray> grads = Kernels.backward(st.op(), st.ctx(), st.in(), st.out(), List.of(g), needs);
            if (i == tape.size() - 1) {
                dvr = grads.get(1);
            }
            if (i == 0) {
                dkr = grads.get(1);
            }
            g = grads.get(0);
        }
        close(g, fusedGrads.get(0), "dq");
        close(sumHeads(dkr, group), fusedGrads.get(1), "dk");
        close(sumHeads(dvr, group), fusedGrads.get(2), "dv");
    }

    @ParameterizedTest(name = "causal {0} keep {1}")
    @CsvSource({"true, 0.7", "false, 1"})
    void aSliceWithItsGlobalBoxesGivesTheSliceOfTheWholeResult(boolean causal, double keep) {
        Random r = new Random(SEED + 17);
        long seed = r.nextLong();
        NDArray q = CentralDifference.uniform(r, 2, 4, 6, 3);
        NDArray k = CentralDifference.uniform(r, 2, 2, 6, 3);
        NDArray v = CentralDifference.uniform(r, 2, 2, 6, 3);
        FlashAttention op = FlashAttention.of(causal, keep);
        List<NDArray> in = List.of(q, k, v);
        KernelContext whole = ctx(in, List.of(new long[] {2, 4, 6, 3}, new long[] {2, 4, 6}), seed);
        List<NDArray> all = Kernels.forward(op, whole, in);
        NDArray dOut = CentralDifference.uniform(r, 2, 4, 6, 3);
        List<NDArray> grads = Kernels.backward(op, whole, in, all, Arrays.asList(dOut, null),
                new boolean[] {true, true, true});
        // batch 1, query heads 2..4 (key/value head 1)
        NDArray qs = slice(q, 1, 2, 2, 4);
        NDArray ks = slice(k, 1, 2, 1, 2);
        NDArray vs = slice(v, 1, 2, 1, 2);
        List<NDArray> part = List.of(qs, ks, vs);
        KernelContext c = new KernelContext(List.of(box(1, 2, 4, 6, 3), box(1, 1, 2, 6, 3), box(1, 1, 2, 6, 3)),
                List.of(box(1, 2, 4, 6, 3), Box.of(new long[] {1, 2, 0}, new long[] {2, 4, 6})), DType.FLOAT64, seed);
        List<NDArray> mine = Kernels.forward(op, c, part);
        close(slice(all.get(0), 1, 2, 2, 4), mine.get(0), "sliced output");
        List<NDArray> mineGrads = Kernels.backward(op, c, part, mine,
                Arrays.asList(slice(dOut, 1, 2, 2, 4), null), new boolean[] {true, true, true});
        close(slice(grads.get(0), 1, 2, 2, 4), mineGrads.get(0), "sliced dq");
        // the whole dk of kv head 1 sums the gradients of query heads 2 and 3 only: this slice's
        close(slice(grads.get(1), 1, 2, 1, 2), mineGrads.get(1), "sliced dk");
        close(slice(grads.get(2), 1, 2, 1, 2), mineGrads.get(2), "sliced dv");
    }

    /** The box of batch {@code b0}, heads {@code [h0, h1)}, the whole sequence and head dimension. */
    private static Box box(long b0, long h0, long h1, long s, long d) {
        return Box.of(new long[] {b0, h0, 0, 0}, new long[] {b0 + 1, h1, s, d});
    }

    /** {@code x[b0:b1, h0:h1]}. */
    private static NDArray slice(NDArray x, int b0, int b1, int h0, int h1) {
        return CentralDifference.slice(CentralDifference.slice(x, 0, b0, b1), 1, h0, h1);
    }
}
