package io.tessera.planner.cost;

import io.tessera.planner.strategy.Routing;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link ExpertLoad}: the rows per expert-parallel rank against a brute-force count of explicit token slots, and the
 * hierarchical AllToAll formula.
 */
class ExpertLoadTest {

    /**
     * Brute force: per group, an explicit shuffled list of slots (expert {@code i} appears {@code counts[i]} times),
     * claimed one by one with capacity {@code cap} per (group, expert) (0: no cap); the rows each rank's contiguous
     * block of experts computes.
     */
    private static double[] bruteForce(long[] counts, int groups, int degree, long cap, Random rnd) {
        int e = counts.length;
        double[] ranks = new double[degree];
        for (int g = 0; g < groups; g++) {
            List<Integer> slots = new ArrayList<>();
            for (int i = 0; i < e; i++) {
                for (long c = 0; c < counts[i]; c++) {
                    slots.add(i);
                }
            }
            Collections.shuffle(slots, rnd);
            long[] taken = new long[e];
            for (int i : slots) {
                if (cap == 0 || taken[i] < cap) {
                    taken[i]++;
                    ranks[i / (e / degree)]++;
                }
            }
        }
        return ranks;
    }

    @ParameterizedTest
    @CsvSource({"0, 0", "1.0, 3", "2.0, 2", "1.25, 10", "0, 11"})
    void rankRowsMatchABruteForceCount(double factor, long seedOffset) {
        long seed = 20240611L + seedOffset;
        System.out.println("ExpertLoadTest seed " + seed);
        Random rnd = new Random(seed);
        // 8 experts, top-2, 4 groups of 16 tokens: 32 slots per group, given as an explicit histogram
        long[] counts = {12, 6, 4, 3, 3, 2, 1, 1};
        int groups = 4;
        long tokens = 64;
        int k = 2;
        int degree = 4;
        long capacity = factor > 0 ? (long) Math.ceil(factor * 16 * k / 8) : 16;
        ExpertLoad load = ExpertLoad.of(Routing.histogram(counts).weights(8), degree, groups, tokens, k, factor,
                capacity);
        double[] brute = bruteForce(counts, groups, degree, factor > 0 ? capacity : 0, rnd);
        assertArrayEquals(brute, load.rankRows(), 1e-9);
        int busiest = 0;
        for (int r = 1; r < degree; r++) {
            busiest = brute[r] > brute[busiest] ? r : busiest;
        }
        assertEquals(busiest, load.busiestRank());
        assertEquals(brute[busiest], load.busiestRows(), 1e-9);
        double kept = 0;
        for (double b : brute) {
            kept += b;
        }
        assertEquals(1 - kept / (tokens * k), load.droppedFraction(), 1e-12);
    }

    @Test
    void uniformDroplessFillsKOverEOfTheBuffer() {
        ExpertLoad load = ExpertLoad.of(Routing.uniform().weights(8), 4, 2, 64, 2, 0, 32);
        assertEquals(2.0 / 8, load.loadedFraction(), 1e-12);
        assertEquals(1, load.imbalance(), 1e-12);
        assertEquals(0, load.droppedFraction(), 1e-12);
    }

    @Test
    void aTokenPicksAnExpertAtMostOnce() {
        // skew 8: expert 0 would get nearly all 2 x 16 slots of a group but holds at most the 16 tokens; the rest
        // spills to the others (water-filling), nothing is dropped when dropless
        ExpertLoad load = ExpertLoad.of(Routing.skew(8).weights(8), 8, 1, 16, 2, 0, 16);
        double[] rows = load.expertRows();
        assertEquals(16, rows[0], 1e-9);
        assertTrue(rows[1] > 15 && rows[1] <= 16, "expert 1 takes most of the spill: " + rows[1]);
        assertEquals(0, load.droppedFraction(), 1e-9);
    }

    @Test
    void hierarchicalAllToAllFormula() {
        Link intra = new Link(400e9, 2e-6, 1.0);
        Link inter = new Link(50e9, 5e-6, 1.0);
        double bytes = 64e6;
        // 16 ranks, 8 per node: 7/16 inside at 400 GB/s, 8/16 across at 50 GB/s, concurrently
        double inside = 7.0 / 16 * bytes / 400e9 + 7 * 2e-6;
        double across = 8.0 / 16 * bytes / 50e9 + 8 * 5e-6;
        assertEquals(Math.max(inside, across), CostModel.hierarchicalAllToAll(16, 8, bytes, intra, inter), 1e-15);
        // one node: only the intra-node part, as the flat exchange over the intra-node link
        assertEquals(7.0 / 8 * bytes / 400e9 + 7 * 2e-6, CostModel.hierarchicalAllToAll(8, 8, bytes, intra, inter),
                1e-15);
        // one rank per node: all across
        assertEquals(3.0 / 4 * bytes / 50e9 + 3 * 5e-6, CostModel.hierarchicalAllToAll(4, 1, bytes, intra, inter),
                1e-15);
    }

    @Test
    void clusterAlgorithmPicksTheAllToAllForm() {
        ClusterSpec h100 = ClusterSpec.preset(ClusterPreset.values()[0].name().toLowerCase().replace('_', '-'))
                .withNodes(2);
        List<Integer> group = new ArrayList<>();
        for (int r = 0; r < 16; r++) {
            group.add(r);
        }
        long bytes = 1 << 26;
        io.tessera.layout.comm.CollectiveKind a2a = io.tessera.layout.comm.CollectiveKind.ALL_TO_ALL;
        double ring = new CostModel(h100.withAlgorithm(CollectiveAlgorithm.RING)).collectiveSeconds(a2a, group, bytes);
        double hier = new CostModel(h100.withAlgorithm(CollectiveAlgorithm.HIERARCHICAL)).collectiveSeconds(a2a, group,
                bytes);
        double auto = new CostModel(h100.withAlgorithm(CollectiveAlgorithm.AUTO)).collectiveSeconds(a2a, group, bytes);
        Link slow = h100.interNode();
        assertEquals(15.0 / 16 * bytes / slow.effectiveBandwidth() + 15 * slow.latency(), ring, 1e-15);
        assertEquals(CostModel.hierarchicalAllToAll(16, 8, bytes, h100.intraNode(), h100.interNode()), hier, 1e-15);
        assertEquals(Math.min(ring, hier), auto, 1e-15);
        assertTrue(hier < ring);
        // within one node every algorithm is the flat exchange
        List<Integer> node = group.subList(0, 8);
        assertEquals(new CostModel(h100.withAlgorithm(CollectiveAlgorithm.RING)).collectiveSeconds(a2a, node, bytes),
                new CostModel(h100.withAlgorithm(CollectiveAlgorithm.HIERARCHICAL)).collectiveSeconds(a2a, node,
                        bytes), 0);
    }
}
