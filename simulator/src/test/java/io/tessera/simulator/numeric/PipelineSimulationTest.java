package io.tessera.simulator.numeric;

import io.tessera.layout.DType;
import io.tessera.layout.param.ParallelMode;
import io.tessera.planner.graph.Network;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.strategy.OptimizerKind;
import io.tessera.planner.strategy.ParallelOptimizerConfig;
import io.tessera.planner.strategy.StrategyFiles;
import io.tessera.planner.zoo.GptConfig;
import io.tessera.planner.handplan.HandPlans;
import io.tessera.planner.zoo.Zoo;
import io.tessera.simulator.array.NDArray;
import io.tessera.simulator.cluster.Cluster;
import io.tessera.simulator.cluster.CollectiveMismatchException;
import io.tessera.simulator.cluster.Instruction;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Pipeline plans executed on all their stages' ranks (sends between stages, micro-batches, gradient accumulation)
 * equal the one-device steps over the same micro-batches.
 */
class PipelineSimulationTest {

    private static final SimulationOptions F32 = SimulationOptions.defaults().withSteps(2);
    private static final SimulationOptions F64 = F32.withDtype(DType.FLOAT64);

    /** The small GPT of the brief: layers 4, hidden 64, heads 4, seq 16, vocab 128, batch 8. */
    private static GptConfig gpt(DType d) {
        return new GptConfig(4, 64, 4, 256, 16, 128, 8, d);
    }

    private static PipelinePlan megatron(GptConfig c, int stages, int dp, int mp, int microBatches) {
        return PipelinePlan.plan(Zoo.gpt(c), HandPlans.megatronGptConfig(c, dp, mp), stages, microBatches,
                op -> Optional.empty());
    }

    private static SimulationReport assertPasses(String what, PipelinePlan pipe, SimulationOptions options) {
        long t0 = System.nanoTime();
        SimulationReport r = Simulation.run(pipe, options);
        System.out.printf(Locale.ROOT, "pipeline %s, %s: %d ranks, %d stages, %d micro-batches, max rel err %.3e "
                        + "(%.2f s)%n", what, options.dtype().jsonName(), r.ranks(), r.stages(), r.microBatches(),
                r.maxRelError(), (System.nanoTime() - t0) / 1e9);
        assertTrue(r.passed(), what + "\n" + r.summary());
        assertEquals(pipe.devices(), r.ranks());
        assertEquals(pipe.stages(), r.stages());
        assertEquals(pipe.microBatches(), r.microBatches());
        for (SimulationReport.Step s : r.steps()) {
            assertTrue(Double.isFinite(s.lossSingle()) && s.lossSingle() != 0, r.summary());
        }
        return r;
    }

    @Test
    void interleavedChunksWrapAroundTheStagesAndEqualOneDevice() {
        // 4 layers in 2 stages x 2 chunks: chunk 1 (layer 1) on stage 1 sends back to chunk 2 (layer 2) on stage 0
        for (DType d : List.of(DType.FLOAT64, DType.FLOAT32)) {
            GptConfig c = gpt(d);
            PipelinePlan pipe = PipelinePlan.plan(Zoo.gpt(c), HandPlans.megatronGptConfig(c, 2, 2), 2, 2, 2,
                    op -> Optional.empty());
            assertEquals(3, pipe.boundaries().size(), pipe.boundaries().toString());
            assertEquals(1, pipe.boundaries().get(1).fromStage());
            assertEquals(0, pipe.boundaries().get(1).toStage());
            SimulationReport r = assertPasses("gpt 2 x 2 chunks x (tp2 x dp2)", pipe, d == DType.FLOAT64 ? F64 : F32);
            assertTrue(r.maxRelError() <= (d == DType.FLOAT64 ? 1e-12 : 1e-5), r.summary());
        }
    }

    @Test
    void megatronGptInTwoStagesOfTp4Dp2WithFourMicroBatches() {
        PipelinePlan f64 = megatron(gpt(DType.FLOAT64), 2, 2, 4, 4);
        assertEquals(16, f64.devices());
        assertEquals(1, f64.boundaries().size(), f64.boundaries().toString());
        SimulationReport r = assertPasses("gpt 2 x (tp4 x dp2)", f64, F64);
        assertTrue(r.maxRelError() <= 1e-12, r.summary());
        assertTrue(r.summary().startsWith("numeric simulation on 16 ranks (2 pipeline stages of 8 ranks, "
                + "4 micro-batches per step), float64, 2 steps"), r.summary());
        // float32: the same plan is strategies/gpt-pipeline-2stages.json's (explicitStagesOfTheShippedStrategyFile),
        // run for two steps by SimulationTest.everyShippedStrategyFileSimulatesAndPasses
    }

    @Test
    void megatronGptInFourStagesOfTwoRanksWithTwoMicroBatches() {
        PipelinePlan pipe = megatron(gpt(DType.FLOAT64), 4, 1, 2, 2);
        assertEquals(8, pipe.devices());
        assertEquals(3, pipe.boundaries().size(), pipe.boundaries().toString());
        SimulationReport r = assertPasses("gpt 4 x tp2", pipe, F64);
        assertTrue(r.maxRelError() <= 1e-12, r.summary());
        assertPasses("gpt 4 x tp2", megatron(gpt(DType.FLOAT32), 4, 1, 2, 2), F32.withSteps(1));
    }

    @Test
    void dataParallelMlpInThreeStages() {
        PlanConfig dp = PlanConfig.builder(4).mode(ParallelMode.DATA_PARALLEL).gradientsMean(true).build();
        PipelinePlan pipe = PipelinePlan.plan(SimulationTest.mlp(), dp, 3, 3, op -> Optional.empty());
        assertEquals(12, pipe.devices());
        assertPasses("mlp 3 x dp4", pipe, F32);
        assertTrue(assertPasses("mlp 3 x dp4", pipe, F64).maxRelError() <= 1e-12);
    }

    @Test
    void explicitStagesOfTheShippedStrategyFile() {
        PipelinePlan pipe = StrategyPlans.pipelinePlan(
                StrategyFiles.read(Path.of("..", "strategies", "gpt-pipeline-2stages.json")), null);
        assertEquals(2, pipe.stages());
        assertEquals(4, pipe.microBatches());
        assertEquals(16, pipe.devices());
        assertEquals(0, pipe.stageOf("layers.1.residual2"));
        assertEquals(1, pipe.stageOf("layers.2.ln1"));
        assertEquals(List.of("layers.1.residual2"), pipe.boundaries().stream()
                .map(PipelinePlan.Boundary::tensor).toList());
        // the explicit stages are the automatic split's, whose float64 run is megatronGptInTwoStagesOfTp4Dp2...;
        // the file's own float32 run: SimulationTest.everyShippedStrategyFileSimulatesAndPasses
        assertEquals(megatron(gpt(DType.FLOAT32), 2, 2, 4, 4).opStages(), pipe.opStages());
        assertEquals(megatron(gpt(DType.FLOAT32), 2, 2, 4, 4).plan().comms(), pipe.plan().comms());
    }

    @Test
    void explicitUnevenStagesFromAStrategyFile() {
        String json = """
                {
                  "network": {"zoo": "mlp", "args": {"layers": 3, "widths": [32, 64, 64, 16], "batch": 16}},
                  "devices": 6,
                  "parallel": {"pipeline_stages": 3, "micro_batches": 2, "optimizer": "momentum"},
                  "operators": {"layers.1.dense": {"in_strategy": [[1, 1], [1, 2]]}},
                  "stages": {"layers.0.dense": 0, "layers.0.bias_add": 1, "layers.1.*": 1, "layers.2.*": 2}
                }
                """;
        PipelinePlan pipe = StrategyPlans.pipelinePlan(StrategyFiles.parse(json, Path.of(".")), null);
        assertEquals(3, pipe.stages());
        assertEquals(2, pipe.microBatches());
        // layers.0.relu follows layers.0.bias_add into stage 1; the loss follows layers.2 into stage 2
        assertEquals(1, pipe.stageOf("layers.0.relu"));
        assertEquals(2, pipe.stageOf("loss"));
        assertEquals(List.of("layers.0.dense", "layers.1.relu"), pipe.boundaries().stream()
                .map(PipelinePlan.Boundary::producer).toList(), pipe.boundaries().toString());
        assertPasses("mlp 3 explicit uneven stages", pipe, F64);
    }

    /**
     * The output of layers.1.ln1 feeds attention.q in stage 0 and attention.k, attention.v in stage 1; each leaves a
     * partial input gradient over the tensor-parallel group, reduced inside its own stage (once per stage) before
     * the stage-1 part returns to stage 0.
     */
    @Test
    void aBoundaryTensorWithPartialGradientConsumersInTwoStages() {
        GptConfig c = new GptConfig(2, 32, 4, 64, 8, 64, 4, DType.FLOAT64);
        Map<String, Integer> given = new LinkedHashMap<>();
        given.put("layers.1.attention.k", 1);
        given.put("layers.1.attention.v", 1);
        PipelinePlan pipe = PipelinePlan.plan(Zoo.gpt(c), HandPlans.megatronGptConfig(c, 2, 2), 2, 2,
                op -> Optional.ofNullable(given.get(op)));
        assertEquals(0, pipe.stageOf("layers.1.attention.q"));
        assertEquals(1, pipe.stageOf("layers.1.attention.scores"));
        String x1 = Zoo.gpt(c).node("layers.1.ln1").outputs().get(0);
        assertTrue(pipe.boundaries().stream().anyMatch(b -> b.tensor().equals(x1)), pipe.boundaries().toString());
        List<Integer> reducedIn = pipe.plan().comms().stream()
                .filter(x -> x.origin() == Communication.Origin.OPERATOR && x.tensor().equals("grad/" + x1))
                .map(pipe::commStage).sorted().toList();
        assertEquals(List.of(0, 1), reducedIn);
        SimulationReport r = assertPasses("gpt cut inside attention", pipe, F64);
        assertTrue(r.maxRelError() <= 1e-12, r.summary());
    }

    /**
     * h = x w0 (stage 0) feeds stage 1 and stage 2, whose gradients both return to stage 0; w1 is used twice in
     * stage 1 with different layouts (its second use redistributes it, and its gradient is reduced and redistributed
     * back once per step on the sum over the micro-batches); c crosses from stage 1 to stage 2.
     */
    @Test
    void aTensorUsedByTwoLaterStagesAndAParameterUsedInTwoLayouts() {
        Network.Builder b = Network.builder("skip");
        b.input("x", io.tessera.planner.op.TensorType.of(DType.FLOAT32, 16, 16));
        String w0 = b.parameter("w0", "normal", DType.FLOAT32, 16, 16);
        String w1 = b.parameter("w1", "normal", DType.FLOAT32, 16, 16);
        String h = b.op("mm0", io.tessera.planner.op.MatMul.of(false, false), "x", w0);
        String a = b.op("mm1", io.tessera.planner.op.MatMul.of(false, false), h, w1);
        String r = b.op("relu", io.tessera.planner.op.Activation.relu(), a);
        String c = b.op("mm2", io.tessera.planner.op.MatMul.of(false, false), r, w1);
        String s = b.op("add", io.tessera.planner.op.Binary.add(), c, h);
        b.loss(b.op("loss", io.tessera.planner.op.Reduce.mean(false), s));
        Network net = b.build();
        PlanConfig config = PlanConfig.builder(4)
                .strategy("mm0", new int[] {4, 1}, new int[] {1, 1})
                .strategy("mm1", new int[] {2, 1}, new int[] {1, 2})
                .strategy("relu", new int[] {2, 2})
                .strategy("mm2", new int[] {1, 2}, new int[] {2, 1})
                .build();
        Map<String, Integer> given = Map.of("mm0", 0, "mm1", 1, "add", 2);
        PipelinePlan pipe = PipelinePlan.plan(net, config, 3, 2, op -> Optional.ofNullable(given.get(op)));
        assertEquals(List.of(h + " 0->1", h + " 0->2", c + " 1->2"), pipe.boundaries().stream()
                .map(x -> x.tensor() + " " + x.fromStage() + "->" + x.toStage()).toList());
        assertTrue(pipe.plan().comms().stream().anyMatch(x -> x.origin() == Communication.Origin.REDISTRIBUTION
                && "mm2".equals(x.operator()) && x.input() == 1), "w1 is redistributed for mm2");
        assertTrue(assertPasses("skip over two stages, tied weight", pipe, F64).maxRelError() <= 1e-12);
        assertPasses("skip over two stages, tied weight", pipe, F32);
    }

    @Test
    void optimizerParallelWithMomentumInsideStages() {
        // GPT, 2 stages of dp 4 x mp 2, every parameter sharded in pairs (mirror groups), layer 1 recomputed, fusion
        GptConfig c = new GptConfig(2, 32, 4, 64, 8, 64, 8, DType.FLOAT64);
        Network net = Zoo.gpt(c);
        net.trainableParams("layers.1").forEach(p -> p.setParallelOptimizerCommRecompute(true));
        PlanConfig.Builder b = PlanConfig.builder(8).parallelOptimizer(ParallelOptimizerConfig.of(0, 2))
                .optimizer(OptimizerKind.MOMENTUM).dataset(HandPlans.megatronGptConfig(c, 4, 2).dataset());
        HandPlans.megatronGpt(c, 4, 2).forEach(b::strategy);
        PipelinePlan pipe = PipelinePlan.plan(net, b.build(), 2, 2, op -> Optional.empty());
        Plan plan = pipe.plan();
        assertTrue(plan.params().stream().anyMatch(p -> !p.shard().mirrorGroups().isEmpty()), "mirror groups used");
        assertTrue(plan.buckets().stream().anyMatch(x -> x.members().size() > 1), "fused buckets");
        assertTrue(plan.buckets().stream().anyMatch(x -> pipe.bucketStage(x) == 1), "buckets in stage 1");
        SimulationReport r = assertPasses("gpt optimizer parallel momentum", pipe, F64);
        assertTrue(r.maxRelError() <= 1e-12, r.summary());
    }

    @Test
    void optimizerParallelWithAdamInsideStages() {
        Plan flat = Planner.plan(SimulationTest.mlp(), SimulationTest.megatron(4, 2).optimizer(OptimizerKind.ADAM)
                .parallelOptimizer(ParallelOptimizerConfig.of(0, 2)).build());
        PipelinePlan pipe = PipelinePlan.plan(SimulationTest.mlp(), flat.config(), 2, 3, op -> Optional.empty());
        assertTrue(pipe.plan().params().stream().anyMatch(p -> p.shard().sharded()), "sharded parameters");
        assertPasses("mlp 2 x (dp4 x mp2) adam optimizer parallel", pipe, F32);
        assertPasses("mlp 2 x (dp4 x mp2) adam optimizer parallel", pipe, F64);
    }

    @Test
    void oneMicroBatchPerStep() {
        PipelinePlan pipe = megatron(new GptConfig(2, 32, 4, 64, 8, 64, 4, DType.FLOAT64), 2, 2, 2, 1);
        SimulationReport r = assertPasses("gpt 2 x (tp2 x dp2), 1 micro-batch", pipe, F64);
        assertTrue(r.maxRelError() <= 1e-12, r.summary());
    }

    /**
     * One stage with four micro-batches against gradient accumulation by hand: four one-device steps from the initial
     * weights on the batches of steps 0..3 give four gradients; SGD then moves the weights by their mean.
     */
    @Test
    void oneStageWithFourMicroBatchesIsPlainGradientAccumulation() {
        Network net = SimulationTest.mlp();
        PipelinePlan pipe = PipelinePlan.plan(net, SimulationTest.megatron(2, 2).build(), 1, 4,
                op -> Optional.empty());
        SimulationOptions o = new SimulationOptions(1, DType.FLOAT64, 0.01, 1, 2);
        Simulation sim = Simulation.of(pipe, o);
        SimulationReport r = sim.run();
        assertTrue(r.passed(), r.summary());

        Plan one = Planner.plan(net, PlanConfig.builder(1).mode(ParallelMode.STAND_ALONE).build());
        Map<String, NDArray> initial = new LinkedHashMap<>();
        Execution fresh = new Execution(one, o);
        for (String p : List.of("w1", "b1", "w2")) {
            initial.put(p, fresh.cluster().state(0).get("param/" + p).copy());
        }
        Map<String, double[]> sum = new LinkedHashMap<>();
        double loss = 0;
        for (int k = 0; k < 4; k++) {
            Execution e = new Execution(one, o);
            loss += e.step(k)[0];
            for (String p : initial.keySet()) {
                double[] g = e.cluster().state(0).get("grad/" + p).data();
                double[] acc = sum.computeIfAbsent(p, x -> new double[g.length]);
                for (int i = 0; i < g.length; i++) {
                    acc[i] += g[i];
                }
            }
        }
        assertEquals(loss / 4, r.steps().get(0).lossParallel(), 1e-12 * Math.abs(loss));
        for (String p : initial.keySet()) {
            NDArray expected = initial.get(p).copy();
            double[] w = expected.data();
            double[] g = sum.get(p);
            for (int i = 0; i < w.length; i++) {
                w[i] -= 0.01 * g[i] / 4;
            }
            double err = sim.gatheredParameter(p).relativeError(expected);
            assertTrue(err <= 1e-12, p + ": " + err);
            assertTrue(initial.get(p).relativeError(expected) > 1e-6, p + " moved");
        }
    }

    @Test
    void aRankSkippingABoundarySendIsReportedNotHung() {
        PipelinePlan pipe = PipelinePlan.plan(SimulationTest.mlp(), SimulationTest.megatron(2, 2).build(), 2, 2,
                op -> Optional.empty());
        Execution e = new Execution(pipe, F32);
        long[] most = new long[1];
        e.programHook(programs -> {
            most[0] = Cluster.roundBound(programs);
            List<Instruction> p1 = programs.get(1);
            for (int k = 0; k < p1.size(); k++) {
                if (p1.get(k) instanceof Instruction.Collective && p1.get(k).label().startsWith("send ")) {
                    p1.remove(k);
                    return;
                }
            }
            throw new AssertionError("rank 1 sends nothing");
        });
        // a 60 s guard against a hang, not a speed check: the cluster never waits, so it reports the missing
        // collective within the scheduling rounds its programs need (counted work, asserted below)
        CollectiveMismatchException ex = assertTimeoutPreemptively(Duration.ofSeconds(60),
                () -> assertThrows(CollectiveMismatchException.class, () -> e.step(0)));
        assertTrue(e.cluster().rounds() <= most[0], e.cluster().rounds() + " rounds; the bound is " + most[0]);
        System.out.println("reported: " + ex.getMessage());
        // local rank 1 of stage 0 is global rank 1; its peer in stage 1 is global rank 5
        assertEquals(List.of(1, 5), ex.ranks(), ex.getMessage());
        assertTrue(ex.getMessage().contains("rank 5") && ex.getMessage().contains("rank 1"), ex.getMessage());
        assertTrue(ex.getMessage().contains("send "), ex.getMessage());
    }

    @Test
    void oneAndFourThreadsAreBitIdentical() {
        PipelinePlan pipe = megatron(new GptConfig(2, 32, 4, 64, 8, 64, 4, DType.FLOAT32), 2, 2, 2, 2);
        SimulationOptions base = F32.withSteps(1);
        Simulation one = Simulation.of(pipe, new SimulationOptions(1, DType.FLOAT32, 0.01, 1, 1));
        Simulation four = Simulation.of(pipe, new SimulationOptions(1, DType.FLOAT32, 0.01, 1, 4));
        SimulationReport a = one.run();
        SimulationReport b = four.run();
        assertEquals(a.steps(), b.steps());
        for (int r = 0; r < pipe.devices(); r++) {
            for (String slot : one.rank(r).names()) {
                if (slot.startsWith("param/") || slot.startsWith("act/") || slot.startsWith("grad/")) {
                    assertArrayEquals(one.rank(r).get(slot).data(), four.rank(r).get(slot).data(),
                            "rank " + r + " " + slot);
                }
            }
            assertEquals(one.rank(r).names(), four.rank(r).names());
        }
        assertEquals(base.steps(), a.steps().size());
    }
}
