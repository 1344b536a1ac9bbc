package io.tessera.simulator.report;

import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.strategy.StrategyFile;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;

/**
 * Every number and name the HTML report ({@link HtmlReport}) shows, collected from a planned strategy file, so tests
 * can compare the page with the data. Immutable (arrays are copied in and out). Sizes are bytes, times seconds.
 *
 * @param header       the header: file, network, devices, mesh, cluster, step time, error band, fullest rank
 * @param layouts      the distinct layouts of the tensors listed, by id (index)
 * @param tensors      the parameters, then the operators' outputs, each with its stage and layout id
 * @param memory       the memory bars: one per rank, or per run of consecutive ranks with identical memory when
 *                     there are more than {@link #GROUP_ABOVE} ranks
 * @param commByKind   bytes received by all ranks together per collective kind ({@code Communication.kind()}), in
 *                     the order of {@code CollectiveKind}, kinds without communications left out
 * @param commByOrigin the same per origin ({@code Communication.origin()})
 * @param commTotals   per phase and kind ({@code forward AllReduce}) the count and bytes: {@code Plan.commTotals()}
 * @param topComms     the communications with the most bytes received, at most {@link #TOP_COMMS}, most first (equal
 *                     bytes in plan order)
 * @param schedule     the simulated step's events per row (a pipeline stage, or the one rank shown)
 * @param breakdown    the step breakdown as the simulator reports it
 * @param search       the search's best plan and runners-up for an {@code auto_parallel} file, else empty
 * @param explanations the explanations given, each with its communication
 */
public record ReportData(Header header, List<TensorLayout> layouts, List<TensorEntry> tensors,
                         List<MemoryBar> memory, List<Volume> commByKind, List<Volume> commByOrigin,
                         Map<String, long[]> commTotals, List<CommRow> topComms, Schedule schedule,
                         Breakdown breakdown, Optional<SearchSummary> search, List<Explained> explanations) {

    /** Ranks above which runs of consecutive ranks with identical memory share one bar: 64. */
    public static final int GROUP_ABOVE = 64;
    /** Rows of the top-communications table: 20. */
    public static final int TOP_COMMS = 20;
    /** Stage devices above which the slice view shows one cell per distinct slice instead of per device: 256. */
    public static final int CELLS_PER_DEVICE_UP_TO = 256;

    /** Copies the collections. */
    public ReportData {
        Objects.requireNonNull(header, "header");
        layouts = List.copyOf(layouts);
        tensors = List.copyOf(tensors);
        memory = List.copyOf(memory);
        commByKind = List.copyOf(commByKind);
        commByOrigin = List.copyOf(commByOrigin);
        TreeMap<String, long[]> totals = new TreeMap<>();
        commTotals.forEach((k, v) -> totals.put(k, v.clone()));
        commTotals = java.util.Collections.unmodifiableMap(totals);
        topComms = List.copyOf(topComms);
        Objects.requireNonNull(schedule, "schedule");
        Objects.requireNonNull(breakdown, "breakdown");
        Objects.requireNonNull(search, "search");
        explanations = List.copyOf(explanations);
    }

    /**
     * Collects the report of a planned strategy file: simulates its step on {@code cluster} as
     * {@code tessera simulate FILE} does (the planned pipeline's timeline with pipeline stages, micro-batches or
     * recompute of a {@code parallelism} section, else the one-step timeline), and for an {@code auto_parallel} file
     * runs its strategy search again for the runners-up.
     *
     * @param fileName     the strategy file's name as the header shows it
     * @param file         the strategy file
     * @param pipe         its plan ({@code StrategyPlans.pipelinePlan(file, ...)})
     * @param cluster      the cluster to simulate on, with at least {@code pipe.devices()} devices
     * @param explanations explanations of some communications (ids into {@code pipe.plan().comms()}); may be empty
     * @throws IllegalArgumentException when an explanation names no communication of the plan, or the step cannot be
     *                                  simulated on the cluster
     */
    public static ReportData of(String fileName, StrategyFile file, PipelinePlan pipe, ClusterSpec cluster,
                                List<ReportExplanation> explanations) {
        return ReportCollector.collect(fileName, file, pipe, cluster, explanations);
    }

    /** {@link #of(String, StrategyFile, PipelinePlan, ClusterSpec, List)} with the header naming the network. */
    public static ReportData of(StrategyFile file, PipelinePlan pipe, ClusterSpec cluster,
                                List<ReportExplanation> explanations) {
        return of("strategy file", file, pipe, cluster, explanations);
    }

    /**
     * The report's header.
     *
     * @param fileName        the strategy file's name
     * @param network         the network's name
     * @param devices         all devices of the plan
     * @param stages          pipeline stages
     * @param stageDevices    devices per stage
     * @param virtualStages   model chunks per stage (1: no interleaving)
     * @param microBatches    micro-batches per step
     * @param mesh            the device mesh in words, e.g. {@code 2 stages x 4 devices, device matrix [2, 2]}
     * @param parallelMode    the parallel mode, e.g. {@code semi_auto_parallel}
     * @param cluster         the cluster in words: name, devices, devices per node, device
     * @param simulation      what was simulated, e.g. {@code pipeline timeline: schedule 1f1b, recompute none}
     * @param stepSeconds     the simulated step time
     * @param band            the cost model's error band around it, or empty for a device without one
     * @param fullestRank     the rank with the most memory at its peak
     * @param fullestBytes    its bytes: the sum its memory bar shows
     */
    public record Header(String fileName, String network, int devices, int stages, int stageDevices,
                         int virtualStages, int microBatches, String mesh, String parallelMode, String cluster,
                         String simulation, double stepSeconds, Optional<Band> band, int fullestRank,
                         long fullestBytes) {
    }

    /**
     * The cost model's error band around the step time ({@code ErrorBand}).
     *
     * @param lowSeconds  the step time times {@code 1 - max error}
     * @param highSeconds the step time times {@code 1 + max error}
     * @param description the band in words ({@code ErrorBand.describe()})
     */
    public record Band(double lowSeconds, double highSeconds, String description) {
    }

    /**
     * One distinct layout of a stage's tensors.
     *
     * @param id          its index in {@link ReportData#layouts()}
     * @param text        the layout as text ({@code Layout.toString()})
     * @param shape       the tensor shape
     * @param splits      how many slices each dimension is cut into
     * @param devMatrix   the device matrix
     * @param sliceOfRank per stage-local rank the row-major index of its slice ({@code Layout.sliceIndex})
     */
    public record TensorLayout(int id, String text, long[] shape, int[] splits, int[] devMatrix, long[] sliceOfRank) {

        /** Copies the arrays. */
        public TensorLayout {
            shape = shape.clone();
            splits = splits.clone();
            devMatrix = devMatrix.clone();
            sliceOfRank = sliceOfRank.clone();
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }

        @Override
        public int[] splits() {
            return splits.clone();
        }

        @Override
        public int[] devMatrix() {
            return devMatrix.clone();
        }

        @Override
        public long[] sliceOfRank() {
            return sliceOfRank.clone();
        }

        /** Distinct slices: the product of {@link #splits()}. */
        public long sliceCount() {
            long n = 1;
            for (int s : splits) {
                n *= s;
            }
            return n;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof TensorLayout t && id == t.id && text.equals(t.text) && Arrays.equals(shape, t.shape)
                    && Arrays.equals(splits, t.splits) && Arrays.equals(devMatrix, t.devMatrix)
                    && Arrays.equals(sliceOfRank, t.sliceOfRank);
        }

        @Override
        public int hashCode() {
            return Objects.hash(id, text) * 31 + Arrays.hashCode(sliceOfRank);
        }

        @Override
        public String toString() {
            return "TensorLayout[id=" + id + ", " + text + "]";
        }
    }

    /** What a listed tensor is. */
    public enum TensorKind {
        /** A parameter, in the layout it is stored in. */
        PARAMETER,
        /** An operator's output, in the layout its producer leaves it in. */
        ACTIVATION;

        /** The name the page shows, e.g. {@code parameter}. */
        public String label() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /**
     * One tensor of the clickable list.
     *
     * @param name   the tensor's name
     * @param kind   parameter or activation
     * @param detail the element type and, for an activation, its operator's type
     * @param stage  the pipeline stage holding it
     * @param layout the id of its layout in {@link ReportData#layouts()}
     */
    public record TensorEntry(String name, TensorKind kind, String detail, int stage, int layout) {
    }

    /**
     * One memory bar: ranks {@code firstRank..lastRank} (global), each holding these bytes at its peak.
     *
     * @param firstRank   the first rank
     * @param lastRank    the last rank ({@code firstRank} for a bar of one rank)
     * @param parameters  parameters ({@code RankMemory.params})
     * @param gradients   gradients
     * @param optimizer   optimizer state and float32 master copies
     * @param activations activations kept for the backward at the peak (with the ZeRO-3 prefetch window)
     * @param buffers     gathered weights, the recompute and fusion buffers and cached FP8 weights
     */
    public record MemoryBar(int firstRank, int lastRank, long parameters, long gradients, long optimizer,
                            long activations, long buffers) {

        /** The sum the bar shows. */
        public long total() {
            return parameters + gradients + optimizer + activations + buffers;
        }

        /** {@code R} for one rank, {@code R0-R1} for a run. */
        public String ranks() {
            return firstRank == lastRank ? Integer.toString(firstRank) : firstRank + "-" + lastRank;
        }
    }

    /**
     * A volume of communication.
     *
     * @param name  the kind or origin, e.g. {@code AllReduce} or {@code gradient}
     * @param count the communications
     * @param bytes bytes received by all ranks together
     */
    public record Volume(String name, long count, long bytes) {
    }

    /**
     * One communication of the plan.
     *
     * @param id       its index in {@code Plan.comms()}
     * @param kind     the collective
     * @param origin   what inserted it
     * @param phase    forward, backward or optimizer
     * @param tensor   the tensor it moves
     * @param operator the operator it serves, or empty text
     * @param bytes    bytes received by all ranks together
     * @param reason   its one-line reason
     */
    public record CommRow(int id, String kind, String origin, String phase, String tensor, String operator,
                          long bytes, String reason) {
    }

    /**
     * The simulated step's events.
     *
     * @param rowLabel    what a row is: {@code stage} or {@code rank}
     * @param rows        the rows
     * @param stepSeconds the step time: the chart's width
     * @param events      the events, each on one row (compute events merged where the same category runs on)
     */
    public record Schedule(String rowLabel, int rows, double stepSeconds, List<Event> events) {

        /** Copies the list. */
        public Schedule {
            events = List.copyOf(events);
        }
    }

    /**
     * One box of the schedule.
     *
     * @param row      the row
     * @param compute  true on the compute stream, false on the communication stream
     * @param category forward, recompute, backward or optimizer for compute; the origin or {@code send} for
     *                 communication
     * @param name     what ran (the first of a merged run)
     * @param start    seconds from the step's start
     * @param duration seconds
     */
    public record Event(int row, boolean compute, String category, String name, double start, double duration) {
    }

    /**
     * The step breakdown.
     *
     * @param items          the parts, each with its seconds (on the busiest row for the compute categories)
     * @param bubbleFraction the pipeline bubble's share of the stages' compute (0 without pipeline stages)
     * @param mfu            model FLOP utilisation, or empty when the simulation does not report it
     */
    public record Breakdown(List<Item> items, double bubbleFraction, Optional<Double> mfu) {

        /** Copies the list. */
        public Breakdown {
            items = List.copyOf(items);
        }

        /**
         * One part of the step.
         *
         * @param label   e.g. {@code forward compute}
         * @param seconds its seconds
         */
        public record Item(String label, double seconds) {
        }
    }

    /**
     * The strategy search of an {@code auto_parallel} file.
     *
     * @param mode       the search mode, e.g. {@code dynamic_programming}
     * @param candidates the best plan, then the next ones, best first
     */
    public record SearchSummary(String mode, List<Candidate> candidates) {

        /** Copies the list. */
        public SearchSummary {
            candidates = List.copyOf(candidates);
        }

        /**
         * One evaluated plan, as the search estimates it.
         *
         * @param label          what produced it
         * @param seconds        estimated step seconds
         * @param computeSeconds its compute
         * @param commSeconds    its communication
         * @param memoryBytes    rank 0's peak bytes
         * @param fits           whether it fits the device memory
         * @param chosen         whether it is the chosen plan
         */
        public record Candidate(String label, double seconds, double computeSeconds, double commSeconds,
                                long memoryBytes, boolean fits, boolean chosen) {
        }
    }

    /**
     * An explanation with the communication it explains.
     *
     * @param explanation the explanation
     * @param comm        its communication
     */
    public record Explained(ReportExplanation explanation, CommRow comm) {
    }
}
