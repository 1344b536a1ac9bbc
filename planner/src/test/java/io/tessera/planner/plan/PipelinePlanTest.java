package io.tessera.planner.plan;

import io.tessera.planner.api.StrategyPlans;

import io.tessera.layout.DType;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.CostModel;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.op.Activation;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.Reduce;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.strategy.StrategyCheckpoint;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import io.tessera.planner.zoo.GptConfig;
import io.tessera.planner.handplan.HandPlans;
import io.tessera.planner.zoo.Zoo;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Pipeline stages: the automatic split, explicit stages, boundaries, per-stage fusion and memory, outputs. */
class PipelinePlanTest {

    private static final GptConfig GPT = new GptConfig(4, 64, 4, 256, 16, 128, 8, DType.FLOAT32);

    private static PipelinePlan megatron(int stages, int dp, int mp) {
        return PipelinePlan.plan(Zoo.gpt(GPT), HandPlans.megatronGptConfig(GPT, dp, mp), stages, 4,
                op -> Optional.empty());
    }

    @Test
    void theAutomaticSplitCutsTheGptBetweenLayersIntoConsecutiveStages() {
        for (int stages : new int[] {2, 3, 4}) {
            PipelinePlan pipe = megatron(stages, 2, 4);
            assertEquals(stages * 8, pipe.devices());
            // consecutive, non-decreasing stages in execution order, each non-empty
            int previous = 0;
            Set<Integer> seen = new HashSet<>();
            for (OpPlan op : pipe.plan().ops()) {
                int s = pipe.stageOf(op.name());
                assertTrue(s == previous || s == previous + 1, op.name() + " jumps from stage " + previous + " to " + s);
                previous = s;
                seen.add(s);
            }
            assertEquals(stages, seen.size());
            // the cuts carry one hidden state each: [batch*seq, hidden] split by dp
            assertEquals(stages - 1, pipe.boundaries().size());
            for (PipelinePlan.Boundary b : pipe.boundaries()) {
                assertEquals(b.fromStage() + 1, b.toStage());
                assertEquals((long) GPT.batch() * GPT.seq() * GPT.hidden() * 4 / 2, b.bytes(), b.tensor());
                assertEquals(b.layout().sliceBytes(DType.FLOAT32), b.bytes());
            }
        }
    }

    @Test
    void theAutomaticSplitMinimisesTheLargestStageLikeBruteForce() {
        long seed = 20261123L;
        System.out.println("PipelinePlanTest seed " + seed);
        Random rnd = new Random(seed);
        CostModel cost = new CostModel(ClusterSpec.preset("a100-80gb-dgx"));
        for (int trial = 0; trial < 12; trial++) {
            int layers = 2 + rnd.nextInt(5);
            long[] widths = new long[layers + 1];
            for (int i = 0; i < widths.length; i++) {
                widths[i] = 8L << rnd.nextInt(4);
            }
            Network net = chain(widths);
            Plan flat = Planner.plan(net, PlanConfig.builder(2).build());
            int stages = 2 + rnd.nextInt(Math.min(3, layers - 1));
            Map<String, Integer> got = PipelinePlan.balancedStages(flat, stages);
            long[] w = new long[flat.ops().size()];
            for (int i = 0; i < w.length; i++) {
                w[i] = Math.max(1, cost.forwardFlops(net, flat.ops().get(i)));
            }
            long gotMax = maxStage(flat, got, w, stages);
            // brute force over every placement of the cuts at single-tensor positions (a chain: every position)
            long best = bruteForce(w, stages, 0, 0);
            assertEquals(best, gotMax, "trial " + trial + " widths " + java.util.Arrays.toString(widths)
                    + " stages " + stages);
        }
    }

    private static long maxStage(Plan plan, Map<String, Integer> stages, long[] w, int count) {
        long[] sum = new long[count];
        for (int i = 0; i < w.length; i++) {
            sum[stages.get(plan.ops().get(i).name())] += w[i];
        }
        return java.util.Arrays.stream(sum).max().orElseThrow();
    }

    /** The least largest-stage sum splitting w[from..] into {@code stages} non-empty consecutive parts. */
    private static long bruteForce(long[] w, int stages, int from, long soFar) {
        if (stages == 1) {
            long s = 0;
            for (int i = from; i < w.length; i++) {
                s += w[i];
            }
            return Math.max(soFar, s);
        }
        long best = Long.MAX_VALUE;
        long s = 0;
        for (int end = from; end <= w.length - stages; end++) {
            s += w[end];
            best = Math.min(best, bruteForce(w, stages - 1, end + 1, Math.max(soFar, s)));
        }
        return best;
    }

    /** MatMul + ReLU per layer, then a mean: a chain where every cut carries one tensor. */
    private static Network chain(long[] widths) {
        Network.Builder b = Network.builder("chain");
        String h = b.input("x", TensorType.of(DType.FLOAT32, 16, widths[0]));
        for (int i = 0; i + 1 < widths.length; i++) {
            Network.Builder l = b.scope("l" + i);
            String w = l.parameter("w", "normal", DType.FLOAT32, widths[i], widths[i + 1]);
            h = l.op("mm", MatMul.of(false, false), h, w);
            h = l.op("relu", Activation.relu(), h);
        }
        b.loss(b.op("loss", Reduce.mean(false), h));
        return b.build();
    }

    @Test
    void explicitStagesAndInheritedStages() {
        Map<String, Integer> given = new LinkedHashMap<>();
        given.put("layers.2.ln1", 1);
        PipelinePlan pipe = PipelinePlan.plan(Zoo.gpt(GPT), HandPlans.megatronGptConfig(GPT, 2, 4), 2, 2,
                op -> Optional.ofNullable(given.get(op)));
        for (OpPlan op : pipe.plan().ops()) {
            boolean late = op.name().startsWith("layers.2.") || op.name().startsWith("layers.3.")
                    || !op.name().startsWith("layers.") && !op.name().startsWith("embedding.");
            assertEquals(late ? 1 : 0, pipe.stageOf(op.name()), op.name());
        }
        // layers.1.residual2 feeds layers.2.ln1 and layers.2.residual1: one boundary tensor
        assertEquals(List.of("layers.1.residual2"), pipe.boundaries().stream()
                .map(PipelinePlan.Boundary::tensor).toList());
    }

    @Test
    void partialGradientsOfATensorAreSummedPerStage() {
        // layers.1.ln1's output feeds attention.q (stage 0) and attention.k, .v (stage 1): each leaves a partial
        // input gradient over the tensor-parallel group; one plan merges them all, the pipeline once per stage
        Map<String, Integer> given = Map.of("layers.1.attention.k", 1, "layers.1.attention.v", 1);
        PlanConfig config = HandPlans.megatronGptConfig(GPT, 2, 4);
        PipelinePlan pipe = PipelinePlan.plan(Zoo.gpt(GPT), config, 2, 2, op -> Optional.ofNullable(given.get(op)));
        String x1 = "grad/" + Zoo.gpt(GPT).node("layers.1.ln1").outputs().get(0);
        List<Communication> flat = Planner.plan(Zoo.gpt(GPT), config).comms().stream()
                .filter(c -> c.origin() == Communication.Origin.OPERATOR && c.tensor().equals(x1)).toList();
        assertEquals(List.of("layers.1.attention.q"), flat.stream().map(Communication::operator).toList());
        List<Communication> staged = pipe.plan().comms().stream()
                .filter(c -> c.origin() == Communication.Origin.OPERATOR && c.tensor().equals(x1)).toList();
        assertEquals(List.of("layers.1.attention.k", "layers.1.attention.q"), staged.stream()
                .map(Communication::operator).toList());
        assertEquals(List.of(1, 0), staged.stream().map(pipe::commStage).toList());
        assertTrue(staged.get(0).reason().contains("2 consumers [layers.1.attention.k, layers.1.attention.v]"),
                staged.get(0).reason());
    }

    @Test
    void badStageAssignmentsAreRejectedWithTheReason() {
        Network gpt = Zoo.gpt(GPT);
        PlanConfig config = HandPlans.megatronGptConfig(GPT, 2, 4);
        IllegalArgumentException backwards = assertThrows(IllegalArgumentException.class, () -> PipelinePlan.plan(
                gpt, config, 2, 2, op -> Optional.of(op.equals("layers.0.ln1") ? 1 : 0)));
        assertTrue(backwards.getMessage().startsWith("operator 'layers.0.attention.q' is in stage 0 but its input "
                + "'layers.0.ln1' comes from operator 'layers.0.ln1' in stage 1; a stage may only consume"),
                backwards.getMessage());
        IllegalArgumentException empty = assertThrows(IllegalArgumentException.class, () -> PipelinePlan.plan(
                gpt, config, 3, 2, op -> Optional.of(op.startsWith("layers.3") || op.startsWith("final")
                        || op.startsWith("head") || op.startsWith("loss") ? 2 : 0)));
        assertEquals("stage 1 has no operators; assign operators to every stage in [0, 3) or use fewer "
                + "pipeline_stages", empty.getMessage());

        Network.Builder b = Network.builder("tied");
        String x = b.input("x", TensorType.of(DType.FLOAT32, 8, 16));
        String w = b.parameter("w", "normal", DType.FLOAT32, 16, 16);
        String h = b.op("a", MatMul.of(false, false), x, w);
        h = b.op("b", MatMul.of(false, false), h, w);
        b.loss(b.op("loss", Reduce.mean(false), h));
        Network tied = b.build();
        IllegalArgumentException shared = assertThrows(IllegalArgumentException.class, () -> PipelinePlan.plan(
                tied, PlanConfig.builder(1).build(), 2, 1, op -> Optional.empty()));
        assertEquals("parameter 'w' is used in stage 0 (operator 'a') and stage 1 (operator 'b'); a parameter must "
                + "live in one stage, so put its consumers in one stage or stop sharing it (a weight shared across "
                + "stages, as Megatron's tied embeddings, is not planned yet: zoo gpt tied_embeddings false)", shared.getMessage());
    }

    @Test
    void stagesSplitParametersFusionAndMemory() {
        PlanConfig.Builder cb = PlanConfig.builder(8).dataset(HandPlans.megatronGptConfig(GPT, 2, 4).dataset())
                .optimizer(io.tessera.planner.strategy.OptimizerKind.ADAM);
        HandPlans.megatronGpt(GPT, 2, 4).forEach(cb::strategy);
        PlanConfig config = cb.build();
        Plan flat = Planner.plan(Zoo.gpt(GPT), config);
        PipelinePlan pipe = PipelinePlan.plan(Zoo.gpt(GPT), config, 2, 4, op -> Optional.empty());
        // the stage-local plan is the flat plan: same layouts and communications
        assertEquals(flat.layouts(), pipe.plan().layouts());
        assertEquals(flat.comms(), pipe.plan().comms());
        // every parameter lives in one stage; each rank holds its stage's share, the stages together the whole
        for (int local = 0; local < 8; local++) {
            long sum = 0;
            long grads = 0;
            long state = 0;
            for (int s = 0; s < 2; s++) {
                RankMemory m = pipe.memory(pipe.globalRank(s, local));
                assertEquals(pipe.globalRank(s, local), m.rank());
                sum += m.params();
                grads += m.gradients();
                state += m.optimizerState();
                long expected = pipe.params(s).stream().mapToLong(ParamPlan::sliceBytes).sum();
                assertEquals(expected, m.params());
            }
            RankMemory whole = flat.memory(local);
            assertEquals(whole.params(), sum);
            assertEquals(whole.gradients(), grads);
            assertEquals(whole.optimizerState(), state);
        }
        // fusion buckets stay inside a stage, and the gradient reductions of every stage are bucketed
        Set<String> bucketed = new HashSet<>();
        for (Bucket b : pipe.plan().buckets()) {
            int s = pipe.bucketStage(b);
            for (String m : b.members()) {
                assertEquals(s, pipe.paramStage(m), "bucket " + b.id() + " member " + m);
                bucketed.add(m);
            }
        }
        Set<String> reduced = new HashSet<>();
        for (Communication c : pipe.plan().comms()) {
            if (c.origin() == Communication.Origin.GRADIENT) {
                reduced.add(c.parameter());
            }
        }
        assertEquals(reduced, bucketed);
        assertTrue(pipe.plan().buckets().size() >= flat.buckets().size());
        assertTrue(pipe.plan().buckets().stream().map(pipe::bucketStage).distinct().count() == 2);
        // a communication runs in its operator's stage; global groups are offset by the stage
        for (Communication c : pipe.plan().comms()) {
            int s = pipe.commStage(c);
            if (c.operator() != null) {
                assertEquals(pipe.stageOf(c.operator()), s);
            }
            for (List<Integer> g : pipe.globalGroups(s, c.groups())) {
                for (int r : g) {
                    assertEquals(s, pipe.stageOfRank(r));
                }
            }
        }
    }

    @Test
    void aStrategyFileWithPipelineStagesPlansAndWritesStagesEverywhere() {
        String json = "{\"network\": {\"zoo\": \"gpt\", \"args\": {\"layers\": 4, \"hidden\": 64, \"heads\": 4, "
                + "\"seq\": 16, \"vocab\": 128, \"batch\": 8}}, \"devices\": 16, "
                + "\"parallel\": {\"pipeline_stages\": 2, \"micro_batches\": 4, \"dataset_strategy\": [[2, 1], [2, 1]]},"
                + " \"stages\": {\"layers.2.*\": 1, \"layers.3.*\": 1}}";
        StrategyFile file = StrategyFiles.parse(json, null);
        PipelinePlan pipe = StrategyPlans.pipelinePlan(file, null);
        assertEquals(2, pipe.stages());
        assertEquals(4, pipe.microBatches());
        assertEquals(8, pipe.stageDevices());
        assertEquals(1, pipe.stageOf("loss"));
        assertEquals(0, pipe.stageOf("layers.1.residual2"));
        String text = PlanSummary.format(pipe);
        assertTrue(text.startsWith("plan of 'gpt' on 16 devices: 2 pipeline stages of 8 devices, 4 micro-batches"),
                text);
        assertTrue(text.contains("  stage 1  ranks 8-15  "), text);
        assertTrue(text.contains("  layers.1.residual2               stage 0 -> 1  4.0 KiB"), text);
        var tree = PlanJson.toJson(pipe);
        assertEquals(16, tree.get("devices").asInt());
        assertEquals(2, tree.get("pipeline").get("stages").asInt());
        assertEquals("layers.1.residual2", tree.get("pipeline").get("boundaries").get(0).get("tensor").asText());
        assertEquals(16, tree.get("memory").get("per_rank").size());
        assertEquals(PlanJson.toJson(pipe), PlanJson.toJson(StrategyPlans.pipelinePlan(file, null)));
        StrategyCheckpoint ck = StrategyPlans.checkpoint(pipe);
        Map<String, Integer> byStage = new HashMap<>();
        ck.strategies().forEach((k, v) -> byStage.merge(String.valueOf(v.stage()), 1, Integer::sum));
        assertEquals(2, byStage.size(), byStage.toString());

        IllegalArgumentException typo = assertThrows(IllegalArgumentException.class, () -> StrategyPlans
                .pipelinePlan(file.withStages(Map.of("layer.2.*", 1)), null));
        assertEquals("stages: 'layer.2.*' matches no operator of network 'gpt'; use an operator name or a "
                + "'prefix.*' pattern, e.g. 'embedding.lookup'", typo.getMessage());
        IllegalArgumentException range = assertThrows(IllegalArgumentException.class,
                () -> file.withStages(Map.of("loss", 2)));
        assertEquals("stages.loss: found 2; expected a stage in [0, 2) (parallel.pipeline_stages is 2)",
                range.getMessage());
        // without pipeline stages the output is the plain plan's
        StrategyFile flat = StrategyFiles.parse(json.replace("\"devices\": 16", "\"devices\": 8")
                .replace("\"pipeline_stages\": 2, \"micro_batches\": 4, ", "")
                .replace(", \"stages\": {\"layers.2.*\": 1, \"layers.3.*\": 1}", ""), null);
        PipelinePlan one = StrategyPlans.pipelinePlan(flat, null);
        assertEquals(1, one.stages());
        assertEquals(PlanSummary.format(one.plan()), PlanSummary.format(one));
        assertEquals(PlanJson.toJson(one.plan()), PlanJson.toJson(one));
    }

    @Test
    void stagesOfEveryNodeAreCovered() {
        PipelinePlan pipe = megatron(2, 2, 4);
        List<String> names = new ArrayList<>();
        for (Node n : pipe.plan().network().nodes()) {
            names.add(n.name());
        }
        assertEquals(names, new ArrayList<>(pipe.opStages().keySet()));
        assertEquals(pipe.ops(0).size() + pipe.ops(1).size(), names.size());
    }

    @Test
    void virtualStagesCutEqualLayersIntoChunksThatWrapAroundTheStages() {
        // 4 layers, 2 stages x 2 chunks: layer i in chunk i; the embedding in chunk 0, final norm, head and loss in 3
        PipelinePlan pipe = PipelinePlan.plan(Zoo.gpt(GPT), HandPlans.megatronGptConfig(GPT, 2, 4), 2, 2, 4,
                op -> Optional.empty());
        assertEquals(2, pipe.virtualStages());
        assertEquals(4, pipe.chunks());
        assertEquals(16, pipe.devices());
        for (OpPlan op : pipe.plan().ops()) {
            String n = op.name();
            int expected = n.startsWith("layers.") ? Integer.parseInt(n.substring(7, n.indexOf('.', 7)))
                    : n.startsWith("embedding.") ? 0 : 3;
            assertEquals(expected, pipe.chunkOf(n), n);
            assertEquals(expected % 2, pipe.stageOf(n), n);
            assertEquals(expected % 2, pipe.stageOfChunk(expected));
        }
        // chunk k sends its hidden state to chunk k + 1: stage 0 -> 1, 1 -> 0 (the wrap), 0 -> 1
        assertEquals(3, pipe.boundaries().size(), pipe.boundaries().toString());
        for (int k = 0; k < 3; k++) {
            PipelinePlan.Boundary b = pipe.boundaries().get(k);
            assertEquals(k, b.fromChunk());
            assertEquals(k + 1, b.toChunk());
            assertEquals(k % 2, b.fromStage());
            assertEquals((k + 1) % 2, b.toStage());
            assertEquals((long) GPT.batch() * GPT.seq() * GPT.hidden() * 4 / 2, b.bytes(), b.tensor());
        }
        // chunks 0 and 2 on stage 0: its ranks hold both chunks' parameters, fusion buckets never mix chunks
        assertEquals(pipe.ops(0).size(), pipe.chunkOps(0).size() + pipe.chunkOps(2).size());
        for (Bucket bucket : pipe.plan().buckets()) {
            Set<Integer> chunks = new HashSet<>();
            bucket.members().forEach(m -> chunks.add(pipe.paramChunk(m)));
            assertEquals(1, chunks.size(), bucket.members().toString());
        }
        assertTrue(pipe.params(0).stream().anyMatch(q -> q.name().startsWith("layers.2.")));
        String text = PlanSummary.format(pipe);
        assertTrue(text.contains("interleaved: 2 model chunks per stage, chunk c*2+d on stage d"), text);
        assertTrue(text.contains("stage 1 -> 0") && text.contains("(chunk 1 -> 2)"), text);
        var json = PlanJson.toJson(pipe);
        assertEquals(2, json.get("pipeline").get("virtual_stages").asInt());
        assertEquals(2, json.get("pipeline").get("boundaries").get(1).get("to_chunk").asInt());
        // one chunk per stage: the old overload, chunks are stages
        PipelinePlan flat = PipelinePlan.plan(Zoo.gpt(GPT), HandPlans.megatronGptConfig(GPT, 2, 4), 2, 1, 4,
                op -> Optional.empty());
        assertEquals(megatron(2, 2, 4).opStages(), flat.opStages());
        assertEquals(flat.opStages(), flat.opChunks());
        assertEquals(megatron(2, 2, 4).boundaries(), flat.boundaries());
    }

    @Test
    void virtualStagesFallBackToTheBalancedSplitAndCheckChunks() {
        // 4 layers do not split into 2 x 4 = 8 chunks of equal layers: the balanced split over 8 chunks
        PipelinePlan eight = PipelinePlan.plan(Zoo.gpt(GPT), HandPlans.megatronGptConfig(GPT, 2, 4), 2, 4, 4,
                op -> Optional.empty());
        Set<Integer> used = new HashSet<>(eight.opChunks().values());
        assertEquals(8, used.size());
        int previous = 0;
        for (OpPlan op : eight.plan().ops()) {
            int k = eight.chunkOf(op.name());
            assertTrue(k == previous || k == previous + 1, op.name());
            previous = k;
        }
        // explicit values are chunks: a later chunk may not feed an earlier one
        IllegalArgumentException back = assertThrows(IllegalArgumentException.class, () -> PipelinePlan.plan(
                Zoo.gpt(GPT), HandPlans.megatronGptConfig(GPT, 2, 4), 2, 2, 4,
                op -> Optional.of(op.startsWith("embedding.") ? 1 : 0)));
        assertTrue(back.getMessage().contains("is in chunk 0 but its input") && back.getMessage().contains(
                "in chunk 1"), back.getMessage());
        IllegalArgumentException empty = assertThrows(IllegalArgumentException.class, () -> PipelinePlan.plan(
                Zoo.gpt(GPT), HandPlans.megatronGptConfig(GPT, 2, 4), 2, 2, 4, op -> Optional.of(0)));
        assertEquals("chunk 1 has no operators; assign operators to every chunk in [0, 4) or use fewer chunks",
                empty.getMessage());
        IllegalArgumentException zero = assertThrows(IllegalArgumentException.class, () -> PipelinePlan.plan(
                Zoo.gpt(GPT), HandPlans.megatronGptConfig(GPT, 2, 4), 2, 0, 4, op -> Optional.empty()));
        assertTrue(zero.getMessage().startsWith("virtual_pipeline: found 0"), zero.getMessage());
        assertEquals(Optional.empty(), PipelinePlan.layerChunks(Zoo.gpt(GPT), 3));
        assertEquals(2, PipelinePlan.layerChunks(Zoo.gpt(GPT), 4).get().get("layers.2.ffn.fc1"));
    }
}
