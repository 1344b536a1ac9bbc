package io.tessera.planner.bench;

import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.graph.Network;
import io.tessera.planner.search.Candidate;
import io.tessera.planner.search.Search;
import io.tessera.planner.search.SearchResult;
import io.tessera.planner.strategy.SearchMode;
import io.tessera.planner.zoo.GptConfig;
import io.tessera.planner.zoo.HandPlans;
import io.tessera.planner.zoo.Zoo;

import java.util.Locale;

/**
 * The search benchmark: wall time of the dynamic-programming strategy search for a 96-layer {@code gpt}
 * ({@link PlanBenchmark#model}: hidden 4096, 64 heads) on 1,024 devices of {@code a100-80gb-dgx} (128 nodes), and
 * the searched plan's estimated step against the Megatron hand plan (64-way data parallel, 16-way tensor parallel:
 * the batch of 64 caps data parallelism). Not a timed test: run {@code main} (about 11 s on 2 cores).
 */
public final class SearchBenchmark {

    private SearchBenchmark() {
    }

    /**
     * Runs the benchmark: {@code [layers [devices]]} (defaults 96 and 1024) and prints one line per result.
     */
    public static void main(String[] args) {
        int layers = args.length > 0 ? Integer.parseInt(args[0]) : 96;
        int devices = args.length > 1 ? Integer.parseInt(args[1]) : 1024;
        GptConfig c = PlanBenchmark.model(layers);
        Network net = Zoo.gpt(c);
        ClusterSpec cluster = ClusterSpec.preset("a100-80gb-dgx").withNodes(Math.max(1, devices / 8));
        long start = System.nanoTime();
        SearchResult r = Search.search(net, devices, cluster, SearchMode.DYNAMIC_PROGRAMMING, null, null);
        double seconds = (System.nanoTime() - start) / 1e9;
        System.out.printf(Locale.ROOT, "search: %d-layer gpt on %d devices in %.2f s%n", layers, devices, seconds);
        System.out.println("chosen " + r.chosen());
        int dp = Math.min(c.batch(), devices);
        int mp = devices / dp;
        Candidate hand = Search.evaluate(net, HandPlans.megatronGptConfig(c, dp, mp), cluster, "megatron dp " + dp
                + " x mp " + mp);
        System.out.println("hand " + hand);
    }
}
