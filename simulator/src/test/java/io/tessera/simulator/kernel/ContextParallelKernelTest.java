package io.tessera.simulator.kernel;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.planner.op.FlashAttention;
import io.tessera.planner.op.LoadBalance;
import io.tessera.planner.op.Rope;
import io.tessera.simulator.array.NDArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The kernels of context parallelism, on random data (seeded, the seed printed, {@code -Dtessera.seed=N} to replay):
 * the causal load balance (Megatron's order of {@code 2c} chunks) equals the natural order with the sequence
 * permuted, for FlashAttention and RoPE, and their backwards match central differences; the ring's blockwise merge
 * (each query block against the key/value blocks in ring order, merged by the log-sum-exp) equals the plain kernel on
 * the whole keys, forward and backward, with dropout and the load balance.
 */
class ContextParallelKernelTest {

    private static final long SEED = Long.getLong("tessera.seed", 20261203L);

    static {
        System.out.println("ContextParallelKernelTest: seed " + SEED + " (rerun with -Dtessera.seed=" + SEED + ")");
    }

    @Test
    void loadBalancedPositionsAreMegatronsChunkOrder() {
        // s 16, c 2: chunks of 4 stored as 0, 3, 1, 2 (a 2-way split gives rank 0 chunks 0 and 3, rank 1 chunks 1, 2)
        long[] expected = {0, 1, 2, 3, 12, 13, 14, 15, 4, 5, 6, 7, 8, 9, 10, 11};
        for (int i = 0; i < 16; i++) {
            assertEquals(expected[i], LoadBalance.position(i, 16, 2), "index " + i);
            assertEquals(i, LoadBalance.position(i, 16, 1));
        }
        // the causal work of each half is equal with the balance, the second half's is 3x the first's without
        assertEquals(LoadBalance.visiblePairs(0, 8, 16, 2), LoadBalance.visiblePairs(8, 16, 16, 2));
        assertEquals(16 * 17 / 2, LoadBalance.visiblePairs(0, 8, 16, 2) + LoadBalance.visiblePairs(8, 16, 16, 2));
        assertEquals(36, LoadBalance.visiblePairs(0, 8, 16, 1));
        assertEquals(100, LoadBalance.visiblePairs(8, 16, 16, 1));
    }

    /** {@code x} with its sequence (dim 2) reordered to token positions: element i goes to position(i). */
    private static NDArray toPositions(NDArray x, int chunks) {
        long[] s = x.shape();
        NDArray out = NDArray.zeros(s);
        int seq = (int) s[2];
        int row = (int) s[3];
        for (int plane = 0; plane < s[0] * s[1]; plane++) {
            for (int i = 0; i < seq; i++) {
                int p = (int) LoadBalance.position(i, seq, chunks);
                System.arraycopy(x.data(), (plane * seq + i) * row, out.data(), (plane * seq + p) * row, row);
            }
        }
        return out;
    }

    private static KernelContext ctx(List<NDArray> in, List<long[]> out, long seed) {
        List<Box> ob = new ArrayList<>();
        out.forEach(s -> ob.add(Box.full(s)));
        return new KernelContext(CentralDifference.fullBoxes(in), ob, DType.FLOAT64, seed);
    }

    private static List<NDArray> qkv(Random r, int b, int h, int kv, int s, int d) {
        List<NDArray> out = new ArrayList<>();
        for (long[] shape : new long[][] {{b, h, s, d}, {b, kv, s, d}, {b, kv, s, d}}) {
            NDArray x = CentralDifference.uniform(r, shape);
            for (int i = 0; i < x.size(); i++) {
                x.set(i, 2 * x.get(i));
            }
            out.add(x);
        }
        return out;
    }

    @ParameterizedTest(name = "chunk pairs {0}")
    @CsvSource({"2", "4"})
    void loadBalancedAttentionAndRopeEqualTheNaturalOrderPermuted(int c) {
        Random r = new Random(SEED + c);
        List<NDArray> in = qkv(r, 2, 4, 2, 16, 4);
        FlashAttention lb = FlashAttention.of(true, 1).withLoadBalance(c);
        FlashAttention natural = FlashAttention.of(true, 1);
        List<long[]> outs = List.of(new long[] {2, 4, 16, 4}, new long[] {2, 4, 16});
        List<NDArray> y = Kernels.forward(lb, ctx(in, outs, 0), in);
        List<NDArray> perm = new ArrayList<>();
        in.forEach(x -> perm.add(toPositions(x, c)));
        List<NDArray> yn = Kernels.forward(natural, ctx(perm, outs, 0), perm);
        CentralDifference.assertClose(yn.get(0), toPositions(y.get(0), c), 1e-12, "attention_out");
        NDArray dOut = CentralDifference.uniform(r, 2, 4, 16, 4);
        List<NDArray> g = Kernels.backward(lb, ctx(in, outs, 0), in, y, Arrays.asList(dOut, null),
                new boolean[] {true, true, true});
        List<NDArray> gn = Kernels.backward(natural, ctx(perm, outs, 0), perm, yn,
                Arrays.asList(toPositions(dOut, c), null), new boolean[] {true, true, true});
        for (int i = 0; i < 3; i++) {
            CentralDifference.assertClose(gn.get(i), toPositions(g.get(i), c), 1e-12, "gradient " + i);
        }
        Rope rope = new Rope(50, null, c);
        NDArray x = in.get(0);
        NDArray rotated = Kernels.forward(rope, ctx(List.of(x), List.of(x.shape()), 0), List.of(x)).get(0);
        NDArray xn = toPositions(x, c);
        NDArray rn = Kernels.forward(Rope.of(50), ctx(List.of(xn), List.of(x.shape()), 0), List.of(xn)).get(0);
        CentralDifference.assertClose(rn, toPositions(rotated, c), 1e-12, "RoPE");
    }

    @ParameterizedTest(name = "chunk pairs {0}, keep {1}")
    @CsvSource({"2, 1", "2, 0.75", "4, 1"})
    void loadBalancedBackwardsMatchCentralDifferences(int c, double keep) {
        Random r = CentralDifference.random("load balance " + c + " keep " + keep, SEED + 7 * c);
        List<NDArray> in = qkv(r, 1, 2, 1, 8, 3);
        FlashAttention op = FlashAttention.of(true, keep).withLoadBalance(c);
        List<long[]> outs = List.of(new long[] {1, 2, 8, 3}, new long[] {1, 2, 8});
        CentralDifference.check("FlashAttention load_balance " + c, r, in, new boolean[] {true, true, true},
                x -> Kernels.forward(op, ctx(x, outs, 5), x).subList(0, 1),
                (x, y, g, needs) -> Kernels.backward(op, ctx(x, outs, 5), x, null, Arrays.asList(g.get(0), null),
                        needs));
        Rope rope = new Rope(50, null, c);
        List<NDArray> xs = List.of(in.get(0));
        CentralDifference.check("RoPE load_balance " + c, r, xs, new boolean[] {true},
                x -> Kernels.forward(rope, ctx(x, List.of(x.get(0).shape()), 0), x),
                (x, y, g, needs) -> Kernels.backward(rope, ctx(x, List.of(x.get(0).shape()), 0), x, y, g, needs));
    }

    /** The box of sequence slice {@code [from, to)} of a whole {@code [b, h, s, d]} tensor. */
    private static Box seqBox(long[] shape, long from, long to) {
        return Box.of(new long[] {0, 0, from, 0}, new long[] {shape[0], shape[1], to, shape[3]});
    }

    @ParameterizedTest(name = "cp {0}, chunk pairs {1}, keep {2}")
    @CsvSource({"2, 1, 1", "4, 1, 0.8", "2, 2, 1", "4, 2, 0.8", "4, 4, 1"})
    void ringMergeOfTheBlocksInRingOrderEqualsThePlainKernel(int cp, int c, double keep) {
        Random r = new Random(SEED * 13 + cp * 7 + c);
        int s = 16;
        List<NDArray> in = qkv(r, 2, 4, 2, s, 4);
        long[] qShape = in.get(0).shape();
        long[] kShape = in.get(1).shape();
        FlashAttention op = FlashAttention.of(true, keep).withLoadBalance(c);
        long seed = r.nextLong();
        List<long[]> global = List.of(qShape, kShape, kShape);
        NDArray dOut = CentralDifference.uniform(r, 2, 4, s, 4);
        int m = s / cp;
        NDArray dk = NDArray.zeros(kShape);
        NDArray dv = NDArray.zeros(kShape);
        NDArray[] dkParts = new NDArray[cp];
        NDArray[] dvParts = new NDArray[cp];
        for (int b = 0; b < cp; b++) {
            dkParts[b] = NDArray.zeros(2, 2, m, 4);
            dvParts[b] = NDArray.zeros(2, 2, m, 4);
        }
        for (int rank = 0; rank < cp; rank++) {
            NDArray q = CentralDifference.slice(in.get(0), 2, rank * m, (rank + 1) * m);
            Box qBox = seqBox(qShape, rank * m, (rank + 1) * m);
            List<Box> outBoxes = List.of(qBox, Box.of(new long[] {0, 0, rank * m}, new long[] {2, 4, (rank + 1) * m}));
            // the plain kernel: this query block against every key
            KernelContext plainCtx = new KernelContext(List.of(qBox, Box.full(kShape), Box.full(kShape)), outBoxes,
                    DType.FLOAT64, seed, global);
            List<NDArray> plainIn = List.of(q, in.get(1), in.get(2));
            List<NDArray> plain = Kernels.forward(op, plainCtx, plainIn);
            List<NDArray> plainGrads = Kernels.backward(op, plainCtx, plainIn, plain,
                    Arrays.asList(CentralDifference.slice(dOut, 2, rank * m, (rank + 1) * m), null),
                    new boolean[] {true, true, true});
            dk = CentralDifference.add(dk, plainGrads.get(1));
            dv = CentralDifference.add(dv, plainGrads.get(2));
            // the ring: blocks rank, rank - 1, ... merged one by one
            NDArray out = null;
            NDArray lse = null;
            NDArray dq = NDArray.zeros(q.shape());
            for (int step = 0; step < cp; step++) {
                int block = Math.floorMod(rank - step, cp);
                NDArray kb = CentralDifference.slice(in.get(1), 2, block * m, (block + 1) * m);
                NDArray vb = CentralDifference.slice(in.get(2), 2, block * m, (block + 1) * m);
                Box kBox = seqBox(kShape, block * m, (block + 1) * m);
                KernelContext bc = new KernelContext(List.of(qBox, kBox, kBox), outBoxes, DType.FLOAT64, seed,
                        global);
                List<NDArray> part = FlashAttentionKernel.forward(op, bc, List.of(q, kb, vb));
                if (out == null) {
                    out = part.get(0);
                    lse = part.get(1);
                } else {
                    FlashAttentionKernel.merge(out, lse, part.get(0), part.get(1));
                }
            }
            CentralDifference.assertClose(plain.get(0), out, 1e-12, "rank " + rank + " attention_out");
            CentralDifference.assertClose(plain.get(1), lse, 1e-12, "rank " + rank + " softmax_lse");
            // backward block by block with the merged statistics: the block gradients add up
            for (int step = 0; step < cp; step++) {
                int block = Math.floorMod(rank - step, cp);
                NDArray kb = CentralDifference.slice(in.get(1), 2, block * m, (block + 1) * m);
                NDArray vb = CentralDifference.slice(in.get(2), 2, block * m, (block + 1) * m);
                Box kBox = seqBox(kShape, block * m, (block + 1) * m);
                KernelContext bc = new KernelContext(List.of(qBox, kBox, kBox), outBoxes, DType.FLOAT64, seed,
                        global);
                List<NDArray> g = FlashAttentionKernel.backward(op, bc, List.of(q, kb, vb), List.of(out, lse),
                        Arrays.asList(CentralDifference.slice(dOut, 2, rank * m, (rank + 1) * m), null),
                        new boolean[] {true, true, true});
                dq = CentralDifference.add(dq, g.get(0));
                dkParts[block] = CentralDifference.add(dkParts[block], g.get(1));
                dvParts[block] = CentralDifference.add(dvParts[block], g.get(2));
            }
            CentralDifference.assertClose(plainGrads.get(0), dq, 1e-12, "rank " + rank + " dq");
        }
        CentralDifference.assertClose(dk, CentralDifference.concat(2, dkParts), 1e-12, "dk");
        CentralDifference.assertClose(dv, CentralDifference.concat(2, dvParts), 1e-12, "dv");
    }
}
