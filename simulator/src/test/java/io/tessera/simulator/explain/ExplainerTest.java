package io.tessera.simulator.explain;

import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import io.tessera.simulator.timeline.PipelineReport;
import io.tessera.simulator.timeline.StrategyStep;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every explanation is verified independently: a suggestion's change, applied to the strategy file and re-planned
 * here, really lacks the communication, and its step time and peak memory equal an independent
 * {@link StrategyStep} run; a necessary communication has a reason. CI explains a seeded sample of the
 * communications of a few shipped files with a short time limit; {@code -Dtessera.full=true} explains every
 * communication of every shipped strategy file with the default limit and prints the sweep's figures.
 */
class ExplainerTest {

    private static final Path STRATEGIES = Path.of("..", "strategies");
    private static final boolean FULL = Boolean.getBoolean("tessera.full");
    private static final long SEED = Long.getLong("tessera.seed", 17L);

    /** Sampled files and how many of their communications CI explains (all when at least their count). */
    private static final List<Object[]> SAMPLE = List.of(
            new Object[] {"reshape-transpose-redistribution.json", 99},
            new Object[] {"mlp-data-parallel.json", 99},
            new Object[] {"gpt-optimizer-parallel.json", 3},
            new Object[] {"gpt-megatron-tp4-dp2.json", 3},
            new Object[] {"gpt-pipeline-2stages.json", 2},
            new Object[] {"gpt-megatron-degrees.json", 2});

    @Test
    void sampledExplanationsAreVerifiedByReplanning() {
        System.out.println("ExplainerTest seed " + SEED + " (-Dtessera.seed=N to change)");
        Random random = new Random(SEED);
        int suggestions = 0;
        for (Object[] s : SAMPLE) {
            StrategyFile file = StrategyFiles.read(STRATEGIES.resolve((String) s[0]));
            Explainer x = Explainer.of(file);
            List<Integer> ids = new ArrayList<>();
            for (int i = 0; i < x.communications(); i++) {
                ids.add(i);
            }
            Collections.shuffle(ids, random);
            for (int id : ids.subList(0, Math.min((Integer) s[1], ids.size()))) {
                Explanation e = x.explain(id, 1.0);
                suggestions += verify((String) s[0], file, x, e) ? 1 : 0;
            }
        }
        assertTrue(suggestions > 0, "no sampled communication got a suggestion");
    }

    @Test
    void theRedistributionOfTheReshapeTransposeFileIsExplained() {
        StrategyFile file = StrategyFiles.read(STRATEGIES.resolve("reshape-transpose-redistribution.json"));
        Explainer x = Explainer.of(file);
        List<Integer> swap = x.communicationsOf("swap");
        assertFalse(swap.isEmpty());
        Explanation e = x.explain(swap.get(0), 60);
        assertEquals("swap", e.provenance().operator());
        assertEquals(Communication.Origin.REDISTRIBUTION, e.provenance().origin());
        assertFalse(e.search().timeLimitReached());
        verify("reshape-transpose-redistribution.json", file, x, e);
        // the loss's mean over the split batch: removing it adds more than it saves
        int loss = x.communicationsOf("loss").get(0);
        Explanation l = x.explain(loss, 60);
        Explanation.Necessary n = assertInstanceOf(Explanation.Necessary.class, l.outcome());
        assertTrue(n.reason().startsWith("the loss needs the full batch on every rank"), n.reason());
    }

    @Test
    void anOptimizerParallelGatherIsRemovedByKeepingTheParameterWhole() {
        StrategyFile file = StrategyFiles.read(STRATEGIES.resolve("gpt-optimizer-parallel.json"));
        Explainer x = Explainer.of(file);
        int id = -1;
        for (int i = 0; i < x.communications(); i++) {
            Provenance p = x.provenance(i);
            if (p.origin() == Communication.Origin.PARALLEL_OPTIMIZER && p.kind().jsonName().equals("AllGather")) {
                id = i;
                break;
            }
        }
        assertTrue(id >= 0, "gpt-optimizer-parallel.json has no optimizer-parallel AllGather");
        Explanation e = x.explain(id, 3);
        verify("gpt-optimizer-parallel.json", file, x, e);
        assertTrue(e.outcome() instanceof Explanation.Suggestion, Explanations.text(e));
    }

    @Test
    void badArgumentsAreRefused() {
        Explainer x = Explainer.of(StrategyFiles.read(STRATEGIES.resolve("reshape-transpose-redistribution.json")));
        IllegalArgumentException range = assertThrows(IllegalArgumentException.class,
                () -> x.explain(x.communications(), 1));
        assertTrue(range.getMessage().contains("out of range"), range.getMessage());
        assertThrows(IllegalArgumentException.class, () -> x.explain(0, 0));
        assertThrows(IllegalArgumentException.class, () -> x.explain(0, Double.NaN));
    }

    @Test
    void aTimeLimitShorterThanOneEvaluationStopsTheSearchAndKeepsNothingOfIt() {
        StrategyFile file = StrategyFiles.read(STRATEGIES.resolve("gpt-megatron-tp4-dp2.json"));
        Explainer x = Explainer.of(file);
        int id = 0;
        // an evaluation interrupted at a limit of a microsecond: nothing tried, the search reports the limit
        Explanation cut = x.explain(id, 1e-6);
        assertTrue(cut.search().timeLimitReached(), Explanations.text(cut));
        assertEquals(0, cut.search().tried(), Explanations.text(cut));
        assertTrue(cut.outcome() instanceof Explanation.Necessary n && n.reason().contains("time limit"),
                Explanations.text(cut));
        // the interrupted evaluation left no half-made entry behind: the full search equals a fresh explainer's
        Explanation full = x.explain(id, Double.POSITIVE_INFINITY);
        Explanation fresh = Explainer.of(file).explain(id, Double.POSITIVE_INFINITY);
        assertFalse(full.search().timeLimitReached());
        assertEquals(Explanations.text(fresh), Explanations.text(full));
        assertEquals(fresh.search(), full.search());
        verify("gpt-megatron-tp4-dp2.json", file, x, full);
    }

    @Test
    void whatWorkedOnASiblingLayerIsTriedFirstAndACompleteSearchEndsTheSame() {
        StrategyFile file = StrategyFiles.read(STRATEGIES.resolve("gpt-megatron-tp4-dp2.json"));
        Explainer x = Explainer.of(file);
        int first = x.communicationsOf("layers.0.ffn.fc2").get(0);
        int second = -1;
        for (int id : x.communicationsOf("layers.1.ffn.fc2")) {
            if (Explainer.family(x.provenance(id).key()).equals(Explainer.family(x.provenance(first).key()))) {
                second = id;
            }
        }
        assertTrue(second >= 0, "layers.1.ffn.fc2 has no communication of the family of " + x.provenance(first));
        Explanation sibling = x.explain(first, Double.POSITIVE_INFINITY);
        Explanation after = x.explain(second, Double.POSITIVE_INFINITY);
        Explanation alone = Explainer.of(file).explain(second, Double.POSITIVE_INFINITY);
        assertEquals(Explanations.text(alone), Explanations.text(after));
        verify("gpt-megatron-tp4-dp2.json", file, x, sibling);
        verify("gpt-megatron-tp4-dp2.json", file, x, after);
        // the order: removers of the sibling's communication, then changes not tried there, then the others
        Change a = new Change.OperatorStrategy("layers.1.ffn.fc2", io.tessera.planner.op.Strategy.of(new int[] {4, 1},
                new int[] {1, 1}), null, false);
        Change b = new Change.KeepParameterWhole("layers.1.ffn.fc2.weight");
        Change c = new Change.ShardSize(2, false);
        java.util.Map<String, Boolean> known = java.util.Map.of(
                Explainer.layerless(a.snippet()), false, Explainer.layerless(c.snippet()), true);
        assertEquals(List.of(c, b, a), Explainer.byFamily(List.of(a, b, c), known));
        assertEquals("model.layers.N.mlp", Explainer.layerless("model.layers.17.mlp"));
        assertEquals("transformer.h.N.attn.c_attn", Explainer.layerless("transformer.h.11.attn.c_attn"));
        assertEquals("N.weight|fc2.bias|conv3x3", Explainer.layerless("0.weight|fc2.bias|conv3x3"));
    }

    /**
     * Every communication of every shipped strategy file, the default time limit; prints the figures.
     * {@code -Dtessera.explain.perFamily=true} explains one communication (seeded) per family instead: the
     * communications that differ only in the layer number of their operator, tensor and parameter
     * ({@code layers.3.} and {@code layers.40.}) and are otherwise of one kind, origin, phase and input.
     */
    @Test
    void fullSweepOfEveryShippedFile() throws IOException {
        org.junit.jupiter.api.Assumptions.assumeTrue(FULL, "the full sweep runs with -Dtessera.full=true");
        List<Path> files = new ArrayList<>();
        // -Dtessera.explain.dirs=.,scale adds the scale files (strategies/scale)
        for (String dir : System.getProperty("tessera.explain.dirs", ".").split(",")) {
            try (Stream<Path> s = Files.list(STRATEGIES.resolve(dir))) {
                s.filter(p -> p.toString().endsWith(".json")).sorted().forEach(files::add);
            }
        }
        // -Dtessera.explain.only=a.json,b.json keeps those files, in that order
        String only = System.getProperty("tessera.explain.only");
        if (only != null) {
            List<Path> kept = new ArrayList<>();
            for (String name : only.split(",")) {
                files.stream().filter(f -> f.getFileName().toString().equals(name)).forEach(kept::add);
            }
            files = kept;
        }
        double limit = Explainer.DEFAULT_TIME_LIMIT_SECONDS;
        StringBuilder report = new StringBuilder();
        long sweep = System.nanoTime();
        int over = 0;
        double slowest = 0;
        int explained = 0;
        for (Path f : files) {
            long t0 = System.nanoTime();
            StrategyFile file = StrategyFiles.read(f);
            Explainer x = Explainer.of(file);
            int suggested = 0;
            int stopped = 0;
            double most = 0;
            List<Integer> ids = Boolean.getBoolean("tessera.explain.perFamily") ? perFamily(x, new Random(SEED))
                    : java.util.stream.IntStream.range(0, x.communications()).boxed().toList();
            for (int id : ids) {
                long t = System.nanoTime();
                Explanation e = x.explain(id, limit);
                double took = (System.nanoTime() - t) / 1e9;
                most = Math.max(most, took);
                slowest = Math.max(slowest, took);
                explained++;
                over += took > limit ? 1 : 0;
                stopped += e.search().timeLimitReached() ? 1 : 0;
                suggested += verify(f.getFileName().toString(), file, x, e) ? 1 : 0;
            }
            String line = String.format(Locale.ROOT, "%-50s %4d of %4d comms %4d suggestions %4d necessary %4d "
                    + "stopped by the limit, slowest %.2f s, file %.1f s", STRATEGIES.relativize(f), ids.size(),
                    x.communications(), suggested, ids.size() - suggested, stopped, most,
                    (System.nanoTime() - t0) / 1e9);
            System.out.println(line);
            report.append(line).append('\n');
        }
        String total = String.format(Locale.ROOT, "sweep: %d files, %d explanations in %.1f s; slowest %.3f s; %d "
                + "over the %.0f s limit", files.size(), explained, (System.nanoTime() - sweep) / 1e9, slowest, over,
                limit);
        System.out.println(total);
        report.append(total).append('\n');
        Files.writeString(Path.of("target", "explain-sweep.txt"), report);
        assertEquals(0, over, "explanations over the time limit: " + report);
    }

    /** One communication per family (see {@link #fullSweepOfEveryShippedFile}), drawn with {@code random}. */
    static List<Integer> perFamily(Explainer x, Random random) {
        List<Integer> out = new ArrayList<>();
        x.families().values().forEach(members -> out.add(members.get(random.nextInt(members.size()))));
        Collections.sort(out);
        return out;
    }

    /** The last file planned independently by {@link #verify}, its plan and its step: a file's explanations share it. */
    private static StrategyFile plannedFile;
    private static PipelinePlan plannedBefore;
    private static PipelineReport plannedStep;

    /** Checks one explanation independently; true for a suggestion. */
    static boolean verify(String name, StrategyFile file, Explainer x, Explanation e) {
        String where = name + " communication " + e.provenance().id() + ": " + Explanations.text(e);
        if (plannedFile != file) {
            plannedBefore = StrategyPlans.pipelinePlan(file, null);
            plannedStep = StrategyStep.run(file, plannedBefore,
                    Explainer.cluster(file, plannedBefore.devices()), null, null, true);
            plannedFile = file;
        }
        PipelinePlan before = plannedBefore;
        ClusterSpec cluster = Explainer.cluster(file, before.devices());
        PipelineReport r0 = plannedStep;
        Communication c = before.plan().comms().get(e.provenance().id());
        assertEquals(Provenance.Key.of(c), e.provenance().key(), where);
        if (e.outcome() instanceof Explanation.Necessary n) {
            assertFalse(n.reason().isBlank(), where);
            return false;
        }
        Explanation.Suggestion s = (Explanation.Suggestion) e.outcome();
        StrategyFile changed = s.change().apply(file);
        PipelinePlan after = StrategyPlans.pipelinePlan(changed, null);
        assertTrue(after.plan().comms().stream().noneMatch(k -> Provenance.Key.of(k).equals(e.provenance().key())),
                "the re-planned plan still has the communication: " + where);
        assertTrue(s.removed().stream().anyMatch(p -> p.id() == e.provenance().id()), where);
        assertTrue(s.addedBytes() <= s.removedBytes(), where);
        // what it removes and adds is the difference of the two plans' communications
        java.util.Set<Provenance.Key> beforeKeys = new java.util.HashSet<>();
        before.plan().comms().forEach(k -> beforeKeys.add(Provenance.Key.of(k)));
        java.util.Set<Provenance.Key> afterKeys = new java.util.HashSet<>();
        after.plan().comms().forEach(k -> afterKeys.add(Provenance.Key.of(k)));
        List<Provenance.Key> removed = new ArrayList<>();
        before.plan().comms().stream().map(Provenance.Key::of).filter(k -> !afterKeys.contains(k))
                .forEach(removed::add);
        List<Provenance.Key> added = new ArrayList<>();
        after.plan().comms().stream().map(Provenance.Key::of).filter(k -> !beforeKeys.contains(k))
                .forEach(added::add);
        assertEquals(removed, s.removed().stream().map(Provenance::key).toList(), where);
        assertEquals(added, s.added().stream().map(Provenance::key).toList(), where);
        PipelineReport r1 = StrategyStep.run(changed, after, cluster, null, null, true);
        assertEquals(r0.stepSeconds(), s.stepSecondsBefore(), 0, where);
        assertEquals(r1.stepSeconds(), s.stepSecondsAfter(), 0, where);
        assertEquals(StrategyStep.fullestRank(file, before, r0).totalBytes(), s.peakBytesBefore(), where);
        assertEquals(StrategyStep.fullestRank(changed, after, r1).totalBytes(), s.peakBytesAfter(), where);
        return true;
    }

    private static <T> T assertInstanceOf(Class<T> type, Object o) {
        assertTrue(type.isInstance(o), "expected a " + type.getSimpleName() + ", found " + o);
        return type.cast(o);
    }
}
