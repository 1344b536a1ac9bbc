package io.tessera.planner.cost;

import io.tessera.layout.comm.CollectiveKind;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link RankMapping} in {@link ClusterSpec}, its cluster JSON and its effect on collective costs. */
class RankMappingTest {

    private static final ClusterSpec A100 = ClusterSpec.preset("a100-80gb-dgx");

    @Test
    void blockIsTheDefaultAndRoundRobinDealsRanksOverNodes() {
        ClusterSpec block = A100.withNodes(4);
        assertEquals(RankMapping.block(), block.rankMapping());
        ClusterSpec rr = block.withRankMapping(RankMapping.roundRobin());
        for (int r = 0; r < 32; r++) {
            assertEquals(r / 8, block.nodeOf(r));
            assertEquals(r % 4, rr.nodeOf(r));
        }
        assertEquals(new Placement(8, 1, 8), block.placement(List.of(0, 1, 2, 3, 4, 5, 6, 7)));
        assertEquals(new Placement(8, 4, 2), rr.placement(List.of(0, 1, 2, 3, 4, 5, 6, 7)));
        assertEquals(new Placement(3, 2, 2), rr.placement(List.of(9, 0, 4)));
        // withNodes keeps block and round robin
        assertEquals(RankMapping.roundRobin(), rr.withNodes(8).rankMapping());
        assertEquals(7, rr.withNodes(8).nodeOf(15));
        assertEquals(RankMapping.roundRobin(), RankMapping.parse(" Round-Robin "));
        assertEquals(RankMapping.block(), RankMapping.parse("BLOCK"));
    }

    @Test
    void explicitMappingsAreValidated() {
        ClusterSpec two = new ClusterSpec("two", 2, 2, A100.device(), A100.intraNode(), A100.interNode(),
                CollectiveAlgorithm.RING);
        ClusterSpec x = two.withRankMapping(RankMapping.explicit(1, 0, 0, 1));
        assertEquals(List.of(1, 0, 0, 1), List.of(x.nodeOf(0), x.nodeOf(1), x.nodeOf(2), x.nodeOf(3)));
        assertEquals("explicit [1, 0, 0, 1]", x.rankMapping().toString());

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> two.withRankMapping(RankMapping.explicit(0, 1, 0)));
        assertEquals("cluster 'two': rank_mapping lists 3 ranks; expected one node index per device, 4 (2 nodes x 2 "
                + "devices)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> two.withRankMapping(RankMapping.explicit(0, 0, 0, 1)));
        assertEquals("cluster 'two': rank_mapping puts 3 ranks on node 0; expected exactly 2 (devices_per_node) on "
                + "every node", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> two.withRankMapping(RankMapping.explicit(0, 1, 2, 1)));
        assertEquals("cluster 'two': rank_mapping puts rank 2 on node 2; expected a node index in 0..1",
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> RankMapping.explicit(0, -1));
        assertTrue(e.getMessage().contains("rank 1 is on node -1"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> RankMapping.explicit());
        assertTrue(e.getMessage().contains("lists no ranks"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> x.withNodes(3));
        assertTrue(e.getMessage().contains("withNodes(3)") && e.getMessage().contains("withRankMapping"),
                e.getMessage());
        assertEquals(x, x.withNodes(2));
        e = assertThrows(IllegalArgumentException.class, () -> RankMapping.parse("diagonal"));
        assertTrue(e.getMessage().contains("'diagonal'") && e.getMessage().contains("round_robin"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> two.withRankMapping(null));
        assertTrue(e.getMessage().contains("rank_mapping is null"), e.getMessage());
    }

    @Test
    void jsonReadsWritesAndRejectsRankMappings() {
        ClusterSpec rr = ClusterSpecs.parse("{\"preset\": \"a100-80gb-dgx\", \"nodes\": 2, "
                + "\"rank_mapping\": \"round_robin\"}");
        assertEquals(A100.withNodes(2).withRankMapping(RankMapping.roundRobin()), rr);
        assertTrue(ClusterSpecs.write(rr).contains("\"rank_mapping\" : \"round_robin\""), ClusterSpecs.write(rr));
        assertEquals(rr, ClusterSpecs.parse(ClusterSpecs.write(rr)));
        // without the key: block, as before, and written explicitly
        ClusterSpec plain = ClusterSpecs.parse("{\"preset\": \"a100-80gb-dgx\", \"nodes\": 2}");
        assertEquals(A100.withNodes(2), plain);
        assertTrue(ClusterSpecs.write(plain).contains("\"rank_mapping\" : \"block\""), ClusterSpecs.write(plain));

        List<Integer> nodes = new ArrayList<>();
        for (int r = 0; r < 16; r++) {
            nodes.add(r / 8);
        }
        Collections.shuffle(nodes, new Random(3));
        String list = nodes.toString();
        ClusterSpec explicit = ClusterSpecs.parse("{\"preset\": \"a100-80gb-dgx\", \"nodes\": 2, \"rank_mapping\": "
                + list + "}");
        assertEquals(RankMapping.explicit(nodes), explicit.rankMapping());
        String written = ClusterSpecs.write(explicit);
        assertEquals(explicit, ClusterSpecs.parse(written));
        assertEquals(written, ClusterSpecs.write(ClusterSpecs.parse(written)));

        assertMessage("{\"preset\": \"a100-80gb-dgx\", \"rank_mapping\": \"diagonal\"}", "rank_mapping",
                "'diagonal'", "round_robin");
        assertMessage("{\"preset\": \"a100-80gb-dgx\", \"rank_mapping\": 3}", "rank_mapping is the number 3",
                "array of node indices");
        assertMessage("{\"preset\": \"a100-80gb-dgx\", \"rank_mapping\": []}", "rank_mapping is an empty array",
                "one node index per device");
        assertMessage("{\"preset\": \"a100-80gb-dgx\", \"rank_mapping\": [0, 0, 0, 0, 0, 0, 0, \"x\"]}",
                "rank_mapping[7] is the string \"x\"", "whole number");
        assertMessage("{\"preset\": \"a100-80gb-dgx\", \"rank_mapping\": [0, 0, 0, 0, 0, 0, 0, -1]}",
                "rank_mapping[7] is -1", "0..");
        assertMessage("{\"preset\": \"a100-80gb-dgx\", \"nodes\": 2, \"rank_mapping\": [0, 1]}",
                "rank_mapping lists 2 ranks", "16 (2 nodes x 8 devices)");
        assertMessage("{\"preset\": \"a100-80gb-dgx\", \"nodes\": 2, \"rank_mapping\": "
                + "[0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1]}", "puts 9 ranks on node 0", "exactly 8");
        assertMessage("{\"preset\": \"a100-80gb-dgx\", \"rank_map\": \"block\"}", "unknown key 'rank_map'",
                "rank_mapping");
    }

    @Test
    void aTensorParallelGroupCostsMoreSpreadOverNodes() {
        // 8 nodes of 8: the tensor-parallel group {0..7} is one node with block, 8 nodes with round robin
        ClusterSpec block = A100.withNodes(8).withAlgorithm(CollectiveAlgorithm.RING);
        ClusterSpec spread = block.withRankMapping(RankMapping.roundRobin());
        List<Integer> tp = List.of(0, 1, 2, 3, 4, 5, 6, 7);
        long bytes = 64L << 20;
        int p = 8;
        Link intra = block.intraNode();
        Link inter = block.interNode();
        // ring AllReduce: 2 (p-1)/p * bytes / (bandwidth * efficiency) + 2 (p-1) latency, on the slowest link crossed
        double inNode = 2.0 * (p - 1) / p * bytes / (intra.bandwidth() * intra.efficiency()) + 2 * (p - 1)
                * intra.latency();
        double acrossNodes = 2.0 * (p - 1) / p * bytes / (inter.bandwidth() * inter.efficiency()) + 2 * (p - 1)
                * inter.latency();
        assertEquals(inNode, new CostModel(block).collectiveSeconds(CollectiveKind.ALL_REDUCE, tp, bytes), inNode * 1e-12);
        assertEquals(acrossNodes, new CostModel(spread).collectiveSeconds(CollectiveKind.ALL_REDUCE, tp, bytes),
                acrossNodes * 1e-12);
        assertTrue(acrossNodes > 10 * inNode, inNode + " vs " + acrossNodes);

        // hierarchical: one rank per node, so no intra-node step and an inter-node ring over 8 nodes
        ClusterSpec hier = spread.withAlgorithm(CollectiveAlgorithm.HIERARCHICAL);
        assertEquals(acrossNodes, new CostModel(hier).collectiveSeconds(CollectiveKind.ALL_REDUCE, tp, bytes), acrossNodes * 1e-12);
        // ... and block packs the group in one node: only the intra-node ring
        assertEquals(inNode, new CostModel(block.withAlgorithm(CollectiveAlgorithm.HIERARCHICAL))
                .collectiveSeconds(CollectiveKind.ALL_REDUCE, tp, bytes), inNode * 1e-12);

        // a data-parallel group {0, 8, .., 56} is the other way round: across nodes with block, in a node with
        // round robin (8 nodes: r % 8 == 0)
        List<Integer> dp = List.of(0, 8, 16, 24, 32, 40, 48, 56);
        assertEquals(acrossNodes, new CostModel(block).collectiveSeconds(CollectiveKind.ALL_REDUCE, dp, bytes), acrossNodes * 1e-12);
        assertEquals(inNode, new CostModel(spread).collectiveSeconds(CollectiveKind.ALL_REDUCE, dp, bytes), inNode * 1e-12);
    }

    @Test
    void theDefaultMappingLeavesCostsUnchanged() {
        ClusterSpec seven = new ClusterSpec("x", 4, 2, A100.device(), A100.intraNode(), A100.interNode(),
                CollectiveAlgorithm.AUTO);
        ClusterSpec eight = new ClusterSpec("x", 4, 2, A100.device(), A100.intraNode(), A100.interNode(),
                CollectiveAlgorithm.AUTO, RankMapping.block());
        assertEquals(seven, eight);
        CostModel a = new CostModel(seven);
        CostModel b = new CostModel(eight.withRankMapping(RankMapping.roundRobin()));
        List<Integer> pair = List.of(0, 1);
        // the hand-computed block figure: ranks 0 and 1 share node 0
        Link intra = A100.intraNode();
        assertEquals(intra.latency() + 1e6 / (intra.bandwidth() * intra.efficiency()),
                a.collectiveSeconds(CollectiveKind.SEND_RECV, pair, 1_000_000), 1e-18);
        assertNotEquals(a.collectiveSeconds(CollectiveKind.SEND_RECV, pair, 1_000_000),
                b.collectiveSeconds(CollectiveKind.SEND_RECV, pair, 1_000_000));
    }

    private static void assertMessage(String json, String... parts) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ClusterSpecs.parse(json));
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "'" + part + "' not in: " + e.getMessage());
        }
    }
}
