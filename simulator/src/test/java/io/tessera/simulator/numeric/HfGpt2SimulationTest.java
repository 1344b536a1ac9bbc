package io.tessera.simulator.numeric;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.NetworkJson;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.zoo.HfGpt2;
import io.tessera.simulator.cluster.Instruction;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A tiny Hugging Face GPT-2 ({@link HfGpt2}: 2 layers, hidden 32, 4 heads, ffn 128, seq 16, vocab 64, batch 4, 32
 * positions) executed on simulated ranks equals one device (float32 within 1e-5, float64 within 1e-12): data parallel
 * on 2 ranks, and Megatron-style tensor parallel (x data parallel) where the fused {@code c_attn} projection is
 * column-split, so the planner gathers its columns before the {@code Split} into q, k and v, {@code attn.c_proj}
 * and {@code mlp.c_proj} are row-parallel (forward AllReduce) and {@code mlp.c_fc} column-parallel. Fused and unfused
 * causal attention, tied and untied heads.
 *
 * <p>All biases start "normal" instead of "zeros" (through the network JSON): the key part of {@code c_attn.bias}
 * has an exactly zero gradient (softmax ignores a constant added to a row of scores), so a zero start would stay at
 * round-off size, where a relative comparison measures only the round-off.
 */
class HfGpt2SimulationTest {

    private static final SimulationOptions F32 = SimulationOptions.defaults().withSteps(2);
    private static final SimulationOptions F64 = F32.withDtype(DType.FLOAT64);

    private static HfGpt2.Config tiny(boolean fused, boolean tied) {
        return new HfGpt2.Config(2, 32, 4, 128, 16, 64, 4, DType.FLOAT32, 1e-5, tied, 32, fused);
    }

    /** The network of {@code c} with every bias initialised "normal". */
    static Network withNormalBiases(HfGpt2.Config c) {
        ObjectNode json = NetworkJson.toJson(HfGpt2.network(c));
        int changed = 0;
        for (JsonNode p : json.get("parameters")) {
            if (p.get("name").asText().endsWith(".bias")) {
                ((ObjectNode) p).put("init", "normal");
                changed++;
            }
        }
        assertEquals(c.layers() * 6 + 1, changed);
        return NetworkJson.parse(json);
    }

    private static SimulationReport assertPasses(String what, Plan plan, SimulationOptions options) {
        SimulationReport r = Simulation.run(plan, options);
        System.out.printf(Locale.ROOT, "hf gpt2 %s: %d ranks, max rel err %.3e%n", what, r.ranks(), r.maxRelError());
        assertTrue(r.passed(), what + "\n" + r.summary());
        assertEquals(options.steps(), r.steps().size());
        for (SimulationReport.Step s : r.steps()) {
            assertTrue(Double.isFinite(s.lossSingle()) && s.lossSingle() != 0, r.summary());
        }
        for (String p : new String[] {"transformer.wte.weight", "transformer.wpe.weight",
            "transformer.h.1.attn.c_attn.weight", "transformer.h.1.attn.c_attn.bias", "transformer.h.0.attn.c_proj.bias",
            "transformer.h.0.mlp.c_fc.weight", "transformer.h.1.mlp.c_proj.weight", "transformer.ln_f.weight"}) {
            assertTrue(r.paramErrors().containsKey(p), p + " in " + r.paramErrors().keySet());
        }
        return r;
    }

    private static SimulationOptions options(String dtype) {
        return DType.parse(dtype) == DType.FLOAT64 ? F64 : F32;
    }

    @ParameterizedTest(name = "data parallel 2, fused {0}, tied {1}, {2}")
    @CsvSource({"true, true, float32", "true, true, float64", "false, false, float32", "true, false, float32"})
    void dataParallelEqualsOneDevice(boolean fused, boolean tied, String dtype) {
        HfGpt2.Config c = tiny(fused, tied);
        Plan plan = Planner.plan(withNormalBiases(c), PlanConfig.builder(2).build());
        assertPasses("dp 2 fused " + fused + " tied " + tied + " " + dtype, plan, options(dtype));
    }

    /** Megatron's tensor split of every layer over {@code tp}, with {@code dp} data parallel. */
    private static PlanConfig tensorParallel(HfGpt2.Config c, int dp, int tp) {
        PlanConfig.Builder b = PlanConfig.builder(dp * tp);
        int[] rows = {dp, 1};
        for (int i = 0; i < c.layers(); i++) {
            String l = "transformer.h." + i + ".";
            // the fused q|k|v projection column-parallel: each rank holds a slice of [q | k | v], which Split needs
            // whole along the last axis
            b.strategy(l + "attn.c_attn.matmul", rows, new int[] {1, tp});
            b.strategy(l + "attn.c_attn", new int[] {dp, tp}, new int[] {tp});
            b.strategy(l + "attn.split_qkv", rows);
            // the attention output and the MLP's second product row-parallel: partial sums AllReduced
            b.strategy(l + "attn.c_proj.matmul", new int[] {dp, tp}, new int[] {tp, 1});
            b.strategy(l + "attn.c_proj", rows, new int[] {1});
            b.strategy(l + "mlp.c_fc.matmul", rows, new int[] {1, tp});
            b.strategy(l + "mlp.c_fc", new int[] {dp, tp}, new int[] {tp});
            b.strategy(l + "mlp.act", new int[] {dp, tp});
            b.strategy(l + "mlp.c_proj.matmul", new int[] {dp, tp}, new int[] {tp, 1});
            b.strategy(l + "mlp.c_proj", rows, new int[] {1});
        }
        return b.build();
    }

    /** The labels of the collectives in rank 0's program of one training step. */
    private static List<String> collectives(Plan plan) {
        Execution e = new Execution(plan, F32.withSteps(1));
        List<String> labels = new ArrayList<>();
        e.programHook(p -> p.get(0).forEach(i -> {
            if (i instanceof Instruction.Collective) {
                labels.add(i.label());
            }
        }));
        e.step(0);
        return labels;
    }

    @ParameterizedTest(name = "tensor {1} x data {0}, fused {2}, tied {3}, {4}")
    @CsvSource({"1, 2, true, true, float32", "1, 2, true, true, float64", "2, 2, true, true, float32",
        "2, 2, false, false, float32", "1, 4, false, true, float64"})
    void tensorParallelEqualsOneDevice(int dp, int tp, boolean fused, boolean tied, String dtype) {
        HfGpt2.Config c = tiny(fused, tied);
        Plan plan = Planner.plan(withNormalBiases(c), tensorParallel(c, dp, tp));
        assertEquals(dp * tp, plan.devices());
        List<String> comms = collectives(plan);
        // the row-parallel products' partial sums are AllReduced in forward
        for (String op : new String[] {"transformer.h.0.attn.c_proj.matmul", "transformer.h.1.mlp.c_proj.matmul"}) {
            assertTrue(comms.contains("AllReduce(sum) " + op), op + " in " + comms);
        }
        // the column-split c_attn output is redistributed whole along its last axis for the Split, and the
        // concatenated q, k, v gradient back to the column split
        for (int i = 0; i < c.layers(); i++) {
            String split = "transformer.h." + i + ".attn.split_qkv";
            assertTrue(comms.contains("redistribution of " + split + " input 0"), split + " in " + comms);
            assertTrue(comms.contains("redistribution of gradient of " + split), split + " in " + comms);
        }
        assertPasses("tp " + tp + " x dp " + dp + " fused " + fused + " tied " + tied + " " + dtype, plan,
                options(dtype));
    }
}
