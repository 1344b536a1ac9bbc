package io.tessera.planner.cost;

import java.util.Arrays;

/**
 * The rows each expert and each expert-parallel rank of one mixture-of-experts layer computes, from a routing
 * distribution (the share of token slots each expert receives, {@link io.tessera.planner.strategy.Routing#weights}).
 * Immutable.
 *
 * <p>The {@code tokens} are cut into {@code groups} groups of {@code T / G} tokens, each offering
 * {@code S = (T / G) * k} slots. Expert {@code i} is asked for {@code a_i = S * w_i} rows per group, except that no
 * expert can get more than the group's {@code T / G} tokens (a token picks an expert at most once): the slots an
 * expert at that bound cannot take go to the others in proportion to their shares (water-filling). With a capacity
 * factor expert {@code i} computes {@code min(a_i, C)} rows per group (the excess is dropped); dropless, all
 * {@code a_i}. Over the groups expert {@code i} computes {@code rows_i = G * min(a_i, C)} (fractional rows: an
 * expectation). The experts are assigned to the
 * {@code degree} expert-parallel ranks in contiguous blocks of {@code E / degree}, as the planner splits the expert
 * dimension; rank {@code r} computes the sum of its block's rows, and the busiest rank bounds the layer (its
 * AllToAll receives the most, its grouped GEMMs run longest).
 *
 * @param experts         E, at least 1
 * @param degree          the expert-parallel degree, dividing E
 * @param groups          G, at least 1
 * @param tokens          T, a multiple of G
 * @param topK            k, in {@code [1, E]}
 * @param capacityFactor  0 for dropless, else the factor that set {@code capacity}
 * @param capacity        C, the buffer's rows per (group, expert): {@code T / G} when dropless
 * @param expertRows      per expert, the rows it computes over all groups
 */
public record ExpertLoad(int experts, int degree, int groups, long tokens, int topK, double capacityFactor,
                         long capacity, double[] expertRows) {

    /** Validates the sizes and copies the rows. */
    public ExpertLoad {
        if (experts < 1 || degree < 1 || experts % degree != 0 || groups < 1 || tokens < groups || topK < 1
                || topK > experts || capacity < 1 || expertRows == null || expertRows.length != experts) {
            throw new IllegalArgumentException("expert load: found " + experts + " experts, degree " + degree
                    + ", " + groups + " groups, " + tokens + " tokens, top-" + topK + ", capacity " + capacity
                    + "; expected the degree to divide the experts, 1 <= k <= experts, tokens >= groups >= 1,"
                    + " capacity >= 1 and one row count per expert");
        }
        expertRows = expertRows.clone();
    }

    /**
     * The load of one layer under the shares {@code weights} (one per expert, summing to 1).
     *
     * @throws IllegalArgumentException when the sizes are inconsistent (see the record)
     */
    public static ExpertLoad of(double[] weights, int degree, int groups, long tokens, int topK,
                                double capacityFactor, long capacity) {
        int e = weights.length;
        double perGroup = (double) (tokens / Math.max(1, groups));
        double[] asked = waterFill(weights, perGroup * topK, perGroup);
        double[] rows = new double[e];
        for (int i = 0; i < e; i++) {
            rows[i] = groups * (capacityFactor > 0 ? Math.min(asked[i], capacity) : asked[i]);
        }
        return new ExpertLoad(e, degree, groups, tokens, topK, capacityFactor, capacity, rows);
    }

    /**
     * The slots per expert of one group: {@code slots} shared in proportion to {@code weights}, no expert above
     * {@code most} (a token picks an expert at most once, so an expert gets at most the group's tokens); what a full
     * expert cannot take goes to the others in proportion to their weights, repeatedly.
     */
    static double[] waterFill(double[] weights, double slots, double most) {
        int e = weights.length;
        double[] out = new double[e];
        boolean[] full = new boolean[e];
        double left = slots;
        while (left > 1e-12) {
            double w = 0;
            for (int i = 0; i < e; i++) {
                w += full[i] ? 0 : weights[i];
            }
            if (w <= 0) {
                break;
            }
            boolean capped = false;
            for (int i = 0; i < e; i++) {
                if (!full[i] && left * weights[i] / w > most - out[i] + 1e-12) {
                    full[i] = true;
                    capped = true;
                }
            }
            if (!capped) {
                for (int i = 0; i < e; i++) {
                    out[i] += full[i] ? 0 : left * weights[i] / w;
                }
                break;
            }
            left = slots;
            for (int i = 0; i < e; i++) {
                if (full[i]) {
                    out[i] = most;
                    left -= most;
                } else {
                    out[i] = 0;
                }
            }
        }
        return out;
    }

    /** A copy of the rows per expert over all groups. */
    @Override
    public double[] expertRows() {
        return expertRows.clone();
    }

    /** Experts per expert-parallel rank, {@code E / degree}. */
    public int localExperts() {
        return experts / degree;
    }

    /** Per expert-parallel rank, the rows of its block of experts. */
    public double[] rankRows() {
        int l = localExperts();
        double[] out = new double[degree];
        for (int i = 0; i < experts; i++) {
            out[i / l] += expertRows[i];
        }
        return out;
    }

    /** The expert-parallel rank with the most rows (the first among equals). */
    public int busiestRank() {
        double[] r = rankRows();
        int best = 0;
        for (int i = 1; i < r.length; i++) {
            if (r[i] > r[best]) {
                best = i;
            }
        }
        return best;
    }

    /** The rows of each expert of the busiest rank, in expert order. */
    public double[] busiestExpertRows() {
        int l = localExperts();
        return Arrays.copyOfRange(expertRows, busiestRank() * l, busiestRank() * l + l);
    }

    /** The busiest rank's rows. */
    public double busiestRows() {
        return rankRows()[busiestRank()];
    }

    /** The rows a rank's share of the buffer holds: {@code E / degree * G * C}. */
    public double bufferRows() {
        return (double) localExperts() * groups * capacity;
    }

    /** The busiest rank's rows over its buffer rows, in {@code [0, 1]}: the share of the buffer really used. */
    public double loadedFraction() {
        return busiestRows() / bufferRows();
    }

    /** The busiest rank's rows over the mean rank's: 1 when balanced. */
    public double imbalance() {
        double sum = 0;
        for (double r : expertRows) {
            sum += r;
        }
        return sum > 0 ? busiestRows() * degree / sum : 1;
    }

    /** The share of the {@code T * k} token slots dropped at capacity (0 when dropless or under capacity). */
    public double droppedFraction() {
        double sum = 0;
        for (double r : expertRows) {
            sum += r;
        }
        return Math.max(0, 1 - sum / ((double) tokens * topK));
    }
}
