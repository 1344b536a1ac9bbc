package io.tessera.planner.search;

import io.tessera.layout.DType;
import io.tessera.planner.cost.ClusterPreset;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.graph.Network;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.zoo.GptConfig;
import io.tessera.planner.zoo.Zoo;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The memoised edge tables of {@link RedistributionCosts} (cells as redistribution value ids, refinements updating
 * values, ReduceScatter seconds cached) equal the edge seconds computed cell by cell without them, bit for bit,
 * before and after refinements of seeded random assignments (estimates and exact plans, 32 devices).
 */
class EdgeTablesTest {

    @Test
    void memoisedEdgeTablesEqualCellByCellSeconds() {
        long seed = Seeds.seed("EdgeTablesTest.memoisedEdgeTablesEqualCellByCellSeconds", 20261202L);
        SplittableRandom rnd = new SplittableRandom(seed);
        Network net = Zoo.gpt(new GptConfig(2, 128, 8, 512, 16, 256, 32, DType.FLOAT16));
        int devices = 32;
        ClusterSpec cluster = ClusterSpec.preset(ClusterPreset.A100_80GB_DGX).withNodesFor(devices);
        SearchParts parts = SearchParts.prepare(SearchSetup.of(net, PlanConfig.builder(devices).build(), cluster,
                StrategyCandidates.DEFAULT_CAP, null));
        Signatures sig = parts.signatures();
        RedistributionCosts costs = parts.redistributions();
        costs.precompute();
        int refined = 0;
        for (int round = 0; round <= 6; round++) {
            if (round > 0) {
                int[] choice = new int[sig.count()];
                for (int i = 0; i < choice.length; i++) {
                    choice[i] = rnd.nextInt(sig.options(i).strategies().size());
                }
                refined += costs.exactify(choice) ? 1 : 0;
            }
            for (int i = 0; i < sig.count(); i++) {
                for (int j = 0; j < sig.producer()[i].length; j++) {
                    if (sig.producer()[i][j] < 0) {
                        continue;
                    }
                    for (boolean scatter : new boolean[] {true, false}) {
                        double[][] expected = costs.edgeUncached(i, j, scatter);
                        double[][] actual = costs.edge(i, j, scatter);
                        for (int a = 0; a < expected.length; a++) {
                            assertArrayEquals(expected[a], actual[a], 0.0, "seed " + seed + ", round " + round
                                    + ": edge of " + sig.nodes().get(i).name() + " input " + j + " (scatter "
                                    + scatter + "), producer option " + a);
                        }
                    }
                }
            }
        }
        assertTrue(refined > 0, "seed " + seed + ": no refinement planned an exact redistribution; expected some");
    }
}
