package io.tessera.planner.plan;

import java.util.Arrays;
import java.util.Locale;
import java.util.Map;

/**
 * The human summary {@code tessera plan} prints: operators and their strategies, communications by phase and kind
 * with bytes, and parameter memory per rank.
 */
public final class PlanSummary {

    private PlanSummary() {
    }

    /** The summary text, ending with a newline. */
    public static String format(Plan plan) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "plan of '%s' on %d devices (%s)%n", plan.network().name(),
                plan.devices(), plan.config().mode()));
        sb.append(String.format(Locale.ROOT, "%noperators (%d):%n", plan.ops().size()));
        int width = plan.ops().stream().mapToInt(o -> o.name().length()).max().orElse(4);
        for (OpPlan o : plan.ops()) {
            sb.append(String.format(Locale.ROOT, "  %-" + width + "s  %-30s %s%s%n", o.name(), o.type(),
                    o.inStrategy(), o.userStrategy() ? "" : "  (data parallel)"));
        }
        sb.append(String.format(Locale.ROOT, "%ncommunications (%d):%n", plan.comms().size()));
        if (plan.comms().isEmpty()) {
            sb.append("  none\n");
        }
        for (Map.Entry<String, long[]> e : plan.commTotals().entrySet()) {
            sb.append(String.format(Locale.ROOT, "  %-32s %5d   %s received in all%n", e.getKey(), e.getValue()[0],
                    bytes(e.getValue()[1])));
        }
        long[] mem = plan.paramBytesPerRank();
        long min = Arrays.stream(mem).min().orElse(0);
        long max = Arrays.stream(mem).max().orElse(0);
        long full = plan.params().stream().mapToLong(ParamPlan::fullBytes).sum();
        sb.append(String.format(Locale.ROOT, "%nparameters (%d): %s in all; per rank %s%s%n", plan.params().size(),
                bytes(full), bytes(max), min == max ? "" : " (min " + bytes(min) + ")"));
        return sb.toString();
    }

    /** Bytes with a binary unit, e.g. {@code 1.5 MiB}. */
    public static String bytes(long b) {
        if (b < 1024) {
            return b + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double v = b;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }
}
