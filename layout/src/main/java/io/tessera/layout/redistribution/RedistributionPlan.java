package io.tessera.layout.redistribution;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.Layout;

import java.util.Arrays;
import java.util.List;

/**
 * A plan turning every rank's slice of a tensor in layout {@code from} into its slice in layout {@code to}.
 * Immutable. Byte counts follow the transfers of the exchange steps; reductions are counted as ring algorithms.
 *
 * @param from  the source layout
 * @param to    the target layout (same shape and device count)
 * @param dtype the element type, for byte counts
 * @param steps the steps, in order
 */
public record RedistributionPlan(Layout from, Layout to, DType dtype, List<Step> steps) {

    /** Validates matching shapes and device counts; copies the steps. */
    public RedistributionPlan {
        Redistribution.checkCompatible(from, to);
        if (dtype == null) {
            throw new IllegalArgumentException("redistribution: dtype is required");
        }
        steps = List.copyOf(steps);
    }

    /** Number of ranks. */
    public int ranks() {
        return from.deviceCount();
    }

    /** Bytes each rank receives over the whole plan (index = rank). */
    public long[] recvBytes() {
        return bytes(true);
    }

    /** Bytes each rank sends over the whole plan (index = rank). */
    public long[] sendBytes() {
        return bytes(false);
    }

    /** Total bytes received by all ranks. */
    public long totalRecvBytes() {
        return Arrays.stream(recvBytes()).sum();
    }

    /** Number of steps, local steps included. */
    public int stepCount() {
        return steps.size();
    }

    /** Number of communication steps. */
    public int communicationStepCount() {
        return (int) steps.stream().filter(Step::isCommunication).count();
    }

    /**
     * The physical minimum of bytes each rank must receive: the elements of its target slice it does not hold in
     * its source slice, times the element size. Independent of any plan.
     */
    public static long[] minimalRecvBytes(Layout from, Layout to, DType dtype) {
        Redistribution.checkCompatible(from, to);
        long[] out = new long[from.deviceCount()];
        for (int r = 0; r < out.length; r++) {
            Box target = to.sliceBox(r);
            out[r] = (target.volume() - target.intersect(from.sliceBox(r)).volume()) * dtype.bytes();
        }
        return out;
    }

    /** True when every rank receives exactly its {@link #minimalRecvBytes physical minimum}. */
    public boolean isByteMinimal() {
        return Arrays.equals(recvBytes(), minimalRecvBytes(from, to, dtype));
    }

    private long[] bytes(boolean recv) {
        long[] out = new long[ranks()];
        int b = dtype.bytes();
        for (Step s : steps) {
            if (s instanceof Step.Exchange e && e.transfers() instanceof TransferList l) {
                for (int k = 0; k < l.size(); k++) {
                    out[recv ? l.dst(k) : l.src(k)] += l.elements(k) * b;
                }
            } else if (s instanceof Step.Exchange e) {
                for (Transfer t : e.transfers()) {
                    out[recv ? t.dst() : t.src()] += t.elements() * b;
                }
            } else if (s instanceof Step.AllReduce a) {
                for (List<Integer> g : a.groups()) {
                    long each = 2 * a.elements() * (g.size() - 1) / g.size() * b;
                    g.forEach(r -> out[r] += each);
                }
            } else if (s instanceof Step.ReduceScatter rs) {
                for (List<Integer> g : rs.groups()) {
                    long each = rs.elements() * (g.size() - 1) / g.size() * b;
                    g.forEach(r -> out[r] += each);
                }
            }
        }
        return out;
    }

    /** A short summary: step ops with group counts and total bytes received. */
    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("RedistributionPlan ").append(from).append(" -> ").append(to)
                .append(" (").append(dtype).append("): ");
        if (steps.isEmpty()) {
            sb.append("no steps");
        }
        for (int i = 0; i < steps.size(); i++) {
            Step s = steps.get(i);
            sb.append(i > 0 ? ", " : "").append(s.op());
            if (s.isCommunication()) {
                sb.append(" x").append(s.groups().size()).append(" groups");
            }
        }
        return sb.append("; ").append(totalRecvBytes()).append(" bytes received in all").toString();
    }
}
