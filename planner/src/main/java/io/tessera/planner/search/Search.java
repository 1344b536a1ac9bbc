package io.tessera.planner.search;

import io.tessera.layout.param.ParallelMode;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.CostModel;
import io.tessera.planner.graph.Network;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.strategy.SearchMode;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * The automatic strategy search of {@code auto_parallel}: chooses an in_strategy for every operator the user did not
 * annotate, minimising an estimate of the training step's seconds under each rank's memory limit.
 *
 * <p><b>Objective</b> ({@link #evaluate}): the plan of a candidate configuration is made with {@link Planner#plan};
 * its estimated step seconds are the sum over operators of one rank's forward plus backward compute seconds
 * ({@link CostModel#computeSeconds}) plus the seconds of every communication the plan inserts
 * ({@link CostModel#communicationSeconds}), a fusion bucket ({@link Plan#buckets()}: the gradient reductions of
 * parameters sharing rank groups, {@code comm_fusion}) costed once as one collective over its fused buffer, the
 * slowest of its groups ({@link CostModel#collectiveSeconds}), as the analytic timeline runs it: no overlap of
 * communication with compute, so it is the analytic timeline's step without overlap, less the optimizer update.
 * Memory: {@code Plan.memory(0).total()} plus {@link CostModel#activationBytes} (layouts slice evenly, so rank 0
 * stands for every rank) must fit the device memory, else the candidate is rejected.
 *
 * <p><b>Search cost</b>: the same terms, split per operator. An operator's own cost is its compute seconds plus the
 * seconds of its own communication (forward reductions, the backward reductions of partial input gradients,
 * including parameters' gradient reductions); an edge's cost is the seconds of the redistribution from the
 * producer's output layout to the layout the consumer needs, plus its transpose in backward when the tensor has a
 * gradient: exact redistribution plans up to {@link #EXACT_REDISTRIBUTION_DEVICES} devices, an estimate above
 * (see {@code Distributions.estimate}) that is replaced by the exact plan on the edges the best plans use, the dynamic
 * programming then repeated ({@link #REFINEMENTS}). Data inputs are laid out as their first consumer needs (the
 * searched configuration's dataset strategy) and cost nothing; parameters take their consumer's layout. The split is
 * exact for a chain of operators; in a DAG the partial-gradient AllReduce of a tensor with {@code k} consumers is
 * charged {@code 1/k} to each, since the planner sums the partials locally and reduces once (exact when the consumers
 * reduce over the same groups). A gradient reduction that fuses (its parameter's {@code comm_fusion} id is not 0)
 * shares its bucket's collective {@code t(S)} (a bucket of {@code S} bytes over the same rank groups, kind, dtype and
 * fusion id): in the first round it is charged {@code t(bytes) - t(0)} and no latency; each later round prices the
 * buckets of the previous round's best plan, split over their members: {@code bytes * (t(S) - t(0)) / S} plus
 * {@code buckets / members} of the latency {@code t(0)} (buckets: the members' bytes over the {@code comm_fusion}
 * threshold, at least 1; {@code S} their average size), and a reduction over groups that plan does not reduce over
 * pays {@code t(bytes)}, a bucket of its own ({@link #FUSION_ROUNDS}). The ends of every round are ranked by the
 * search's estimate of their own buckets ({@link #searchCost}) and the best {@link #EVALUATED_ENDS} evaluated. Without
 * fusion the split is exact on a chain; with it the rounds are a local search (a plan whose buckets no round prices
 * can be missed).
 *
 * <p><b>Modes</b>:
 * <ul>
 *   <li>{@link SearchMode#DYNAMIC_PROGRAMMING} (and {@link SearchMode#RECURSIVE_PROGRAMMING}, which runs the same
 *       search): dynamic programming over the operators in topological order; the state is the strategy of the
 *       previous operator, and the strategies of producers still to be consumed later (the residual stream, Q/K/V
 *       inputs) are carried along each state's best path. For a chain this is exact; in a DAG an edge from an earlier
 *       producer is charged with the producer's strategy on the path the previous operator's state chose (a
 *       sequence approximation). Operators with the same type, attributes, input shapes and gradient needs (the
 *       repeated layers of a transformer) share their candidates, costs and edge-cost matrices, so 96 layers cost
 *       one layer's candidate and redistribution work plus cheap min-plus arithmetic. When the best plans do not
 *       fit memory, the search is repeated with a price per byte on parameter and activation slices, doubled until
 *       a plan fits.</li>
 *   <li>{@link SearchMode#SHARDING_PROPAGATION}: annotated operators keep their strategies; the others, in
 *       topological order and then in reverse, take the candidate with the least redistribution seconds from and to
 *       already-decided neighbours, ties broken by the operator's own seconds.</li>
 * </ul>
 * Every mode also evaluates the semi-auto default (user strategies, data parallel elsewhere) as a runner-up (dynamic
 * programming: up to {@link #BASELINE_DEVICES} devices), and the best plan that fits memory wins.
 *
 * <p><b>Threads</b>: the candidates of distinct operators, the redistribution costs and the evaluation of complete
 * plans run on the common fork-join pool; every result is gathered in a fixed order, so the search is deterministic.
 *
 * <p><b>Classes</b>: this façade validates the request and picks the mode; {@code Signatures} holds the operators'
 * candidates with their own costs ({@code OperatorCosts}), {@code FusionPricing} the fusion buckets' pricing,
 * {@code RedistributionCosts} (with {@code Distributions} for estimates) the redistribution seconds and edge tables,
 * the {@code StrategySearch} of the mode ({@code DynamicProgramming} or {@code ShardingPropagation}) the search,
 * {@code PlanEvaluation} the exact objective of complete plans and {@code Explanation} the result's text.
 */
public final class Search {

    /** How many dynamic-programming end states are evaluated exactly as complete plans. */
    public static final int EVALUATED_ENDS = 3;

    /** Up to this many devices edges are costed by exact redistribution plans, above it by {@code Distributions.estimate}. */
    public static final int EXACT_REDISTRIBUTION_DEVICES = 8;

    /** Above this many devices the redistribution estimate samples ranks ({@code Distributions.estimate}). */
    public static final int SAMPLED_RANKS = 256;

    /**
     * Up to this many devices the dynamic programming also evaluates the semi-auto default as a runner-up (its
     * data-parallel strategies are candidates of the search anyway; planning it exactly on more devices costs
     * seconds).
     */
    public static final int BASELINE_DEVICES = 256;

    /**
     * Above this many transferred pieces (summed over receiving ranks) a redistribution keeps its estimate in the
     * refinement: its exact plan would take seconds to make (an AllToAll over 1,024 ranks moves about a million).
     */
    public static final long EXACT_TRANSFERS = 1L << 17;

    /**
     * The most rounds of refinement: above {@link #EXACT_REDISTRIBUTION_DEVICES} devices the redistributions of the
     * best plans' edges are planned exactly and the dynamic programming repeated, until its best plans use no
     * estimated edge (the best plan's; the runners-up may keep estimated edges, their exact objective is evaluated
     * anyway).
     */
    public static final int REFINEMENTS = 8;

    /**
     * The most rounds that re-price the latency of fusion buckets (see the class comment) after the first dynamic
     * programming; they stop when the best plan repeats. The best plan of every round is evaluated exactly.
     */
    public static final int FUSION_ROUNDS = 3;

    private Search() {
    }

    /**
     * Searches strategies for {@code net} on {@code devices} devices of {@code cluster} with the default cap of
     * {@link StrategyCandidates#DEFAULT_CAP} candidates per operator.
     *
     * @param net      the network
     * @param devices  the number of devices, at least 1 and at most the cluster's
     * @param cluster  the cluster the cost model estimates on
     * @param mode     the search mode
     * @param fixed    in_strategy of the operators the user annotated (kept as given), or null
     * @param progress receives one-line progress messages (a {@link SearchProgress} also the fraction done of each
     *                 phase), or null
     * @throws IllegalArgumentException for a device count the cluster cannot hold, an invalid user strategy (the
     *                                  operator rule's message), or when no plan fits the device memory
     */
    public static SearchResult search(Network net, int devices, ClusterSpec cluster, SearchMode mode,
                                      Map<String, Strategy> fixed, Consumer<String> progress) {
        PlanConfig.Builder b = PlanConfig.builder(devices);
        if (fixed != null) {
            fixed.forEach(b::strategy);
        }
        return search(net, b.build(), cluster, mode, progress, StrategyCandidates.DEFAULT_CAP);
    }

    /**
     * Searches strategies for {@code net}: the template's device count, user strategies (kept as given; its out
     * strategies are kept too), gradient reduction, optimizer, optimizer parallelism and fusion settings carry over
     * to every candidate.
     *
     * @param template a semi-auto configuration
     * @param progress receives one-line progress messages (a {@link SearchProgress} also the fraction done of each
     *                 phase), or null
     * @param cap      the most candidates per operator ({@link StrategyCandidates#best})
     * @throws IllegalArgumentException as {@link #search(Network, int, ClusterSpec, SearchMode, Map, Consumer)}, or
     *                                  for a template that is not semi-auto or a cap below 1
     */
    public static SearchResult search(Network net, PlanConfig template, ClusterSpec cluster, SearchMode mode,
                                      Consumer<String> progress, int cap) {
        if (net == null || template == null || cluster == null || mode == null) {
            throw new IllegalArgumentException("search: network, template, cluster and mode are required; found "
                    + (net == null ? "no network" : template == null ? "no template" : cluster == null
                    ? "no cluster" : "no mode"));
        }
        if (template.mode() != ParallelMode.SEMI_AUTO_PARALLEL) {
            throw new IllegalArgumentException("search: the template's parallel_mode is " + template.mode()
                    + "; expected semi_auto_parallel (the searched plan gives every operator a strategy)");
        }
        if (template.devices() > cluster.devices()) {
            throw new IllegalArgumentException("search: " + template.devices() + " devices do not fit cluster '"
                    + cluster.name() + "' of " + cluster.devices() + " devices; use ClusterSpec.withNodes("
                    + (template.devices() + cluster.devicesPerNode() - 1) / cluster.devicesPerNode() + ")");
        }
        if (cap < 1) {
            throw new IllegalArgumentException("search: cap is " + cap
                    + "; expected at least 1 candidate per operator");
        }
        return run(SearchSetup.of(net, template, cluster, cap, progress), mode);
    }

    /**
     * The candidates the search considers for each operator of {@code net} under {@code template} (the user's
     * strategy alone for an annotated operator), by operator name in execution order: for checking the search
     * against an exhaustive enumeration of their product.
     */
    public static Map<String, List<Strategy>> candidates(Network net, PlanConfig template, ClusterSpec cluster,
                                                         int cap) {
        Signatures s = SearchParts.prepare(SearchSetup.of(net, template, cluster, cap, null)).signatures();
        Map<String, List<Strategy>> out = new LinkedHashMap<>();
        for (int i = 0; i < s.count(); i++) {
            out.put(s.nodes().get(i).name(), List.copyOf(s.options(i).strategies()));
        }
        return out;
    }

    /**
     * The search's own cost estimate (operators' own seconds plus edge seconds, see the class comment) of giving
     * each operator the strategy {@code strategies} names; every strategy must be among the operator's candidates.
     * Fused gradient reductions are priced by the buckets of this configuration itself (its members' bytes over the
     * {@code comm_fusion} threshold, at least 1, per rank groups): each bucket once, at the average bucket size.
     *
     * @throws IllegalArgumentException naming an operator whose strategy is not a candidate
     */
    public static double searchCost(Network net, PlanConfig template, ClusterSpec cluster, int cap,
                                    Map<String, Strategy> strategies) {
        SearchParts parts = SearchParts.prepare(SearchSetup.of(net, template, cluster, cap, null));
        Signatures s = parts.signatures();
        int[] choice = new int[s.count()];
        for (int i = 0; i < s.count(); i++) {
            String name = s.nodes().get(i).name();
            choice[i] = s.options(i).strategies().indexOf(strategies.get(name));
            if (choice[i] < 0) {
                throw new IllegalArgumentException("search cost: strategy " + strategies.get(name) + " of '" + name
                        + "' is not among its " + s.options(i).strategies().size() + " candidates");
            }
        }
        parts.redistributions().precompute();
        return new DynamicProgramming(parts).estimateOf(choice, 0);
    }

    /**
     * The exact objective of a configuration (see the class comment): plans it and sums compute and communication
     * seconds, each fusion bucket once; memory of rank 0 against the cluster's device memory.
     */
    public static Candidate evaluate(Network net, PlanConfig config, ClusterSpec cluster, String label) {
        return PlanEvaluation.evaluate(net, config, cluster, label, null);
    }

    /** Runs the search of {@code mode} on {@code setup} and chooses the best plan that fits (see the class comment). */
    private static SearchResult run(SearchSetup setup, SearchMode mode) {
        long start = System.nanoTime();
        SerialProgress progress = setup.progress();
        ClusterSpec cluster = setup.cluster();
        progress.phase("search: candidates for " + setup.net().nodes().size() + " operators on " + setup.devices()
                + " devices");
        SearchParts parts = SearchParts.prepare(setup);
        Signatures sig = parts.signatures();
        int maxOptions = sig.maxOptions();
        StrategySearch search = StrategySearch.of(mode, parts);
        progress.phase("search: " + sig.signatures().size() + " distinct operators, at most " + maxOptions
                + " candidates each; " + search.activity());
        RedistributionCosts redistributions = parts.redistributions();
        redistributions.precompute();
        StrategySearch.Found found = search.search();
        List<Candidate> fits = new ArrayList<>();
        List<Candidate> rejected = new ArrayList<>();
        Set<PlanConfig> seen = new HashSet<>();
        for (Candidate c : found.evaluated()) {
            if (seen.add(c.config())) {
                (c.fits() ? fits : rejected).add(c);
            }
        }
        fits.sort(Comparator.comparingDouble(Candidate::seconds));
        rejected.sort(Comparator.comparingLong(Candidate::memoryBytes));
        if (fits.isEmpty()) {
            Candidate least = rejected.get(0);
            throw new NoFit("search: no plan fits the "
                    + Explanation.gib(cluster.device().memoryBytes()) + " of a " + cluster.device().name()
                    + "; the smallest found needs " + Explanation.gib(least.memoryBytes()) + " (" + least.label()
                    + "); use more devices, a smaller model or optimizer parallelism");
        }
        if (fits.get(0).config() == setup.template()) {
            // the semi-auto default won: give the result a strategy for every operator, as the planner chose them
            Candidate c = fits.get(0);
            fits.set(0, new Candidate(c.label(), parts.plans().explicit(setup.template()), c.seconds(),
                    c.computeSeconds(), c.commSeconds(), c.memoryBytes(), c.fits()));
        }
        Candidate best = fits.get(0);
        List<Candidate> runnersUp = new ArrayList<>(fits.subList(1, fits.size()));
        runnersUp.addAll(rejected);
        double ms = (System.nanoTime() - start) / 1e6;
        progress.phase(String.format(Locale.ROOT, "search: done in %.0f ms (%d layouts, %d distributions, %d "
                + "redistribution costs)", ms, sig.layouts().size(), redistributions.distributions(),
                redistributions.costed()));
        return new SearchResult(best.config(), best.seconds(), best, runnersUp,
                new Explanation(setup, sig).explain(mode, best, fits, rejected, found.notes(), ms, maxOptions));
    }

    /** The search found strategies but none fits the device memory (an input error would be a plain
     * {@link IllegalArgumentException}). */
    public static final class NoFit extends IllegalArgumentException {

        private static final long serialVersionUID = 1L;

        /** With the one-line message. */
        public NoFit(String message) {
            super(message);
        }
    }
}
