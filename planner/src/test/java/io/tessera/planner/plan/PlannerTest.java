package io.tessera.planner.plan;

import io.tessera.planner.api.StrategyPlans;

import io.tessera.layout.comm.CollectiveKind;

import io.tessera.layout.comm.Phase;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.param.Parameter;
import io.tessera.layout.redistribution.ReduceOp;
import io.tessera.layout.tensor.Tensor;
import io.tessera.planner.graph.Network;
import io.tessera.planner.op.Activation;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.Reduce;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.strategy.DatasetStrategy;
import io.tessera.planner.strategy.StrategyCheckpoint;
import io.tessera.planner.strategy.StrategyCheckpoints;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The planner on hand-built Megatron networks and on every shipped strategy file. */
class PlannerTest {

    static final Path STRATEGIES = Path.of("..", "strategies");

    static Plan planFile(String name) {
        return StrategyPlans.plan(StrategyFiles.read(STRATEGIES.resolve(name)));
    }

    /** x [16, 32] -> blocks of (fc1 [32, 128] column parallel -> GeLU -> fc2 [128, 32] row parallel) -> loss. */
    static Network megatronMlp(int blocks) {
        Network.Builder b = Network.builder("megatron_mlp");
        b.input("x", TensorType.of(DType.FLOAT32, 16, 32));
        String h = "x";
        for (int i = 0; i < blocks; i++) {
            Network.Builder s = b.scope("blocks." + i);
            String w1 = s.parameter(Parameter.fromInitializer("normal", new long[] {32, 128}, DType.FLOAT32, "w1"));
            String w2 = s.parameter(Parameter.fromInitializer("normal", new long[] {128, 32}, DType.FLOAT32, "w2"));
            String a = s.op("fc1", MatMul.of(false, false), h, w1);
            String g = s.op("gelu", Activation.gelu(), a);
            h = s.op("fc2", MatMul.of(false, false), g, w2);
        }
        b.op("loss", Reduce.mean(false), h);
        b.loss("loss");
        return b.build();
    }

    static PlanConfig megatronConfig(int blocks) {
        PlanConfig.Builder c = PlanConfig.builder(8)
                .dataset(new DatasetStrategy.Explicit(Strategy.of(new int[] {2, 1})));
        for (int i = 0; i < blocks; i++) {
            c.strategy("blocks." + i + ".fc1", new int[] {2, 1}, new int[] {1, 4});
            c.strategy("blocks." + i + ".gelu", new int[] {2, 4});
            c.strategy("blocks." + i + ".fc2", new int[] {2, 4}, new int[] {4, 1});
        }
        return c.build();
    }

    @Test
    void megatronMlpHasOneForwardAllReducePerBlockAndNoneInBetween() {
        Plan plan = Planner.plan(megatronMlp(3), megatronConfig(3));
        List<Communication> fwd = plan.comms(Phase.FORWARD).stream()
                .filter(c -> c.operator().startsWith("blocks.")).toList();
        assertEquals(List.of("blocks.0.fc2", "blocks.1.fc2", "blocks.2.fc2"),
                fwd.stream().map(Communication::operator).toList(), fwd.toString());
        for (Communication c : fwd) {
            assertEquals(CollectiveKind.ALL_REDUCE, c.kind());
            assertEquals(Communication.Origin.OPERATOR, c.origin());
            assertEquals(List.of(List.of(0, 1, 2, 3), List.of(4, 5, 6, 7)), c.groups());
            // each rank holds a [8, 32] float32 partial sum: ring AllReduce over 4 receives 2 * 3/4 of it
            for (long b : c.recvBytes()) {
                assertEquals(2 * 8 * 32 * 4 * 3 / 4, b);
            }
        }
        // no redistribution in or between the blocks (the mean over the 8-way split batch slices the last block's
        // output locally; the transposed slice gathers its gradient back in backward)
        assertTrue(plan.comms().stream().noneMatch(c -> c.origin() == Communication.Origin.REDISTRIBUTION
                && c.operator().startsWith("blocks.")), plan.comms().toString());
        List<Communication> lossRedistribution = plan.comms().stream()
                .filter(c -> c.origin() == Communication.Origin.REDISTRIBUTION).toList();
        assertEquals(1, lossRedistribution.size());
        assertEquals("loss", lossRedistribution.get(0).operator());
        assertEquals(Phase.BACKWARD, lossRedistribution.get(0).phase());
        assertEquals(CollectiveKind.ALL_GATHER, lossRedistribution.get(0).kind());
        // backward: the column-parallel input's gradient is partial over the tensor-parallel group (Megatron's f),
        // except for block 0 whose input x needs no gradient
        List<String> inputGrads = plan.comms(Phase.BACKWARD).stream()
                .filter(c -> c.origin() == Communication.Origin.OPERATOR).map(Communication::tensor).toList();
        assertEquals(List.of("grad/blocks.1.fc2", "grad/blocks.0.fc2"), inputGrads);
        // every weight's gradient is reduced over the data-parallel pair holding the same slice
        List<Communication> grads = plan.comms(Phase.BACKWARD).stream()
                .filter(c -> c.origin() == Communication.Origin.GRADIENT).toList();
        assertEquals(6, grads.size());
        for (Communication c : grads) {
            assertEquals(List.of(List.of(0, 4), List.of(1, 5), List.of(2, 6), List.of(3, 7)), c.groups(), c.toString());
            assertEquals(ReduceOp.SUM, c.reduce());
        }
    }

    @Test
    void dataParallelInsertsOnlyOneGradientAllReducePerParameter() {
        Plan plan = planFile("mlp-data-parallel.json");
        assertEquals(plan.params().size(), plan.comms().size(), plan.comms().toString());
        for (Communication c : plan.comms()) {
            assertEquals(CollectiveKind.ALL_REDUCE, c.kind());
            assertEquals(Communication.Origin.GRADIENT, c.origin());
            assertEquals(ReduceOp.MEAN, c.reduce(), "gradients_mean is set in the file");
            assertEquals(List.of(List.of(0, 1, 2, 3, 4, 5, 6, 7)), c.groups());
            long paramBytes = plan.param(c.parameter()).fullBytes();
            assertEquals(2 * paramBytes * 7 / 8, c.recvBytes()[3]);
        }
        assertEquals(plan.params().stream().map(ParamPlan::name).sorted().toList(),
                plan.comms().stream().map(Communication::parameter).sorted().toList());
    }

    @Test
    void megatronGptAttentionAndFfnEachReduceOnceForward() {
        Plan plan = planFile("gpt-megatron-tp4-dp2.json");
        List<String> layerForward = plan.comms(Phase.FORWARD).stream()
                .filter(c -> c.operator().startsWith("layers.")).map(c -> c.operator() + " " + c.kind()).toList();
        assertEquals(List.of("layers.0.attention.out AllReduce", "layers.0.ffn.fc2 AllReduce",
                "layers.1.attention.out AllReduce", "layers.1.ffn.fc2 AllReduce"), layerForward);
        // q, k and v's partial gradients of the LayerNorm output are summed locally and reduced once per layer
        List<Communication> merged = plan.comms(Phase.BACKWARD).stream()
                .filter(c -> c.tensor().equals("grad/layers.0.ln1")).toList();
        assertEquals(1, merged.size(), merged.toString());
        assertTrue(merged.get(0).reason().contains("3 consumers"), merged.get(0).reason());
        // tensor-parallel weights hold a quarter each
        assertArrayEquals(new long[] {64, 16}, plan.param("layers.0.attention.wq").layout().sliceShape());
        assertArrayEquals(new long[] {16, 64}, plan.param("layers.0.attention.wo").layout().sliceShape());
    }

    @Test
    void reshapeTransposeNeedsOneAllToAllEachWayAndTheSlicedLogitsGatherTheirGradient() {
        Plan plan = planFile("reshape-transpose-redistribution.json");
        List<Communication> r = plan.comms().stream()
                .filter(c -> c.origin() == Communication.Origin.REDISTRIBUTION).toList();
        // forward: the AllToAll into the Transpose (the loss's row split of the replicated logits is a local slice);
        // backward: the logits' gradient gathered back, then the AllToAll's transpose
        assertEquals(3, r.size(), r.toString());
        assertEquals(CollectiveKind.ALL_TO_ALL, r.get(0).kind());
        assertEquals(Phase.FORWARD, r.get(0).phase());
        assertEquals("swap", r.get(0).operator());
        assertEquals(CollectiveKind.ALL_GATHER, r.get(1).kind());
        assertEquals("loss_fn", r.get(1).operator());
        assertEquals(Phase.BACKWARD, r.get(1).phase());
        assertEquals(CollectiveKind.ALL_TO_ALL, r.get(2).kind());
        assertEquals(Phase.BACKWARD, r.get(2).phase());
        // byte-minimal: each rank keeps 1/8 of its slice and receives the other 7/8 pieces
        long slice = 16 * 8 * 8 / 8 * 4;
        for (long b : r.get(0).recvBytes()) {
            assertEquals(slice * 7 / 8, b);
        }
    }

    @Test
    void everyShippedStrategyFilePlans() throws IOException {
        List<Path> files;
        try (Stream<Path> s = Files.list(STRATEGIES)) {
            files = s.filter(p -> p.toString().endsWith(".json")).sorted().toList();
        }
        assertTrue(files.size() >= 5, files.toString());
        for (Path f : files) {
            Plan plan = StrategyPlans.plan(StrategyFiles.read(f));
            assertFalse(plan.ops().isEmpty(), f.toString());
            assertNotNull(PlanSummary.format(plan));
            assertEquals(PlanJson.toJson(plan).toString(), PlanJson.toJson(StrategyPlans.plan(StrategyFiles.read(f)))
                    .toString(), f + ": planning is not deterministic");
        }
    }

    @Test
    void checkpointRoundTripsAndPinsStrategies(@TempDir Path dir) throws IOException {
        Plan plan = planFile("gpt-megatron-tp4-dp2.json");
        StrategyCheckpoint ckpt = StrategyPlans.checkpoint(plan);
        assertEquals(ckpt, StrategyCheckpoints.parse(StrategyCheckpoints.write(ckpt)));
        // a MatMul with a parameter input: key <Prim>_<first parameter name>
        assertEquals(Strategy.of(new int[] {2, 1}, new int[] {1, 4}),
                ckpt.strategies().get("MatMul_layers.0.attention.wq").strategy());
        // the layout of a column-parallel weight: dev [2, 4] normalised, split over the last device dimension
        assertArrayEquals(new int[] {0, -1}, ckpt.layouts().get("layers.0.attention.wo").tensorMap());
        assertArrayEquals(new int[] {-1, 0}, ckpt.layouts().get("layers.0.attention.wq").tensorMap());
        assertEquals(-1, ckpt.layouts().get("layers.0.attention.wq").optWeightShardSize());

        // a strategy file that pins every parameterised operator by loading the checkpoint
        Files.writeString(dir.resolve("ckpt.json"), StrategyCheckpoints.write(ckpt));
        Files.writeString(dir.resolve("pinned.json"), "{\"network\": {\"zoo\": \"gpt\", \"args\": {\"layers\": 2, "
                + "\"hidden\": 64, \"heads\": 4, \"seq\": 16, \"vocab\": 128, \"batch\": 8}}, \"devices\": 8, "
                + "\"parallel\": {\"strategy_ckpt_config\": {\"load_file\": \"ckpt.json\"}}}");
        Plan pinned = StrategyPlans.plan(StrategyFiles.read(dir.resolve("pinned.json")));
        for (String op : StrategyPlans.checkpointKeys(plan.network()).values()) {
            assertEquals(plan.op(op).inStrategy(), pinned.op(op).inStrategy(), op);
            assertTrue(pinned.op(op).userStrategy(), op);
        }
        assertEquals(plan.param("layers.1.ffn.w1").layout(), pinned.param("layers.1.ffn.w1").layout());
    }

    @Test
    void materialisedSlicesReassembleTheUnshardedParameters() {
        Plan plan = planFile("gpt-megatron-tp4-dp2.json");
        String[] names = {"layers.0.attention.wq", "layers.0.attention.wo", "embedding.word_table", "ln1.gamma"};
        Map<String, Parameter> rank5 = plan.materialize(5);
        assertTrue(rank5.get("layers.0.attention.wq").sliced());
        for (String name : names) {
            ParamPlan p = plan.param(name.equals("ln1.gamma") ? "layers.1.ln1.gamma" : name);
            Tensor full = plan.network().parameter(p.name()).clone().initData().tensor();
            Tensor assembled = full;
            for (int r = 0; r < plan.devices(); r++) {
                Tensor slice = plan.materialize(r).get(p.name()).tensor();
                Box box = p.layout().sliceBox(r);
                assertEquals(full.slice(box), slice, p.name() + " rank " + r);
                assembled = assembled.withRegion(box, slice);
            }
            assertEquals(full, assembled);
        }
        long[] perRank = plan.paramBytesPerRank();
        long sum = plan.params().stream().mapToLong(ParamPlan::sliceBytes).sum();
        assertEquals(sum, perRank[0]);
        assertTrue(sum < plan.params().stream().mapToLong(ParamPlan::fullBytes).sum());
    }

    @Test
    void badStrategiesAreNamed() {
        Network net = megatronMlp(1);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Planner.plan(net, PlanConfig.builder(8).strategy("blocks.0.fc3", new int[] {1, 1}).build()));
        assertTrue(e.getMessage().startsWith("strategy for unknown operator 'blocks.0.fc3'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Planner.plan(net, PlanConfig.builder(8)
                .strategy("blocks.0.fc1", new int[] {2, 2}, new int[] {4, 1}).build()));
        assertEquals("MatMul 'blocks.0.fc1': input 1 dim 0 is split 4 ways but input 0 dim 1 is split 2 ways; "
                + "k must be split equally", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> PlanConfig.builder(8)
                .mode(io.tessera.layout.param.ParallelMode.STAND_ALONE).build());
        assertTrue(e.getMessage().contains("stand_alone runs on one device"), e.getMessage());
    }

    @Test
    void layerwiseParallelParametersSkipTheirGradientReduction() {
        Network net = megatronMlp(1);
        net.parameter("blocks.0.w1").setLayerwiseParallel(true);
        Plan plan = Planner.plan(net, megatronConfig(1));
        List<String> reduced = plan.comms().stream().map(Communication::parameter)
                .filter(java.util.Objects::nonNull).toList();
        assertEquals(List.of("blocks.0.w2"), reduced);
    }
}
