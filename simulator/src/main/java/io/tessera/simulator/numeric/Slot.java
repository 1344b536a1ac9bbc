package io.tessera.simulator.numeric;

import io.tessera.simulator.array.NDArray;
import io.tessera.simulator.cluster.RankState;

import java.util.List;
import java.util.function.Predicate;

/**
 * A named place in a rank's memory ({@link RankState}) holding one array: the one place that builds slot names, e.g.
 * {@code act/h} for activation {@code h}. Its {@link #key()} is the name in the rank's state (which tests and
 * {@link Simulation#rank} expose), and its kind says how long the array lives. Immutable.
 *
 * @param kind what the slot holds
 * @param key  its name in the rank's state: the kind's prefix and the names it is made of
 */
record Slot(Kind kind, String key) {

    /** What a slot holds, by the prefix of its key. */
    enum Kind {
        /** A parameter's slice or optimizer shard; kept across steps. */
        PARAM("param/"),
        /** Optimizer state of a parameter (momentum, Adam moments); kept across steps. */
        OPTIMIZER_STATE("opt/"),
        /** The step's loss summed over its micro-batches. */
        LOSS_SUM("acc/"),
        /** A tensor as its producer leaves it (or a data input's slice). */
        ACTIVATION("act/"),
        /** An operator input in the layout the operator needs. */
        INPUT("in/"),
        /** An optimizer-parallel parameter's gathered model-parallel slice. */
        GATHERED("gathered/"),
        /** A partly carried Reshape's input gathered over its group. */
        RESHAPE_GATHERED("gin/"),
        /** A BatchNorm's statistics. */
        BATCH_STATS("bnstats/"),
        /** A BatchNorm's gradient statistics. */
        BATCH_GRAD_STATS("bngstats/"),
        /** The gradient of a tensor in its producer's layout (a parameter's: summed over the micro-batches). */
        GRADIENT("grad/"),
        /** The gathered gradient of a reduce-scattered output. */
        GATHERED_OUTPUT_GRADIENT("bgrad/"),
        /** The gradient of an operator's input, in that input's layout. */
        INPUT_GRADIENT("igrad/"),
        /** The sum of the gradients of the consumers sharing one redistribution, at its owner. */
        SHARED_GRADIENT("share/"),
        /** A parameter input's gradient summed over the earlier micro-batches, before its redistribution. */
        INPUT_GRADIENT_SUM("eacc/"),
        /** An input gradient returned to its producer's layout. */
        RETURNED_GRADIENT("back/"),
        /** Partial gradients of one tensor waiting for their (once per step) reduction over one set of groups. */
        PENDING("pend/"),
        /** A sharded parameter's gradient summed before its ReduceScatter. */
        SHARD_GRADIENT_SUM("gacc/"),
        /** A sharded parameter's reduce-scattered gradient shard. */
        SHARD_GRADIENT("gshard/"),
        /** A ring-attention buffer of an operator: the key/value block in hand, its gradients, the running result. */
        RING("ring/");

        private final String prefix;

        Kind(String prefix) {
            this.prefix = prefix;
        }

        /** The kind of slot {@code key}, or null when no kind's prefix starts it. */
        static Kind of(String key) {
            for (Kind k : values()) {
                if (key.startsWith(k.prefix)) {
                    return k;
                }
            }
            return null;
        }
    }

    /** Validates that the key starts with its kind's prefix. */
    Slot {
        if (kind == null || key == null || !key.startsWith(kind.prefix) || key.length() == kind.prefix.length()) {
            throw new IllegalArgumentException("slot '" + key + "' of kind " + kind + ": expected a key '"
                    + (kind == null ? "?" : kind.prefix) + "<name>'; build slots with Slot's factories");
        }
    }

    private static Slot of(Kind kind, String... parts) {
        return new Slot(kind, kind.prefix + String.join("/", parts));
    }

    /** Parameter {@code name}'s slice (or optimizer shard). */
    static Slot param(String name) {
        return of(Kind.PARAM, name);
    }

    /** Optimizer state {@code moment} (e.g. {@code v}) of parameter {@code name}. */
    static Slot optimizerState(String name, String moment) {
        return of(Kind.OPTIMIZER_STATE, name, moment);
    }

    /** The step's loss summed over the micro-batches. */
    static Slot lossSum() {
        return of(Kind.LOSS_SUM, "loss");
    }

    /** Tensor {@code tensor} as its producer leaves it. */
    static Slot activation(String tensor) {
        return of(Kind.ACTIVATION, tensor);
    }

    /** Input {@code input} of operator {@code op}, in the layout the operator needs. */
    static Slot input(String op, int input) {
        return of(Kind.INPUT, op, Integer.toString(input));
    }

    /** Ring-attention buffer {@code part} (e.g. {@code k}, {@code dk}, {@code out}) of operator {@code op}. */
    static Slot ring(String op, String part) {
        return of(Kind.RING, op, part);
    }

    /** Sharded parameter {@code param}'s gathered slice. */
    static Slot gathered(String param) {
        return of(Kind.GATHERED, param);
    }

    /** The gathered input of the partly carried Reshape {@code op}. */
    static Slot reshapeGathered(String op) {
        return of(Kind.RESHAPE_GATHERED, op);
    }

    /** The statistics of BatchNorm {@code op}. */
    static Slot batchStats(String op) {
        return of(Kind.BATCH_STATS, op);
    }

    /** The gradient statistics of BatchNorm {@code op}. */
    static Slot batchGradStats(String op) {
        return of(Kind.BATCH_GRAD_STATS, op);
    }

    /** The gradient of tensor {@code tensor} in its producer's layout. */
    static Slot gradient(String tensor) {
        return of(Kind.GRADIENT, tensor);
    }

    /** The gathered gradient of operator {@code op}'s reduce-scattered output. */
    static Slot gatheredOutputGradient(String op) {
        return of(Kind.GATHERED_OUTPUT_GRADIENT, op);
    }

    /** The gradient of input {@code input} of operator {@code op}, in that input's layout. */
    static Slot inputGradient(String op, int input) {
        return of(Kind.INPUT_GRADIENT, op, Integer.toString(input));
    }

    /** The summed gradients of the consumers sharing the redistribution of input {@code input} of {@code owner}. */
    static Slot sharedGradient(String owner, int input) {
        return of(Kind.SHARED_GRADIENT, owner, Integer.toString(input));
    }

    /** Input {@code input} of {@code op}'s gradient summed over the earlier micro-batches. */
    static Slot inputGradientSum(String op, int input) {
        return of(Kind.INPUT_GRADIENT_SUM, op, Integer.toString(input));
    }

    /** The gradient of input {@code input} of {@code op}, returned to its producer's layout. */
    static Slot returnedGradient(String op, int input) {
        return of(Kind.RETURNED_GRADIENT, op, Integer.toString(input));
    }

    /** The partial gradients of {@code tensor} waiting for their reduction over {@code groups}. */
    static Slot pending(String tensor, List<List<Integer>> groups) {
        return new Slot(Kind.PENDING, Kind.PENDING.prefix + tensor + "|" + groups.hashCode());
    }

    /** Sharded parameter {@code param}'s gradient sum before its ReduceScatter. */
    static Slot shardGradientSum(String param) {
        return of(Kind.SHARD_GRADIENT_SUM, param);
    }

    /** Sharded parameter {@code param}'s reduce-scattered gradient shard. */
    static Slot shardGradient(String param) {
        return of(Kind.SHARD_GRADIENT, param);
    }

    /** Whether the slot named {@code key} lives across steps: parameters and optimizer state. */
    static boolean persistent(String key) {
        Kind k = Kind.of(key);
        return k == Kind.PARAM || k == Kind.OPTIMIZER_STATE;
    }

    /**
     * Whether the slot named {@code key} lives across the micro-batches of a step: parameters, optimizer state and
     * gradient sums (a parameter's gradient and its pending partial sums included).
     */
    static boolean accumulated(String key, Predicate<String> isParameter) {
        Kind k = Kind.of(key);
        if (k == null) {
            return false;
        }
        return switch (k) {
            case PARAM, OPTIMIZER_STATE, SHARD_GRADIENT_SUM, INPUT_GRADIENT_SUM, LOSS_SUM -> true;
            case GRADIENT -> isParameter.test(key.substring(k.prefix.length()));
            case PENDING -> isParameter.test(key.substring(k.prefix.length(), key.lastIndexOf('|')));
            default -> false;
        };
    }

    /** The array in this slot of {@code s}. */
    NDArray get(RankState s) {
        return s.get(key);
    }

    /** The array in this slot of {@code s}, or null when the slot is empty. */
    NDArray getOrNull(RankState s) {
        return s.has(key) ? s.get(key) : null;
    }

    /** Puts {@code a} into this slot of {@code s}. */
    void put(RankState s, NDArray a) {
        s.put(key, a);
    }

    /** Empties this slot of {@code s}, returning what it held (or null). */
    NDArray remove(RankState s) {
        return s.remove(key);
    }

    /** Adds {@code g} to this slot of {@code s} (a copy of it when the slot is empty). */
    void add(RankState s, NDArray g) {
        NDArray cur = getOrNull(s);
        if (cur == null) {
            s.put(key, g.copy());
            return;
        }
        double[] a = cur.data();
        double[] b = g.data();
        if (a.length != b.length) {
            throw new IllegalStateException("rank " + s.rank() + ": cannot add a gradient of " + b.length
                    + " elements to '" + key + "' of " + a.length);
        }
        for (int i = 0; i < a.length; i++) {
            a[i] += b[i];
        }
    }

    /** The array in this slot of {@code s}, created as zeros shaped like {@code like} when the slot is empty. */
    NDArray getOrZeros(RankState s, NDArray like) {
        NDArray a = getOrNull(s);
        if (a == null) {
            a = NDArray.zeros(like.shape());
            s.put(key, a);
        }
        return a;
    }

    /** The key. */
    @Override
    public String toString() {
        return key;
    }
}
