package io.tessera.planner.plan;

import io.tessera.layout.comm.CollectiveKind;

import io.tessera.layout.comm.Phase;

import io.tessera.layout.DType;
import io.tessera.planner.strategy.CommFusionConfig;
import io.tessera.planner.strategy.CommFusionMode;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Groups a plan's gradient AllReduces and optimizer-parallel AllGathers / ReduceScatters into fusion buckets (spec §6):
 * communications of the same kind, phase, rank groups, dtype and {@code comm_fusion} id share a bucket, split by the
 * global {@code comm_fusion} mode of their kind: {@code auto} and {@code size} walk the communications in graph order
 * and start a new bucket when the running one would pass the threshold (64 MB for auto); {@code index} (AllReduce only)
 * starts a new bucket at each listed ordinal of the AllReduces in graph order. Id 0 is never fused. An AllGather
 * bucket (forward, or recomputed in backward) is issued at its first member, a reduction at its last.
 */
final class Fusion {

    private Fusion() {
    }

    private record Key(int stage, CollectiveKind kind, Phase phase, List<List<Integer>> groups, DType dtype, int fusionId) {
    }

    private static final class Open {
        final List<Integer> comms = new ArrayList<>();
        final List<String> members = new ArrayList<>();
        long bytes;
        int firstOrdinal;
    }

    static List<Bucket> buckets(List<Communication> comms, Map<String, ParamPlan> params, CommFusionConfig config) {
        return buckets(comms, params, config, p -> 0, c -> false);
    }

    /**
     * Buckets never mix parameters of different pipeline stages ({@code stageOf} by parameter name); communications
     * matching {@code unfused} (a gradient reduction of a consumer's redistributed slice, which runs before its
     * transposed redistribution) are left out of every bucket.
     */
    static List<Bucket> buckets(List<Communication> comms, Map<String, ParamPlan> params, CommFusionConfig config,
                                java.util.function.ToIntFunction<String> stageOf,
                                java.util.function.Predicate<Communication> unfused) {
        Map<CollectiveKind, Integer> ordinals = new java.util.EnumMap<>(CollectiveKind.class);
        // each key's buckets in order of creation; the open bucket is the last
        Map<Key, List<Open>> byKey = new LinkedHashMap<>();
        List<Open> all = new ArrayList<>();
        Map<Open, Key> keyOf = new java.util.IdentityHashMap<>();
        for (int i = 0; i < comms.size(); i++) {
            Communication c = comms.get(i);
            if (c.parameter() == null || (c.origin() != Communication.Origin.GRADIENT
                    && c.origin() != Communication.Origin.PARALLEL_OPTIMIZER) || unfused.test(c)) {
                continue;
            }
            ParamPlan p = params.get(c.parameter());
            long bytes = c.kind() == CollectiveKind.ALL_REDUCE && c.origin() == Communication.Origin.PARALLEL_OPTIMIZER
                    ? p.shardBytes() : p.sliceBytes();
            int ordinal = ordinals.merge(c.kind(), 1, Integer::sum) - 1;
            Key key = new Key(stageOf.applyAsInt(c.parameter()), c.kind(), c.phase(), c.groups(), p.dtype(), p.commFusion());
            List<Open> list = byKey.computeIfAbsent(key, k -> new ArrayList<>());
            Open open = list.isEmpty() ? null : list.get(list.size() - 1);
            if (open == null || startsNew(config.mode(c.kind()), p.commFusion(), open, bytes, ordinal)) {
                open = new Open();
                open.firstOrdinal = ordinal;
                list.add(open);
                all.add(open);
                keyOf.put(open, key);
            }
            open.comms.add(i);
            open.members.add(c.parameter());
            open.bytes += bytes;
        }
        all.sort((a, b) -> Integer.compare(a.comms.get(0), b.comms.get(0)));
        List<Bucket> out = new ArrayList<>();
        for (Open o : all) {
            Key k = keyOf.get(o);
            // an AllGather must complete before its first member is used; reductions wait for their last member
            int issued = k.kind() == CollectiveKind.ALL_GATHER ? o.comms.get(0) : o.comms.get(o.comms.size() - 1);
            out.add(new Bucket(out.size(), k.kind(), k.phase(), k.groups(), k.dtype(), k.fusionId(), o.members,
                    o.comms, o.bytes, issued));
        }
        return out;
    }

    private static boolean startsNew(CommFusionMode mode, int fusionId, Open open, long bytes, int ordinal) {
        if (fusionId == 0) {
            return true;
        }
        if (mode instanceof CommFusionMode.Index idx) {
            return segment(idx.indices(), ordinal) != segment(idx.indices(), open.firstOrdinal);
        }
        long threshold = mode instanceof CommFusionMode.Size s ? s.bucketBytes()
                : ((CommFusionMode.Auto) mode).bucketBytes();
        return !open.comms.isEmpty() && open.bytes + bytes > threshold;
    }

    /** The segment of {@code ordinal} among split points {@code indices} (ascending). */
    private static int segment(int[] indices, int ordinal) {
        int s = 0;
        for (int i : indices) {
            if (ordinal >= i) {
                s++;
            }
        }
        return s;
    }
}
