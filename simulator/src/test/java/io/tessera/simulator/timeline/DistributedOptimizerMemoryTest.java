package io.tessera.simulator.timeline;

import io.tessera.layout.DType;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.handplan.HandPlans;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.plan.RankMemory;
import io.tessera.planner.strategy.OptimizerKind;
import io.tessera.planner.zoo.GptConfig;
import io.tessera.planner.zoo.Zoo;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Megatron's distributed optimizer in the timeline's memory figure: each data-parallel rank keeps the float32
 * optimizer state and master weights of its share only (Rajbhandari et al. 2020, ZeRO stage 1: 2 + 2 + 12 / d bytes
 * per fp16 parameter with Adam, against 16 without).
 */
class DistributedOptimizerMemoryTest {

    private static Plan plan() {
        GptConfig c = new GptConfig(2, 256, 4, 1024, 128, 512, 8, DType.FLOAT16);
        return Planner.plan(Zoo.gpt(c), HandPlans.megatronGptBuilder(c, 4, 2, false)
                .optimizer(OptimizerKind.ADAM).build());
    }

    @Test
    void stateAndMasterCopiesAreSplitOverTheDataParallelRanks() {
        Plan plan = plan();
        RankMemory whole = plan.memory(0);
        // fp16 parameters with Adam: 8 bytes of state and 4 of master copy per element, 4 x 4 bytes per 4 elements
        assertEquals(2 * whole.masterCopies(), whole.optimizerState());
        assertTrue(whole.masterCopies() > 0);
        RankMemory sharded = whole.withOptimizerShards(4);
        assertEquals((whole.optimizerState() + 3) / 4, sharded.optimizerState());
        assertEquals((whole.masterCopies() + 3) / 4, sharded.masterCopies());
        assertEquals(whole.params(), sharded.params());
        assertEquals(whole.gradients(), sharded.gradients());
        assertSame(whole, whole.withOptimizerShards(1));
        assertThrows(IllegalArgumentException.class, () -> whole.withOptimizerShards(0));

        ClusterSpec cluster = ClusterSpec.preset("a100-80gb-dgx");
        TimelineOptions plain = new TimelineOptions(cluster, true, 0);
        TimelineReport one = Timeline.run(plan, plain);
        TimelineReport four = Timeline.run(plan, plain.withOptimizerShards(4));
        long saved = whole.total() - sharded.total();
        assertTrue(saved > 0);
        for (int r = 0; r < plan.devices(); r++) {
            assertEquals(one.peakMemoryBytes()[r] - saved, four.peakMemoryBytes()[r], "rank " + r);
        }
        // the per-rank reference engine agrees
        TimelineReport reference = Timeline.run(plan, plain.withOptimizerShards(4).withPerRank(true));
        assertEquals(java.util.Arrays.toString(four.peakMemoryBytes()),
                java.util.Arrays.toString(reference.peakMemoryBytes()));
    }
}
