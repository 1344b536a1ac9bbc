package io.tessera.planner.search;

import io.tessera.layout.DType;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.strategy.SearchMode;
import io.tessera.planner.zoo.GptConfig;
import io.tessera.planner.handplan.HandPlans;
import io.tessera.planner.zoo.MlpConfig;
import io.tessera.planner.zoo.Zoo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SearchTest {

    private static final ClusterSpec DGX = ClusterSpec.preset("a100-80gb-dgx");

    private static ClusterSpec cluster(int devices) {
        return DGX.withNodes(Math.max(1, devices / DGX.devicesPerNode()));
    }

    @Test
    void candidatesAreValidAndCapped() {
        Network net = Zoo.mlp(new MlpConfig(new long[] {16, 32, 8}, 8, DType.FLOAT32));
        Node dense = net.node("layers.0.dense");
        List<TensorType> types = List.of(net.tensor(dense.input(0)), net.tensor(dense.input(1)));
        List<Strategy> all = StrategyCandidates.valid(dense.name(), dense.op(), types, 4);
        assertEquals(dense.op().dataParallel(types, 4), all.get(0));
        assertTrue(all.contains(Strategy.of(new int[] {1, 4}, new int[] {4, 1})));
        assertTrue(all.contains(Strategy.of(new int[] {2, 1}, new int[] {1, 2})));
        assertFalse(all.contains(Strategy.of(new int[] {1, 2}, new int[] {4, 1})), "k splits must agree");
        List<Strategy> capped = StrategyCandidates.best(dense.name(), dense.op(), types, 4, 3, s -> -s.get(1, 1));
        assertEquals(3, capped.size());
        assertEquals(all.get(0), capped.get(0));
        assertThrows(IllegalArgumentException.class,
                () -> StrategyCandidates.best(dense.name(), dense.op(), types, 4, 0, s -> 0));
    }

    /** Exhaustive search over the product of every operator's candidates, by the exact objective. */
    private static final long[] count = new long[1];

    private static double exhaustive(Network net, int devices, ClusterSpec cl, int cap) {
        List<Node> nodes = net.nodes();
        List<List<Strategy>> options = new ArrayList<>(
                Search.candidates(net, PlanConfig.builder(devices).build(), cl, cap).values());
        double[] best = {Double.POSITIVE_INFINITY};
        Strategy[] cur = new Strategy[nodes.size()];
        enumerate(net, devices, cl, nodes, options, 0, cur, best);
        return best[0];
    }

    private static void enumerate(Network net, int devices, ClusterSpec cl, List<Node> nodes,
                                  List<List<Strategy>> options, int i, Strategy[] cur, double[] best) {
        if (i == nodes.size()) {
            PlanConfig.Builder b = PlanConfig.builder(devices);
            Map<String, int[]> first = new LinkedHashMap<>();
            for (int k = 0; k < nodes.size(); k++) {
                b.strategy(nodes.get(k).name(), cur[k]);
                for (int j = 0; j < nodes.get(k).inputs().size(); j++) {
                    String t = nodes.get(k).input(j);
                    if (net.inputs().contains(t)) {
                        first.putIfAbsent(t, cur[k].tuple(j));
                    }
                }
            }
            List<int[]> tuples = new ArrayList<>();
            net.inputs().forEach(t -> tuples.add(first.get(t)));
            b.dataset(new io.tessera.planner.strategy.DatasetStrategy.Explicit(new Strategy(tuples)));
            Candidate c = Search.evaluate(net, b.build(), cl, "exhaustive");
            count[0]++;
            best[0] = Math.min(best[0], c.seconds());
            return;
        }
        for (Strategy s : options.get(i)) {
            cur[i] = s;
            enumerate(net, devices, cl, nodes, options, i + 1, cur, best);
        }
    }

    /** The seed of the third case of {@link #dynamicProgrammingMatchesExhaustiveOnSmallMlps}, unless overridden. */
    private static final long DEFAULT_SEED = 20261202L;

    /**
     * Seeds that once found the search inexact (it did not know the planner's ReduceScatter of a partial gradient
     * into a producer's tiling slices), then (0) {@link #DEFAULT_SEED} or {@code -Dtessera.seed=N}.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(longs = {11412575674200L, 8172972260123L, 0L})
    void dynamicProgrammingMatchesExhaustiveOnSmallMlps(long given) {
        String test = "SearchTest.dynamicProgrammingMatchesExhaustiveOnSmallMlps";
        long seed;
        if (given != 0) {
            seed = given;
            System.out.println(test + " seed " + seed + " (a fixed regression seed)");
        } else {
            seed = Seeds.seed(test, DEFAULT_SEED);
        }
        Random rnd = new Random(seed);
        long[] sizes = {4, 8, 16, 32, 64, 1024, 4096};
        for (int trial = 0; trial < 3; trial++) {
            int layers = trial == 2 ? 3 : 2;
            long[] widths = new long[layers + 1];
            for (int i = 0; i <= layers; i++) {
                widths[i] = sizes[rnd.nextInt(sizes.length)];
            }
            int batch = (int) sizes[rnd.nextInt(sizes.length)];
            // the BiasAdds, ReLUs and the loss multiply the product: cap the candidates per operator so that the
            // exhaustive enumeration stays at a few thousand plans
            int devices = 4;
            int cap = layers == 2 ? 3 : 2;
            Network net = Zoo.mlp(new MlpConfig(widths, batch, DType.FLOAT32));
            // without fusion buckets the objective splits exactly over operators and edges, so the dynamic
            // programming is exact on this chain (with fusion a bucket's latency is shared by its members)
            net.parameters().forEach(p -> p.setCommFusion(0));
            ClusterSpec cl = cluster(devices);
            SearchResult r = Search.search(net, PlanConfig.builder(devices).build(), cl,
                    SearchMode.DYNAMIC_PROGRAMMING, null, cap);
            long t = System.nanoTime();
            count[0] = 0;
            double ex = exhaustive(net, devices, cl, cap);
            System.out.printf("trial %d: %d plans exhaustively in %.0f ms%n", trial, count[0], (System.nanoTime() - t) / 1e6);
            String what = "seed " + seed + " trial " + trial + " widths " + java.util.Arrays.toString(widths)
                    + " batch " + batch + " devices " + devices + " (rerun with -D" + Seeds.PROPERTY + "=" + seed
                    + ")";
            assertEquals(ex, r.bestSeconds(), ex * 1e-9, what);
        }
    }

    @Test
    void shardingPropagationKeepsUserStrategiesAndAvoidsRedistribution() {
        Network net = Zoo.mlp(new MlpConfig(new long[] {64, 256, 64}, 32, DType.FLOAT32));
        Strategy col = Strategy.of(new int[] {1, 1}, new int[] {1, 4});
        Map<String, Strategy> fixed = Map.of("layers.0.dense", col);
        SearchResult r = Search.search(net, 4, cluster(4), SearchMode.SHARDING_PROPAGATION, fixed, null);
        assertEquals(col, r.best().inStrategies().get("layers.0.dense"));
        // the column-parallel output [32, 256/4] flows into bias_add and relu without redistribution, and the
        // second MatMul takes it row parallel
        var plan = Planner.plan(net, r.best());
        assertTrue(plan.comms().stream().noneMatch(c -> c.origin()
                == io.tessera.planner.plan.Communication.Origin.REDISTRIBUTION
                && (c.operator().equals("layers.0.bias_add") || c.operator().equals("layers.0.relu")
                || c.operator().equals("layers.1.dense"))), plan.comms().toString());
        assertEquals(Strategy.of(new int[] {1, 4}, new int[] {4}), r.best().inStrategies().get("layers.0.bias_add"));
        assertTrue(r.explanation().contains("sharding propagation"), r.explanation());
    }

    /**
     * A gpt small enough for the suite on which Megatron (tensor parallel {@code min(8, devices)} ways inside a node,
     * data parallel across) is valid from 8 to 1,024 devices: batch 128, 8 heads, ffn 512, vocabulary 256.
     */
    static final GptConfig SMALL_GPT = new GptConfig(2, 128, 8, 512, 16, 256, 128, DType.FLOAT32);

    @ParameterizedTest
    @ValueSource(ints = {8, 16, 32, 64, 128, 256, 512, 1024})
    void gptSearchIsNeverWorseThanMegatron(int devices) {
        Network net = Zoo.gpt(SMALL_GPT);
        ClusterSpec cl = cluster(devices);
        long t = System.nanoTime();
        SearchResult r = Search.search(net, devices, cl, SearchMode.DYNAMIC_PROGRAMMING, null, null);
        double seconds = (System.nanoTime() - t) / 1e9;
        int mp = Math.min(8, devices);
        Candidate hand = Search.evaluate(net, HandPlans.megatronGptConfig(SMALL_GPT, devices / mp, mp), cl,
                "megatron");
        System.out.printf("gpt on %d devices: searched %.4f ms, megatron %.4f ms (estimate), search %.2f s%n",
                devices, r.bestSeconds() * 1e3, hand.seconds() * 1e3, seconds);
        assertEquals(r.chosen().seconds(), r.bestSeconds());
        assertTrue(r.bestSeconds() <= hand.seconds() * (1 + 1e-9), r.explanation() + "\n" + hand);
        assertTrue(r.chosen().fits());
    }

    /**
     * The phase messages of a search that count its work: candidates per distinct operator, redistributions costed,
     * and the layouts, distributions and redistribution costs of the final line (its time removed).
     */
    private static List<String> countedWork(List<String> progress) {
        List<String> out = new ArrayList<>();
        for (String line : progress) {
            if (line.contains(" distinct operators, at most ") || line.startsWith("search: costing ")) {
                out.add(line);
            } else if (line.startsWith("search: done in ")) {
                out.add(line.substring(line.indexOf(" ms (") + 4));
            }
        }
        return out;
    }

    @Test
    void repeatedLayersAreSolvedOnce() {
        GptConfig c = new GptConfig(2, 64, 4, 256, 16, 128, 16, DType.FLOAT32);
        ClusterSpec cl = cluster(16);
        List<String> progress2 = new ArrayList<>();
        SearchResult two = Search.search(Zoo.gpt(c), 16, cl, SearchMode.DYNAMIC_PROGRAMMING, null, progress2::add);
        List<String> progress24 = new ArrayList<>();
        SearchResult many = Search.search(Zoo.gpt(c.withLayers(24)), 16, cl, SearchMode.DYNAMIC_PROGRAMMING, null,
                progress24::add);
        String distinct2 = two.explanation().split(" distinct")[0];
        String distinct24 = many.explanation().split(" distinct")[0];
        // the same distinct operators: 24 layers add no candidate or redistribution work
        assertEquals(distinct2.substring(distinct2.lastIndexOf(' ')), distinct24.substring(distinct24.lastIndexOf(' ')));
        // counted work instead of wall-clock time: the same candidates, redistributions costed, layouts and
        // distributions for 24 layers as for 2
        List<String> work2 = countedWork(progress2);
        System.out.println("gpt search on 16 devices, work of 2 layers: " + work2);
        assertEquals(3, work2.size(), progress2.toString());
        assertEquals(work2, countedWork(progress24), progress24.toString());
        assertEquals(two.best().inStrategies().get("layers.0.ffn.fc1"),
                many.best().inStrategies().get("layers.23.ffn.fc1"));
    }

    @Test
    void explanationListsChosenPlanAndRunnersUp() {
        Network net = Zoo.gpt(new GptConfig(2, 64, 4, 256, 16, 128, 8, DType.FLOAT32));
        List<String> progress = new ArrayList<>();
        SearchResult r = Search.search(net, 8, cluster(8), SearchMode.DYNAMIC_PROGRAMMING, null, progress::add);
        String e = r.explanation();
        assertTrue(e.contains("chosen: dynamic programming #1"), e);
        assertTrue(e.contains("layers.*.ffn.fc1 "), e);
        assertTrue(e.contains("runner-up 1: "), e);
        assertTrue(e.contains("semi-auto default"), e);
        assertTrue(e.contains(" ms (compute ") && e.contains(" GiB"), e);
        assertFalse(r.runnersUp().isEmpty());
        assertTrue(r.runnersUp().stream().allMatch(x -> x.seconds() >= r.bestSeconds() || !x.fits()));
        assertFalse(progress.isEmpty());
        assertTrue(progress.get(progress.size() - 1).startsWith("search: done"), progress.toString());
    }

    @Test
    void plansThatDoNotFitAreRejected() {
        // 1 device of a cluster whose device holds 2 MiB: the weights alone need more
        ClusterSpec small = new ClusterSpec("tiny", 8, 1, new io.tessera.planner.cost.DeviceSpec(
                DGX.device().name(), DGX.device().peakFlops(), 2L << 20, DGX.device().memoryBandwidth(),
                DGX.device().minEfficiency(), DGX.device().maxEfficiency(), DGX.device().halfEfficiencyFlops()),
                DGX.intraNode(), DGX.interNode(), DGX.algorithm());
        Network net = Zoo.mlp(new MlpConfig(new long[] {1024, 1024}, 8, DType.FLOAT32));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Search.search(net, 1, small, SearchMode.DYNAMIC_PROGRAMMING, null, null));
        assertTrue(e.getMessage().contains("no plan fits"), e.getMessage());
        // on 8 such devices the 4 MiB weight is split: the search finds a plan that fits
        SearchResult r = Search.search(net, 8, small, SearchMode.DYNAMIC_PROGRAMMING, null, null);
        assertTrue(r.chosen().fits(), r.explanation());
        assertTrue(r.explanation().contains("rejected: "), r.explanation());
    }

    @Test
    void searchCostIsExactOnAChain() {
        Network net = Zoo.mlp(new MlpConfig(new long[] {64, 256, 64}, 32, DType.FLOAT32));
        ClusterSpec cl = cluster(4);
        SearchResult r = Search.search(net, 4, cl, SearchMode.DYNAMIC_PROGRAMMING, null, null);
        double own = Search.searchCost(net, PlanConfig.builder(4).build(), cl, StrategyCandidates.DEFAULT_CAP,
                r.best().inStrategies());
        assertEquals(r.bestSeconds(), own, r.bestSeconds() * 1e-9);
        Map<String, Strategy> bad = new LinkedHashMap<>(r.best().inStrategies());
        bad.put("loss", Strategy.of(new int[] {3}));
        assertThrows(IllegalArgumentException.class,
                () -> Search.searchCost(net, PlanConfig.builder(4).build(), cl, StrategyCandidates.DEFAULT_CAP, bad));
    }
}
