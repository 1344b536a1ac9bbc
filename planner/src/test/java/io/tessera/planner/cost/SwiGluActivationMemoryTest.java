package io.tessera.planner.cost;

import io.tessera.layout.DType;
import io.tessera.planner.graph.Network;
import io.tessera.planner.op.Activation;
import io.tessera.planner.op.Binary;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.RMSNorm;
import io.tessera.planner.op.Reduce;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.plan.OpPlan;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.strategy.DatasetStrategy;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The activations a Llama MLP block keeps for its backward ({@link RMSNorm}, SiLU and the SwiGLU product, unfused):
 * per token, the norm's input and its 1/rms, the norm's output read by gate and up (counted once), and four
 * intermediate-sized tensors: gate's output (SiLU's input), SiLU's output and up's output (the product's inputs) and
 * the product (down's input). Megatron's fused SwiGLU kernel keeps three, recomputing SiLU; the unfused form keeps
 * all four.
 */
class SwiGluActivationMemoryTest {

    private static final long T = 64;
    private static final long H = 32;
    private static final long F = 96;

    private static Network block() {
        Network.Builder b = Network.builder("llama_mlp");
        b.input("x", TensorType.of(DType.BFLOAT16, T, H));
        String shift = b.parameter("shift", "normal", DType.BFLOAT16, H);
        String norm = b.parameter("layers.0.post_attention_layernorm.weight", "ones", DType.BFLOAT16, H);
        String gate = b.parameter("layers.0.mlp.gate_proj.weight", "normal", DType.BFLOAT16, F, H);
        String up = b.parameter("layers.0.mlp.up_proj.weight", "normal", DType.BFLOAT16, F, H);
        String down = b.parameter("layers.0.mlp.down_proj.weight", "normal", DType.BFLOAT16, H, F);
        String x = b.op("embed", Binary.add(), "x", shift);
        String h = b.op("layers.0.norm", RMSNorm.of(), x, norm);
        String g = b.op("layers.0.gate", MatMul.of(false, true), h, gate);
        String u = b.op("layers.0.up", MatMul.of(false, true), h, up);
        String a = b.op("layers.0.silu", Activation.silu(), g);
        String p = b.op("layers.0.product", Binary.mul(), a, u);
        String d = b.op("layers.0.down", MatMul.of(false, true), p, down);
        String y = b.op("layers.0.residual", Binary.add(), x, d);
        b.loss(b.op("loss", Reduce.mean(false), y));
        return b.build();
    }

    private static Plan megatron(int t) {
        int[] rows = {1, 1};
        return Planner.plan(block(), PlanConfig.builder(t)
                .dataset(new DatasetStrategy.Explicit(Strategy.of(rows)))
                .strategy("embed", rows, new int[] {1})
                .strategy("layers.0.norm", rows, new int[] {1})
                .strategy("layers.0.gate", rows, new int[] {t, 1})
                .strategy("layers.0.up", rows, new int[] {t, 1})
                .strategy("layers.0.silu", new int[] {1, t})
                .strategy("layers.0.product", new int[] {1, t}, new int[] {1, t})
                .strategy("layers.0.down", new int[] {1, t}, new int[] {1, t})
                .strategy("layers.0.residual", rows, rows)
                .strategy("loss", rows)
                .build());
    }

    @Test
    void theBlockKeepsTheNormInputsAndFourIntermediateTensorsSplitByTensorParallelism() {
        for (int t : new int[] {1, 2, 4}) {
            Plan plan = megatron(t);
            List<String> layer = plan.ops().stream().map(OpPlan::name).filter(n -> n.startsWith("layers.0."))
                    .toList();
            ActivationMemory memory = ActivationMemory.of(plan);
            // bf16: the norm's input x and output h (replicated), rstd (one per token), 4 x [T, F / t]
            long expected = 2 * (T * H + T + T * H + 4 * T * F / t);
            assertEquals(expected, memory.keptBytes(layer), "t=" + t);
            // the norm alone: x and rstd (its output is saved by gate and up)
            assertEquals(2 * (T * H + T), memory.keptBytes(List.of("layers.0.norm")), "t=" + t);
            // SiLU keeps its input only, not its output
            assertEquals(2 * T * F / t, memory.keptBytes(List.of("layers.0.silu")), "t=" + t);
        }
    }
}
