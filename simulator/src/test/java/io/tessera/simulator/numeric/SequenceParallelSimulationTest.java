package io.tessera.simulator.numeric;

import io.tessera.layout.DType;
import io.tessera.layout.param.Parameter;
import io.tessera.planner.graph.Network;
import io.tessera.planner.op.Activation;
import io.tessera.planner.op.Binary;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.Reduce;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.plan.OpPlan;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.strategy.DatasetStrategy;
import io.tessera.planner.zoo.GptConfig;
import io.tessera.planner.handplan.HandPlans;
import io.tessera.planner.zoo.Zoo;
import io.tessera.simulator.cluster.Instruction;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Megatron sequence parallelism executed on simulated ranks: the training steps equal the one-device steps, and the
 * ranks run the plan's AllGathers and ReduceScatters (not an AllReduce and a slice).
 */
class SequenceParallelSimulationTest {

    private static final SimulationOptions F32 = SimulationOptions.defaults().withSteps(2);
    private static final SimulationOptions F64 = F32.withDtype(DType.FLOAT64);

    /** The labels of rank {@code rank}'s program in one training step (collectives prefixed with "C "). */
    private static List<String> program(Plan plan, int rank) {
        Execution e = new Execution(plan, F32.withSteps(1));
        List<String> labels = new ArrayList<>();
        e.programHook(p -> p.get(rank).forEach(i -> labels.add((i instanceof Instruction.Collective ? "C " : "  ")
                + i.label())));
        e.step(0);
        return labels;
    }

    @ParameterizedTest(name = "tp {0} x dp {1}, {2}")
    @CsvSource({"4, 2, float64", "4, 2, float32", "2, 2, float64", "2, 2, float32"})
    void sequenceParallelGptStepsEqualOneDevice(int tp, int dp, String dtype) {
        DType d = DType.parse(dtype);
        // 4 sequences of 8 tokens: 2 per data-parallel shard, cut into tp blocks of whole or half sequences
        GptConfig c = new GptConfig(2, 32, 4, 64, 8, 64, 4, d);
        Plan plan = Planner.plan(Zoo.gpt(c), HandPlans.megatronGptConfig(c, dp, tp, true));
        SimulationReport r = Simulation.run(plan, d == DType.FLOAT64 ? F64 : F32);
        assertTrue(r.passed(), r.summary());
        assertEquals(2, r.steps().size());
        // every trainable parameter was compared: the LayerNorms' (reduced over all ranks) among them
        assertTrue(r.paramErrors().containsKey("layers.1.ln2.gamma"), r.paramErrors().toString());
    }

    @Test
    void theRanksGatherAndScatterAsPlannedInsteadOfAllReducing() {
        GptConfig c = new GptConfig(2, 32, 4, 64, 8, 64, 4, DType.FLOAT32);
        Plan plan = Planner.plan(Zoo.gpt(c), HandPlans.megatronGptConfig(c, 2, 4, true));
        List<String> p = program(plan, 5);
        List<String> layer0 = p.stream().filter(l -> l.contains("layers.0.") && (l.startsWith("C ")
                || l.contains("reuse") || l.startsWith("  slice")) && !l.contains("grad/layers.0.ln") && !l.contains("fused")).toList();
        assertEquals(List.of(
                // the embedding's output: each rank takes its block locally (shared with residual1)
                "  slice in/layers.0.ln1/0",
                "C redistribution of layers.0.attention.q input 0",
                "  reuse in/layers.0.attention.q/0 as in/layers.0.attention.k/0",
                "  reuse in/layers.0.attention.q/0 as in/layers.0.attention.v/0",
                "C ReduceScatter layers.0.attention.out",
                "  reuse in/layers.0.ln1/0 as in/layers.0.residual1/0",
                "C redistribution of layers.0.ffn.fc1 input 0",
                "C ReduceScatter layers.0.ffn.fc2",
                "C AllGather grad/layers.0.ffn.fc2",
                "C ReduceScatter(sum) igrad/layers.0.ffn.fc1/0",
                "C AllGather grad/layers.0.attention.out",
                "C ReduceScatter(sum) igrad/layers.0.attention.q/0"), layer0.stream()
                .filter(l -> !l.contains("gamma") && !l.contains("beta") && !l.contains("grad/layers.0.attention.w")
                        && !l.contains("grad/layers.0.ffn.w")).toList());
        // no activation or activation gradient is AllReduced
        assertTrue(p.stream().noneMatch(l -> l.startsWith("C AllReduce(sum) layers.")
                || l.startsWith("C AllReduce igrad")), p.toString());
        // the embedding's gradient: the two first-layer consumers' parts summed, then moved back once
        assertEquals(1, p.stream().filter(l -> l.equals("C redistribution of gradient of embedding.flatten"))
                .count(), p.toString());
    }

    /** x -> MatMul, tanh split by columns -> two column-parallel MatMuls reading it row-split -> add -> mean. */
    private static Network twoConsumers() {
        Network.Builder b = Network.builder("two_consumers");
        b.input("x", TensorType.of(DType.FLOAT32, 16, 8));
        String w0 = b.parameter("w0", "normal", DType.FLOAT32, 8, 8);
        String w1 = b.parameter("w1", "normal", DType.FLOAT32, 8, 16);
        String w2 = b.parameter("w2", "normal", DType.FLOAT32, 8, 16);
        String h = b.op("tanh", Activation.tanh(), b.op("mm0", MatMul.of(false, false), "x", w0));
        String a = b.op("mm1", MatMul.of(false, false), h, w1);
        String d = b.op("mm2", MatMul.of(false, false), h, w2);
        // the same tensor twice, in a layout its producer does not have: the second input reuses the first's
        String sq = b.op("square", Binary.mul(), h, h);
        String y = b.op("add", Binary.add(), a, d);
        b.loss(b.op("loss", Reduce.mean(false), b.op("sum", Binary.add(), b.op("pool", Reduce.mean(true, 1), y),
                b.op("pool_sq", Reduce.mean(true, 1), sq))));
        return b.build();
    }

    @Test
    void sharedRedistributionsWithoutAReduceScatterMatchOneDevice() {
        PlanConfig config = PlanConfig.builder(8).dataset(new DatasetStrategy.FullBatch())
                .strategy("mm0", new int[] {1, 1}, new int[] {1, 8})
                .strategy("tanh", new int[] {1, 8})
                .strategy("mm1", new int[] {2, 1}, new int[] {1, 4})
                .strategy("mm2", new int[] {2, 1}, new int[] {1, 4})
                .strategy("square", new int[] {8, 1}, new int[] {8, 1})
                .strategy("add", new int[] {2, 4}, new int[] {2, 4})
                .build();
        Plan plan = Planner.plan(twoConsumers(), config);
        assertEquals(List.of(new OpPlan.Reuse(0, "mm1", 0)), plan.op("mm2").reuses());
        assertEquals(List.of(new OpPlan.Reuse(1, "square", 0)), plan.op("square").reuses());
        for (SimulationOptions o : List.of(F64, F32)) {
            SimulationReport r = Simulation.run(plan, o);
            assertTrue(r.passed(), r.summary());
        }
    }
}
