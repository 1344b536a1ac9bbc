package io.tessera.planner.api;

import io.tessera.layout.comm.CollectiveKind;
import io.tessera.layout.comm.Phase;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.ParamPlan;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.strategy.ParallelOptimizerConfig;
import io.tessera.planner.strategy.ParamSettings;
import io.tessera.planner.strategy.Parallelism;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code parallelism.zero_stage} and {@code prefetch_layers}: parsing, defaults, round trips, errors, and the ZeRO-3
 * expansion to optimizer parallel on every weight over the data-parallel group, gathered per layer for forward and
 * again for backward.
 */
class ZeroStageTest {

    private static final String GPT = "'network': {'zoo': 'gpt', 'args': {'layers': 4, 'hidden': 64, 'heads': 4, "
            + "'seq': 16, 'vocab': 128}}";

    private static StrategyFile degrees(int devices, String section) {
        return StrategyFiles.parse(("{" + GPT + ", 'devices': " + devices + ", 'parallelism': {" + section + "}}")
                .replace('\'', '"'), Path.of("/base"));
    }

    @Test
    void defaultsAndRoundTrip() {
        Parallelism none = degrees(8, "'tensor': 2").parallelism().orElseThrow();
        assertEquals(0, none.zeroStage());
        assertEquals(-1, none.prefetchLayers(), "omitted");
        assertEquals(Parallelism.DEFAULT_PREFETCH_LAYERS, none.prefetch());
        assertEquals(1, Parallelism.DEFAULT_PREFETCH_LAYERS);
        assertFalse(none.fullySharded());

        StrategyFile z3 = degrees(8, "'tensor': 2, 'zero_stage': 3, 'prefetch_layers': 2");
        Parallelism p = z3.parallelism().orElseThrow();
        assertTrue(p.fullySharded());
        assertEquals(2, p.prefetch());
        assertFalse(p.distributedOptimizer());
        String written = StrategyFiles.write(z3);
        assertTrue(written.contains("\"zero_stage\": 3") && written.contains("\"prefetch_layers\": 2"), written);
        assertEquals(z3, StrategyFiles.parse(written, Path.of("/base")));

        // stages 1 and 2 are Megatron's distributed optimizer
        for (int stage : new int[] {1, 2}) {
            StrategyFile f = degrees(8, "'zero_stage': " + stage);
            assertTrue(f.parallelism().orElseThrow().distributedOptimizer(), "zero_stage " + stage);
            assertEquals(f, StrategyFiles.parse(StrategyFiles.write(f), Path.of("/base")));
            assertEquals(ParallelismExpansion.expand(degrees(8, "'distributed_optimizer': true")).parallel(),
                    ParallelismExpansion.expand(f).parallel());
        }
        // the record as older callers build it: zero_stage 0, prefetch omitted
        Parallelism old = new Parallelism(1, false, 1, 1, 0, 1, 0, null, false, true, false, null);
        assertEquals(Parallelism.defaults(), old);
    }

    @Test
    void badValuesAreOneLineErrors() {
        assertError("'zero_stage': 4", "parallelism.zero_stage: found the number 4; expected 0, 1, 2 or 3");
        assertError("'zero_stage': -1", "parallelism.zero_stage");
        assertError("'prefetch_layers': 1", "parallelism.prefetch_layers: found 1 with zero_stage 0; expected it "
                + "only with zero_stage 3");
        assertError("'zero_stage': 3, 'prefetch_layers': -2", "parallelism.prefetch_layers");
        assertError("'zero_stage': 3, 'distributed_optimizer': true", "parallelism.distributed_optimizer: found true "
                + "with zero_stage 3; expected one of them");
    }

    private static void assertError(String section, String start) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> degrees(8, section));
        assertTrue(e.getMessage().contains(start), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    @Test
    void zeroStage3ShardsEveryWeightOverTheDataGroupPerLayer() {
        StrategyFile x = ParallelismExpansion.expand(degrees(8, "'tensor': 2, 'data': 4, 'zero_stage': 3"));
        assertTrue(x.parallel().enableParallelOptimizer());
        assertEquals(ParallelOptimizerConfig.of(0, 4).withGradientAccumulationShard(true), x.parallel().parallelOptimizerConfig());
        // one fusion unit per layer and per other top-level scope, each re-gathered in backward
        Map<String, ParamSettings> params = x.parameters();
        assertEquals(List.of("embedding.*", "layers.0.*", "layers.1.*", "layers.2.*", "layers.3.*", "final_ln.*",
                "head.*"), List.copyOf(params.keySet()));
        for (ParamSettings s : params.values()) {
            assertEquals(Boolean.TRUE, s.parallelOptimizerCommRecompute());
        }
        assertEquals(7, params.values().stream().map(ParamSettings::commFusion).distinct().count());

        Plan plan = StrategyPlans.plan(degrees(8, "'tensor': 2, 'data': 4, 'zero_stage': 3"));
        // data-parallel groups of tensor 2 x data 4 (rank = d * 2 + t): {t, t + 2, t + 4, t + 6}
        Set<List<Integer>> dataGroups = Set.of(List.of(0, 2, 4, 6), List.of(1, 3, 5, 7));
        int trainable = 0;
        for (ParamPlan p : plan.params()) {
            if (!p.trainable()) {
                continue;
            }
            trainable++;
            assertTrue(p.shard().sharded(), p.name() + ": " + p.shard().reason());
            assertEquals(4, p.shard().shards(), p.name());
            assertTrue(p.recompute(), p.name());
            if (p.layout().repeatedCount() == 4) {
                assertEquals(dataGroups, Set.copyOf(p.shard().groups()), p.name());
            }
            for (Phase phase : List.of(Phase.FORWARD, Phase.BACKWARD)) {
                assertEquals(1, count(plan, p.name(), CollectiveKind.ALL_GATHER, phase), p.name() + " " + phase);
            }
            assertEquals(1, count(plan, p.name(), CollectiveKind.REDUCE_SCATTER, Phase.BACKWARD), p.name());
        }
        assertTrue(trainable >= 40, "trainable " + trainable);
        // one fused AllGather per unit (and group shape) each way
        Set<Integer> forwardFusionIds = plan.buckets().stream()
                .filter(b -> b.kind() == CollectiveKind.ALL_GATHER && b.phase() == Phase.FORWARD)
                .map(b -> b.fusionId()).collect(Collectors.toCollection(TreeSet::new));
        assertEquals(Set.of(1, 2, 3, 4, 5, 6, 7), forwardFusionIds);
    }

    @Test
    void theFilesOwnParameterSettingsWin() {
        StrategyFile f = StrategyFiles.parse(("{" + GPT + ", 'devices': 8, 'parameters': {'layers.*': "
                + "{'comm_fusion': 9}, 'head.weight': {'parallel_optimizer_comm_recompute': false}}, "
                + "'parallelism': {'data': 8, 'zero_stage': 3}}").replace('\'', '"'), Path.of("/base"));
        StrategyFile x = ParallelismExpansion.expand(f);
        assertEquals(9, x.settingsFor("layers.2.ffn.w1").commFusion());
        assertEquals(Boolean.TRUE, x.settingsFor("layers.2.ffn.w1").parallelOptimizerCommRecompute());
        assertEquals(Boolean.FALSE, x.settingsFor("head.weight").parallelOptimizerCommRecompute());
        Plan plan = StrategyPlans.plan(f);
        assertFalse(plan.param("head.weight").recompute());
        assertTrue(plan.param("layers.2.ffn.w1").recompute());
    }

    private static long count(Plan plan, String param, CollectiveKind kind, Phase phase) {
        return plan.comms().stream().filter(c -> param.equals(c.parameter()) && c.kind() == kind
                && c.phase() == phase && c.origin() == Communication.Origin.PARALLEL_OPTIMIZER).count();
    }
}
