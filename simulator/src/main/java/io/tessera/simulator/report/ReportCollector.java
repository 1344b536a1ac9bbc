package io.tessera.simulator.report;

import io.tessera.layout.Layout;
import io.tessera.layout.comm.CollectiveKind;
import io.tessera.layout.param.ParallelMode;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.ErrorBand;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.OpPlan;
import io.tessera.planner.plan.ParamPlan;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.RankMemory;
import io.tessera.planner.search.Candidate;
import io.tessera.planner.search.SearchResult;
import io.tessera.planner.strategy.Devices;
import io.tessera.planner.strategy.Parallelism;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.simulator.report.ReportData.CommRow;
import io.tessera.simulator.report.ReportData.MemoryBar;
import io.tessera.simulator.report.ReportData.TensorEntry;
import io.tessera.simulator.report.ReportData.TensorKind;
import io.tessera.simulator.report.ReportData.TensorLayout;
import io.tessera.simulator.report.ReportData.Volume;
import io.tessera.simulator.timeline.StrategyStep;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/** Collects a {@link ReportData} from a planned strategy file ({@link ReportData#of}). */
final class ReportCollector {

    /** Runners-up shown after the chosen plan of a search. */
    static final int RUNNERS_UP = 5;

    private ReportCollector() {
    }

    static ReportData collect(String fileName, StrategyFile file, PipelinePlan pipe, ClusterSpec cluster,
                              List<ReportExplanation> explanations) {
        Objects.requireNonNull(fileName, "fileName");
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(pipe, "pipe");
        Objects.requireNonNull(cluster, "cluster");
        Plan plan = pipe.plan();
        List<Communication> comms = plan.comms();
        List<ReportData.Explained> explained = new ArrayList<>();
        for (ReportExplanation e : explanations) {
            if (e.commId() >= comms.size()) {
                throw new IllegalArgumentException("explanation of communication " + e.commId() + ": the plan has "
                        + comms.size() + " communications (ids 0.." + (comms.size() - 1) + "); pass ids of "
                        + "Plan.comms()");
            }
            explained.add(new ReportData.Explained(e, row(e.commId(), comms.get(e.commId()))));
        }
        ReportStep step = ReportStep.run(file, pipe, cluster);
        List<MemoryBar> memory = memory(file, pipe, step);
        MemoryBar fullest = memory.get(0);
        for (MemoryBar b : memory) {
            if (b.total() > fullest.total()) {
                fullest = b;
            }
        }
        Optional<ReportData.Band> band = ErrorBand.of(cluster.device()).map(b -> {
            double[] in = b.interval(step.stepSeconds());
            return new ReportData.Band(in[0], in[1], b.describe());
        });
        ParallelMode mode = file.parallel().parallelMode();
        ReportData.Header header = new ReportData.Header(fileName, plan.network().name(), pipe.devices(),
                pipe.stages(), pipe.stageDevices(), pipe.virtualStages(), pipe.microBatches(), mesh(file, pipe),
                mode.mindsporeName(), cluster.name() + " (" + cluster.devices() + " devices, "
                + cluster.devicesPerNode() + " per node, " + cluster.device().name() + ")", step.description(),
                step.stepSeconds(), band, fullest.firstRank(), fullest.total());
        List<TensorLayout> layouts = new ArrayList<>();
        List<TensorEntry> tensors = tensors(pipe, layouts);
        return new ReportData(header, layouts, tensors, memory, byKind(comms), byOrigin(comms), plan.commTotals(),
                top(comms), step.schedule(), step.breakdown(), search(file, plan.network()), explained);
    }

    /** The mesh in words: stages x devices, and the device matrix or the degrees of a {@code parallelism} section. */
    private static String mesh(StrategyFile file, PipelinePlan pipe) {
        StringBuilder s = new StringBuilder();
        s.append(pipe.stages()).append(pipe.stages() == 1 ? " stage" : " pipeline stages").append(" x ")
                .append(pipe.stageDevices()).append(" devices");
        if (pipe.virtualStages() > 1) {
            s.append(", ").append(pipe.virtualStages()).append(" model chunks per stage");
        }
        if (file.parallelism().isPresent()) {
            Parallelism p = file.parallelism().get();
            s.append("; degrees: tensor ").append(p.tensor()).append(", context ").append(p.context())
                    .append(", expert ").append(p.expert()).append(", pipeline ").append(p.pipeline())
                    .append(", data ").append(p.dataFor(file.deviceCount()));
        } else if (file.devices() instanceof Devices.Matrix m) {
            s.append("; device matrix ").append(Arrays.toString(m.dims()));
        }
        return s.toString();
    }

    /**
     * One bar per rank (global), with the optimizer sharded as the file says ({@code PipelinePlan.memory(rank,
     * shards)}) and the step's activations; with more than {@link ReportData#GROUP_ABOVE} ranks, runs of consecutive
     * ranks with identical memory share a bar.
     */
    private static List<MemoryBar> memory(StrategyFile file, PipelinePlan pipe, ReportStep step) {
        int shards = StrategyStep.optimizerShards(file);
        boolean group = pipe.devices() > ReportData.GROUP_ABOVE;
        List<MemoryBar> bars = new ArrayList<>();
        MemoryBar open = null;
        RankMemory[] perStage = new RankMemory[pipe.stages()];
        for (int r = 0; r < pipe.devices(); r++) {
            int stage = pipe.stageOfRank(r);
            if (perStage[stage] == null) {
                perStage[stage] = pipe.memory(r, shards);
            }
            // Plan.memory counts every parameter's slice, shard and bucket, which are the same size on every rank of
            // a stage (slices are even): one computation per stage (2048 ranks would take seconds otherwise)
            RankMemory m = perStage[stage];
            MemoryBar b = new MemoryBar(r, r, m.params(), m.gradients(), m.optimizerState() + m.masterCopies(),
                    step.activationBytes(r), m.gatheredWeights() + m.recomputeBuffer() + m.fusionBuffer()
                    + m.fp8Weights());
            if (open != null && group && sameMemory(open, b)) {
                open = new MemoryBar(open.firstRank(), r, b.parameters(), b.gradients(), b.optimizer(),
                        b.activations(), b.buffers());
                continue;
            }
            if (open != null) {
                bars.add(open);
            }
            open = b;
        }
        bars.add(open);
        return bars;
    }

    private static boolean sameMemory(MemoryBar a, MemoryBar b) {
        return a.parameters() == b.parameters() && a.gradients() == b.gradients() && a.optimizer() == b.optimizer()
                && a.activations() == b.activations() && a.buffers() == b.buffers();
    }

    /** The parameters, then every operator's outputs, each with its stage and layout (deduplicated into layouts). */
    private static List<TensorEntry> tensors(PipelinePlan pipe, List<TensorLayout> layouts) {
        Plan plan = pipe.plan();
        Network net = plan.network();
        Map<Layout, Integer> ids = new LinkedHashMap<>();
        List<TensorEntry> out = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (ParamPlan p : plan.params()) {
            if (seen.add(p.name())) {
                out.add(new TensorEntry(p.name(), TensorKind.PARAMETER, p.dtype().toString(), pipe.paramStage(p.name()),
                        layoutId(p.layout(), ids, layouts)));
            }
        }
        for (OpPlan op : plan.ops()) {
            Node node = net.node(op.name());
            for (int i = 0; i < node.outputs().size() && i < op.outputLayouts().size(); i++) {
                String t = node.output(i);
                if (seen.add(t)) {
                    out.add(new TensorEntry(t, TensorKind.ACTIVATION, net.tensor(t).dtype() + ", " + op.type(),
                            pipe.stageOf(op.name()), layoutId(op.outputLayouts().get(i), ids, layouts)));
                }
            }
        }
        return out;
    }

    private static int layoutId(Layout l, Map<Layout, Integer> ids, List<TensorLayout> layouts) {
        Integer id = ids.get(l);
        if (id != null) {
            return id;
        }
        int n = l.deviceCount();
        long[] slice = new long[n];
        for (int r = 0; r < n; r++) {
            slice[r] = l.sliceIndex(r);
        }
        int[] splits = new int[l.rank()];
        for (int d = 0; d < splits.length; d++) {
            splits[d] = l.splits(d);
        }
        int next = layouts.size();
        layouts.add(new TensorLayout(next, l.toString(), l.shape(), splits, l.devMatrix().dims(), slice));
        ids.put(l, next);
        return next;
    }

    static CommRow row(int id, Communication c) {
        return new CommRow(id, c.kind().jsonName(), c.origin().jsonName(), c.phase().jsonName(), c.tensor(),
                c.operator() == null ? "" : c.operator(), c.totalRecvBytes(), c.reason() == null ? "" : c.reason());
    }

    private static List<Volume> byKind(List<Communication> comms) {
        Map<CollectiveKind, long[]> m = new EnumMap<>(CollectiveKind.class);
        for (Communication c : comms) {
            long[] v = m.computeIfAbsent(c.kind(), k -> new long[2]);
            v[0]++;
            v[1] += c.totalRecvBytes();
        }
        List<Volume> out = new ArrayList<>();
        m.forEach((k, v) -> out.add(new Volume(k.jsonName(), v[0], v[1])));
        return out;
    }

    private static List<Volume> byOrigin(List<Communication> comms) {
        Map<Communication.Origin, long[]> m = new EnumMap<>(Communication.Origin.class);
        for (Communication c : comms) {
            long[] v = m.computeIfAbsent(c.origin(), k -> new long[2]);
            v[0]++;
            v[1] += c.totalRecvBytes();
        }
        List<Volume> out = new ArrayList<>();
        m.forEach((k, v) -> out.add(new Volume(k.jsonName(), v[0], v[1])));
        return out;
    }

    private static List<CommRow> top(List<Communication> comms) {
        List<CommRow> rows = new ArrayList<>(comms.size());
        for (int i = 0; i < comms.size(); i++) {
            rows.add(row(i, comms.get(i)));
        }
        rows.sort(Comparator.comparingLong(CommRow::bytes).reversed().thenComparingInt(CommRow::id));
        return rows.subList(0, Math.min(ReportData.TOP_COMMS, rows.size()));
    }

    /** The search's chosen plan and runners-up of an {@code auto_parallel} file (searched again), else empty. */
    private static Optional<ReportData.SearchSummary> search(StrategyFile file, Network network) {
        if (file.parallel().parallelMode() != ParallelMode.AUTO_PARALLEL) {
            return Optional.empty();
        }
        SearchResult r = StrategyPlans.search(file, network, null);
        List<ReportData.SearchSummary.Candidate> list = new ArrayList<>();
        list.add(candidate(r.chosen(), true));
        for (Candidate c : r.runnersUp().subList(0, Math.min(RUNNERS_UP, r.runnersUp().size()))) {
            list.add(candidate(c, false));
        }
        return Optional.of(new ReportData.SearchSummary(file.parallel().searchMode().jsonName(), list));
    }

    private static ReportData.SearchSummary.Candidate candidate(Candidate c, boolean chosen) {
        return new ReportData.SearchSummary.Candidate(c.label(), c.seconds(), c.computeSeconds(), c.commSeconds(),
                c.memoryBytes(), c.fits(), chosen);
    }
}
