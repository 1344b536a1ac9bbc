package io.tessera.planner.search;

import io.tessera.layout.comm.CollectiveKind;

import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.CostModel;
import io.tessera.planner.cost.Recompute;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.op.Softmax;
import io.tessera.planner.plan.Bucket;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.OpPlan;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.strategy.SearchMode;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.IntFunction;

/**
 * The search around the strategy search: chooses the pipeline split ({@code pipeline_stages} and micro-batches),
 * activation recompute and optimizer parallelism together with the per-operator strategies, minimising the estimated
 * step seconds under the device memory.
 *
 * <p>For every number of stages {@code p} dividing the device count (up to {@link Options#maxStages()}) and every
 * micro-batch count {@code m} (1 without stages; {@code p}, {@code 2p} and {@code 4p} with stages, when they divide
 * the batch), the network of one micro-batch ({@code networkOfBatch.apply(batch / m)}) gets its strategies from
 * {@link Search#search} on one stage's {@code devices / p} devices (with optimizer parallelism when nothing fits
 * without it) and is split by {@link PipelinePlan#plan} (automatic balanced split); then both optimizer-parallel
 * settings and the three {@link Recompute} modes are estimated ({@link #estimate}). The estimate is the strategy
 * search's objective (compute plus communication, no overlap, fusion buckets as one collective) extended to a
 * pipeline:
 * <ul>
 *   <li>per stage and micro-batch, {@code t_s}: forward and backward compute of its operators, the communications
 *       that run every micro-batch (redistributions, operator reductions and optimizer-parallel weight AllGathers),
 *       recompute (full: the stage's forward again; selective: the core attention's forward again), and
 *       sending its boundary tensors forward and their gradients back;</li>
 *   <li>once per step, {@code tail_s}: gradient reductions (AllReduces, optimizer-parallel ReduceScatters and mirror
 *       AllReduces) on the sums over the micro-batches, then the optimizer update of its parameters
 *       ({@link CostModel#updateSeconds});</li>
 *   <li>a fusion bucket costs one collective of its bytes per group (in {@code t_s} for AllGathers, else in
 *       {@code tail_s});</li>
 *   <li>step = {@code sum_s t_s + (m - 1) max_s t_s + max_s tail_s} (a 1F1B or GPipe pipeline: the first micro-batch
 *       passes every stage, the others follow at the pace of the slowest).</li>
 * </ul>
 * Memory of a stage's rank: {@link PipelinePlan#memory} (parameters, gradients, optimizer state, buffers) plus
 * activations for the micro-batches in flight ({@code min(m, p - s)} in stage {@code s} under 1F1B): all its
 * operators' outputs without recompute; without the attention scores and softmax outputs (plus one layer's while it
 * is recomputed) with selective recompute; only its inputs (plus one micro-batch's activations while recomputed) with
 * full recompute. The largest stage must fit the device memory. Without stages, one micro-batch and no recompute the
 * estimate is {@link Search#evaluate}'s seconds plus the optimizer update. Checked against the analytic pipeline
 * timeline of the same settings in the simulator's tests.
 */
public final class ParallelismSearch {

    private ParallelismSearch() {
    }

    /**
     * What to search.
     *
     * @param maxStages the most pipeline stages considered, >= 1 (default 8)
     * @param mode      the strategy search mode inside a stage (default dynamic programming)
     * @param cap       the most strategy candidates per operator (default {@link StrategyCandidates#DEFAULT_CAP})
     */
    public record Options(int maxStages, SearchMode mode, int cap) {

        /** Validates the figures. */
        public Options {
            if (maxStages < 1) {
                throw new IllegalArgumentException("max stages: found " + maxStages + "; expected >= 1");
            }
            if (mode == null) {
                throw new IllegalArgumentException("search mode: found null; expected dynamic_programming or "
                        + "sharding_propagation");
            }
            if (cap < 1) {
                throw new IllegalArgumentException("cap: found " + cap + "; expected >= 1 candidate per operator");
            }
        }

        /** At most 8 stages, dynamic programming, the default cap. */
        public static Options defaults() {
            return new Options(8, SearchMode.DYNAMIC_PROGRAMMING, StrategyCandidates.DEFAULT_CAP);
        }

        /** A copy with another stage limit. */
        public Options withMaxStages(int n) {
            return new Options(n, mode, cap);
        }
    }

    /**
     * One evaluated setting.
     *
     * @param stages            pipeline stages
     * @param microBatches      micro-batches per step
     * @param recompute         activation recompute
     * @param optimizerParallel whether optimizer parallelism is on
     * @param pipeline          the plan (strategies of one stage, the split)
     * @param stepSeconds       the estimated step, seconds
     * @param bubbleFraction    the share of the stages' time spent idle in the pipeline, in [0, 1)
     * @param memoryBytes       the largest stage's per-rank memory, bytes
     * @param fits              whether {@code memoryBytes} fits the device memory
     */
    public record Choice(int stages, int microBatches, Recompute recompute, boolean optimizerParallel,
                         PipelinePlan pipeline, double stepSeconds, double bubbleFraction, long memoryBytes,
                         boolean fits) {

        /** The setting in words, e.g. {@code 2 stages x 8 devices, 8 micro-batches, recompute none, no optimizer
         * parallel}. */
        public String label() {
            return String.format(Locale.ROOT, "%d stage%s x %d devices, %d micro-batch%s, recompute %s, %s",
                    stages, stages == 1 ? "" : "s", pipeline.stageDevices(), microBatches,
                    microBatches == 1 ? "" : "es", recompute.cliName(),
                    optimizerParallel ? "optimizer parallel" : "no optimizer parallel");
        }

        /** Prints as {@code label: 12.345 ms, bubble 12.5 %, 31.20 GiB}. */
        @Override
        public String toString() {
            return String.format(Locale.ROOT, "%s: %.3f ms, bubble %.1f %%, %.2f GiB%s", label(), stepSeconds * 1e3,
                    bubbleFraction * 100, memoryBytes / (double) (1L << 30), fits ? "" : " (does not fit)");
        }
    }

    /**
     * The outcome: the best setting that fits, every evaluated setting (best first, those that do not fit last),
     * settings that could not be planned with the reason, and a readable explanation.
     */
    public record Result(Choice best, List<Choice> evaluated, List<String> skipped, String explanation) {

        /** Copies the lists. */
        public Result {
            evaluated = List.copyOf(evaluated);
            skipped = List.copyOf(skipped);
        }
    }

    /**
     * Searches the parallelism of a model whose network can be built for any batch.
     *
     * @param networkOfBatch builds the network for a (micro-)batch size
     * @param batch          the global batch per step
     * @param template       a semi-auto configuration for all {@code devices} (its device count, optimizer, gradient
     *                       reduction, optimizer-parallel config and fusion settings are used; strategies it gives
     *                       are kept as given)
     * @param cluster        the cluster the cost model estimates on (at least {@code template.devices()} devices)
     * @param options        what to search
     * @param progress       receives one line per searched (stages, micro-batches) pair (a {@link SearchProgress} also
     *                       the pairs done of all), or null
     * @throws IllegalArgumentException when every setting is skipped (naming the first reason) or no setting fits the
     *                                  device memory (naming the least memory found)
     */
    public static Result search(IntFunction<Network> networkOfBatch, int batch, PlanConfig template,
                                ClusterSpec cluster, Options options, Consumer<String> progress) {
        int devices = template.devices();
        List<Choice> all = new ArrayList<>();
        List<String> skipped = new ArrayList<>();
        List<int[]> splits = new ArrayList<>();
        for (int p = 1; p <= Math.min(options.maxStages(), devices); p++) {
            if (devices % p != 0) {
                continue;
            }
            int before = splits.size();
            if (p == 1) {
                splits.add(new int[] {1, 1});
            } else {
                for (int k : new int[] {1, 2, 4}) {
                    if (batch % (k * p) == 0) {
                        splits.add(new int[] {p, k * p});
                    }
                }
            }
            if (splits.size() == before) {
                skipped.add(p + " stages: batch " + batch + " does not split into " + p + ", " + 2 * p + " or "
                        + 4 * p + " micro-batches");
            }
        }
        SearchProgress report = SearchProgress.of(progress);
        int memorySkips = 0;
        for (int k = 0; k < splits.size(); k++) {
            int p = splits.get(k)[0];
            int m = splits.get(k)[1];
            int n = devices / p;
            report.phase(String.format(Locale.ROOT, "parallelism search: %d stage%s x %d devices, "
                    + "%d micro-batch%s", p, p == 1 ? "" : "s", n, m, m == 1 ? "" : "es"));
            report.advance(k, splits.size());
            report.checkpoint();
            try {
                Network net = networkOfBatch.apply(batch / m);
                SearchResult inner;
                boolean[] settings = {false, true};
                try {
                    inner = Search.search(net, withDevices(template, n, false), cluster, options.mode(),
                            SearchProgress.checkpointsOf(report), options.cap());
                } catch (IllegalArgumentException noFit) {
                    // strategies that fit only with optimizer parallelism
                    inner = Search.search(net, withDevices(template, n, true), cluster, options.mode(),
                            SearchProgress.checkpointsOf(report), options.cap());
                    settings = new boolean[] {true};
                }
                for (boolean op : settings) {
                    PlanConfig config = withDevices(inner.best(), n, op);
                    PipelinePlan pipe = PipelinePlan.plan(net, config, p, m, x -> Optional.empty());
                    for (Recompute r : Recompute.values()) {
                        all.add(estimate(pipe, r, op, cluster));
                    }
                }
            } catch (Search.NoFit e) {
                memorySkips++;
                skipped.add(p + " stages, " + m + " micro-batches: " + e.getMessage());
            } catch (IllegalArgumentException e) {
                skipped.add(p + " stages, " + m + " micro-batches: " + e.getMessage());
            }
            report.advance(k + 1, splits.size());
        }
        all.sort(Comparator.comparing((Choice c) -> !c.fits()).thenComparingDouble(Choice::stepSeconds)
                .thenComparingLong(Choice::memoryBytes));
        if (all.isEmpty() && memorySkips == 0 && !skipped.isEmpty()) {
            throw new IllegalArgumentException("parallelism search: every setting was skipped, none was planned; the "
                    + "first: " + skipped.get(0) + (skipped.size() == 1 ? "" : " (and " + (skipped.size() - 1)
                    + " more)"));
        }
        if (all.isEmpty() || !all.get(0).fits()) {
            long least = all.stream().mapToLong(Choice::memoryBytes).min().orElse(-1);
            throw new IllegalArgumentException("parallelism search: no setting fits the " + cluster.device().memoryBytes()
                    + "-byte device memory of cluster '" + cluster.name() + "'" + (least < 0 ? ""
                    : "; the least memory found is " + least + " bytes per rank") + "; use more devices or a smaller "
                    + "model" + (skipped.isEmpty() ? "" : " (skipped: " + skipped.get(0) + ")"));
        }
        return new Result(all.get(0), all, skipped, explain(all, skipped));
    }

    private static PlanConfig withDevices(PlanConfig t, int devices, boolean optimizerParallel) {
        return new PlanConfig(devices, t.mode(), t.inStrategies(), t.outStrategies(), t.dataset(), t.gradientsMean(),
                optimizerParallel, t.optimizerConfig(), t.commFusion(), t.optimizer());
    }

    /**
     * The estimate of one setting (see the class comment) on {@code cluster}; stage {@code s}'s local rank 0 stands for
     * its ranks (layouts slice evenly).
     */
    public static Choice estimate(PipelinePlan pipe, Recompute recompute, boolean optimizerParallel,
                                  ClusterSpec cluster) {
        CostModel cm = SearchSetup.objective(cluster);
        Network net = pipe.plan().network();
        int p = pipe.stages();
        int m = pipe.microBatches();
        int n = pipe.stageDevices();
        double[] t = new double[p];
        double[] tail = new double[p];
        long[] act = new long[p];
        long[] attentionAct = new long[p];
        int[] softmaxes = new int[p];
        long[] inputs = new long[p];
        Set<String> attention = Recompute.selectiveOps(net);
        for (OpPlan op : pipe.plan().ops()) {
            int s = pipe.stageOf(op.name());
            double fwd = cm.computeSeconds(net, op, false);
            t[s] += fwd + cm.computeSeconds(net, op, true);
            if (recompute == Recompute.FULL || recompute == Recompute.SELECTIVE && attention.contains(op.name())) {
                t[s] += fwd;
            }
            Node node = net.node(op.name());
            long out = 0;
            for (int i = 0; i < op.outputLayouts().size(); i++) {
                out += op.outputLayouts().get(i).sliceBytes(net.tensor(node.output(i)).dtype());
            }
            act[s] += out;
            // the core attention's output stays (the next operator keeps it); what it holds inside does not
            if (attention.contains(op.name()) && node.outputs().stream()
                    .allMatch(o -> net.consumers(o).stream().allMatch(c -> attention.contains(c.name())))) {
                attentionAct[s] += out;
            }
            if (node.op() instanceof Softmax) {
                softmaxes[s]++;
            }
            for (int i = 0; i < node.inputs().size(); i++) {
                if (net.inputs().contains(node.input(i))) {
                    inputs[s] += op.inputLayouts().get(i).sliceBytes(net.tensor(node.input(i)).dtype());
                }
            }
        }
        // fusion buckets run as one collective per group
        List<Communication> comms = pipe.plan().comms();
        boolean[] fused = new boolean[comms.size()];
        for (Bucket b : pipe.plan().buckets()) {
            double sec = 0;
            for (List<Integer> g : b.groups()) {
                sec = Math.max(sec, cm.collectiveSeconds(b.kind(), g, b.bytes()));
            }
            b.comms().forEach(i -> fused[i] = true);
            if (b.kind() == CollectiveKind.ALL_GATHER) {
                t[pipe.bucketStage(b)] += sec;
            } else {
                tail[pipe.bucketStage(b)] += sec;
            }
        }
        for (int i = 0; i < comms.size(); i++) {
            Communication c = comms.get(i);
            if (fused[i]) {
                continue;
            }
            int s = pipe.commStage(c);
            // gradient reductions run once per step on the sums; weight AllGathers run every micro-batch
            boolean once = c.origin() == Communication.Origin.GRADIENT
                    || c.origin() == Communication.Origin.PARALLEL_OPTIMIZER && c.kind() != CollectiveKind.ALL_GATHER;
            double sec = cm.communicationSeconds(c);
            if (once) {
                tail[s] += sec;
            } else {
                t[s] += sec;
            }
        }
        for (PipelinePlan.Boundary b : pipe.boundaries()) {
            double worst = 0;
            for (int j = 0; j < n; j++) {
                worst = Math.max(worst, cm.collectiveSeconds(CollectiveKind.SEND_RECV,
                        List.of(pipe.globalRank(b.fromStage(), j), pipe.globalRank(b.toStage(), j)), b.bytes()));
            }
            t[b.fromStage()] += worst;
            t[b.toStage()] += worst;
            inputs[b.toStage()] += b.bytes();
        }
        for (int s = 0; s < p; s++) {
            // the optimizer update of the stage's parameters, after its reductions
            tail[s] += cm.updateSeconds(pipe.params(s), pipe.plan().config().optimizer());
        }
        double sum = 0;
        double max = 0;
        double maxTail = 0;
        for (int s = 0; s < p; s++) {
            sum += t[s];
            max = Math.max(max, t[s]);
            maxTail = Math.max(maxTail, tail[s]);
        }
        double body = sum + (m - 1) * max;
        double step = body + maxTail;
        double bubble = body > 0 ? Math.max(0, 1 - m * sum / (p * body)) : 0;
        long memory = 0;
        for (int s = 0; s < p; s++) {
            long inFlight = Math.min(m, p - s);
            long activations = switch (recompute) {
                case NONE -> inFlight * act[s];
                case SELECTIVE -> inFlight * (act[s] - attentionAct[s]) + attentionAct[s] / Math.max(1, softmaxes[s]);
                case FULL -> inFlight * inputs[s] + act[s];
            };
            memory = Math.max(memory, pipe.memory(pipe.globalRank(s, 0)).total() + activations);
        }
        return new Choice(p, m, recompute, optimizerParallel, pipe, step, bubble, memory,
                memory <= cluster.device().memoryBytes());
    }

    private static String explain(List<Choice> all, List<String> skipped) {
        StringBuilder sb = new StringBuilder();
        sb.append("objective: estimated step seconds (compute + communication, no overlap, pipeline bubble), "
                + "under the device memory\n");
        sb.append("chosen: ").append(all.get(0)).append('\n');
        sb.append("runners-up:\n");
        int shown = 0;
        for (int i = 1; i < all.size() && shown < 8; i++, shown++) {
            sb.append("  ").append(all.get(i)).append('\n');
        }
        if (all.size() - 1 > shown) {
            sb.append("  ... ").append(all.size() - 1 - shown).append(" more\n");
        }
        for (String s : skipped) {
            sb.append("skipped: ").append(s).append('\n');
        }
        return sb.toString();
    }
}
