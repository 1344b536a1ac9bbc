package io.tessera.simulator.numeric;

import io.tessera.layout.comm.CollectiveKind;
import io.tessera.layout.comm.Phase;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The tiny Mixtral of the shipped {@code strategies/models/mixtral-tiny.json} (hidden 64, 2 layers, 8 experts, top-2,
 * the load-balancing loss added to the cross-entropy), named by a strategy file's {@code hf_config}, trains on one
 * device and on 2 data-parallel ranks (the dispatch's 2 token groups one per rank) exactly as on one device (float32
 * within 1e-5). The expert ids come from the network's own router, so every rank must choose the same experts and
 * fill the same slots as one device; a tight capacity factor drops some of them.
 */
class MixtralHfConfigSimulationTest {

    private static final Path TINY = Path.of("..", "strategies", "models", "mixtral-tiny.json").toAbsolutePath();

    @TempDir
    Path tmp;

    /**
     * Every expert operator's strategy on 2 ranks: with {@code expertParallel} the buffer {@code [G, E, C, h]} and the
     * stacked weights split along E (the planner moving the buffer with AllToAlls), else the buffer split along its
     * token groups G and the weights whole on both ranks (what {@code data_parallel} gives by default).
     */
    private static String experts(int layers, boolean expertParallel) {
        String x = expertParallel ? "[1, 2, 1, 1]" : "[2, 1, 1, 1]";
        String w = expertParallel ? "[2, 1, 1]" : "[1, 1, 1]";
        StringBuilder o = new StringBuilder();
        for (int i = 0; i < layers; i++) {
            String m = "model.layers." + i + ".block_sparse_moe.";
            o.append(o.length() == 0 ? "" : ", ")
                    .append(entry(m + "experts.w1", "[" + x + ", " + w + "]")).append(", ")
                    .append(entry(m + "experts.w3", "[" + x + ", " + w + "]")).append(", ")
                    .append(entry(m + "experts.act", "[" + x + "]")).append(", ")
                    .append(entry(m + "experts.mul", "[" + x + ", " + x + "]")).append(", ")
                    .append(entry(m + "experts.w2", "[" + x + ", " + w + "]"));
        }
        return "{" + o + "}";
    }

    private static String entry(String op, String in) {
        return "\"" + op + "\": {\"in_strategy\": " + in + "}";
    }

    /**
     * One device, then 2 ranks in {@code semi_auto_parallel}: the token rows split 2 ways (one dispatch group per
     * rank); the expert operators either split E (the planner moving the buffer with AllToAlls: expert parallel 2)
     * or, with {@code replicated}, keep the experts whole on both ranks and split the buffer's groups.
     */
    @ParameterizedTest(name = "{0} device(s), capacity factor {1}, aux loss {2}, replicated experts {3}")
    @CsvSource({"1, 0, true, false", "2, 0, true, false", "2, 1.0, true, false", "2, 0, false, false",
        "2, 0, true, true", "2, 0.75, true, true"})
    void dataParallelStepsEqualOneDevice(int devices, double capacity, boolean aux, boolean replicated)
            throws IOException {
        Path file = tmp.resolve("mixtral-dp.json");
        Files.writeString(file, "{\"network\": {\"hf_config\": \"" + TINY.toString().replace("\\", "\\\\")
                + "\", \"args\": {\"batch\": 4, \"seq\": 16, \"moe_groups\": 2, \"capacity_factor\": " + capacity
                + ", \"aux_loss\": " + aux + "}}, \"devices\": " + devices
                + ", \"parallel\": {\"optimizer\": \"momentum\"}"
                + (devices > 1 ? ", \"operators\": " + experts(2, !replicated) : "") + "}");
        StrategyFile f = StrategyFiles.read(file);
        Plan plan = StrategyPlans.plan(f);
        assertEquals("llama", plan.network().name());
        assertEquals(aux ? "loss_total" : "loss", plan.network().loss());
        String m0 = "model.layers.0.block_sparse_moe.";
        long tokens = 4 * 16;
        long c = plan.network().tensor(m0 + "dispatch").shape()[2];
        if (capacity > 0 && capacity < 1) {
            assertTrue(2 * 8 * c < tokens * 2, "fewer rows than (token, slot) pairs: some are dropped, C = " + c);
        }
        boolean allToAll = plan.comms(Phase.FORWARD).stream().anyMatch(x -> x.kind() == CollectiveKind.ALL_TO_ALL
                && x.origin() == Communication.Origin.REDISTRIBUTION);
        boolean expertGradReduced = plan.comms(Phase.BACKWARD).stream().anyMatch(x -> x.parameter() != null
                && x.parameter().startsWith(m0 + "experts."));
        assertEquals(devices > 1 && !replicated, allToAll, "expert parallel through AllToAlls");
        assertEquals(devices > 1 && replicated, expertGradReduced, "replicated experts reduce their gradients");
        SimulationOptions options = SimulationOptions.defaults().withSteps(2);
        SimulationReport r = Simulation.run(plan, options);
        System.out.printf(Locale.ROOT, "mixtral-tiny on %d device(s), capacity factor %s, aux loss %s, replicated "
                + "experts %s: max rel err %.3e%n", devices, capacity, aux, replicated, r.maxRelError());
        assertTrue(r.passed(), r.summary());
        assertEquals(2, r.steps().size());
        assertTrue(r.maxRelError() <= 1e-5, r.summary());
        for (SimulationReport.Step s : r.steps()) {
            assertTrue(Double.isFinite(s.lossSingle()) && s.lossSingle() > 0, r.summary());
        }
        String m = "model.layers.1.block_sparse_moe.";
        for (String p : new String[] {"model.embed_tokens.weight", m + "gate.weight", m + "experts.w1.weight",
            m + "experts.w2.weight", m + "experts.w3.weight", "model.layers.0.block_sparse_moe.gate.weight",
            "lm_head.weight"}) {
            assertTrue(r.paramErrors().containsKey(p), p + " in " + r.paramErrors().keySet());
        }
    }

    /**
     * The shipped tiny Mixtral from a {@code parallelism} section with expert 2 inside data 4 (tensor 2 with sequence
     * parallelism, a capacity factor, the distributed optimizer): trains as on one device, and the plan reduces the
     * expert weights' gradients over the expert replicas ({@code data / expert} ranks) and the dense ones over data.
     */
    @Test
    void expertInsideDataWithTheDistributedOptimizerEqualsOneDevice() throws IOException {
        Path file = tmp.resolve("mixtral-ep2-dp4.json");
        Files.writeString(file, "{\"network\": {\"hf_config\": \"" + TINY.toString().replace("\\", "\\\\")
                + "\", \"args\": {\"capacity_factor\": 1.25}}, \"devices\": 8, \"parallel\": {\"optimizer\": "
                + "\"momentum\"}, \"parallelism\": {\"tensor\": 2, \"sequence_parallel\": true, \"expert\": 2, \"data\": 4, "
                + "\"micro_batch_size\": 1, \"global_batch_size\": 4, \"distributed_optimizer\": true}}");
        Plan plan = StrategyPlans.plan(StrategyFiles.read(file));
        String m = "model.layers.1.block_sparse_moe.";
        // ranks = 2 x data rank + tensor rank; data ranks {0, 1} and {2, 3} form the expert-parallel groups
        assertEquals(Set.of(List.of(List.of(0, 4), List.of(1, 5), List.of(2, 6), List.of(3, 7))),
                gradientGroups(plan, m + "experts.w2.weight"), "expert weights: over the 2 replicas of each expert");
        assertEquals(Set.of(List.of(List.of(0, 2, 4, 6), List.of(1, 3, 5, 7))), gradientGroups(plan, m + "gate.weight"),
                "the gate: over all 4 data ranks");
        assertTrue(plan.comms(Phase.FORWARD).stream().filter(c -> c.kind() == CollectiveKind.ALL_TO_ALL)
                .allMatch(c -> c.groups().equals(List.of(List.of(0, 2), List.of(1, 3), List.of(4, 6), List.of(5, 7)))),
                "the AllToAlls stay inside the expert-parallel groups");
        SimulationReport r = Simulation.run(plan, SimulationOptions.defaults().withSteps(2));
        System.out.printf(Locale.ROOT, "mixtral-tiny expert 2 x data 4 x tensor 2, distributed optimizer: max rel err "
                + "%.3e%n", r.maxRelError());
        assertTrue(r.passed(), r.summary());
        assertTrue(r.maxRelError() <= 1e-5, r.summary());
    }

    /** The groups of the backward collectives reducing one parameter's gradient. */
    private static Set<List<List<Integer>>> gradientGroups(Plan plan, String param) {
        return plan.comms(Phase.BACKWARD).stream().filter(c -> param.equals(c.parameter()))
                .map(Communication::groups).collect(Collectors.toSet());
    }
}
