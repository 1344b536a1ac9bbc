package io.tessera.layout.redistribution;

/** The reduction of an AllReduce or ReduceScatter. */
public enum ReduceOp {
    /** Element-wise sum. */
    SUM,
    /** Element-wise sum divided by the group size. */
    MEAN,
    /** Element-wise maximum. */
    MAX,
    /** Element-wise minimum. */
    MIN;

    /** The JSON name, e.g. {@code sum}. */
    public String jsonName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
