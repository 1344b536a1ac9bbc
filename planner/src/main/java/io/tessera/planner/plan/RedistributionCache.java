package io.tessera.planner.plan;

import io.tessera.layout.DType;
import io.tessera.layout.Layout;
import io.tessera.layout.redistribution.Redistribution;
import io.tessera.layout.redistribution.RedistributionPlan;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Redistribution plans by (source layout, target layout, dtype), shared by several plannings of one network (the
 * complete plans a strategy search evaluates, in parallel): each pair is planned once. Thread-safe; it keeps every
 * plan it made, so give it the lifetime of one search.
 */
public final class RedistributionCache {

    private record Key(Layout from, Layout to, DType dtype) {
    }

    private final Map<Key, RedistributionPlan> plans = new ConcurrentHashMap<>();

    private RedistributionCache() {
    }

    /** An empty cache. */
    public static RedistributionCache create() {
        return new RedistributionCache();
    }

    /** {@link Redistribution#plan} of the pair, made once. */
    public RedistributionPlan plan(Layout from, Layout to, DType dtype) {
        return plans.computeIfAbsent(new Key(from, to, dtype), k -> Redistribution.plan(from, to, dtype));
    }

    /** How many plans it holds. */
    public int size() {
        return plans.size();
    }
}
