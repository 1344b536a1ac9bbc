package io.tessera.layout.param;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.init.Initializer;
import io.tessera.layout.init.Initializers;
import io.tessera.layout.init.LazyTensor;
import io.tessera.layout.tensor.Tensor;

import java.util.List;
import java.util.Optional;

/**
 * A trainable (or not) variable tensor of a network, as MindSpore's {@code mindspore.Parameter}: a name, its data,
 * and the flags that parallel training reads ({@link ParamFlags}, {@link ParamServerSettings}). The data is either a
 * {@link Tensor} or a {@link LazyTensor} that holds no values until {@link #initData} materialises the whole tensor
 * or one rank's slice of it (exactly the same values as the same region of the whole tensor).
 *
 * <p>Lazy or not: as MindSpore, {@link #of(Object)} given a {@link LazyTensor} keeps it lazy only in the
 * semi_auto_parallel and auto_parallel modes ({@link ParallelContext#isInParallelMode()}); in stand_alone,
 * data_parallel and hybrid_parallel it fills the values in at once. {@link #lazy} and {@link #fromInitializer} keep
 * the parameter lazy whatever the mode: networks too large to hold (a planner's) are built with them.
 *
 * <p>Defaults: name {@value #DEFAULT_NAME}, {@link ParamFlags#DEFAULT}, {@link ParamServerSettings#DEFAULT}, sliced
 * false, is_init false.
 *
 * <p>Prints as MindSpore does: {@code Parameter (name=x, shape=(2, 3), dtype=Int64, requires_grad=True)}.
 * Equality is identity. Not thread-safe: a parameter is mutable, like MindSpore's.
 */
public final class Parameter {

    /** The name a parameter gets when none (null or blank) is given. */
    public static final String DEFAULT_NAME = "Parameter";

    /** The longest allowed name, in characters (MindSpore's {@code PARAMETER_NAME_PREFIX_MAX_LEN}). */
    public static final int MAX_NAME_LENGTH = 1024;

    /** The message of the error raised when the parallel mode changed between creation and initialisation. */
    public static final String PARALLEL_MODE_CHANGED =
            "Must set or change parallel mode before any initializer Tensor created.";

    /** MindSpore's message when {@code set_data} gives values to a parameter holding none (its wording kept). */
    public static final String DATA_NOT_INITIALIZED = "The original tensor data is initialized, but the argument "
            + "'data' is not initialized. Please initialize 'data' before call this method";

    private String name;
    /** The values or their lazy description, and their origin. */
    private ParamData store;
    private ParamFlags flags;
    private ParamServerSettings server = ParamServerSettings.DEFAULT;
    private boolean sliced;
    private boolean isInit;
    private Parameter initedParam;

    /**
     * A parameter of {@code data} (a {@link Tensor} or a {@link LazyTensor}); a lazy one is filled in at once unless
     * {@code keepLazy} or the mode is semi_auto/auto parallel (MindSpore's {@code _get_parameter_new_args}).
     */
    private Parameter(Object data, String name, ParamFlags flags, boolean keepLazy) {
        this.name = ParamConversions.name(name);
        this.store = ParamData.of(data, keepLazy);
        this.flags = flags;
        if (dtype().isFp8()) {
            throw new IllegalArgumentException("Parameter '" + this.name + "': dtype " + dtype().jsonName()
                    + " cannot be a parameter's stored dtype (FP8 is a GEMM input format; MindSpore has no FP8 "
                    + "Parameter); store it as bfloat16 or float32 and train with precision fp8");
        }
    }

    // ---------------------------------------------------------------- factories

    /**
     * A parameter named {@value #DEFAULT_NAME} with default flags; see
     * {@link #of(Object, String, boolean, boolean, boolean)} for the accepted data.
     */
    public static Parameter of(Object defaultInput) {
        return of(defaultInput, null, true, false, true);
    }

    /** A parameter with default flags; {@code name} null or blank gives {@value #DEFAULT_NAME}. */
    public static Parameter of(Object defaultInput, String name) {
        return of(defaultInput, name, true, false, true);
    }

    /** A parameter with layerwise_parallel false and parallel_optimizer true. */
    public static Parameter of(Object defaultInput, String name, boolean requiresGrad) {
        return of(defaultInput, name, requiresGrad, false, true);
    }

    /** A parameter with parallel_optimizer true. */
    public static Parameter of(Object defaultInput, String name, boolean requiresGrad, boolean layerwiseParallel) {
        return of(defaultInput, name, requiresGrad, layerwiseParallel, true);
    }

    /**
     * A parameter, as MindSpore's {@code Parameter(default_input, name, requires_grad, layerwise_parallel,
     * parallel_optimizer)}.
     *
     * @param defaultInput a {@link Tensor} (shared: tensors are immutable); a {@link LazyTensor} from
     *                     {@code Initializers.initializer(...)}: kept lazy until {@link #initData} in the
     *                     semi_auto_parallel and auto_parallel modes, filled in at once in the other modes (as
     *                     MindSpore; use {@link #lazy} to stay lazy in any mode); another {@code Parameter} (its
     *                     data, the same way); an {@code int}, {@code short} or {@code byte} (an Int32 scalar, as
     *                     MindSpore makes of a Python int); a {@code long} (an Int64 scalar); a {@code float} or
     *                     {@code double} (a Float32 scalar, as MindSpore makes of a Python float); or nested
     *                     {@link List}s or arrays of numbers or booleans (dtype inferred: Int64, Float32 or Bool)
     * @param name         the name; null or blank gives {@value #DEFAULT_NAME}; surrounding blanks are removed
     * @throws IllegalArgumentException when the data is null, a boolean, a bare {@link Initializer} (it has no
     *                                  shape: use {@link #fromInitializer(Initializer, long[], DType, String)}) or
     *                                  of another type, or the name is longer than {@value #MAX_NAME_LENGTH}
     *                                  characters
     */
    public static Parameter of(Object defaultInput, String name, boolean requiresGrad, boolean layerwiseParallel,
            boolean parallelOptimizer) {
        return new Parameter(ParamConversions.toData(defaultInput), name,
                ParamFlags.of(requiresGrad, layerwiseParallel, parallelOptimizer), false);
    }

    /** {@link #lazy(LazyTensor, String, boolean, boolean, boolean)} with default flags. */
    public static Parameter lazy(LazyTensor data, String name) {
        return lazy(data, name, true, false, true);
    }

    /** {@link #lazy(LazyTensor, String, boolean, boolean, boolean)}: layerwise_parallel false, parallel_optimizer true. */
    public static Parameter lazy(LazyTensor data, String name, boolean requiresGrad) {
        return lazy(data, name, requiresGrad, false, true);
    }

    /**
     * A parameter that holds {@code data} lazily whatever the parallel mode: no values exist until
     * {@link #initData} materialises the whole tensor or one rank's slice. Tessera's factory for networks too large
     * to hold (a planner's trillion-parameter models); otherwise as {@link #of(Object, String, boolean, boolean,
     * boolean)}, including the parallel-mode check of {@link #initData}.
     *
     * @throws IllegalArgumentException when {@code data} is null or the name is too long
     */
    public static Parameter lazy(LazyTensor data, String name, boolean requiresGrad, boolean layerwiseParallel,
            boolean parallelOptimizer) {
        if (data == null) {
            throw new IllegalArgumentException("Parameter.lazy: data is null; expected a LazyTensor, e.g. "
                    + "Initializers.initializer(\"normal\", shape, DType.FLOAT32)");
        }
        return new Parameter(data, name, ParamFlags.of(requiresGrad, layerwiseParallel, parallelOptimizer), true);
    }

    /**
     * A parameter of {@code shape} and {@code dtype} initialised lazily by {@code init} whatever the parallel mode,
     * as {@code Parameter.lazy(Initializers.initializer(init, shape, dtype), name)}.
     */
    public static Parameter fromInitializer(Initializer init, long[] shape, DType dtype, String name) {
        return lazy(Initializers.initializer(init, shape, dtype), name);
    }

    /**
     * A parameter of {@code shape} and {@code dtype} initialised lazily, whatever the parallel mode, by the
     * initializer called {@code initName} (case-insensitive, e.g. {@code "ones"}, {@code "normal"},
     * {@code "xavier_uniform"}), as {@code Parameter.lazy(Initializers.initializer(initName, shape, dtype), name)}.
     *
     * @throws IllegalArgumentException listing the valid names when {@code initName} is unknown
     */
    public static Parameter fromInitializer(String initName, long[] shape, DType dtype, String name) {
        return lazy(Initializers.initializer(initName, shape, dtype), name);
    }

    /** The data: the values, or the lazy description. */
    Object rawData() {
        return store.raw();
    }

    // ---------------------------------------------------------------- properties

    /** The name; {@value #DEFAULT_NAME} by default. */
    public String name() {
        return name;
    }

    /**
     * Renames the parameter; null or blank gives {@value #DEFAULT_NAME}, surrounding blanks are removed.
     *
     * @throws IllegalArgumentException when the name is longer than {@value #MAX_NAME_LENGTH} characters
     */
    public void setName(String name) {
        this.name = ParamConversions.name(name);
    }

    /** Whether the data is a slice of the full tensor (auto-parallel: do not split it again); false by default. */
    public boolean sliced() {
        return sliced;
    }

    /** Records whether the data is already a slice. */
    public void setSliced(boolean sliced) {
        this.sliced = sliced;
    }

    /**
     * Whether the data has been synchronised to the device (MindSpore's {@code is_init}, meaningful only on its GE
     * backend); false by default.
     */
    public boolean isInit() {
        return isInit;
    }

    /** Sets the device-synchronisation flag. */
    public void setIsInit(boolean isInit) {
        this.isInit = isInit;
    }

    /**
     * The parameter holding the values that {@link #initData} materialised from this one (a new parameter, this one
     * keeping its data), or null when none was made (the default, and after {@link #setData}).
     */
    public Parameter initedParam() {
        return initedParam;
    }

    /** The training and parallel flags, as one immutable value. */
    public ParamFlags flags() {
        return flags;
    }

    /**
     * Replaces the training and parallel flags.
     *
     * @throws IllegalArgumentException when {@code flags} is null
     */
    public void setFlags(ParamFlags flags) {
        if (flags == null) {
            throw new IllegalArgumentException("Parameter '" + name + "': flags is null; pass ParamFlags.DEFAULT "
                    + "or a ParamFlags made with its withX methods");
        }
        this.flags = flags;
    }

    /** The parameter-server, federated-learning and cache settings, as one immutable value. */
    public ParamServerSettings serverSettings() {
        return server;
    }

    /** Whether gradients are computed for this parameter; true by default. */
    public boolean requiresGrad() {
        return flags.requiresGrad();
    }

    /** Sets whether gradients are computed for this parameter. */
    public void setRequiresGrad(boolean requiresGrad) {
        flags = flags.withRequiresGrad(requiresGrad);
    }

    /**
     * Whether broadcast and gradient aggregation skip this parameter in data/hybrid parallel mode; false by default.
     */
    public boolean layerwiseParallel() {
        return flags.layerwiseParallel();
    }

    /** Sets whether broadcast and gradient aggregation skip this parameter. */
    public void setLayerwiseParallel(boolean layerwiseParallel) {
        flags = flags.withLayerwiseParallel(layerwiseParallel);
    }

    /** Whether the optimizer may shard this parameter when optimizer parallelism is on; true by default. */
    public boolean parallelOptimizer() {
        return flags.parallelOptimizer();
    }

    /** Sets whether the optimizer may shard this parameter. */
    public void setParallelOptimizer(boolean parallelOptimizer) {
        flags = flags.withParallelOptimizer(parallelOptimizer);
    }

    /**
     * The fusion id of the communication operators inserted for this parameter: operators with the same id (and
     * kind, group, dtype) are fused; 0 is never fused. 1 by default.
     */
    public int commFusion() {
        return flags.commFusion();
    }

    /**
     * Sets the fusion id.
     *
     * @throws IllegalArgumentException when {@code commFusion} is negative
     */
    public void setCommFusion(int commFusion) {
        flags = named(() -> flags.withCommFusion(commFusion));
    }

    /**
     * Whether the optimizer-parallel AllGather of this parameter is issued again in backward instead of keeping the
     * gathered weight alive; false by default.
     */
    public boolean parallelOptimizerCommRecompute() {
        return flags.parallelOptimizerCommRecompute();
    }

    /** Sets whether the optimizer-parallel AllGather is recomputed in backward. */
    public void setParallelOptimizerCommRecompute(boolean recompute) {
        flags = flags.withParallelOptimizerCommRecompute(recompute);
    }

    /** Whether the parameter is already unique; false by default. */
    public boolean unique() {
        return flags.unique();
    }

    /** Sets whether the parameter is already unique. */
    public void setUnique(boolean unique) {
        flags = flags.withUnique(unique);
    }

    /** Whether the parameter's cache is enabled; false by default. */
    public boolean cacheEnable() {
        return server.cacheEnable();
    }

    /** Enables or disables the parameter's cache. */
    public void setCacheEnable(boolean cacheEnable) {
        server = server.withCacheEnable(cacheEnable);
    }

    /** The cache shape when the cache is enabled; empty by default. */
    public long[] cacheShape() {
        return server.cacheShape();
    }

    /**
     * Sets the cache shape.
     *
     * @throws IllegalArgumentException when the shape is null or has a negative size
     */
    public void setCacheShape(long... cacheShape) {
        server = named(() -> server.withCacheShape(cacheShape));
    }

    /** The value {@code change} makes, its refusal prefixed with this parameter's name. */
    private <T> T named(java.util.function.Supplier<T> change) {
        try {
            return change.get();
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("Parameter '" + name + "': " + e.getMessage(), e);
        }
    }

    /** The parameter itself, as MindSpore's {@code Parameter.data}. */
    public Parameter data() {
        return this;
    }

    /** The shape: of the values, or of the initializer description while lazy. */
    public long[] shape() {
        return store.shape();
    }

    /** The element type. */
    public DType dtype() {
        return store.dtype();
    }

    /** Whether the parameter holds an initializer description instead of values (MindSpore's {@code has_init}). */
    public boolean hasInit() {
        return store.lazy() != null;
    }

    /** The initializer description while the parameter holds no values (MindSpore's {@code init_mode}). */
    public Optional<LazyTensor> initMode() {
        return Optional.ofNullable(store.lazy());
    }

    /**
     * The values.
     *
     * @throws IllegalStateException while the parameter is lazy: call {@link #initData} and read the returned
     *                               parameter's tensor
     */
    public Tensor tensor() {
        if (store.values() == null) {
            throw new IllegalStateException("Parameter '" + name + "' holds no values yet: it is backed by the "
                    + "initializer '" + store.lazy().init().name() + "'; call initData() (or initData(layout, rank, "
                    + "setSliced)) and read the tensor of the parameter it returns");
        }
        return store.values();
    }

    /** Whether the parameter is trained through a parameter server ({@link #setParamPs}); false by default. */
    public boolean isParamPs() {
        return server.paramPs();
    }

    /** Whether the parameter is initialised on the parameter server; false by default. */
    public boolean initInServer() {
        return server.initInServer();
    }

    /** Whether the parameter is pushed to the federated-learning server; false by default. */
    public boolean pushToServer() {
        return server.pushToServer();
    }

    /** Whether the parameter is pulled from the federated-learning server; false by default. */
    public boolean pullFromServer() {
        return server.pullFromServer();
    }

    /** Whether the federated-learning server aggregates the parameter; true by default. */
    public boolean requiresAggr() {
        return server.requiresAggr();
    }

    /** Marks the parameter as trained through a parameter server, initialised on the worker. */
    public void setParamPs() {
        setParamPs(false);
    }

    /**
     * Marks the parameter as trained through a parameter server; {@code initInServer} records whether it is
     * initialised and updated on the server (default false).
     */
    public void setParamPs(boolean initInServer) {
        server = server.withParamPs(initInServer);
    }

    /**
     * Records how the parameter interacts with a federated-learning server, as MindSpore does: a true
     * {@code pushToServer} or {@code pullFromServer} sets that flag, a false {@code requiresAggr} clears
     * aggregation; the other values leave the flags as they are. Defaults: false, false, true.
     */
    public void setParamFl(boolean pushToServer, boolean pullFromServer, boolean requiresAggr) {
        server = server.withParamFl(pushToServer, pullFromServer, requiresAggr);
    }

    // ---------------------------------------------------------------- init_data

    /** {@link #initData(boolean)} with {@code setSliced} false: the whole tensor. */
    public Parameter initData() {
        return initData(false);
    }

    /**
     * Initialises the whole tensor, as MindSpore's {@code init_data(None, set_sliced)}. A lazy parameter
     * materialises its initializer into a new parameter (same name and flags, {@code sliced = setSliced}), records
     * it as {@link #initedParam()} and returns it, keeping its own lazy description; a parameter holding values
     * returns itself unchanged. Once an inited parameter exists, every call returns it.
     *
     * @throws IllegalStateException when the parameter was made from an initializer and the parallel mode changed
     *                               between stand-alone-like and auto-parallel since ({@value #PARALLEL_MODE_CHANGED})
     */
    public Parameter initData(boolean setSliced) {
        return init(null, 0, setSliced);
    }

    /** {@link #initData(ParamLayout, int, boolean)} with {@code setSliced} false. */
    public Parameter initData(ParamLayout layout, int rank) {
        return initData(layout, rank, false);
    }

    /**
     * Initialises the slice of {@code rank} under {@code layout}, as MindSpore's {@code init_data(layout,
     * set_sliced)} on that rank. The region is the rank's slice ({@code Layout.sliceBox(rank)}), or with an
     * optimizer-shard group, its part of the slice along dimension 0 ({@link ParamLayout#regionOf}). A lazy
     * parameter generates just that region, bit-identical to the same region of the whole tensor; a parameter
     * holding values slices them. The result is a new parameter (same name and flags, {@code sliced = setSliced})
     * recorded as {@link #initedParam()}; this one keeps its full data. Once an inited parameter exists, every call
     * returns it, whatever its arguments.
     *
     * @param layout    the layout; not null (use {@link #initData(boolean)} for the whole tensor)
     * @param rank      the calling rank in the layout's device matrix
     * @param setSliced recorded as the new parameter's {@link #sliced()}
     * @throws IllegalArgumentException when the layout is null, does not fit the parameter's shape, its slice_shape
     *                                  disagrees with its dev_matrix and tensor_map, the rank is outside the device
     *                                  matrix, or the optimizer-shard group is not valid for the rank
     * @throws IllegalStateException    when the parameter was made from an initializer and the parallel mode changed
     *                                  since ({@value #PARALLEL_MODE_CHANGED})
     */
    public Parameter initData(ParamLayout layout, int rank, boolean setSliced) {
        if (layout == null) {
            throw new IllegalArgumentException("Parameter '" + name + "': init_data layout is null; pass a "
                    + "ParamLayout (dev_matrix, tensor_map, slice_shape[, opt_shard_group]), or call initData() "
                    + "for the whole tensor");
        }
        return init(layout, rank, setSliced);
    }

    /**
     * {@link #initData(ParamLayout, int, boolean)} with MindSpore's list form of the layout, read by
     * {@link ParamLayout#fromList(List)}.
     *
     * @throws IllegalArgumentException when the list is null, has fewer than 3 elements or is malformed, and as the
     *                                  other overload
     */
    public Parameter initData(List<?> layout, int rank, boolean setSliced) {
        return init(named(() -> ParamLayout.fromList(layout)), rank, setSliced);
    }

    private Parameter init(ParamLayout layout, int rank, boolean setSliced) {
        store.checkMode(name);
        Box region = store.regionOf(name, layout, rank);
        if (initedParam != null) {
            return initedParam;
        }
        if (!hasInit() && region == null) {
            return this;
        }
        Parameter obj = copyWith(store.materialize(region));
        obj.sliced = setSliced;
        initedParam = obj;
        return obj;
    }

    // ---------------------------------------------------------------- set_data

    /** {@link #setData(Object, boolean)} with {@code sliceShape} false: the shape must stay the same. */
    public Parameter setData(Object data) {
        return setData(data, false);
    }

    /**
     * Replaces the data, as MindSpore's {@code set_data(data, slice_shape)}, and returns this parameter.
     *
     * <ul>
     *   <li>{@code data}: a {@link Tensor}, a {@link LazyTensor}, another {@code Parameter} (its data) or a number
     *       (converted to this parameter's dtype; a float or double is refused by an integer or boolean
     *       parameter).</li>
     *   <li>A parameter holding values given a {@link LazyTensor} (or a lazy parameter) fills it in: it holds the
     *       materialised values from then on (MindSpore's {@code data.init_data()}). A lazy parameter given
     *       values refuses them with MindSpore's message {@value #DATA_NOT_INITIALIZED}: initialise it first
     *       ({@link #initData}) and set the data on the parameter that returns. A lazy parameter given a lazy
     *       description stays lazy with the new description.</li>
     *   <li>The shape must equal the current one unless {@code sliceShape} is true.</li>
     *   <li>Another dtype is converted implicitly only when not narrower, in MindSpore's order Bool &lt; Int8 &lt;
     *       UInt8 &lt; Int16 &lt; Int32 &lt; Int64 &lt; Float16, BFloat16 &lt; Float32 &lt; Float64 (Float16 and
     *       BFloat16 do not convert into each other); a lazy description is converted region by region.</li>
     *   <li>{@link #sliced()} becomes {@code sliceShape}; {@link #initedParam()} is forgotten (the next
     *       {@link #initData} materialises the new data).</li>
     * </ul>
     *
     * @throws IllegalArgumentException on any refusal above, or a null or unsupported {@code data}
     */
    public Parameter setData(Object data, boolean sliceShape) {
        Object incoming = ParamConversions.setDataInput(name, data, dtype());
        store = store.withData(name, incoming, sliceShape);
        initedParam = null;
        sliced = sliceShape;
        return this;
    }

    /**
     * Whether data of dtype {@code from} may be set into a parameter of dtype {@code to} without an explicit cast:
     * when {@code from} is not later than {@code to} in MindSpore's implicit conversion order, except between
     * Float16 and BFloat16.
     */
    public static boolean convertsImplicitly(DType from, DType to) {
        return ParamConversions.convertsImplicitly(from, to);
    }

    // ---------------------------------------------------------------- clone

    /** {@link #clone(Object)} with {@code "same"}: the same data and settings, the same name. */
    @Override
    public Parameter clone() {
        return clone("same");
    }

    /**
     * A copy with the same name and settings (flags, comm_fusion, cache and server settings), as MindSpore's
     * {@code clone(init)}. The copy has no {@link #initedParam()} and is_init false.
     *
     * @param init {@code "same"} (default): the same data (a lazy parameter stays lazy with the same initializer and
     *             seed, so it materialises the same values); an initializer name (case-insensitive) or an
     *             {@link Initializer}: lazily re-initialised with this shape and dtype; a number: lazily filled with
     *             that constant; a {@link Tensor} or {@link LazyTensor} of this shape: that data (converted to this
     *             dtype when that widens)
     * @throws IllegalArgumentException when {@code init} is null, of another type, an unknown initializer name, or
     *                                  data of another shape or a narrower dtype
     */
    public Parameter clone(Object init) {
        if (init == null) {
            throw new IllegalArgumentException("Parameter '" + name + "': clone init is null; expected \"same\", an "
                    + "initializer name, an Initializer, a number or a Tensor");
        }
        Parameter x = copyWith(rawData());
        x.sliced = sliced;
        x.store = store;
        if (init instanceof String s && s.strip().equalsIgnoreCase("same")) {
            return x;
        }
        Object data = ParamConversions.cloneData(name, init, shape(), dtype());
        x.store = data instanceof Tensor ? ParamData.held(data).withOrigin(false, store.createdInParallel())
                : ParamData.held(data).withOrigin(true, ParallelContext.isInParallelMode());
        return x;
    }

    /** A parameter holding {@code data} with this one's name and settings; not sliced, no inited parameter. */
    private Parameter copyWith(Object data) {
        Parameter x = new Parameter(data, name, flags, true);
        x.store = ParamData.held(data);
        x.server = server;
        return x;
    }

    /** Prints as MindSpore: {@code Parameter (name=x, shape=(2, 3), dtype=Int64, requires_grad=True)}. */
    @Override
    public String toString() {
        return "Parameter (name=" + name + ", shape=" + PyFormat.tuple(shape()) + ", dtype=" + dtype().displayName()
                + ", requires_grad=" + PyFormat.bool(requiresGrad()) + ")";
    }
}
