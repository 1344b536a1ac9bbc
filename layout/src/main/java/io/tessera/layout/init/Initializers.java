package io.tessera.layout.init;

import io.tessera.layout.DType;
import io.tessera.layout.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Creating initializers by name and lazy tensors (MindSpore's {@code initializer(init, shape, dtype)}), and the
 * global seed ({@code mindspore.set_seed}).
 *
 * <p><b>Seeds.</b> A {@link LazyTensor} captures its seed when created: the initializer's explicit seed if it has
 * one, else the next seed derived from the global seed and a counter of random initializers created since the last
 * {@link #setSeed} (SplitMix64 steps from the global seed). So two initializers created after {@code setSeed(1)}
 * differ, and re-running the same sequence reproduces both. The default global seed, before any {@code setSeed},
 * is {@value #DEFAULT_GLOBAL_SEED}, so results are reproducible by default too. Deterministic initializers
 * (Zero, One, Constant, Identity, Dirac, a Tensor) do not advance the counter.
 */
public final class Initializers {

    /** The global seed in effect before any {@link #setSeed} call. */
    public static final long DEFAULT_GLOBAL_SEED = 0L;

    private static final Map<String, Supplier<Initializer>> BY_NAME = new LinkedHashMap<>();

    static {
        BY_NAME.put("zero", Zero::new);
        BY_NAME.put("zeros", Zero::new);
        BY_NAME.put("one", One::new);
        BY_NAME.put("ones", One::new);
        BY_NAME.put("constant", () -> new Constant(0.0));
        BY_NAME.put("normal", Normal::new);
        BY_NAME.put("truncatednormal", TruncatedNormal::new);
        BY_NAME.put("uniform", Uniform::new);
        BY_NAME.put("xavieruniform", XavierUniform::new);
        BY_NAME.put("xaviernormal", XavierNormal::new);
        BY_NAME.put("heuniform", HeUniform::new);
        BY_NAME.put("henormal", HeNormal::new);
        BY_NAME.put("identity", Identity::new);
        BY_NAME.put("eye", Identity::new);
        BY_NAME.put("dirac", Dirac::new);
        BY_NAME.put("orthogonal", Orthogonal::new);
    }

    private static long globalSeed = DEFAULT_GLOBAL_SEED;
    private static long counter;

    private Initializers() {
    }

    /**
     * The built-in initializer of that name with its MindSpore defaults. Case-insensitive, underscores ignored:
     * {@code "ones"}, {@code "Ones"}, {@code "zeros"}, {@code "normal"}, {@code "TruncatedNormal"},
     * {@code "uniform"}, {@code "xavier_uniform"}, {@code "XavierNormal"}, {@code "he_uniform"},
     * {@code "HeNormal"}, {@code "identity"}, {@code "dirac"}, {@code "orthogonal"}, {@code "constant"} (value 0).
     *
     * @throws IllegalArgumentException for an unknown name, listing the valid names
     */
    public static Initializer byName(String name) {
        String key = name == null ? "" : name.trim().toLowerCase(Locale.ROOT).replace("_", "");
        Supplier<Initializer> s = BY_NAME.get(key);
        if (s == null) {
            throw new IllegalArgumentException("initializer: unknown name '" + name + "'; expected one of "
                    + String.join(", ", names()) + " (case-insensitive, underscores ignored)");
        }
        return s.get();
    }

    /** The accepted initializer names, lower case, in a stable order (aliases included). */
    public static List<String> names() {
        return List.copyOf(BY_NAME.keySet());
    }

    /** A lazy tensor of the named initializer (see {@link #byName}). */
    public static LazyTensor initializer(String name, long[] shape, DType dtype) {
        return initializer(byName(name), shape, dtype);
    }

    /** A lazy tensor of {@code init}; its seed is captured now (see the class comment). */
    public static LazyTensor initializer(Initializer init, long[] shape, DType dtype) {
        if (init == null) {
            throw new IllegalArgumentException("initializer: init is null; expected a name, an Initializer,"
                    + " a Tensor or a number");
        }
        return new LazyTensor(init, shape, dtype, seedFor(init));
    }

    /**
     * A lazy tensor taking its values from {@code tensor} (converted to {@code dtype}).
     *
     * @throws IllegalArgumentException when {@code shape} differs from the tensor's shape
     */
    public static LazyTensor initializer(Tensor tensor, long[] shape, DType dtype) {
        return initializer(new FromTensor(tensor), shape, dtype);
    }

    /** A lazy tensor filled with {@code value} ({@link Constant}). */
    public static LazyTensor initializer(Number value, long[] shape, DType dtype) {
        if (value == null) {
            throw new IllegalArgumentException("initializer: value is null; expected a number");
        }
        return initializer(new Constant(value.doubleValue()), shape, dtype);
    }

    /**
     * A lazy tensor from any accepted init: a {@link String} name, an {@link Initializer}, a {@link Tensor} or a
     * {@link Number}.
     *
     * @throws IllegalArgumentException for any other type
     */
    public static LazyTensor initializer(Object init, long[] shape, DType dtype) {
        if (init instanceof String) {
            return initializer((String) init, shape, dtype);
        }
        if (init instanceof Initializer) {
            return initializer((Initializer) init, shape, dtype);
        }
        if (init instanceof Tensor) {
            return initializer((Tensor) init, shape, dtype);
        }
        if (init instanceof Number) {
            return initializer((Number) init, shape, dtype);
        }
        throw new IllegalArgumentException("initializer: init is "
                + (init == null ? "null" : "a " + init.getClass().getSimpleName())
                + "; expected a String name, an Initializer, a Tensor or a Number");
    }

    /**
     * Sets the global seed (like {@code mindspore.set_seed}) and restarts the sequence of derived seeds.
     * Default before any call: {@value #DEFAULT_GLOBAL_SEED}.
     */
    public static synchronized void setSeed(long seed) {
        globalSeed = seed;
        counter = 0;
    }

    /** The current global seed. */
    public static synchronized long globalSeed() {
        return globalSeed;
    }

    /** The seed a new lazy tensor of {@code init} gets: explicit, derived (random) or the global seed. */
    private static synchronized long seedFor(Initializer init) {
        if (init.explicitSeed().isPresent()) {
            return init.explicitSeed().getAsLong();
        }
        if (!init.isRandom()) {
            return globalSeed;
        }
        counter++;
        return derived(globalSeed, counter);
    }

    /** The {@code k}-th derived seed (from 1) after {@code setSeed(global)}. */
    private static long derived(long global, long k) {
        return Generation.mix(global + k * Generation.GOLDEN);
    }

    /**
     * A sequence of derived seeds of its own, starting from the current global seed: its {@code k}-th random
     * initializer gets the seed the {@code k}-th random initializer after {@code setSeed(globalSeed())} gets, whatever
     * other code creates meanwhile. A network builder uses one, so that the same network description gives the same
     * parameter values however many initializers the program created before (in one JVM, a user's test suite
     * builds many networks). Not thread-safe.
     */
    public static SeedSequence seedSequence() {
        return new SeedSequence(globalSeed());
    }

    /** Derived seeds independent of the global counter; see {@link #seedSequence()}. */
    public static final class SeedSequence {
        private final long global;
        private long counter;

        private SeedSequence(long global) {
            this.global = global;
        }

        /** As {@link Initializers#initializer(Initializer, long[], DType)}, taking the seed from this sequence. */
        public LazyTensor initializer(Initializer init, long[] shape, DType dtype) {
            if (init == null) {
                throw new IllegalArgumentException("initializer: init is null; expected a name, an Initializer,"
                        + " a Tensor or a number");
            }
            long seed;
            if (init.explicitSeed().isPresent()) {
                seed = init.explicitSeed().getAsLong();
            } else if (!init.isRandom()) {
                seed = global;
            } else {
                counter++;
                seed = derived(global, counter);
            }
            return new LazyTensor(init, shape, dtype, seed);
        }

        /** As {@link Initializers#initializer(String, long[], DType)}, taking the seed from this sequence. */
        public LazyTensor initializer(String name, long[] shape, DType dtype) {
            return initializer(byName(name), shape, dtype);
        }
    }
}
