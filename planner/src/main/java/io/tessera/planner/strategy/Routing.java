package io.tessera.planner.strategy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * How a mixture of experts routes its tokens, for the analytic cost model: the strategy file's optional
 * {@code routing} section. Each token slot (a token's choice among its top-k) goes to expert {@code i} with
 * probability {@code weights(E)[i]}; the cost model turns that into rows per expert and per expert-parallel rank.
 * <ul>
 *   <li>{@code {"distribution": "uniform"}} (the default): every expert {@code 1 / E};</li>
 *   <li>{@code {"distribution": "skew", "skew": s}}: Zipf-like, expert {@code i} proportional to
 *       {@code 1 / (i + 1)^s}, {@code s >= 0} ({@code 0} is uniform);</li>
 *   <li>{@code {"distribution": "histogram", "tokens": [n_0, ..., n_{E-1}]}}: recorded per-expert token counts,
 *       normalised (non-negative, not all zero, one per expert).</li>
 * </ul>
 * Immutable; errors are one line naming the field, the value found and what was expected.
 */
public sealed interface Routing permits Routing.Uniform, Routing.Skew, Routing.Histogram {

    /** The keys a {@code routing} section accepts. */
    List<String> KEYS = List.of("distribution", "skew", "tokens");

    /** Every expert gets the same share of the token slots. */
    record Uniform() implements Routing {
    }

    /**
     * Zipf-like skew: expert {@code i} gets a share proportional to {@code 1 / (i + 1)^skew}.
     *
     * @param skew the exponent, finite and {@code >= 0}; 0 is uniform
     */
    record Skew(double skew) implements Routing {
        /** Validates the exponent. */
        public Skew {
            if (!(skew >= 0) || Double.isInfinite(skew)) {
                throw new IllegalArgumentException("routing.skew: found " + skew + "; expected a finite number >= 0"
                        + " (0 is uniform, 1 is Zipf)");
            }
        }
    }

    /**
     * A recorded histogram: expert {@code i} gets {@code tokens[i] / sum(tokens)}.
     *
     * @param tokens the per-expert token counts, each {@code >= 0}, not all 0, at least one
     */
    record Histogram(long[] tokens) implements Routing {
        /** Validates and copies the counts. */
        public Histogram {
            if (tokens == null || tokens.length == 0) {
                throw new IllegalArgumentException("routing.tokens: found " + (tokens == null ? "null" : "[]")
                        + "; expected one token count per expert, e.g. [120, 80, 64, 40, 30, 20, 10, 4]");
            }
            tokens = tokens.clone();
            long sum = 0;
            for (int i = 0; i < tokens.length; i++) {
                if (tokens[i] < 0) {
                    throw new IllegalArgumentException("routing.tokens[" + i + "]: found " + tokens[i]
                            + "; expected a token count >= 0");
                }
                sum += tokens[i];
            }
            if (sum == 0) {
                throw new IllegalArgumentException("routing.tokens: found all " + tokens.length + " counts 0; "
                        + "expected at least one expert with tokens");
            }
        }

        /** A copy of the counts. */
        @Override
        public long[] tokens() {
            return tokens.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Histogram h && Arrays.equals(tokens, h.tokens);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(tokens);
        }

        @Override
        public String toString() {
            return "Histogram" + Arrays.toString(tokens);
        }
    }

    /** The default: uniform routing. */
    static Routing uniform() {
        return new Uniform();
    }

    /** Zipf-like routing with exponent {@code s}. */
    static Routing skew(double s) {
        return new Skew(s);
    }

    /** Routing following the recorded per-expert counts. */
    static Routing histogram(long... tokens) {
        return new Histogram(tokens);
    }

    /**
     * Each expert's share of the token slots, summing to 1.
     *
     * @param experts the number of experts E, at least 1
     * @throws IllegalArgumentException when a histogram does not have one count per expert (one line)
     */
    default double[] weights(int experts) {
        if (experts < 1) {
            throw new IllegalArgumentException("routing: found " + experts + " experts; expected at least 1");
        }
        double[] w = new double[experts];
        if (this instanceof Skew s) {
            for (int i = 0; i < experts; i++) {
                w[i] = 1.0 / Math.pow(i + 1, s.skew());
            }
        } else if (this instanceof Histogram h) {
            if (h.tokens.length != experts) {
                throw new IllegalArgumentException("routing.tokens: found " + h.tokens.length + " counts; "
                        + "expected one per expert, " + experts + " (the network's experts)");
            }
            for (int i = 0; i < experts; i++) {
                w[i] = h.tokens[i];
            }
        } else {
            Arrays.fill(w, 1.0);
        }
        double sum = 0;
        for (double x : w) {
            sum += x;
        }
        for (int i = 0; i < experts; i++) {
            w[i] /= sum;
        }
        return w;
    }

    /** A short description: {@code uniform}, {@code skew 1.5}, {@code histogram of 8 experts}. */
    default String describe() {
        if (this instanceof Skew s) {
            return "skew " + format(s.skew());
        }
        return this instanceof Histogram h ? "histogram of " + h.tokens.length + " experts" : "uniform";
    }

    /** The section as the strategy file writes it. */
    default ObjectNode toJson() {
        ObjectNode o = Json.object();
        if (this instanceof Skew s) {
            o.put("distribution", "skew");
            o.put("skew", s.skew());
        } else if (this instanceof Histogram h) {
            o.put("distribution", "histogram");
            o.set("tokens", Json.toArray(h.tokens));
        } else {
            o.put("distribution", "uniform");
        }
        return o;
    }

    /**
     * Parses a {@code routing} section at JSON path {@code path}.
     *
     * @throws IllegalArgumentException one line naming the field, the value found and what was expected
     */
    static Routing parse(JsonNode n, String path) {
        ObjectNode o = Json.object(n, path, KEYS, List.of("distribution"));
        String d = Json.string(o.get("distribution"), Json.child(path, "distribution"),
                "one of uniform, skew, histogram");
        String kind = d.trim().toLowerCase(Locale.ROOT);
        boolean skew = kind.equals("skew");
        boolean histogram = kind.equals("histogram");
        if (!skew && !histogram && !kind.equals("uniform")) {
            throw Json.found(Json.child(path, "distribution"), o.get("distribution"),
                    "one of uniform, skew, histogram");
        }
        if (o.has("skew") && !skew) {
            throw Json.error(Json.child(path, "skew"), "given for distribution '" + kind + "'; expected it only with "
                    + "\"distribution\": \"skew\" (remove it)");
        }
        if (o.has("tokens") && !histogram) {
            throw Json.error(Json.child(path, "tokens"), "given for distribution '" + kind + "'; expected it only "
                    + "with \"distribution\": \"histogram\" (remove it)");
        }
        if (skew) {
            JsonNode s = o.get("skew");
            if (s == null || !s.isNumber() || !(s.doubleValue() >= 0) || Double.isInfinite(s.doubleValue())) {
                throw Json.found(Json.child(path, "skew"), s, "a number >= 0 (0 is uniform, 1 is Zipf)");
            }
            return new Skew(s.doubleValue());
        }
        if (histogram) {
            JsonNode t = o.get("tokens");
            String tp = Json.child(path, "tokens");
            if (t == null || !t.isArray() || t.isEmpty()) {
                throw Json.found(tp, t, "a non-empty array of per-expert token counts, e.g. [120, 80, 64, 40]");
            }
            long[] tokens = Json.longs(t, tp, Long.MIN_VALUE, "an array of token counts");
            for (int i = 0; i < tokens.length; i++) {
                if (tokens[i] < 0) {
                    throw Json.found(Json.index(tp, i), t.get(i), "a token count >= 0");
                }
            }
            if (Arrays.stream(tokens).allMatch(x -> x == 0)) {
                throw Json.error(tp, "found all " + tokens.length + " counts 0; expected at least one expert with "
                        + "tokens");
            }
            return new Histogram(tokens);
        }
        return new Uniform();
    }

    private static String format(double x) {
        return x == Math.rint(x) && Math.abs(x) < 1e15 ? String.format(Locale.ROOT, "%.1f", x)
                : String.format(Locale.ROOT, "%s", x);
    }
}
