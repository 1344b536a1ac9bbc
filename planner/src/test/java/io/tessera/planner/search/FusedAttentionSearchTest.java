package io.tessera.planner.search;

import io.tessera.layout.DType;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.graph.Network;
import io.tessera.planner.handplan.HandPlans;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.strategy.SearchMode;
import io.tessera.planner.zoo.GptConfig;
import io.tessera.planner.zoo.Zoo;
import io.tessera.planner.op.FlashAttention;
import io.tessera.planner.op.TensorType;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The strategy search on the gpt with fused attention: it finds the FlashAttention's strategies itself. */
class FusedAttentionSearchTest {

    @Test
    void searchPlansTheFusedCoreAndIsNeverWorseThanMegatron() {
        GptConfig c = new GptConfig(2, 128, 8, 512, 16, 256, 32, DType.FLOAT32).asTrained(0.1)
                .withFusedAttention(true);
        Network net = Zoo.gpt(c);
        ClusterSpec cl = ClusterSpec.preset("a100-80gb-dgx").withNodes(1);
        SearchResult r = Search.search(net, 8, cl, SearchMode.DYNAMIC_PROGRAMMING, null, null);
        Candidate hand = Search.evaluate(net, HandPlans.megatronGptConfig(c, 1, 8), cl, "megatron");
        Strategy flash = r.best().inStrategies().get("layers.0.attention.flash");
        assertNotNull(flash, r.explanation());
        System.out.println("fused gpt on 8 devices: flash " + flash + ", searched " + r.bestSeconds() * 1e3
                + " ms, megatron " + hand.seconds() * 1e3 + " ms");
        // k and v share q's split, the sequence and head dimensions are whole
        assertEquals(flash.tuple(0)[0] * flash.tuple(0)[1] > 1, true, flash.toString());
        for (int i = 0; i < 3; i++) {
            assertEquals(1, flash.tuple(i)[2]);
            assertEquals(1, flash.tuple(i)[3]);
        }
        assertTrue(r.bestSeconds() <= hand.seconds() * (1 + 1e-9), r.explanation() + "\n" + hand);
    }

    @Test
    void candidatesAreTheProductsValidStrategiesWithoutEnumeratingTheProduct() {
        TensorType q = TensorType.of(DType.FLOAT16, 8, 8, 16, 16);
        TensorType kv = TensorType.of(DType.FLOAT16, 8, 4, 16, 16);
        FlashAttention op = FlashAttention.of(true, 0.9);
        List<TensorType> in = List.of(q, kv, kv);
        // brute force: every tuple of each input (as the enumeration draws them), their product filtered by the rule
        Set<Strategy> expected = new LinkedHashSet<>();
        List<int[]> tq = tuples(q, 8);
        List<int[]> tkv = tuples(kv, 8);
        for (int[] a : tq) {
            for (int[] b : tkv) {
                for (int[] c : tkv) {
                    Strategy st = Strategy.of(a, b, c);
                    if (a[2] != 1) {
                        continue; // context parallelism is chosen by the parallelism settings, not searched
                    }
                    try {
                        op.shard("f", in, st, null, 8);
                        expected.add(st);
                    } catch (IllegalArgumentException rejected) {
                        // not valid
                    }
                }
            }
        }
        assertEquals(expected, new LinkedHashSet<>(StrategyCandidates.valid("f", op, in, 8)));
        assertTrue(expected.contains(Strategy.of(new int[] {2, 4, 1, 1}, new int[] {2, 4, 1, 1},
                new int[] {2, 4, 1, 1})), expected.toString());
        // grouped-query attention beyond the 4 key/value heads: q's heads 8 ways, k's and v's 4
        assertTrue(expected.contains(Strategy.of(new int[] {1, 8, 1, 1}, new int[] {1, 4, 1, 1},
                new int[] {1, 4, 1, 1})), expected.toString());
        // on 1,024 devices at Megatron sizes: q's tuples only, quickly
        TensorType big = TensorType.of(DType.FLOAT16, 128, 64, 2048, 128);
        long t0 = System.nanoTime();
        List<Strategy> many = StrategyCandidates.valid("f", op, List.of(big, big, big), 1024);
        double seconds = (System.nanoTime() - t0) / 1e9;
        System.out.printf("FlashAttention candidates on 1024 devices: %d in %.3f s%n", many.size(), seconds);
        assertTrue(seconds < 2, seconds + " s");
        assertTrue(many.contains(Strategy.of(new int[] {128, 8, 1, 1}, new int[] {128, 8, 1, 1},
                new int[] {128, 8, 1, 1})));
    }

    /** Every tuple of {@code t} on {@code devices}: divisors of it dividing their dim, at most 2 dims split. */
    private static List<int[]> tuples(TensorType t, int devices) {
        List<int[]> out = new ArrayList<>();
        int[] cur = new int[t.rank()];
        fill(t, devices, 0, cur, 1, out);
        return out;
    }

    private static void fill(TensorType t, int devices, int dim, int[] cur, int product, List<int[]> out) {
        if (dim == cur.length) {
            int split = 0;
            for (int v : cur) {
                split += v > 1 ? 1 : 0;
            }
            if (split <= StrategyCandidates.MAX_SPLIT_DIMS) {
                out.add(cur.clone());
            }
            return;
        }
        for (int d = 1; d <= devices / product; d++) {
            if (devices / product % d == 0 && t.dim(dim) % d == 0) {
                cur[dim] = d;
                fill(t, devices, dim + 1, cur, product * d, out);
            }
        }
    }
}
