package io.tessera.bench;

import io.tessera.bench.PlanBenchmark;

import io.tessera.planner.cost.ClusterPreset;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.graph.Network;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.search.Candidate;
import io.tessera.planner.search.Search;
import io.tessera.planner.search.SearchResult;
import io.tessera.planner.strategy.SearchMode;
import io.tessera.planner.zoo.GptConfig;
import io.tessera.planner.handplan.HandPlans;
import io.tessera.planner.zoo.Zoo;

import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * The search benchmark behind {@code tessera bench search}: wall time of the dynamic-programming strategy search for
 * a {@code gpt} ({@link PlanBenchmark#model}: hidden 4096, 64 heads, seq 2048, fp16, batch 64; default 96 layers) on
 * {@code a100-80gb-dgx} (default 1,024 devices, 128 nodes), and the searched plan's estimated step against the
 * Megatron hand plan ({@link HandPlans#megatronGptConfig}: data parallel {@code min(64, devices)} ways, tensor
 * parallel over the rest, 16 ways on 1,024 devices: the batch of 64 caps data parallelism). Not a timed test: run
 * {@link #main} or the CLI.
 */
public final class SearchBenchmark {

    /** The default number of layers: 96. */
    public static final int DEFAULT_LAYERS = 96;

    /** The default number of devices: 1,024. */
    public static final int DEFAULT_DEVICES = 1024;

    private SearchBenchmark() {
    }

    /**
     * One run.
     *
     * @param layers        GPT layers
     * @param devices       devices searched for
     * @param searchSeconds wall time of the search, in seconds
     * @param chosen        the searched plan's evaluation
     * @param megatron      the Megatron hand plan's evaluation
     * @param megatronDp    its data-parallel degree
     * @param megatronMp    its tensor-parallel degree
     */
    public record Result(int layers, int devices, double searchSeconds, Candidate chosen, Candidate megatron,
                         int megatronDp, int megatronMp) {

        /**
         * The documented output lines: {@code search: 96-layer gpt on 1024 devices in 7.12 s}, then
         * {@code chosen <candidate>} and {@code hand <candidate>} ({@link Candidate#toString}).
         */
        public List<String> lines() {
            return List.of(String.format(Locale.ROOT, "search: %d-layer gpt on %d devices in %.2f s", layers, devices,
                    searchSeconds), "chosen " + chosen, "hand " + megatron);
        }
    }

    /** The cluster of a run: {@code a100-80gb-dgx} with enough 8-device nodes for {@code devices}. */
    public static ClusterSpec cluster(int devices) {
        ClusterSpec preset = ClusterSpec.preset(ClusterPreset.A100_80GB_DGX);
        return preset.withNodesFor(devices);
    }

    /** The Megatron configuration compared with: {@code dp = min(batch, devices)}, {@code mp = devices / dp}. */
    public static PlanConfig megatron(GptConfig c, int devices) {
        int dp = Math.min(c.batch(), devices);
        return HandPlans.megatronGptConfig(c, dp, devices / dp);
    }

    /**
     * Searches {@link PlanBenchmark#model}{@code (layers)} on {@code devices} devices and evaluates the Megatron plan.
     *
     * @param progress receives the search's progress (a {@code SearchProgress} also fractions), or null
     * @throws IllegalArgumentException for layers or devices below 1, devices not a multiple of the Megatron
     *                                  data-parallel degree, or a tensor-parallel degree not dividing the heads,
     *                                  ffn or vocabulary (the hand plan's message)
     */
    public static Result run(int layers, int devices, Consumer<String> progress) {
        if (layers < 1 || devices < 1) {
            throw new IllegalArgumentException("search benchmark: " + layers + " layers on " + devices
                    + " devices; expected at least 1 of each");
        }
        GptConfig c = PlanBenchmark.model(layers);
        int dp = Math.min(c.batch(), devices);
        if (devices % dp != 0) {
            throw new IllegalArgumentException("search benchmark: " + devices + " devices are not a multiple of the "
                    + "Megatron data-parallel degree " + dp + "; use a multiple of " + dp + ", e.g. 1024");
        }
        PlanConfig hand = megatron(c, devices);
        Network net = Zoo.gpt(c);
        ClusterSpec cluster = cluster(devices);
        long start = System.nanoTime();
        SearchResult r = Search.search(net, devices, cluster, SearchMode.DYNAMIC_PROGRAMMING, null, progress);
        double seconds = (System.nanoTime() - start) / 1e9;
        int mp = devices / dp;
        Candidate megatron = Search.evaluate(net, hand, cluster, "megatron dp " + dp + " x mp " + mp);
        return new Result(layers, devices, seconds, r.chosen(), megatron, dp, mp);
    }

    /**
     * Runs the benchmark: {@code [layers [devices]]} (defaults {@value #DEFAULT_LAYERS} and
     * {@value #DEFAULT_DEVICES}) and prints {@link Result#lines}.
     */
    public static void main(String[] args) {
        int layers = args.length > 0 ? Integer.parseInt(args[0]) : DEFAULT_LAYERS;
        int devices = args.length > 1 ? Integer.parseInt(args[1]) : DEFAULT_DEVICES;
        run(layers, devices, null).lines().forEach(System.out::println);
    }
}
