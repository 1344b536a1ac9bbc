package io.tessera.simulator.timeline;

import io.tessera.layout.comm.CollectiveKind;

import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.CostModel;
import io.tessera.planner.plan.Communication;
import io.tessera.layout.comm.Phase;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.strategy.StrategyFiles;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The analytic step of the shipped sequence-parallel example against the Megatron example on the same gpt. */
class SequenceParallelTimelineTest {

    private static Plan plan(String file) {
        return StrategyPlans.plan(StrategyFiles.read(Path.of("..", "strategies", file)));
    }

    /** Bytes received by all ranks in the {@code kind} communications of {@code phase} inside the layers. */
    private static long layers(Plan plan, Phase phase, CollectiveKind kind) {
        return plan.comms(phase).stream().filter(c -> c.kind() == kind && c.operator() != null
                && c.operator().startsWith("layers.") && c.origin() != Communication.Origin.GRADIENT
                && !c.tensor().endsWith("embedding.flatten")).mapToLong(Communication::totalRecvBytes).sum();
    }

    @Test
    void sequenceParallelReportsGathersAndScattersInsteadOfAllReducesAndLessMemory() {
        Plan megatron = plan("gpt-megatron-tp4-dp2.json");
        Plan sp = plan("gpt-megatron-sequence-parallel.json");
        ClusterSpec cluster = ClusterSpec.preset("a100-80gb-dgx");
        TimelineReport m = Timeline.run(megatron, TimelineOptions.of(cluster));
        TimelineReport s = Timeline.run(sp, TimelineOptions.of(cluster));

        // the layers' AllReduces (2 per layer each way) ...
        long forwardAllReduce = layers(megatron, Phase.FORWARD, CollectiveKind.ALL_REDUCE);
        long backwardAllReduce = layers(megatron, Phase.BACKWARD, CollectiveKind.ALL_REDUCE);
        assertTrue(forwardAllReduce > 0 && backwardAllReduce > 0);
        assertFalse(m.commBytesByKind().containsKey("forward ReduceScatter"), m.commBytesByKind().toString());
        // ... become as many bytes of AllGathers and ReduceScatters, half each
        assertEquals(0, layers(sp, Phase.FORWARD, CollectiveKind.ALL_REDUCE) + layers(sp, Phase.BACKWARD, CollectiveKind.ALL_REDUCE));
        assertEquals(forwardAllReduce / 2, s.commBytesByKind().get("forward ReduceScatter"));
        assertEquals(forwardAllReduce / 2, layers(sp, Phase.FORWARD, CollectiveKind.ALL_GATHER));
        assertEquals(backwardAllReduce / 2, layers(sp, Phase.BACKWARD, CollectiveKind.ALL_GATHER));
        assertEquals(backwardAllReduce / 2, layers(sp, Phase.BACKWARD, CollectiveKind.REDUCE_SCATTER));
        // forward, only the loss's mean is still AllReduced (Megatron: the loss's and the layers')
        assertEquals(m.commBytesByKind().get("forward AllReduce") - forwardAllReduce,
                s.commBytesByKind().get("forward AllReduce"));

        // peak memory: the LayerNorm / residual activations a quarter the size (and a fusion buffer of other size)
        CostModel cost = new CostModel(cluster);
        long activations = cost.activationBytes(megatron.network(), megatron, 0)
                - cost.activationBytes(sp.network(), sp, 0);
        long fusion = megatron.memory(0).fusionBuffer() - sp.memory(0).fusionBuffer();
        assertTrue(activations > 0);
        assertEquals(m.maxPeakMemoryBytes() - activations - fusion, s.maxPeakMemoryBytes());
        assertTrue(s.maxPeakMemoryBytes() < m.maxPeakMemoryBytes());
        assertTrue(s.stepSeconds() > 0 && Double.isFinite(s.stepSeconds()), s.summary());
    }
}
