package io.tessera.simulator.timeline;

import io.tessera.planner.cost.Recompute;
import io.tessera.layout.DType;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.strategy.StrategyFiles;
import io.tessera.planner.zoo.GptConfig;
import io.tessera.planner.handplan.HandPlans;
import io.tessera.planner.zoo.Zoo;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The analytic step of planned pipelines: stages of their own cost. */
class PlannedPipelineTimelineTest {

    private static final ClusterSpec A100 = ClusterSpec.preset("a100-80gb-dgx").withNodes(4);

    @Test
    void gpipeWithStagesOfTheirOwnCostMatchesANaiveRecurrence() {
        long seed = 20261123L;
        System.out.println("PlannedPipelineTimelineTest seed " + seed);
        Random rnd = new Random(seed);
        for (int trial = 0; trial < 200; trial++) {
            int p = 1 + rnd.nextInt(5);
            int m = 1 + rnd.nextInt(8);
            List<StageCosts> costs = new ArrayList<>();
            double[] f = new double[p];
            double[] b = new double[p];
            for (int s = 0; s < p; s++) {
                f[s] = 0.5 + rnd.nextDouble();
                b[s] = 1 + 2 * rnd.nextDouble();
                costs.add(StageCosts.uniform(f[s], b[s], 100, 10));
            }
            PipelineReport r = PipelineTimeline.layout(costs, new PipelineOptions(p, m, PipelineSchedule.GPIPE),
                    Recompute.NONE, true);
            // naive: forwards in micro-batch order through the stages, then backwards in the same order back
            double[][] fe = new double[p][m];
            double[] free = new double[p];
            for (int i = 0; i < m; i++) {
                for (int s = 0; s < p; s++) {
                    double start = Math.max(free[s], s == 0 ? 0 : fe[s - 1][i]);
                    fe[s][i] = start + f[s];
                    free[s] = fe[s][i];
                }
            }
            double[][] be = new double[p][m];
            for (int i = 0; i < m; i++) {
                for (int s = p - 1; s >= 0; s--) {
                    double start = Math.max(free[s], s == p - 1 ? fe[s][i] : be[s + 1][i]);
                    be[s][i] = start + b[s];
                    free[s] = be[s][i];
                }
            }
            double step = 0;
            for (double x : free) {
                step = Math.max(step, x);
            }
            assertEquals(step, r.stepSeconds(), 1e-12, "trial " + trial + " p " + p + " m " + m);
            assertEquals(costs, r.stageCosts());
        }
    }

    @Test
    void plannedStagesSplitTheOneStageTimelineAndRunAsAPipeline() throws Exception {
        GptConfig c = new GptConfig(4, 64, 4, 256, 16, 128, 8, DType.FLOAT32);
        PlanConfig config = HandPlans.megatronGptConfig(c, 2, 4);
        PipelinePlan pipe = PipelinePlan.plan(Zoo.gpt(c), config, 2, 4, op -> Optional.empty());
        TimelineOptions t = TimelineOptions.of(A100);
        List<StageCosts> costs = PipelineTimeline.stageCosts(pipe, t);
        assertEquals(2, costs.size());
        // the stages' forward and backward: at most the one-stage timeline's slowest chain (which also waits for the
        // once-per-step gradient reductions), at least the compute alone
        Timeline.Result ends = Timeline.simulate(pipe.plan(), new TimelineOptions(A100, true, 0), null, 0, 0);
        double chain = 0;
        for (double e : ends.backwardEnd()) {
            chain = Math.max(chain, e);
        }
        io.tessera.planner.cost.CostModel cm = new io.tessera.planner.cost.CostModel(A100);
        double compute = 0;
        for (io.tessera.planner.plan.OpPlan op : pipe.plan().ops()) {
            compute += cm.computeSeconds(pipe.plan().network(), op, false)
                    + cm.computeSeconds(pipe.plan().network(), op, true);
        }
        double sum = 0;
        for (StageCosts s : costs) {
            assertTrue(s.forwardSeconds() > 0 && s.backwardSeconds() > s.forwardSeconds(), s.toString());
            assertTrue(s.tail().stream().anyMatch(x -> x.category().equals("optimizer")), s.toString());
            assertTrue(s.tail().stream().anyMatch(x -> x.category().equals("gradient")), s.toString());
            sum += s.forwardSeconds() + s.backwardSeconds();
        }
        assertTrue(sum <= chain * (1 + 1e-12) && sum >= compute * (1 - 1e-12), sum + " in [" + compute + ", " + chain
                + "]");
        // the head makes stage 1 more expensive; only stage 0 sends forward
        assertTrue(costs.get(1).forwardSeconds() > costs.get(0).forwardSeconds());
        assertTrue(costs.get(0).sendSeconds() > 0);
        assertEquals(0, costs.get(1).sendSeconds());
        // stage 1 receives the hidden state and loads the labels
        long labels = pipe.plan().op("loss_fn").inputLayouts().get(1).sliceBytes(DType.FLOAT32);
        assertEquals(pipe.boundaries().get(0).bytes() + labels, costs.get(1).inputBytes());

        PipelineReport r = PipelineTimeline.run(pipe, PipelineSchedule.ONE_F_ONE_B, Recompute.NONE, t);
        double slowest = Math.max(costs.get(0).forwardSeconds() + costs.get(0).backwardSeconds(),
                costs.get(1).forwardSeconds() + costs.get(1).backwardSeconds());
        assertTrue(r.stepSeconds() >= sum + 3 * slowest, r.summary());
        double serial = 4 * (sum + 2 * costs.get(0).sendSeconds());
        for (StageCosts s : costs) {
            serial += s.tail().stream().mapToDouble(StageCosts.TailStep::seconds).sum();
        }
        assertTrue(r.stepSeconds() <= serial, r.summary());
        assertTrue(r.summary().contains("stage 1 per micro-batch: forward "), r.summary());
        PipelineReport full = PipelineTimeline.run(pipe, PipelineSchedule.ONE_F_ONE_B, Recompute.FULL, t);
        assertTrue(full.stepSeconds() > r.stepSeconds());
        assertTrue(full.peakActivationBytes()[0] < r.peakActivationBytes()[0]);
        IllegalArgumentException interleaved = assertThrows(IllegalArgumentException.class,
                () -> PipelineTimeline.run(pipe, PipelineSchedule.INTERLEAVED_1F1B, Recompute.NONE, t));
        assertTrue(interleaved.getMessage().contains("interleaved"), interleaved.getMessage());
        IllegalArgumentException small = assertThrows(IllegalArgumentException.class, () -> PipelineTimeline
                .stageCosts(pipe, TimelineOptions.of(ClusterSpec.preset("a100-80gb-dgx"))));
        assertTrue(small.getMessage().contains("2 stages of 8 ranks need 16"), small.getMessage());
    }

    @Test
    void theShippedPipelineFileRunsWithItsOwnStages() throws Exception {
        PipelinePlan pipe = StrategyPlans.pipelinePlan(StrategyFiles.read(Path.of("../strategies/gpt-pipeline-2stages.json")),
                null);
        PipelineReport r = PipelineTimeline.run(pipe, PipelineSchedule.GPIPE, Recompute.NONE, TimelineOptions.of(A100));
        assertEquals(2, r.stageCosts().size());
        assertEquals(pipe.microBatches(), r.options().microBatches());
        assertTrue(r.bubbleFraction() > 0 && r.bubbleFraction() < 0.5, r.summary());
    }

    @Test
    void eachStageIsCostedOnItsOwnRanksPlacement() {
        GptConfig c = new GptConfig(4, 64, 4, 256, 16, 128, 8, DType.FLOAT32);
        PipelinePlan pipe = PipelinePlan.plan(Zoo.gpt(c), HandPlans.megatronGptConfig(c, 2, 4), 2, 4,
                op -> Optional.empty());
        // the efficiency curve alone: on this toy model kernel launch times would dwarf the AllReduces
        ClusterSpec a100 = ClusterSpec.preset("a100-80gb-dgx");
        ClusterSpec block = a100.withDevice(a100.device().withKernels(null)).withNodes(3);
        // stage 0 on node 0 as with block; stage 1's tensor-parallel groups {8..11}, {12..15} straddle nodes 1 and 2
        java.util.List<Integer> nodes = new java.util.ArrayList<>();
        for (int r = 0; r < 24; r++) {
            nodes.add(r < 8 ? 0 : r < 16 ? (r % 2 == 0 ? 1 : 2) : (r % 2 == 1 ? 1 : 2));
        }
        ClusterSpec spread = block.withRankMapping(io.tessera.planner.cost.RankMapping.explicit(nodes));
        List<StageCosts> onBlock = PipelineTimeline.stageCosts(pipe, TimelineOptions.of(block));
        List<StageCosts> onSpread = PipelineTimeline.stageCosts(pipe, TimelineOptions.of(spread));
        assertEquals(onBlock.get(0).forwardSeconds(), onSpread.get(0).forwardSeconds(), 1e-15);
        assertEquals(onBlock.get(0).backwardSeconds(), onSpread.get(0).backwardSeconds(), 1e-15);
        // the forward AllReduces of stage 1's row-parallel MatMuls now cross nodes
        assertTrue(onSpread.get(1).forwardSeconds() > onBlock.get(1).forwardSeconds() * 1.05,
                onSpread.get(1) + " vs " + onBlock.get(1));
    }
}
