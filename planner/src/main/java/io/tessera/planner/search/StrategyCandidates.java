package io.tessera.planner.search;

import io.tessera.planner.op.Operator;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.op.TensorType;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.ToDoubleFunction;

/**
 * The in_strategies the search considers for one operator on {@code N} devices.
 *
 * <p>Enumeration: for each input, every tuple whose values are divisors of {@code N} (powers of two when {@code N} is
 * one) that divide their dimension, with a product dividing {@code N} and at most {@link #MAX_SPLIT_DIMS} dimensions
 * split (the Megatron, data-parallel and hybrid strategies of the zoo split at most two dimensions of a tensor; the
 * limit keeps four-dimensional BatchMatMul inputs from producing about a million combinations). The cartesian
 * product over inputs (or the operator's own {@link Operator#searchCandidates} from them) is then filtered by the
 * operator's own rule ({@link Operator#shard}; a strategy it rejects with
 * {@link IllegalArgumentException} is dropped). The operator's data-parallel strategy always comes first.
 *
 * <p>Cap: {@link #best} keeps the {@code cap} strategies of least score (the search scores a strategy by its own
 * compute plus communication seconds, a heuristic blind to redistribution), ties in enumeration order, and always
 * keeps the data-parallel strategy.
 */
public final class StrategyCandidates {

    /** The most dimensions of one tensor a candidate splits. */
    public static final int MAX_SPLIT_DIMS = 2;

    /** The default cap of candidates per operator. */
    public static final int DEFAULT_CAP = 64;

    private StrategyCandidates() {
    }

    /**
     * Every valid in_strategy of {@code op} on {@code devices} devices (see the class comment), data parallel first.
     *
     * @param name    the operator's name, for the rule's messages
     * @param op      the operator
     * @param inputs  its input types
     * @param devices the number of devices, at least 1
     * @throws IllegalArgumentException when {@code devices} is below 1
     */
    public static List<Strategy> valid(String name, Operator op, List<TensorType> inputs, int devices) {
        if (devices < 1) {
            throw new IllegalArgumentException("strategy candidates: devices is " + devices + "; expected at least 1");
        }
        List<List<int[]>> perInput = new ArrayList<>();
        for (TensorType t : inputs) {
            List<int[]> tuples = new ArrayList<>();
            tuples(t, devices, 0, new int[t.rank()], 1, 0, tuples);
            perInput.add(tuples);
        }
        Set<Strategy> out = new LinkedHashSet<>();
        Strategy dp = op.dataParallel(inputs, devices);
        if (accepts(name, op, inputs, dp, devices)) {
            out.add(dp);
        }
        java.util.function.Consumer<Strategy> sink = s -> {
            if (!out.contains(s) && accepts(name, op, inputs, s, devices)) {
                out.add(s);
            }
        };
        List<Strategy> own = op.searchCandidates(perInput);
        if (own == null) {
            product(perInput, 0, new int[inputs.size()][], sink);
        } else {
            own.forEach(sink);
        }
        return new ArrayList<>(out);
    }

    /**
     * The {@code cap} valid strategies of least {@code score}, the data-parallel strategy always kept (first when
     * valid), the rest by ascending score, ties in enumeration order.
     *
     * @throws IllegalArgumentException when {@code cap} is below 1
     */
    public static List<Strategy> best(String name, Operator op, List<TensorType> inputs, int devices, int cap,
                                      ToDoubleFunction<Strategy> score) {
        if (cap < 1) {
            throw new IllegalArgumentException("strategy candidates: cap is " + cap + "; expected at least 1");
        }
        return select(valid(name, op, inputs, devices), op.dataParallel(inputs, devices), cap, score);
    }

    /**
     * {@link #best} of an enumeration already made: the {@code cap} strategies of {@code all} of least
     * {@code score}, {@code dataParallel} always kept (first when among them), the rest by ascending score, ties in
     * the order of {@code all}; {@code all} itself when it has at most {@code cap}.
     *
     * @throws IllegalArgumentException when {@code cap} is below 1
     */
    public static List<Strategy> select(List<Strategy> all, Strategy dataParallel, int cap,
                                        ToDoubleFunction<Strategy> score) {
        if (cap < 1) {
            throw new IllegalArgumentException("strategy candidates: cap is " + cap + "; expected at least 1");
        }
        if (all.size() <= cap) {
            return all;
        }
        Strategy dp = dataParallel;
        List<Strategy> rest = new ArrayList<>(all);
        boolean keepDp = rest.remove(dp);
        List<double[]> scored = new ArrayList<>();
        for (int i = 0; i < rest.size(); i++) {
            scored.add(new double[] {score.applyAsDouble(rest.get(i)), i});
        }
        scored.sort(Comparator.<double[]>comparingDouble(a -> a[0]).thenComparingDouble(a -> a[1]));
        List<Strategy> out = new ArrayList<>();
        if (keepDp) {
            out.add(dp);
        }
        for (double[] s : scored) {
            if (out.size() >= cap) {
                break;
            }
            out.add(rest.get((int) s[1]));
        }
        return out;
    }

    private static boolean accepts(String name, Operator op, List<TensorType> inputs, Strategy s, int devices) {
        try {
            op.shard(name, inputs, s, null, devices);
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    private static void tuples(TensorType t, int devices, int dim, int[] cur, int product, int splitDims,
                               List<int[]> out) {
        if (dim == cur.length) {
            out.add(cur.clone());
            return;
        }
        for (int d = 1; d <= devices / product; d++) {
            if (devices / product % d != 0 || t.dim(dim) % d != 0 || (d > 1 && splitDims >= MAX_SPLIT_DIMS)) {
                continue;
            }
            cur[dim] = d;
            tuples(t, devices, dim + 1, cur, product * d, splitDims + (d > 1 ? 1 : 0), out);
        }
    }

    private static void product(List<List<int[]>> perInput, int i, int[][] cur,
                                java.util.function.Consumer<Strategy> sink) {
        if (i == perInput.size()) {
            sink.accept(Strategy.of(cur));
            return;
        }
        for (int[] t : perInput.get(i)) {
            cur[i] = t;
            product(perInput, i + 1, cur, sink);
        }
    }
}
