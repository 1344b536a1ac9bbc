package io.tessera.simulator.timeline;

import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * The result of an analytic timeline simulation of one training step. Immutable (arrays are copied in and out).
 *
 * @param stepSeconds        the step time in seconds: when the last stream of the last rank finishes
 * @param mfu                model FLOP utilisation: the model's FLOPs of one step (forward and backward, each
 *                           operator counted once, not per replica) / (stepSeconds * devices * peak FLOP/s)
 * @param peakMemoryBytes    per rank (index = rank) the peak memory in bytes: parameters, gradients, optimizer state,
 *                           buffers ({@code Plan.memory(rank).total()}) plus activations
 * @param commBytesByKind    bytes received by all ranks together per phase and kind, e.g. {@code forward AllReduce}
 * @param computeSeconds     the busiest rank's compute time in seconds (forward, backward, optimizer update)
 * @param exposedCommSeconds the step time not covered by that compute, in seconds: communication (and waiting) on the
 *                           critical path
 * @param events             the recorded events, per rank in stream order (see {@link TimelineOptions#recordedRanks})
 */
public record TimelineReport(double stepSeconds, double mfu, long[] peakMemoryBytes, Map<String, Long> commBytesByKind,
                             double computeSeconds, double exposedCommSeconds, List<Event> events) {

    /** Validates and copies. */
    public TimelineReport {
        if (!(stepSeconds >= 0) || Double.isInfinite(stepSeconds)) {
            throw new IllegalArgumentException("stepSeconds: found " + stepSeconds + "; expected a finite value >= 0");
        }
        if (!(mfu >= 0)) {
            throw new IllegalArgumentException("mfu: found " + mfu + "; expected >= 0");
        }
        if (!(computeSeconds >= 0) || !(exposedCommSeconds >= 0)) {
            throw new IllegalArgumentException("computeSeconds " + computeSeconds + " and exposedCommSeconds "
                    + exposedCommSeconds + ": expected values >= 0");
        }
        peakMemoryBytes = peakMemoryBytes.clone();
        commBytesByKind = Collections.unmodifiableMap(new TreeMap<>(commBytesByKind));
        events = List.copyOf(events);
    }

    @Override
    public long[] peakMemoryBytes() {
        return peakMemoryBytes.clone();
    }

    /** The number of ranks. */
    public int devices() {
        return peakMemoryBytes.length;
    }

    /** The smallest per-rank peak memory in bytes. */
    public long minPeakMemoryBytes() {
        return Arrays.stream(peakMemoryBytes).min().orElse(0);
    }

    /** The largest per-rank peak memory in bytes. */
    public long maxPeakMemoryBytes() {
        return Arrays.stream(peakMemoryBytes).max().orElse(0);
    }

    /** Bytes received by all ranks together over every communication of the step. */
    public long totalCommBytes() {
        return commBytesByKind.values().stream().mapToLong(Long::longValue).sum();
    }

    /** A few lines for a terminal: step time, MFU, memory, compute vs exposed communication, volume by kind. */
    public String summary() {
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "step time: %s on %d ranks%n", seconds(stepSeconds), devices()));
        s.append(String.format(Locale.ROOT, "MFU: %.1f%%%n", 100 * mfu));
        s.append(String.format(Locale.ROOT, "peak memory per rank: %s min, %s max%n", bytes(minPeakMemoryBytes()),
                bytes(maxPeakMemoryBytes())));
        s.append(String.format(Locale.ROOT, "compute: %s, exposed communication: %s%n", seconds(computeSeconds),
                seconds(exposedCommSeconds)));
        s.append("communication volume (received by all ranks):").append(commBytesByKind.isEmpty() ? " none" : "")
                .append(System.lineSeparator());
        for (Map.Entry<String, Long> e : commBytesByKind.entrySet()) {
            s.append(String.format(Locale.ROOT, "  %-28s %s%n", e.getKey(), bytes(e.getValue())));
        }
        return s.toString();
    }

    /** {@code 1.234 ms}, {@code 56.7 us} or {@code 2.50 s}. */
    public static String seconds(double s) {
        if (s >= 1) {
            return String.format(Locale.ROOT, "%.3f s", s);
        }
        if (s >= 1e-3) {
            return String.format(Locale.ROOT, "%.3f ms", s * 1e3);
        }
        return String.format(Locale.ROOT, "%.3f us", s * 1e6);
    }

    /** {@code 512 B}, {@code 1.50 KiB}, {@code 3.25 GiB}. */
    public static String bytes(long b) {
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
        double v = b;
        int u = 0;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return u == 0 ? b + " B" : String.format(Locale.ROOT, "%.2f %s", v, units[u]);
    }

    /**
     * One span on one stream of one rank.
     *
     * @param rank     the rank
     * @param stream   {@code compute} or {@code comm}
     * @param name     the operator, collective or update
     * @param category {@code forward}, {@code backward} or {@code optimizer} for compute; the communication's origin
     *                 ({@code redistribution}, {@code operator}, {@code gradient}, {@code parallel_optimizer}) for comm
     * @param start    the start in seconds from the beginning of the step
     * @param duration the duration in seconds
     */
    public record Event(int rank, String stream, String name, String category, double start, double duration) {

        /** The compute stream's name. */
        public static final String COMPUTE = "compute";
        /** The communication stream's name. */
        public static final String COMM = "comm";

        /** Validates the values. */
        public Event {
            if (rank < 0) {
                throw new IllegalArgumentException("event rank: found " + rank + "; expected >= 0");
            }
            if (!COMPUTE.equals(stream) && !COMM.equals(stream)) {
                throw new IllegalArgumentException("event stream: found " + stream + "; expected compute or comm");
            }
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(category, "category");
            if (!(start >= 0) || !(duration >= 0)) {
                throw new IllegalArgumentException("event '" + name + "': start " + start + " and duration "
                        + duration + "; expected values >= 0");
            }
        }

        /** The end in seconds from the beginning of the step. */
        public double end() {
            return start + duration;
        }
    }
}
