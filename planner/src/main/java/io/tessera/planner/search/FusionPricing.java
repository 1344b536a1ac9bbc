package io.tessera.planner.search;

import io.tessera.layout.DType;
import io.tessera.layout.comm.CollectiveKind;
import io.tessera.planner.cost.CostModel;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.strategy.CommFusionMode;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * How the search prices fused gradient reductions (see {@link Search}): the fusion-bucket keys of the candidates'
 * gradient reductions, each with its latency {@code t(0)}, and the {@link Pricing} of a round of the dynamic
 * programming made from the buckets of a plan.
 */
final class FusionPricing {

    private final PlanConfig template;
    private final CostModel cost;
    /** Fusion-bucket keys of gradient reductions, by id; with each key's latency {@code t(0)}. */
    private final Map<BucketKey, Integer> bucketIds = new HashMap<>();
    private final List<BucketKey> bucketKeys = new ArrayList<>();
    private final List<Double> bucketLatency = new ArrayList<>();

    /**
     * What a fusion bucket shares: kind, rank groups, dtype and comm_fusion id.
     *
     * @param kind     the collective
     * @param groups   the rank groups it reduces over
     * @param dtype    the gradient's dtype
     * @param fusionId the parameter's {@code comm_fusion} id (not 0)
     */
    record BucketKey(CollectiveKind kind, List<List<Integer>> groups, DType dtype, int fusionId) {

        /** Validates that kind, groups and dtype are present. */
        BucketKey {
            if (kind == null || groups == null || dtype == null) {
                throw new IllegalArgumentException("fusion bucket key: kind, groups and dtype are required; found "
                        + kind + ", " + groups + ", " + dtype + "; pass all three");
            }
        }
    }

    /**
     * How the dynamic programming prices fused gradient reductions, per fusion bucket key: the share of the key's
     * latency {@code t(0)} a member pays, and the seconds per byte a member pays instead of its own
     * {@code t(bytes) - t(0)} (NaN: its own).
     *
     * @param share per key, the share of its latency a member pays
     * @param slope per key, seconds per byte a member pays, or NaN for its own marginal
     */
    record Pricing(double[] share, double[] slope) {

        /** Validates one share and one slope per key. */
        Pricing {
            if (share == null || slope == null || share.length != slope.length) {
                throw new IllegalArgumentException("fusion pricing: expected one share and one slope per bucket key;"
                        + " found " + (share == null ? "no shares" : share.length + " shares") + " and "
                        + (slope == null ? "no slopes" : slope.length + " slopes"));
            }
        }

        /** The first round: no latency, each reduction its own {@code t(bytes) - t(0)}. */
        static Pricing optimistic(int keys) {
            double[] slope = new double[keys];
            Arrays.fill(slope, Double.NaN);
            return new Pricing(new double[keys], slope);
        }

        /** What a member of key {@code b} with {@code bytes} and its own marginal pays beyond that marginal. */
        double extra(int b, long bytes, double marginal, double latency) {
            double v = share[b] * latency;
            return Double.isNaN(slope[b]) ? v : v + bytes * slope[b] - marginal;
        }
    }

    /** No bucket keys yet; {@code template}'s {@code comm_fusion} thresholds, {@code cost} prices buckets. */
    FusionPricing(PlanConfig template, CostModel cost) {
        this.template = template;
        this.cost = cost;
    }

    /** The id of a fusion bucket key, with its latency {@code t(0)} (thread-safe). */
    synchronized int bucket(BucketKey key, double latency) {
        Integer id = bucketIds.get(key);
        if (id == null) {
            id = bucketKeys.size();
            bucketIds.put(key, id);
            bucketKeys.add(key);
            bucketLatency.add(latency);
        }
        return id;
    }

    /** How many bucket keys there are. */
    synchronized int keys() {
        return bucketKeys.size();
    }

    /** The latency {@code t(0)} of bucket key {@code b}. */
    double latency(int b) {
        return bucketLatency.get(b);
    }

    /** The first round's pricing over the current keys ({@link Pricing#optimistic}). */
    Pricing optimistic() {
        return Pricing.optimistic(bucketKeys.size());
    }

    /**
     * The pricing of the buckets of the plan {@code choice} (its own bucket costs split over their members): per
     * key with members, {@code buckets / members} of the latency (buckets: the members' bytes over the
     * {@code comm_fusion} threshold, at least 1) and the slope {@code (t(S) - t(0)) / S} of a bucket of the
     * average size {@code S}; a key without members pays its whole latency and its own marginal (a new bucket).
     */
    Pricing pricing(Signatures sig, int[] choice) {
        int keys = bucketKeys.size();
        int[] members = new int[keys];
        long[] bytes = new long[keys];
        for (int i = 0; i < sig.count(); i++) {
            Signatures.Options o = sig.options(i);
            int[] b = o.buckets()[choice[i]];
            for (int k = 0; k < b.length; k++) {
                members[b[k]]++;
                bytes[b[k]] += o.bucketBytes()[choice[i]][k];
            }
        }
        double[] share = new double[keys];
        double[] slope = new double[keys];
        for (int b = 0; b < keys; b++) {
            slope[b] = Double.NaN;
            if (members[b] == 0) {
                share[b] = 1;
                continue;
            }
            BucketKey key = bucketKeys.get(b);
            long threshold = threshold(key.kind());
            double buckets = Math.max(1, Math.ceil(bytes[b] / (double) threshold));
            share[b] = Math.min(1, buckets / members[b]);
            long size = Math.max(1, Math.round(bytes[b] / buckets));
            double seconds = 0;
            for (List<Integer> g : key.groups()) {
                seconds = Math.max(seconds, cost.collectiveSeconds(key.kind(), g, size));
            }
            slope[b] = (seconds - bucketLatency.get(b)) / size;
        }
        return new Pricing(share, slope);
    }

    /**
     * The priced seconds of option {@code c} of {@code o}: its own seconds, {@code price} per byte of its memory and
     * what its fused gradient reductions pay beyond their marginals under {@code pricing}, summed in that order.
     */
    double priced(Signatures.Options o, int c, double price, Pricing pricing) {
        double v = o.unary()[c] + price * o.memory()[c];
        for (int k = 0; k < o.buckets()[c].length; k++) {
            int b = o.buckets()[c][k];
            v += pricing.extra(b, o.bucketBytes()[c][k], o.bucketMarginal()[c][k], bucketLatency.get(b));
        }
        return v;
    }

    /** The bucket bytes of the template's {@code comm_fusion} mode for {@code kind} (index mode: unbounded). */
    private long threshold(CollectiveKind kind) {
        CommFusionMode mode = template.commFusion().mode(kind);
        if (mode instanceof CommFusionMode.Size s) {
            return Math.max(1, s.bucketBytes());
        }
        if (mode instanceof CommFusionMode.Auto a) {
            return a.bucketBytes();
        }
        return Long.MAX_VALUE;
    }
}
