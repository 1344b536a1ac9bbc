package io.tessera.simulator.validation;

import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.cost.ErrorBand;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Measured against predicted iteration times of published runs, with the error of each and the summary
 * {@code validation: mean X% max Y% over N runs}. Immutable.
 *
 * @param rows    one per simulated run, in file order
 * @param skipped rows that could not be expressed, with the reason
 */
public record ValidationReport(List<Row> rows, List<String> skipped) {

    /**
     * One run.
     *
     * @param run              the published run
     * @param predictedSeconds Tessera's iteration time, seconds
     * @param wallSeconds      how long the simulation took, seconds
     */
    public record Row(PublishedRun run, double predictedSeconds, double wallSeconds) {

        /** Signed relative error {@code (predicted - measured) / measured}. */
        public double error() {
            return (predictedSeconds - run.measuredSeconds()) / run.measuredSeconds();
        }
    }

    /** Copies the lists. */
    public ValidationReport {
        rows = List.copyOf(rows);
        skipped = List.copyOf(skipped);
    }

    /** Mean absolute relative error over the rows (0 without rows). */
    public double meanAbsError() {
        return rows.stream().mapToDouble(r -> Math.abs(r.error())).average().orElse(0);
    }

    /** Largest absolute relative error over the rows (0 without rows). */
    public double maxAbsError() {
        return rows.stream().mapToDouble(r -> Math.abs(r.error())).max().orElse(0);
    }

    /** Mean signed relative error (bias; 0 without rows). */
    public double meanError() {
        return rows.stream().mapToDouble(Row::error).average().orElse(0);
    }

    /** {@code validation: mean 2.1% max 4.8% over 19 runs}. */
    public String summaryLine() {
        return String.format(Locale.ROOT, "validation: mean %.1f%% max %.1f%% over %d runs", 100 * meanAbsError(),
                100 * maxAbsError(), rows.size());
    }

    /** The table (table, model, configuration, measured, predicted, error), skipped rows, then the summary line. */
    public String table() {
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "%-28s %-12s %-58s %10s %10s %7s%n", "table", "model", "configuration",
                "measured", "predicted", "error"));
        for (Row r : rows) {
            PublishedRun p = r.run();
            s.append(String.format(Locale.ROOT, "%-28s %-12s %-58s %9.2fs %9.2fs %+6.1f%%%n", p.table(),
                    p.model().replace("GPT ", ""), p.configuration(), p.measuredSeconds(), r.predictedSeconds(),
                    100 * r.error()));
        }
        for (Row r : rows) {
            if (!r.run().assumptions().isEmpty()) {
                s.append("assumed for ").append(r.run().table()).append(" '").append(r.run().model()).append("': ")
                        .append(String.join(", ", r.run().assumptions())).append('\n');
            }
        }
        for (String k : skipped) {
            s.append("skipped ").append(k).append('\n');
        }
        s.append(summaryLine()).append('\n');
        return s.toString();
    }

    /** The error band of the rows on each device (by the device name of the run's cluster preset). */
    public Map<String, ErrorBand> bands() {
        Map<String, List<Row>> byDevice = new TreeMap<>();
        for (Row r : rows) {
            byDevice.computeIfAbsent(ClusterSpec.preset(r.run().cluster()).device().name(), k -> new ArrayList<>())
                    .add(r);
        }
        Map<String, ErrorBand> out = new TreeMap<>();
        byDevice.forEach((device, rs) -> {
            ValidationReport part = new ValidationReport(rs, List.of());
            out.put(device, new ErrorBand(device, rs.size(), part.meanAbsError(), part.maxAbsError()));
        });
        return out;
    }

    /** {@link #bands()} as the JSON of {@link ErrorBand#RESOURCE}: one object per device, keys sorted. */
    public String bandsJson() {
        StringBuilder s = new StringBuilder("{\n");
        List<ErrorBand> all = new ArrayList<>(bands().values());
        for (int i = 0; i < all.size(); i++) {
            ErrorBand b = all.get(i);
            s.append(String.format(Locale.ROOT, "  \"%s\": {\"runs\": %d, \"mean_abs_error\": %.4f, "
                    + "\"max_abs_error\": %.4f}%s%n", b.device(), b.runs(), b.meanAbsError(), b.maxAbsError(),
                    i + 1 < all.size() ? "," : ""));
        }
        return s.append("}\n").toString();
    }
}
