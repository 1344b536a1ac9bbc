package io.tessera.planner.op;

/**
 * The causal load balance of context parallelism (Megatron-LM's order, the {@code load_balance} attribute of
 * {@link FlashAttention} and {@link Rope}): with {@code c} chunks pairs, a sequence of {@code s} tokens is cut into
 * {@code 2c} chunks of {@code m = s / (2c)} tokens, and the tensor's sequence index {@code i} holds the token of
 * position {@link #position}: stored block {@code b = i / m} holds chunk {@code r = b / 2} when {@code b} is even and
 * chunk {@code 2c - 1 - r} when odd, so that a split of the sequence into {@code c} equal slices gives rank
 * {@code r} chunks {@code r} and {@code 2c - 1 - r}, the same causal work on every rank. {@code c = 1} is the natural
 * order ({@code position(i) = i}). Also counts the (query, key) pairs a causal mask leaves visible to a slice of the
 * queries ({@link #visiblePairs}), the work of a rank.
 */
public final class LoadBalance {

    private LoadBalance() {
    }

    /**
     * Checks that {@code chunks} is positive and {@code 2 * chunks} divides the sequence length {@code seq}
     * (nothing to check for {@code chunks == 1}).
     *
     * @throws IllegalArgumentException one line naming the operator, the value and the fix
     */
    public static void check(String label, String what, long seq, int chunks) {
        if (chunks < 1) {
            throw new IllegalArgumentException(label + ": load_balance is " + chunks
                    + "; expected a positive number of chunk pairs (1, the default, keeps the natural order)");
        }
        if (chunks > 1 && seq % (2L * chunks) != 0) {
            throw new IllegalArgumentException(label + ": " + what + " has sequence length " + seq
                    + ", which 2 x load_balance = " + 2L * chunks + " chunks do not divide; choose a load_balance c"
                    + " with 2c dividing " + seq);
        }
    }

    /** The token position held at sequence index {@code i} of a sequence of {@code seq} with {@code chunks} pairs. */
    public static long position(long i, long seq, int chunks) {
        if (chunks == 1) {
            return i;
        }
        long m = seq / (2L * chunks);
        long b = i / m;
        long r = b / 2;
        long chunk = (b & 1) == 0 ? r : 2L * chunks - 1 - r;
        return chunk * m + i % m;
    }

    /**
     * The (query, key) pairs a causal mask leaves visible, per batch and head, for the queries at sequence indices
     * {@code [from, to)} against every key of the sequence (keys and queries in the same order): the sum over those
     * queries of {@code position + 1}, summed run by run (each stored block is a contiguous run of positions).
     */
    public static long visiblePairs(long from, long to, long seq, int chunks) {
        long m = chunks == 1 ? seq : seq / (2L * chunks);
        long sum = 0;
        long i = from;
        while (i < to) {
            long end = Math.min(to, (i / m + 1) * m);
            long p0 = position(i, seq, chunks);
            long n = end - i;
            // positions p0 .. p0 + n - 1, each seeing position + 1 keys
            sum += n * (p0 + 1) + n * (n - 1) / 2;
            i = end;
        }
        return sum;
    }
}
