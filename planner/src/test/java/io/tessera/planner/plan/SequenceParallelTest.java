package io.tessera.planner.plan;

import io.tessera.planner.api.StrategyPlans;

import io.tessera.layout.comm.CollectiveKind;

import io.tessera.layout.comm.Phase;

import io.tessera.layout.DType;
import io.tessera.layout.param.Parameter;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.CostModel;
import io.tessera.planner.graph.Network;
import io.tessera.planner.op.Activation;
import io.tessera.planner.op.Binary;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.Reduce;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.strategy.DatasetStrategy;
import io.tessera.planner.strategy.StrategyFiles;
import io.tessera.planner.zoo.GptConfig;
import io.tessera.planner.handplan.HandPlans;
import io.tessera.planner.zoo.Zoo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Megatron sequence parallelism ({@link HandPlans#megatronGpt(GptConfig, int, int, boolean)}): per layer two
 * AllGathers and two ReduceScatters over the tensor-parallel group each way instead of two AllReduces, at equal bytes,
 * and the LayerNorm / residual activations split over the group.
 */
class SequenceParallelTest {

    private static final Communication.Origin GRADIENT = Communication.Origin.GRADIENT;

    /**
     * Models and degrees: the shipped example (whole sequences per rank), parts of sequences per rank, tp 2 x dp 2,
     * and a large model (hidden 4096, seq 2048, tp 8: an eighth of the sequence per rank).
     */
    static Stream<Arguments> cases() {
        return Stream.of(
                Arguments.of(new GptConfig(2, 64, 4, 256, 16, 128, 8, DType.FLOAT32), 2, 4),
                Arguments.of(new GptConfig(2, 32, 4, 64, 8, 64, 4, DType.FLOAT64), 2, 4),
                Arguments.of(new GptConfig(2, 32, 4, 64, 8, 64, 4, DType.FLOAT32), 2, 2),
                Arguments.of(new GptConfig(2, 4096, 32, 16384, 2048, 51200, 1, DType.BFLOAT16), 1, 8));
    }

    /** The ranks of each tensor-parallel group: {@code [d*mp, (d+1)*mp)}. */
    private static List<List<Integer>> tpGroups(int dp, int mp) {
        List<List<Integer>> out = new ArrayList<>();
        for (int d = 0; d < dp; d++) {
            List<Integer> g = new ArrayList<>();
            for (int m = 0; m < mp; m++) {
                g.add(d * mp + m);
            }
            out.add(g);
        }
        return out;
    }

    /** Bytes of one data-parallel shard's hidden states {@code [batch / dp * seq, hidden]}. */
    private static long shardBytes(GptConfig c, int dp) {
        return (long) c.batch() / dp * c.seq() * c.hidden() * c.dtype().bytes();
    }

    /**
     * Layer {@code i}'s communications of {@code phase} other than gradient reductions and the return of the
     * embedding's gradient.
     */
    private static List<Communication> layer(Plan plan, int i, Phase phase) {
        return plan.comms(phase).stream().filter(c -> c.origin() != GRADIENT && c.operator() != null
                && c.operator().startsWith("layers." + i + ".") && !c.tensor().endsWith("embedding.flatten")).toList();
    }

    private static List<String> names(List<Communication> comms) {
        return comms.stream().map(c -> c.kind() + " " + c.operator() + " " + c.tensor()).toList();
    }

    private static long total(List<Communication> comms) {
        return comms.stream().mapToLong(Communication::totalRecvBytes).sum();
    }

    @ParameterizedTest(name = "{0} dp {1} tp {2}")
    @MethodSource("cases")
    void eachLayerGathersAndScattersOverTheTensorParallelGroupInsteadOfAllReducing(GptConfig c, int dp, int mp) {
        Network net = Zoo.gpt(c);
        Plan sp = Planner.plan(net, HandPlans.megatronGptConfig(c, dp, mp, true));
        Plan megatron = Planner.plan(net, HandPlans.megatronGptConfig(c, dp, mp, false));
        long s = shardBytes(c, dp);
        // one rank's piece of a ring AllGather / ReduceScatter of the shard over the group: (mp-1)/mp of it
        long piece = s / mp * (mp - 1);
        for (int i = 0; i < c.layers(); i++) {
            String p = "layers." + i + ".";
            List<Communication> fwd = layer(sp, i, Phase.FORWARD);
            List<Communication> bwd = layer(sp, i, Phase.BACKWARD);
            assertEquals(List.of("AllGather " + p + "attention.q " + p + "ln1",
                    "ReduceScatter " + p + "attention.out " + p + "attention.out",
                    "AllGather " + p + "ffn.fc1 " + p + "ln2",
                    "ReduceScatter " + p + "ffn.fc2 " + p + "ffn.fc2"), names(fwd));
            assertEquals(List.of("AllGather " + p + "ffn.fc2 grad/" + p + "ffn.fc2",
                    "ReduceScatter " + p + "ffn.fc1 grad/" + p + "ln2",
                    "AllGather " + p + "attention.out grad/" + p + "attention.out",
                    "ReduceScatter " + p + "attention.q grad/" + p + "ln1"), names(bwd));
            for (Communication x : concat(fwd, bwd)) {
                assertEquals(tpGroups(dp, mp), x.groups(), x.toString());
                for (long b : x.recvBytes()) {
                    assertEquals(piece, b, x.toString());
                }
            }
            // q, k and v share one gather of ln1, and their gradients one scatter
            assertTrue(fwd.get(0).reason().contains("[" + p + "attention.k, " + p + "attention.v] reuse"),
                    fwd.get(0).reason());
            assertTrue(bwd.get(3).reason().contains("3 consumers"), bwd.get(3).reason());
            // Megatron: one AllReduce per block each way, the same bytes
            List<Communication> mf = layer(megatron, i, Phase.FORWARD);
            List<Communication> mb = layer(megatron, i, Phase.BACKWARD);
            assertEquals(List.of("AllReduce " + p + "attention.out " + p + "attention.out",
                    "AllReduce " + p + "ffn.fc2 " + p + "ffn.fc2"), names(mf));
            assertEquals(List.of("AllReduce " + p + "ffn.fc1 grad/" + p + "ln2",
                    "AllReduce " + p + "attention.q grad/" + p + "ln1"), names(mb));
            assertEquals(4 * piece * dp * mp, total(fwd));
            assertEquals(total(mf), total(fwd));
            assertEquals(total(mb), total(bwd));
        }
        // outside the layers: the head's input is gathered, its gradient scattered; the embedding's output is sliced
        // locally, its gradient gathered (at the first LayerNorm)
        List<Communication> rest = sp.comms().stream().filter(x -> x.origin() != GRADIENT
                && (!x.operator().startsWith("layers.") || x.tensor().endsWith("embedding.flatten"))).toList();
        List<String> expected = new ArrayList<>(List.of("AllGather head final_ln", "AllGather loss_fn head",
                "AllReduce loss loss", "ReduceScatter head grad/final_ln",
                "AllGather layers.0.ln1 grad/embedding.flatten"));
        if (dp == 1) {
            expected.remove("AllReduce loss loss");
        }
        assertEquals(expected, names(rest));
        // no activation is AllReduced any more but the loss (a scalar mean)
        assertTrue(sp.comms().stream().noneMatch(x -> x.kind() == CollectiveKind.ALL_REDUCE && x.origin() != GRADIENT
                && !x.operator().equals("loss")), sp.comms().toString());
        // LayerNorm parameters now see a part of the tokens on every rank: their gradients are reduced over all ranks
        Communication gamma = sp.comms().stream().filter(x -> "layers.0.ln1.gamma".equals(x.parameter()))
                .findFirst().orElseThrow();
        assertEquals(1, gamma.groups().size());
        assertEquals(dp * mp, gamma.groups().get(0).size());
    }

    private static List<Communication> concat(List<Communication> a, List<Communication> b) {
        List<Communication> out = new ArrayList<>(a);
        out.addAll(b);
        return out;
    }

    @ParameterizedTest(name = "{0} dp {1} tp {2}")
    @MethodSource("cases")
    void layerNormAndResidualActivationsShrinkByTheTensorParallelDegree(GptConfig c, int dp, int mp) {
        Network net = Zoo.gpt(c);
        Plan sp = Planner.plan(net, HandPlans.megatronGptConfig(c, dp, mp, true));
        Plan megatron = Planner.plan(net, HandPlans.megatronGptConfig(c, dp, mp, false));
        CostModel cost = new CostModel(ClusterSpec.preset("a100-80gb-dgx"));
        // the outputs of every LayerNorm (the normalised tensor [batch / dp * seq, hidden] and its per-token
        // statistics) and residual, and of the row-parallel MatMuls: a data-parallel shard each in Megatron, a 1/mp
        // of it with sequence parallelism
        long shard = 0;
        int splitOps = 0;
        for (io.tessera.planner.graph.Node n : net.nodes()) {
            String o = n.name();
            if (o.endsWith("ln1") || o.endsWith("ln2") || o.equals("final_ln")
                    || o.endsWith("residual1") || o.endsWith("residual2") || o.endsWith("attention.out")
                    || o.endsWith("ffn.fc2")) {
                splitOps++;
                for (String t : n.outputs()) {
                    shard += net.tensor(t).bytes() / dp;
                }
            }
        }
        assertEquals(6 * c.layers() + 1, splitOps);
        for (int r = 0; r < dp * mp; r++) {
            long saved = cost.activationBytes(net, megatron, r) - cost.activationBytes(net, sp, r);
            assertEquals(shard - shard / mp, saved, "rank " + r);
        }
        assertArrayEquals(new long[] {(long) c.batch() / dp * c.seq() / mp, c.hidden()},
                sp.layouts().get("layers.0.residual2").sliceShape());
        assertArrayEquals(new long[] {(long) c.batch() / dp * c.seq(), c.hidden()},
                megatron.layouts().get("layers.0.residual2").sliceShape());
        // parameters, gradients and optimizer state are those of Megatron (the fusion buckets differ: the
        // LayerNorm parameters' gradients are reduced over every rank)
        assertEquals(megatron.memory(0).params(), sp.memory(0).params());
        assertEquals(megatron.memory(0).gradients(), sp.memory(0).gradients());
        assertEquals(megatron.memory(0).optimizerState(), sp.memory(0).optimizerState());
    }

    @Test
    void theBlocksOfTheTokenSplitFollowTheDataParallelShardThenTheRankInItsGroup() {
        GptConfig c = new GptConfig(1, 32, 4, 64, 8, 64, 4, DType.FLOAT32);
        Plan sp = Planner.plan(Zoo.gpt(c), HandPlans.megatronGptConfig(c, 2, 4, true));
        // 32 token rows: data-parallel shard d holds sequences 2d and 2d+1 (16 rows), rank m of its group 4 of them
        // (half a sequence)
        for (int r = 0; r < 8; r++) {
            assertEquals(4L * r, sp.layouts().get("layers.0.ln1").sliceBox(r).start(0));
            assertEquals(4L * r, sp.layouts().get("layers.0.attention.out").sliceBox(r).start(0));
            assertEquals(4L, sp.layouts().get("layers.0.residual2").sliceShape()[0]);
        }
        assertEquals(Strategy.of(new int[] {8, 1}), sp.op("layers.0.ffn.fc2").outStrategy());
    }

    @Test
    void theEmbeddingIsSlicedLocallyOnceAndItsGradientGatheredOnce() {
        // the embedding stays replicated over the tensor-parallel group, as in Megatron: ln1 and residual1 of the
        // first layer share one local slice of it, and their gradients go back through one AllGather
        GptConfig c = new GptConfig(2, 32, 4, 64, 8, 64, 6, DType.FLOAT32);
        Plan sp = Planner.plan(Zoo.gpt(c), HandPlans.megatronGptConfig(c, 2, 2, true));
        assertEquals(Strategy.of(new int[] {1, 1}, new int[] {2, 1}), sp.op("embedding.lookup").inStrategy());
        assertEquals(List.of(new OpPlan.Reuse(0, "layers.0.ln1", 0)), sp.op("layers.0.residual1").reuses());
        List<Communication> flatten = sp.comms().stream().filter(x -> x.tensor().endsWith("embedding.flatten"))
                .toList();
        assertEquals(List.of("AllGather layers.0.ln1 grad/embedding.flatten"), names(flatten));
        assertEquals(Phase.BACKWARD, flatten.get(0).phase());
        assertEquals(shardBytes(c, 2) / 2, flatten.get(0).recvBytes()[0]);
        assertTrue(flatten.get(0).reason().contains("2 consumers"), flatten.get(0).reason());
        // the word table's gradient is reduced over the data-parallel groups only
        Communication table = sp.comms().stream().filter(x -> "embedding.word_table".equals(x.parameter()))
                .findFirst().orElseThrow();
        assertEquals(List.of(List.of(0, 2), List.of(1, 3)), table.groups());
    }

    @Test
    void theShippedExampleIsTheJavaHandPlan() {
        Plan file = StrategyPlans.plan(StrategyFiles.read(PlannerTest.STRATEGIES
                .resolve("gpt-megatron-sequence-parallel.json")));
        GptConfig c = new GptConfig(2, 64, 4, 256, 16, 128, 8, DType.FLOAT32);
        Plan java = Planner.plan(Zoo.gpt(c), HandPlans.megatronGptConfig(c, 2, 4, true));
        assertEquals(PlanJson.toJson(java).toString(), PlanJson.toJson(file).toString());
    }

    @Test
    void sequenceParallelNeedsTheTensorParallelDegreeToDivideAShardsTokens() {
        GptConfig c = new GptConfig(1, 32, 4, 64, 3, 64, 2, DType.FLOAT32);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> HandPlans.megatronGptConfig(c, 2, 2, true));
        assertTrue(e.getMessage().contains("mp = 2 does not divide the 3 token rows"), e.getMessage());
        // without sequence parallelism the same model plans
        assertTrue(HandPlans.megatronGptOutStrategies(c, 2, 2, false).isEmpty());
        Planner.plan(Zoo.gpt(c), HandPlans.megatronGptConfig(c, 2, 2, false));
    }

    /**
     * x [16, 8] -> MatMul and relu split by columns -> two column-parallel MatMuls reading it row-split -> add ->
     * mean: the second MatMul reuses the first one's redistribution, and their partial gradients (which the producer's column
     * split cannot take as a ReduceScatter) are AllReduced once and redistributed back once.
     */
    static Network twoConsumers() {
        Network.Builder b = Network.builder("two_consumers");
        b.input("x", TensorType.of(DType.FLOAT32, 16, 8));
        String w1 = b.parameter(Parameter.fromInitializer("normal", new long[] {8, 16}, DType.FLOAT32, "w1"));
        String w2 = b.parameter(Parameter.fromInitializer("normal", new long[] {8, 16}, DType.FLOAT32, "w2"));
        String w0 = b.parameter(Parameter.fromInitializer("normal", new long[] {8, 8}, DType.FLOAT32, "w0"));
        String h = b.op("relu", Activation.relu(), b.op("mm0", MatMul.of(false, false), "x", w0));
        String a = b.op("mm1", MatMul.of(false, false), h, w1);
        String d = b.op("mm2", MatMul.of(false, false), h, w2);
        String y = b.op("add", Binary.add(), a, d);
        b.loss(b.op("loss", Reduce.mean(false), y));
        return b.build();
    }

    /** The configuration of {@link #twoConsumers}: relu (1, 8), the MatMuls ((2, 1), (1, 4)) on 8 devices. */
    static PlanConfig twoConsumersConfig() {
        return PlanConfig.builder(8).dataset(new DatasetStrategy.FullBatch())
                .strategy("mm0", new int[] {1, 1}, new int[] {1, 8})
                .strategy("relu", new int[] {1, 8})
                .strategy("mm1", new int[] {2, 1}, new int[] {1, 4})
                .strategy("mm2", new int[] {2, 1}, new int[] {1, 4})
                .strategy("add", new int[] {2, 4}, new int[] {2, 4})
                .strategy("loss", new int[] {2, 4})
                .build();
    }

    @Test
    void consumersNeedingTheSameLayoutShareOneRedistributionAndOneGradientReduction() {
        Plan plan = Planner.plan(twoConsumers(), twoConsumersConfig());
        assertEquals(List.of(new OpPlan.Reuse(0, "mm1", 0)), plan.op("mm2").reuses());
        assertNull(plan.op("mm1").reuse(0));
        List<Communication> relu = plan.comms().stream().filter(x -> x.tensor().endsWith("relu")).toList();
        // forward: one redistribution into the row split (at mm1); backward: one AllReduce of the summed partial
        // gradients over the column group, then one transposed redistribution, both at mm1
        assertTrue(relu.stream().allMatch(x -> x.operator().equals("mm1")), relu.toString());
        assertEquals(1, relu.stream().filter(x -> x.kind() == CollectiveKind.ALL_REDUCE).count(), relu.toString());
        long forward = relu.stream().filter(x -> x.phase() == Phase.FORWARD).count();
        long back = relu.stream().filter(x -> x.phase() == Phase.BACKWARD
                && x.origin() == Communication.Origin.REDISTRIBUTION).count();
        assertTrue(forward >= 1 && back == forward, relu.toString());
        assertTrue(relu.stream().filter(x -> x.kind() == CollectiveKind.ALL_REDUCE).findFirst().orElseThrow().reason()
                .contains("2 consumers [mm1, mm2]"), relu.toString());
    }
}
