package io.tessera.planner.cost;

import io.tessera.layout.DType;
import io.tessera.planner.graph.Network;
import io.tessera.planner.handplan.HandPlans;
import io.tessera.planner.plan.OpPlan;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.zoo.GptConfig;
import io.tessera.planner.zoo.Zoo;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The saved-activation accounting against Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large
 * Transformer Models", section 4): per transformer layer, in 16-bit, {@code sbh(34 + 5as/h)} bytes without parallelism,
 * {@code sbh(10 + 24/t + 5as/(ht))} with tensor parallelism {@code t}, {@code 2sbh} kept with full recompute, and the
 * {@code 5as/h} term gone with selective recompute.
 *
 * <p>The zoo {@code gpt} as built here has no dropouts (the paper counts three: a mask of {@code as^2 b} bytes after the
 * softmax plus its {@code 2as^2 b}-byte output, and a mask of {@code sbh} bytes after each of attention and MLP), so
 * the matching reduced formula is {@code sbh(34 - 2) + as^2 b (5 - 3)} = {@code 32 sbh + 2 as^2 b}, and with
 * tensor parallelism {@code sbh(8 + 24/t) + 2 as^2 b / t} (the two {@code sbh} masks were among the replicated
 * {@code 10}). Its score scaling is a multiplication by a constant parameter, which saves nothing, as the paper's fused
 * scale-softmax kernel. Each LayerNorm also keeps its mean and 1/std ({@code sb} values each), which the paper
 * neglects; they are added to the formula.
 */
class ActivationMemoryTest {

    private static final GptConfig GPT = new GptConfig(2, 64, 4, 256, 16, 128, 4, DType.FLOAT16);

    private static List<String> layer(Plan plan, int i) {
        return plan.ops().stream().map(OpPlan::name).filter(n -> n.startsWith("layers." + i + ".")).toList();
    }

    @Test
    void aLayerKeepsKorthikantisActivationsWithoutDropout() {
        long s = GPT.seq();
        long b = GPT.batch();
        long h = GPT.hidden();
        long a = GPT.heads();
        for (int t : new int[] {1, 2, 4}) {
            Plan plan = Planner.plan(Zoo.gpt(GPT), HandPlans.megatronGptConfig(GPT, 1, t));
            ActivationMemory memory = ActivationMemory.of(plan);
            for (int i = 0; i < GPT.layers(); i++) {
                List<String> ops = layer(plan, i);
                // Korthikanti eq. 2 / 3 without the three dropouts, in bytes of a 16-bit model
                long expected = s * b * h * 8 + s * b * h * 24 / t + 2 * a * s * s * b / t;
                if (t == 1) {
                    assertEquals(s * b * h * 32 + 2 * a * s * s * b, expected);
                }
                // plus what the paper neglects: each LayerNorm's mean and 1/std, sb values each (16-bit here)
                long stats = 2 * 2 * s * b * 2;
                assertEquals(expected + stats, memory.keptBytes(ops), "t=" + t + " layer " + i);
                // selective recompute: the as^2 terms go (the paper's sbh(34) with dropouts, 10 + 24/t with t)
                assertEquals(s * b * h * 8 + s * b * h * 24 / t + stats, memory.keptBytes(ops)
                        - memory.selectiveDroppedBytes(ops), "t=" + t);
                assertEquals(2 * a * s * s * b / t, memory.selectiveWorkingBytes(ops));
                // full recompute: the layer input, 2sbh, replicated over the tensor-parallel ranks
                assertEquals(2 * s * b * h, memory.fullKeptBytes(ops, 0));
                assertEquals(expected + stats, memory.fullWorkingBytes(ops));
            }
            // two layers: full keeps both inputs, has one layer live
            List<String> both = plan.ops().stream().map(OpPlan::name).filter(n -> n.startsWith("layers.")).toList();
            assertEquals(2 * 2 * s * b * h, memory.fullKeptBytes(both, 0));
            assertEquals(memory.keptBytes(layer(plan, 0)), memory.fullWorkingBytes(both));
            assertEquals(2 * memory.keptBytes(layer(plan, 0)), memory.keptBytes(both));
        }
    }

    @Test
    void sequenceParallelDividesEveryTermByT() {
        // Korthikanti eq. 5: sbh(34/t + 5as/(ht)) with sequence parallelism; without dropouts (32 sbh + 2 as^2 b) / t,
        // the LayerNorm inputs and outputs kept sequence-sharded (the QKV and fc1 inputs before their AllGather)
        long s = GPT.seq();
        long b = GPT.batch();
        long h = GPT.hidden();
        long a = GPT.heads();
        for (int t : new int[] {2, 4}) {
            Plan plan = Planner.plan(Zoo.gpt(GPT), HandPlans.megatronGptConfig(GPT, 1, t, true));
            ActivationMemory memory = ActivationMemory.of(plan);
            long stats = 2 * 2 * s * b * 2 / t;
            for (int i = 0; i < GPT.layers(); i++) {
                // the hand plan leaves the embedding's output replicated: layer 0's LayerNorm keeps its whole input
                long unsharded = i == 0 ? 2 * s * b * h - 2 * s * b * h / t : 0;
                assertEquals((32 * s * b * h + 2 * a * s * s * b) / t + stats + unsharded,
                        memory.keptBytes(layer(plan, i)), "t=" + t + " layer " + i);
                assertEquals(2 * s * b * h / t + unsharded, memory.fullKeptBytes(layer(plan, i), 0));
            }
        }
    }

    @Test
    void selectiveRecomputeRerunsTheWholeCoreAttention() {
        Network net = Zoo.gpt(GPT);
        Set<String> ops = Recompute.selectiveOps(net);
        for (int i = 0; i < GPT.layers(); i++) {
            String at = "layers." + i + ".attention.";
            for (String op : List.of("scores", "scale_mul", "softmax", "context")) {
                assertTrue(ops.contains(at + op), at + op + " in " + ops);
            }
        }
        assertEquals(4 * GPT.layers(), ops.size(), ops.toString());
    }

    @Test
    void withoutLayersFullRecomputeKeepsTheInputAndRerunsEverything() {
        // the resnet's blocks are no transformer layers: the group is one unit
        Plan plan = Planner.plan(Zoo.resnet(io.tessera.planner.zoo.ResNetConfig.defaults()),
                io.tessera.planner.plan.PlanConfig.builder(1).build());
        ActivationMemory memory = ActivationMemory.of(plan);
        List<String> ops = plan.ops().stream().map(OpPlan::name).toList();
        assertEquals(123, memory.fullKeptBytes(ops, 123));
        assertEquals(memory.keptBytes(ops), memory.fullWorkingBytes(ops));
        assertTrue(memory.keptBytes(ops) > 0);
        assertEquals(0, memory.selectiveDroppedBytes(ops));
        // the mlp's layers.i: full recompute keeps each layer's input (not the first one, a data input)
        Plan mlp = Planner.plan(Zoo.mlp(io.tessera.planner.zoo.MlpConfig.defaults()),
                io.tessera.planner.plan.PlanConfig.builder(1).build());
        ActivationMemory m = ActivationMemory.of(mlp);
        List<String> all = mlp.ops().stream().map(OpPlan::name).toList();
        long inputs = 0;
        for (OpPlan op : mlp.ops()) {
            if (op.name().endsWith(".dense") && !op.name().equals("layers.0.dense")) {
                inputs += op.inputLayouts().get(0).sliceBytes(mlp.network().tensor(
                        mlp.network().node(op.name()).input(0)).dtype());
            }
        }
        List<String> outside = all.stream().filter(n -> !n.startsWith("layers.")).toList();
        assertEquals(inputs + m.keptBytes(outside), m.fullKeptBytes(all, 0));
    }
}
