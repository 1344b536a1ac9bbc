package io.tessera.simulator.numeric;

import io.tessera.layout.DType;
import io.tessera.planner.graph.Network;
import io.tessera.planner.op.Activation;
import io.tessera.planner.op.Binary;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.RMSNorm;
import io.tessera.planner.op.Reduce;
import io.tessera.planner.op.SoftmaxCrossEntropyWithLogits;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.strategy.DatasetStrategy;
import io.tessera.simulator.cluster.Instruction;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Llama-family building blocks executed on simulated ranks equal one device: RMSNorm split over the batch and
 * the sequence, and the SwiGLU MLP {@code down(silu(gate(x)) * up(x))} with Megatron tensor parallelism (gate and up
 * column-parallel, down row-parallel).
 */
class LlamaMlpSimulationTest {

    private static final SimulationOptions F32 = SimulationOptions.defaults().withSteps(2);
    private static final SimulationOptions F64 = F32.withDtype(DType.FLOAT64);

    private static SimulationReport assertPasses(Plan plan, SimulationOptions options) {
        SimulationReport r = Simulation.run(plan, options);
        assertTrue(r.passed(), r.summary());
        assertEquals(options.steps(), r.steps().size());
        if (options.dtype() == DType.FLOAT64) {
            assertTrue(r.maxRelError() <= 1e-12, r.summary());
        }
        return r;
    }

    /** The labels of the collectives in rank {@code rank}'s program of one training step. */
    private static List<String> collectives(Plan plan, int rank) {
        Execution e = new Execution(plan, F32.withSteps(1));
        List<String> labels = new ArrayList<>();
        e.programHook(p -> p.get(rank).forEach(i -> {
            if (i instanceof Instruction.Collective) {
                labels.add(i.label());
            }
        }));
        e.step(0);
        return labels;
    }

    /**
     * x [batch 4, seq 8, hidden 16] + bias -> RMSNorm (eps 1e-6) -> times a target -> mean: the norm's input gradient
     * reaches the bias, its weight gradient is summed over the ranks splitting the rows.
     */
    private static Network rmsNormNetwork() {
        Network.Builder b = Network.builder("rms_norm");
        b.input("x", TensorType.of(DType.FLOAT32, 4, 8, 16));
        b.input("target", TensorType.of(DType.FLOAT32, 4, 8, 16));
        String bias = b.parameter("bias", "normal", DType.FLOAT32, 16);
        String weight = b.parameter("norm.weight", "normal", DType.FLOAT32, 16);
        String h = b.op("shift", Binary.add(), "x", bias);
        String y = b.op("norm", RMSNorm.of(), h, weight);
        String m = b.op("weighted", Binary.mul(), y, "target");
        b.loss(b.op("loss", Reduce.mean(false), m));
        return b.build();
    }

    @ParameterizedTest(name = "data {0} x sequence {1}, RMSNorm rows split {2} x {3}, {4}")
    @CsvSource({"2, 4, 2, 4, float64", "2, 4, 2, 4, float32", "4, 2, 4, 2, float64", "1, 8, 1, 8, float32",
        // the norm split differently from its neighbours: redistributed into and out of it
        "2, 4, 4, 2, float64", "2, 2, 1, 4, float32"})
    void rmsNormSplitOverDataAndSequenceEqualsOneDevice(int dp, int sp, int normDp, int normSp, String dtype) {
        int[] rows = {dp, sp, 1};
        PlanConfig config = PlanConfig.builder(dp * sp)
                .dataset(new DatasetStrategy.Explicit(Strategy.of(rows, rows)))
                .strategy("shift", rows, new int[] {1})
                .strategy("norm", new int[] {normDp, normSp, 1}, new int[] {1})
                .strategy("weighted", rows, rows)
                .strategy("loss", rows)
                .build();
        SimulationReport r = assertPasses(Planner.plan(rmsNormNetwork(), config),
                DType.parse(dtype) == DType.FLOAT64 ? F64 : F32);
        assertTrue(r.paramErrors().containsKey("norm.weight"), r.paramErrors().toString());
        assertTrue(r.paramErrors().containsKey("bias"), r.paramErrors().toString());
    }

    /**
     * A Llama decoder's MLP block on tokens x [16, hidden 16] with labels: RMSNorm, then
     * {@code down_proj(silu(gate_proj(h)) * up_proj(h))} with Hugging Face's [out, in] weights (intermediate 32), a
     * residual add and a softmax cross-entropy loss over the 16 hidden units.
     */
    static Network swiGluMlp() {
        Network.Builder b = Network.builder("swiglu_mlp");
        b.input("x", TensorType.of(DType.FLOAT32, 16, 16));
        b.input("labels", TensorType.of(DType.FLOAT32, 16, 16));
        String norm = b.parameter("post_attention_layernorm.weight", "normal", DType.FLOAT32, 16);
        String gate = b.parameter("mlp.gate_proj.weight", "xavier_uniform", DType.FLOAT32, 32, 16);
        String up = b.parameter("mlp.up_proj.weight", "xavier_uniform", DType.FLOAT32, 32, 16);
        String down = b.parameter("mlp.down_proj.weight", "xavier_uniform", DType.FLOAT32, 16, 32);
        String h = b.op("norm", RMSNorm.of(), "x", norm);
        String g = b.op("gate", MatMul.of(false, true), h, gate);
        String u = b.op("up", MatMul.of(false, true), h, up);
        String a = b.op("silu", Activation.silu(), g);
        String p = b.op("product", Binary.mul(), a, u);
        String d = b.op("down", MatMul.of(false, true), p, down);
        String y = b.op("residual", Binary.add(), "x", d);
        String l = b.op("loss_fn", new SoftmaxCrossEntropyWithLogits(), y, "labels");
        b.loss(b.op("loss", Reduce.mean(false), l));
        return b.build();
    }

    @ParameterizedTest(name = "data {0} x tensor {1}, {2}")
    @CsvSource({"1, 4, float64", "1, 4, float32", "2, 2, float64", "2, 4, float32", "1, 2, float32"})
    void swiGluMlpWithMegatronTensorParallelEqualsOneDevice(int dp, int tp, String dtype) {
        int[] rows = {dp, 1};
        PlanConfig config = PlanConfig.builder(dp * tp)
                .dataset(new DatasetStrategy.Explicit(Strategy.of(rows, rows)))
                .strategy("norm", rows, new int[] {1})
                // gate and up column-parallel: their [out, in] weights split by rows
                .strategy("gate", rows, new int[] {tp, 1})
                .strategy("up", rows, new int[] {tp, 1})
                .strategy("silu", new int[] {dp, tp})
                .strategy("product", new int[] {dp, tp}, new int[] {dp, tp})
                // down row-parallel: the intermediate dim split, its partial sums AllReduced
                .strategy("down", new int[] {dp, tp}, new int[] {1, tp})
                .strategy("residual", rows, rows)
                .strategy("loss_fn", rows, rows)
                .strategy("loss", new int[] {dp})
                .build();
        Plan plan = Planner.plan(swiGluMlp(), config);
        assertEquals(dp * tp, plan.devices());
        // Megatron's two AllReduces per MLP: down's partial sums in forward, the gradient of the replicated norm output
        // in backward; nothing moves between gate, up, SiLU, the product and down (data parallel adds its own)
        List<String> collectives = collectives(plan, 0);
        if (dp == 1) {
            assertEquals(List.of("AllReduce(sum) down", "AllReduce(sum) grad/norm"), collectives);
        } else {
            assertTrue(collectives.containsAll(List.of("AllReduce(sum) down", "AllReduce(sum) grad/norm")),
                    collectives.toString());
        }
        SimulationReport r = assertPasses(plan, DType.parse(dtype) == DType.FLOAT64 ? F64 : F32);
        for (String param : new String[] {"post_attention_layernorm.weight", "mlp.gate_proj.weight",
            "mlp.up_proj.weight", "mlp.down_proj.weight"}) {
            assertTrue(r.paramErrors().containsKey(param), param + " compared: " + r.paramErrors());
        }
    }
}
