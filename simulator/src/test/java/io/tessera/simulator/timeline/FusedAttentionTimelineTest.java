package io.tessera.simulator.timeline;

import io.tessera.layout.DType;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.Recompute;
import io.tessera.planner.handplan.HandPlans;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.zoo.GptConfig;
import io.tessera.planner.zoo.Zoo;
import org.junit.jupiter.api.Test;

import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The pipeline timeline of the gpt with fused attention: every recompute mode runs; selective recompute has no core
 * attention to re-run (the FlashAttention recomputes its scores inside its own backward), so it costs and keeps what
 * no recompute does; full recompute re-runs the layers and keeps less.
 */
class FusedAttentionTimelineTest {

    private static final ClusterSpec A100 = ClusterSpec.preset("a100-80gb-dgx").withNodes(4);

    @Test
    void everyRecomputeModeRunsAndSelectiveHasNothingToRecompute() {
        GptConfig c = new GptConfig(4, 256, 8, 1024, 128, 512, 8, DType.FLOAT16).asTrained(0.1)
                .withTiedEmbeddings(false).withFusedAttention(true);
        PipelinePlan pipe = PipelinePlan.plan(Zoo.gpt(c), HandPlans.megatronGptConfig(c, 2, 4, true), 2, 4,
                op -> Optional.empty());
        TimelineOptions t = TimelineOptions.of(A100);
        PipelineReport none = PipelineTimeline.run(pipe, PipelineSchedule.ONE_F_ONE_B, Recompute.NONE, t);
        PipelineReport selective = PipelineTimeline.run(pipe, PipelineSchedule.ONE_F_ONE_B, Recompute.SELECTIVE, t);
        PipelineReport full = PipelineTimeline.run(pipe, PipelineSchedule.ONE_F_ONE_B, Recompute.FULL, t);
        assertTrue(none.stepSeconds() > 0 && Double.isFinite(none.stepSeconds()), none.summary());
        assertEquals(none.stepSeconds(), selective.stepSeconds(), 1e-15, selective.summary());
        assertEquals(java.util.Arrays.toString(none.peakActivationBytes()),
                java.util.Arrays.toString(selective.peakActivationBytes()));
        assertTrue(full.stepSeconds() > none.stepSeconds(), full.summary());
        for (int s = 0; s < 2; s++) {
            assertTrue(full.peakActivationBytes()[s] < none.peakActivationBytes()[s], full.summary());
            assertEquals(0, selective.stageCosts().get(s).attentionSeconds(), selective.summary());
        }
    }
}
