package io.tessera.layout;

import java.util.function.Supplier;

/**
 * The documented size limits that inputs are checked against cheaply before anything big is built or planned, and
 * checked arithmetic for sizes. Each limit has a default and is raised with the system property
 * {@code tessera.limits.<key>} (e.g. {@code -Dtessera.limits.layers=20000}), or lifted (up to its hard ceiling) for a
 * whole command with the CLI's {@code --allow-large}. A violation is an {@link IllegalArgumentException} with a
 * one-line message naming the key, the value found, the limit and how to raise it.
 */
public final class Limits {

    /** The system property prefix of a limit: {@code tessera.limits.} followed by its {@link Limit#key()}. */
    public static final String PROPERTY_PREFIX = "tessera.limits.";

    /** The CLI flag that lifts every limit to its hard ceiling. */
    public static final String ALLOW_LARGE = "--allow-large";

    private static final ThreadLocal<Boolean> ALLOW = ThreadLocal.withInitial(() -> false);

    private Limits() {
    }

    /** One documented limit: its key, default and hard ceiling (that no setting raises). */
    public enum Limit {
        /** Transformer layers of a zoo or Hugging Face network ({@code layers}, {@code n_layer}). */
        LAYERS("layers", 10_000, Integer.MAX_VALUE),
        /** Residual blocks of the zoo {@code resnet} ({@code blocks}). */
        BLOCKS("blocks", 10_000, Integer.MAX_VALUE),
        /** Operators of a network (zoo, Hugging Face or network file). */
        OPERATORS("operators", 1_000_000, Integer.MAX_VALUE),
        /** Devices of a strategy file ({@code plan}, analytic {@code simulate}). */
        DEVICES("devices", 1 << 20, Integer.MAX_VALUE),
        /** Ranks of a numeric simulation, all run in this process. */
        NUMERIC_RANKS("numeric_ranks", 4_096, 1 << 20),
        /** Elements of one tensor (its full shape). */
        TENSOR_ELEMENTS("tensor_elements", 1L << 40, Long.MAX_VALUE / 16),
        /** Elements of one rank's slice of a tensor in a numeric simulation (a Java array). */
        SLICE_ELEMENTS("slice_elements", 1 << 28, Integer.MAX_VALUE - 8),
        /** Model chunks per device of the interleaved pipeline ({@code --virtual-stages}). */
        VIRTUAL_STAGES("virtual_stages", 1_000, Integer.MAX_VALUE),
        /** Pipeline stages x micro-batches x virtual stages of an analytic pipeline timeline (its schedule slots). */
        PIPELINE_SLOTS("pipeline_slots", 10_000_000, Long.MAX_VALUE),
        /** Device-to-device transfers (devices x tensor slices) of a {@code layout redistribute} case. */
        REDISTRIBUTION_TRANSFERS("redistribution_transfers", 1 << 22, Integer.MAX_VALUE),
        /** Devices of {@code search}. */
        SEARCH_DEVICES("search_devices", 1 << 20, Integer.MAX_VALUE);

        private final String key;
        private final long defaultValue;
        private final long ceiling;

        Limit(String key, long defaultValue, long ceiling) {
            this.key = key;
            this.defaultValue = defaultValue;
            this.ceiling = ceiling;
        }

        /** The key: the suffix of the system property {@code tessera.limits.<key>}. */
        public String key() {
            return key;
        }

        /** The default value of the limit. */
        public long defaultValue() {
            return defaultValue;
        }

        /** The hard ceiling that neither the system property nor {@code --allow-large} raises the limit above. */
        public long ceiling() {
            return ceiling;
        }

        /** The system property raising this limit. */
        public String property() {
            return PROPERTY_PREFIX + key;
        }

        /**
         * The limit in force: the ceiling under {@code --allow-large}, else the system property when set (a positive
         * integer, capped at the ceiling), else the default.
         *
         * @throws IllegalArgumentException when the system property is not a positive integer
         */
        public long value() {
            if (ALLOW.get()) {
                return ceiling;
            }
            String p = System.getProperty(property());
            if (p == null) {
                return defaultValue;
            }
            long v;
            try {
                v = Long.parseLong(p.strip().replace("_", ""));
            } catch (NumberFormatException e) {
                v = -1;
            }
            if (v < 1) {
                throw new IllegalArgumentException("system property " + property() + " is '" + clip(p)
                        + "'; expected a positive integer");
            }
            return Math.min(v, ceiling);
        }

        /**
         * Checks {@code value} against this limit.
         *
         * @param what  what the value is, as the message names it, e.g. {@code zoo model 'gpt': layers}
         * @param value the value found
         * @throws IllegalArgumentException one line naming {@code what}, the value, the limit and how to raise it
         */
        public void check(String what, long value) {
            long limit = value();
            if (value > limit) {
                throw new IllegalArgumentException(what + " is " + value + "; the limit is " + limit + " ("
                        + key + ")" + howToRaise());
            }
        }

        /** How to raise this limit, as messages end: {@code "; raise it with ..."}, or empty at the ceiling. */
        public String howToRaise() {
            return value() >= ceiling ? "; this is the hard ceiling"
                    : "; raise it with -D" + property() + "=N or " + ALLOW_LARGE;
        }
    }

    /** Runs {@code body} with every limit at its ceiling when {@code allowLarge} (this thread only). */
    public static <T> T run(boolean allowLarge, Supplier<T> body) {
        boolean before = ALLOW.get();
        ALLOW.set(allowLarge || before);
        try {
            return body.get();
        } finally {
            ALLOW.set(before);
        }
    }

    /**
     * {@code a * b}, checked.
     *
     * @param what what the product is, as the message names it
     * @throws IllegalArgumentException one line naming {@code what} when the product overflows a long
     */
    public static long multiply(String what, long a, long b) {
        try {
            return Math.multiplyExact(a, b);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException(what + ": " + a + " x " + b + " overflows a 64-bit integer; "
                    + "use smaller sizes", e);
        }
    }

    /**
     * {@code a + b}, checked.
     *
     * @param what what the sum is, as the message names it
     * @throws IllegalArgumentException one line naming {@code what} when the sum overflows a long
     */
    public static long add(String what, long a, long b) {
        try {
            return Math.addExact(a, b);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException(what + ": " + a + " + " + b + " overflows a 64-bit integer; "
                    + "use smaller sizes", e);
        }
    }

    /**
     * The product of {@code dims}, checked against overflow and {@link Limit#TENSOR_ELEMENTS}.
     *
     * @param what the tensor, as the message names it, followed by the shape (e.g. {@code tensor type Float32})
     * @throws IllegalArgumentException one line naming {@code what} and the limit
     */
    public static long elements(String what, long... dims) {
        long v = 1;
        long limit = Limit.TENSOR_ELEMENTS.value();
        for (long d : dims) {
            if (d > 0 && v > limit / d) {
                throw new IllegalArgumentException(what + java.util.Arrays.toString(dims) + " has more than "
                        + limit + " elements, the limit (" + Limit.TENSOR_ELEMENTS.key() + ")"
                        + Limit.TENSOR_ELEMENTS.howToRaise());
            }
            v *= d;
        }
        return v;
    }

    private static String clip(String s) {
        return s.length() > 40 ? s.substring(0, 40) + "..." : s;
    }
}
