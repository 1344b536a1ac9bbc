package io.tessera.layout.param;

import java.util.Arrays;

/**
 * How a {@link Parameter} interacts with a parameter server or a federated-learning server, and its cache, as an
 * immutable value. Change one setting with its {@code withX} method; {@link #DEFAULT} holds MindSpore's defaults
 * (not PS-trained, initialised on the worker, not pushed or pulled, aggregated, cache disabled, empty cache shape).
 *
 * @param paramPs        whether the parameter is trained through a parameter server
 * @param initInServer   whether it is initialised (and updated) on the parameter server
 * @param pushToServer   whether it is pushed to the federated-learning server
 * @param pullFromServer whether it is pulled from the federated-learning server
 * @param requiresAggr   whether the federated-learning server aggregates it
 * @param cacheEnable    whether its cache is enabled
 * @param cacheShape     the cache shape; sizes &gt;= 0 (copied in and out)
 */
public record ParamServerSettings(boolean paramPs, boolean initInServer, boolean pushToServer,
        boolean pullFromServer, boolean requiresAggr, boolean cacheEnable, long[] cacheShape) {

    /** MindSpore's defaults. */
    public static final ParamServerSettings DEFAULT =
            new ParamServerSettings(false, false, false, false, true, false, new long[0]);

    /**
     * Validates and copies the cache shape.
     *
     * @throws IllegalArgumentException when the cache shape is null or has a negative size
     */
    public ParamServerSettings {
        if (cacheShape == null) {
            throw new IllegalArgumentException("cache_shape is null; expected a shape");
        }
        for (long d : cacheShape) {
            if (d < 0) {
                throw new IllegalArgumentException("cache_shape " + Arrays.toString(cacheShape)
                        + " has the negative size " + d + "; expected sizes >= 0");
            }
        }
        cacheShape = cacheShape.clone();
    }

    /** The cache shape (a copy). */
    @Override
    public long[] cacheShape() {
        return cacheShape.clone();
    }

    /** These settings trained through a parameter server, initialised on it when {@code initInServer}. */
    public ParamServerSettings withParamPs(boolean initInServer) {
        return new ParamServerSettings(true, initInServer, pushToServer, pullFromServer, requiresAggr, cacheEnable,
                cacheShape);
    }

    /**
     * These settings after MindSpore's {@code set_param_fl}: a true {@code push} or {@code pull} sets that flag, a
     * false {@code aggr} clears aggregation; the other values leave the flags as they are.
     */
    public ParamServerSettings withParamFl(boolean push, boolean pull, boolean aggr) {
        return new ParamServerSettings(paramPs, initInServer, pushToServer || push, pullFromServer || pull,
                requiresAggr && aggr, cacheEnable, cacheShape);
    }

    /** These settings with the cache enabled or disabled. */
    public ParamServerSettings withCacheEnable(boolean cacheEnable) {
        return new ParamServerSettings(paramPs, initInServer, pushToServer, pullFromServer, requiresAggr, cacheEnable,
                cacheShape);
    }

    /**
     * These settings with {@code cacheShape}.
     *
     * @throws IllegalArgumentException when the shape is null or has a negative size
     */
    public ParamServerSettings withCacheShape(long... cacheShape) {
        return new ParamServerSettings(paramPs, initInServer, pushToServer, pullFromServer, requiresAggr, cacheEnable,
                cacheShape);
    }

    /** Equal settings, the cache shape compared by content. */
    @Override
    public boolean equals(Object o) {
        return o instanceof ParamServerSettings s && paramPs == s.paramPs && initInServer == s.initInServer
                && pushToServer == s.pushToServer && pullFromServer == s.pullFromServer
                && requiresAggr == s.requiresAggr && cacheEnable == s.cacheEnable
                && Arrays.equals(cacheShape, s.cacheShape);
    }

    /** A hash consistent with {@link #equals}. */
    @Override
    public int hashCode() {
        return Arrays.hashCode(new boolean[] {paramPs, initInServer, pushToServer, pullFromServer, requiresAggr,
            cacheEnable}) * 31 + Arrays.hashCode(cacheShape);
    }

    /** The settings, the cache shape as a list. */
    @Override
    public String toString() {
        return "ParamServerSettings[paramPs=" + paramPs + ", initInServer=" + initInServer + ", pushToServer="
                + pushToServer + ", pullFromServer=" + pullFromServer + ", requiresAggr=" + requiresAggr
                + ", cacheEnable=" + cacheEnable + ", cacheShape=" + Arrays.toString(cacheShape) + "]";
    }
}
