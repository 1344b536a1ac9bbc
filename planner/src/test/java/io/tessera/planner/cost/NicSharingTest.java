package io.tessera.planner.cost;

import io.tessera.layout.comm.CollectiveKind;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code nics_per_node}: the node's NICs shared by the ranks that use the inter-node network at once, against
 * hand-computed figures; the default (one NIC per device) changes nothing.
 */
class NicSharingTest {

    /** A100 preset: inter-node 25 GB/s at efficiency 0.9 (22.5 GB/s effective), latency 5 us; 2 nodes of 8. */
    private static final ClusterSpec TWO_NODES = ClusterSpec.preset("a100-80gb-dgx").withNodes(2);
    private static final long BYTES = 90_000_000L;

    /** Tensor 8 x data 2 on 2 nodes: 8 data-parallel groups {j, 8 + j}, each one rank per node. */
    private static List<List<Integer>> dataGroups() {
        List<List<Integer>> groups = new ArrayList<>();
        for (int j = 0; j < 8; j++) {
            groups.add(List.of(j, 8 + j));
        }
        return groups;
    }

    @Test
    void eightConcurrentGroupsOnOneNicCostEightTimesTheBandwidthTerm() {
        for (CollectiveAlgorithm a : CollectiveAlgorithm.values()) {
            ClusterSpec eight = TWO_NODES.withAlgorithm(a);
            ClusterSpec one = eight.withNicsPerNode(1);
            // ring / tree / hierarchical of 2 ranks on 2 nodes (q = 1): (p-1)/p * bytes / bw + latency
            double bandwidthTerm = 0.5 * BYTES / 22.5e9;
            assertEquals(2e-3, bandwidthTerm, 1e-15);
            double[] fast = new CostModel(eight).concurrentCollectiveSeconds(CollectiveKind.ALL_GATHER, dataGroups(),
                    BYTES);
            double[] slow = new CostModel(one).concurrentCollectiveSeconds(CollectiveKind.ALL_GATHER, dataGroups(),
                    BYTES);
            for (int g = 0; g < 8; g++) {
                assertEquals(2e-3 + 5e-6, fast[g], 1e-12, a + " nics 8");
                assertEquals(8 * 2e-3 + 5e-6, slow[g], 1e-12, a + " nics 1: 16 ms + 5 us");
            }
            assertEquals(8, new CostModel(one).networkSharers(dataGroups()));
            // two NICs: a quarter each
            double[] two = new CostModel(eight.withNicsPerNode(2)).concurrentCollectiveSeconds(
                    CollectiveKind.ALL_GATHER, dataGroups(), BYTES);
            assertEquals(4 * 2e-3 + 5e-6, two[0], 1e-12, a + " nics 2");
            // one group alone is not slowed by one NIC (it uses one rank per node)
            assertEquals(2e-3 + 5e-6, new CostModel(one).collectiveSeconds(CollectiveKind.ALL_GATHER, List.of(0, 8),
                    BYTES), 1e-12, a + " one group");
        }
    }

    @Test
    void aPlannedGradientAllReduceOfTensor8Data2SharesTheNics() {
        // Megatron tensor 8 x data 2 on 2 nodes: each data-parallel gradient AllReduce runs 8 groups {j, 8 + j} at once
        io.tessera.planner.zoo.GptConfig c = new io.tessera.planner.zoo.GptConfig(2, 256, 8, 1024, 16, 256, 2,
                io.tessera.layout.DType.FLOAT32);
        io.tessera.planner.plan.Plan plan = io.tessera.planner.plan.Planner.plan(io.tessera.planner.zoo.Zoo.gpt(c),
                io.tessera.planner.handplan.HandPlans.megatronGptConfig(c, 2, 8));
        io.tessera.planner.plan.Communication grad = plan.comms().stream()
                .filter(x -> x.kind() == CollectiveKind.ALL_REDUCE && x.groups().size() == 8
                        && x.groups().get(0).equals(List.of(0, 8)))
                .max(java.util.Comparator.comparingLong(x -> x.recvBytes(0))).orElseThrow();
        double latency = 2 * 5e-6;
        double eight = new CostModel(TWO_NODES).communicationSeconds(grad);
        double one = new CostModel(TWO_NODES.withNicsPerNode(1)).communicationSeconds(grad);
        // ring AllReduce of 2 ranks: 2 * (1/2 * buffer / bw) + 2 * latency; only the bandwidth term grows, 8x
        assertEquals(8 * (eight - latency), one - latency, 1e-12);
        assertTrue(eight - latency > 1e-6, "a real bandwidth term: " + eight);
    }

    @Test
    void aHierarchicalGroupUsesAtMostItsNodesNics() {
        // one group of all 16 ranks (q = 8 per node), hierarchical AllGather of 80 MB: intra-node ring of 8 over
        // NVLink (300 GB/s x 0.8 = 240 GB/s, 2 us) then the inter-node ring of 2 over bytes / 8
        long bytes = 80_000_000L;
        List<Integer> all = new ArrayList<>();
        for (int r = 0; r < 16; r++) {
            all.add(r);
        }
        double intra = 7.0 / 8 * bytes / 240e9 + 7 * 2e-6;
        double inter8 = 0.5 * bytes / 8 / 22.5e9 + 5e-6;
        ClusterSpec h = TWO_NODES.withAlgorithm(CollectiveAlgorithm.HIERARCHICAL);
        assertEquals(intra + inter8, new CostModel(h).collectiveSeconds(CollectiveKind.ALL_GATHER, all, bytes), 1e-12);
        // 2 NICs: the 8 inter-node rings share them, a quarter of a NIC each: the group uses min(q, nics) = 2 NICs
        double inter2 = 0.5 * bytes / 8 / (22.5e9 * 2 / 8) + 5e-6;
        assertEquals(intra + inter2, new CostModel(h.withNicsPerNode(2)).collectiveSeconds(CollectiveKind.ALL_GATHER,
                all, bytes), 1e-12);
        // AllReduce: both phases twice
        assertEquals(2 * intra + 2 * inter2, new CostModel(h.withNicsPerNode(2)).collectiveSeconds(
                CollectiveKind.ALL_REDUCE, all, bytes * 1), 1e-12);
    }

    @Test
    void theDefaultIsOneNicPerDeviceAndChangesNothing() {
        ClusterSpec preset = ClusterSpec.preset("a100-80gb-dgx");
        assertEquals(8, preset.nicsPerNode());
        assertEquals(1.0, preset.interNodeShare(8));
        assertEquals(preset, preset.withNicsPerNode(8));
        CostModel m = new CostModel(TWO_NODES);
        for (CollectiveKind k : CollectiveKind.values()) {
            double[] concurrent = m.concurrentCollectiveSeconds(k, dataGroups(), BYTES);
            for (int g = 0; g < 8; g++) {
                assertEquals(m.collectiveSeconds(k, dataGroups().get(g), BYTES), concurrent[g], 0.0, k.toString());
            }
        }
        // within a node nothing is shared, whatever the NICs
        CostModel oneNic = new CostModel(TWO_NODES.withNicsPerNode(1));
        assertEquals(m.collectiveSeconds(CollectiveKind.ALL_GATHER, List.of(0, 1, 2, 3), BYTES),
                oneNic.collectiveSeconds(CollectiveKind.ALL_GATHER, List.of(0, 1, 2, 3), BYTES), 0.0);
    }

    @Test
    void nicsPerNodeInClusterSpecJson() {
        ClusterSpec s = ClusterSpecs.parse("{\"preset\": \"a100-80gb-dgx\", \"nodes\": 2, \"nics_per_node\": 1}");
        assertEquals(1, s.nicsPerNode());
        assertEquals(s, ClusterSpecs.parse(ClusterSpecs.write(s)));
        assertTrue(ClusterSpecs.write(s).contains("\"nics_per_node\" : 1"), ClusterSpecs.write(s));
        // omitted: one per device, also after overriding devices_per_node; not written
        ClusterSpec four = ClusterSpecs.parse("{\"preset\": \"h100-dgx\", \"devices_per_node\": 4}");
        assertEquals(4, four.nicsPerNode());
        assertTrue(!ClusterSpecs.write(four).contains("nics_per_node"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ClusterSpecs.parse("{\"preset\": \"a100-80gb-dgx\", \"nics_per_node\": 0}"));
        assertEquals("cluster spec: nics_per_node is 0; expected 1..2147483647", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> TWO_NODES.withNicsPerNode(0));
        assertTrue(e.getMessage().startsWith("cluster 'a100-80gb-dgx': nics_per_node is 0; expected at least 1"),
                e.getMessage());
    }
}
