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
import java.util.List;

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

    @Test
    void theWeightGradientRegathersTheShardedInputsBehindTheDataGradient() {
        Plan sp = plan("gpt-megatron-sequence-parallel.json");
        ClusterSpec cluster = ClusterSpec.preset("a100-80gb-dgx");
        TimelineReport s = Timeline.run(sp, TimelineOptions.of(cluster).withRecordedRanks(1));
        // every forward AllGather feeding a product with a weight (q/k/v, fc1, head) runs again in backward; the
        // loss's gathered logits feed no weight and are not re-gathered
        long regathered = sp.comms(Phase.FORWARD).stream().filter(c -> c.kind() == CollectiveKind.ALL_GATHER
                && !c.operator().equals("loss_fn")).mapToLong(Communication::totalRecvBytes).sum();
        assertTrue(regathered > 0);
        long planned = sp.comms(Phase.BACKWARD).stream().filter(c -> c.kind() == CollectiveKind.ALL_GATHER)
                .mapToLong(Communication::totalRecvBytes).sum();
        assertEquals(planned + regathered, s.commBytesByKind().get("backward AllGather"));

        // layer 0's q/k/v input is re-gathered once, before v's backward, hidden behind half of q, k and v's backward
        Communication ln1 = sp.comms(Phase.FORWARD).stream().filter(c -> c.kind() == CollectiveKind.ALL_GATHER
                && c.tensor().equals("layers.0.ln1")).findFirst().orElseThrow();
        CostModel cost = new CostModel(cluster);
        double hiding = 0;
        for (String op : new String[] {"layers.0.attention.q", "layers.0.attention.k", "layers.0.attention.v"}) {
            hiding += cost.computeSeconds(sp.network(), sp.op(op), true) / 2;
        }
        double expected = Math.max(0, cost.communicationSeconds(ln1) - hiding);
        List<TimelineReport.Event> regathers = s.events().stream()
                .filter(e -> e.name().equals("backward AllGather layers.0.ln1 (weight gradient)")).toList();
        assertEquals(1, regathers.size(), regathers.toString());
        assertEquals(expected, regathers.get(0).duration(), 1e-15);
        TimelineReport.Event vBackward = s.events().stream().filter(e -> e.stream().equals(TimelineReport.Event.COMPUTE)
                && e.name().equals("layers.0.attention.v") && e.category().equals("backward")).findFirst().orElseThrow();
        assertTrue(regathers.get(0).start() + regathers.get(0).duration() <= vBackward.start() + 1e-15);
    }
}
