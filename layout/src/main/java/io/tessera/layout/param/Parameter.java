package io.tessera.layout.param;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.init.Initializer;
import io.tessera.layout.init.Initializers;
import io.tessera.layout.init.LazyTensor;
import io.tessera.layout.tensor.Tensor;

import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * A trainable (or not) variable tensor of a network, as MindSpore's {@code mindspore.Parameter}: a name, its data,
 * and the flags that parallel training reads. The data is either a {@link Tensor} or, for a parameter made from an
 * initializer, a {@link LazyTensor} that holds no values until {@link #initData} materialises the whole tensor or
 * one rank's slice of it (exactly the same values as the same region of the whole tensor).
 *
 * <p>Defaults: name {@value #DEFAULT_NAME}, requires_grad true, layerwise_parallel false, parallel_optimizer true,
 * comm_fusion 1, parallel_optimizer_comm_recompute false, sliced false, is_init false, unique false, cache disabled.
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

    private String name;
    /** The values; null exactly when {@link #initMode} is set. */
    private Tensor tensor;
    /** The initializer description while the parameter holds no values. */
    private LazyTensor initMode;
    /** Whether the data came from an initializer (MindSpore's {@code is_default_input_init}). */
    private boolean defaultInputInit;
    /** Whether the mode was an auto-parallel one when the initializer data was given (MindSpore's {@code is_in_parallel}). */
    private boolean createdInParallel;
    private boolean requiresGrad;
    private boolean layerwiseParallel;
    private boolean parallelOptimizer;
    private boolean sliced;
    private boolean isInit;
    private int commFusion = 1;
    private boolean parallelOptimizerCommRecompute;
    private boolean unique;
    private boolean cacheEnable;
    private long[] cacheShape = new long[0];
    private boolean paramPs;
    private boolean initInServer;
    private boolean pushToServer;
    private boolean pullFromServer;
    private boolean requiresAggr = true;
    private Parameter initedParam;

    private Parameter(Object data, String name, boolean requiresGrad, boolean layerwiseParallel,
            boolean parallelOptimizer) {
        this.name = checkName(name);
        if (data instanceof LazyTensor lazy) {
            this.initMode = lazy;
            this.defaultInputInit = true;
            this.createdInParallel = ParallelContext.isInParallelMode();
        } else {
            this.tensor = (Tensor) data;
        }
        this.requiresGrad = requiresGrad;
        this.layerwiseParallel = layerwiseParallel;
        this.parallelOptimizer = parallelOptimizer;
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
     *                     {@code Initializers.initializer(...)}, kept lazy until {@link #initData}; another
     *                     {@code Parameter} (its data); an {@code int}, {@code short} or {@code byte} (an Int32
     *                     scalar, as MindSpore makes of a Python int); a {@code long} (an Int64 scalar); a
     *                     {@code float} or {@code double} (a Float32 scalar, as MindSpore makes of a Python float);
     *                     or nested {@link List}s or arrays of numbers or booleans (dtype inferred: Int64, Float32
     *                     or Bool)
     * @param name         the name; null or blank gives {@value #DEFAULT_NAME}; surrounding blanks are removed
     * @throws IllegalArgumentException when the data is null, a boolean, a bare {@link Initializer} (it has no
     *                                  shape: use {@link #fromInitializer(Initializer, long[], DType, String)}) or
     *                                  of another type, or the name is longer than {@value #MAX_NAME_LENGTH}
     *                                  characters
     */
    public static Parameter of(Object defaultInput, String name, boolean requiresGrad, boolean layerwiseParallel,
            boolean parallelOptimizer) {
        return new Parameter(toData(defaultInput), name, requiresGrad, layerwiseParallel, parallelOptimizer);
    }

    /**
     * A parameter of {@code shape} and {@code dtype} initialised lazily by {@code init}, as
     * {@code Parameter(initializer(init, shape, dtype), name)}.
     */
    public static Parameter fromInitializer(Initializer init, long[] shape, DType dtype, String name) {
        return of(Initializers.initializer(init, shape, dtype), name);
    }

    /**
     * A parameter of {@code shape} and {@code dtype} initialised lazily by the initializer called {@code initName}
     * (case-insensitive, e.g. {@code "ones"}, {@code "normal"}, {@code "xavier_uniform"}), as
     * {@code Parameter(initializer(initName, shape, dtype), name)}.
     *
     * @throws IllegalArgumentException listing the valid names when {@code initName} is unknown
     */
    public static Parameter fromInitializer(String initName, long[] shape, DType dtype, String name) {
        return of(Initializers.initializer(initName, shape, dtype), name);
    }

    private static Object toData(Object input) {
        if (input == null) {
            throw new IllegalArgumentException("Parameter default_input: found null; expected a Tensor, a LazyTensor "
                    + "from Initializers.initializer(...), an int, long, float or double, or nested lists of numbers");
        }
        if (input instanceof Tensor || input instanceof LazyTensor) {
            return input;
        }
        if (input instanceof Parameter p) {
            return p.tensor != null ? p.tensor : p.initMode;
        }
        if (input instanceof Boolean) {
            throw new IllegalArgumentException("Parameter data can not be `bool`: found " + input
                    + "; pass a Tensor of dtype Bool for boolean data");
        }
        if (input instanceof Number n) {
            return scalarOf(n, null);
        }
        if (input instanceof Initializer init) {
            throw new IllegalArgumentException("Parameter default_input: found the initializer '" + init.name()
                    + "', which has no shape or dtype; use Parameter.fromInitializer(init, shape, dtype, name) or "
                    + "Initializers.initializer(init, shape, dtype)");
        }
        if (input instanceof List<?> || input.getClass().isArray()) {
            return Tensor.fromNested(input, null);
        }
        throw new IllegalArgumentException("Parameter default_input: found a " + input.getClass().getName()
                + "; expected a Tensor, a LazyTensor, an int, long, float or double, or nested lists/arrays of "
                + "numbers");
    }

    /** A 0-d tensor of a number: of {@code dtype}, or when null, Int32/Int64/Float32 by the number's type. */
    private static Tensor scalarOf(Number n, DType dtype) {
        boolean integral = n instanceof Integer || n instanceof Long || n instanceof Short || n instanceof Byte;
        boolean floating = n instanceof Double || n instanceof Float;
        if (!integral && !floating) {
            throw new IllegalArgumentException("Parameter data: found the number " + n + " of type "
                    + n.getClass().getName() + "; expected an int, long, short, byte, float or double");
        }
        DType t = dtype;
        if (t == null) {
            t = floating ? DType.FLOAT32 : (n instanceof Long ? DType.INT64 : DType.INT32);
        }
        if (integral && !t.isFloating()) {
            return Tensor.ofLongs(t, new long[0], new long[] {n.longValue()});
        }
        return Tensor.scalar(t, n.doubleValue());
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
        this.name = checkName(name);
    }

    private static String checkName(String name) {
        if (name == null) {
            return DEFAULT_NAME;
        }
        String n = name.strip();
        if (n.isEmpty()) {
            return DEFAULT_NAME;
        }
        if (n.length() > MAX_NAME_LENGTH) {
            throw new IllegalArgumentException("The length of the '" + abbreviate(n) + "' name should be less than "
                    + MAX_NAME_LENGTH + ": found " + n.length() + " characters; use a name of at most "
                    + MAX_NAME_LENGTH + " characters");
        }
        return n;
    }

    private static String abbreviate(String s) {
        return s.length() <= 40 ? s : s.substring(0, 37) + "...";
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

    /** Whether gradients are computed for this parameter; true by default. */
    public boolean requiresGrad() {
        return requiresGrad;
    }

    /** Sets whether gradients are computed for this parameter. */
    public void setRequiresGrad(boolean requiresGrad) {
        this.requiresGrad = requiresGrad;
    }

    /**
     * Whether broadcast and gradient aggregation skip this parameter in data/hybrid parallel mode; false by default.
     */
    public boolean layerwiseParallel() {
        return layerwiseParallel;
    }

    /** Sets whether broadcast and gradient aggregation skip this parameter. */
    public void setLayerwiseParallel(boolean layerwiseParallel) {
        this.layerwiseParallel = layerwiseParallel;
    }

    /** Whether the optimizer may shard this parameter when optimizer parallelism is on; true by default. */
    public boolean parallelOptimizer() {
        return parallelOptimizer;
    }

    /** Sets whether the optimizer may shard this parameter. */
    public void setParallelOptimizer(boolean parallelOptimizer) {
        this.parallelOptimizer = parallelOptimizer;
    }

    /**
     * The fusion id of the communication operators inserted for this parameter: operators with the same id (and
     * kind, group, dtype) are fused; 0 is never fused. 1 by default.
     */
    public int commFusion() {
        return commFusion;
    }

    /**
     * Sets the fusion id.
     *
     * @throws IllegalArgumentException when {@code commFusion} is negative
     */
    public void setCommFusion(int commFusion) {
        if (commFusion < 0) {
            throw new IllegalArgumentException("Parameter '" + name + "': comm_fusion must be an int >= 0, but got "
                    + commFusion + "; use 0 to never fuse its communication, or a positive fusion id");
        }
        this.commFusion = commFusion;
    }

    /**
     * Whether the optimizer-parallel AllGather of this parameter is issued again in backward instead of keeping the
     * gathered weight alive; false by default.
     */
    public boolean parallelOptimizerCommRecompute() {
        return parallelOptimizerCommRecompute;
    }

    /** Sets whether the optimizer-parallel AllGather is recomputed in backward. */
    public void setParallelOptimizerCommRecompute(boolean recompute) {
        this.parallelOptimizerCommRecompute = recompute;
    }

    /** Whether the parameter is already unique; false by default. */
    public boolean unique() {
        return unique;
    }

    /** Sets whether the parameter is already unique. */
    public void setUnique(boolean unique) {
        this.unique = unique;
    }

    /** Whether the parameter's cache is enabled; false by default. */
    public boolean cacheEnable() {
        return cacheEnable;
    }

    /** Enables or disables the parameter's cache. */
    public void setCacheEnable(boolean cacheEnable) {
        this.cacheEnable = cacheEnable;
    }

    /** The cache shape when the cache is enabled; empty by default. */
    public long[] cacheShape() {
        return cacheShape.clone();
    }

    /**
     * Sets the cache shape.
     *
     * @throws IllegalArgumentException when the shape is null or has a negative size
     */
    public void setCacheShape(long... cacheShape) {
        if (cacheShape == null) {
            throw new IllegalArgumentException("Parameter '" + name + "': cache_shape is null; expected a shape");
        }
        for (long d : cacheShape) {
            if (d < 0) {
                throw new IllegalArgumentException("Parameter '" + name + "': cache_shape "
                        + Arrays.toString(cacheShape) + " has the negative size " + d + "; expected sizes >= 0");
            }
        }
        this.cacheShape = cacheShape.clone();
    }

    /** The parameter itself, as MindSpore's {@code Parameter.data}. */
    public Parameter data() {
        return this;
    }

    /** The shape: of the values, or of the initializer description while lazy. */
    public long[] shape() {
        return tensor != null ? tensor.shape() : initMode.shape();
    }

    /** The element type. */
    public DType dtype() {
        return tensor != null ? tensor.dtype() : initMode.dtype();
    }

    /** Whether the parameter holds an initializer description instead of values (MindSpore's {@code has_init}). */
    public boolean hasInit() {
        return initMode != null;
    }

    /** The initializer description while the parameter holds no values (MindSpore's {@code init_mode}). */
    public Optional<LazyTensor> initMode() {
        return Optional.ofNullable(initMode);
    }

    /**
     * The values.
     *
     * @throws IllegalStateException while the parameter is lazy: call {@link #initData} and read the returned
     *                               parameter's tensor
     */
    public Tensor tensor() {
        if (tensor == null) {
            throw new IllegalStateException("Parameter '" + name + "' holds no values yet: it is backed by the "
                    + "initializer '" + initMode.init().name() + "'; call initData() (or initData(layout, rank, "
                    + "setSliced)) and read the tensor of the parameter it returns");
        }
        return tensor;
    }

    /** Whether the parameter is trained through a parameter server ({@link #setParamPs}); false by default. */
    public boolean isParamPs() {
        return paramPs;
    }

    /** Whether the parameter is initialised on the parameter server; false by default. */
    public boolean initInServer() {
        return initInServer;
    }

    /** Whether the parameter is pushed to the federated-learning server; false by default. */
    public boolean pushToServer() {
        return pushToServer;
    }

    /** Whether the parameter is pulled from the federated-learning server; false by default. */
    public boolean pullFromServer() {
        return pullFromServer;
    }

    /** Whether the federated-learning server aggregates the parameter; true by default. */
    public boolean requiresAggr() {
        return requiresAggr;
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
        this.paramPs = true;
        this.initInServer = initInServer;
    }

    /**
     * Records how the parameter interacts with a federated-learning server, as MindSpore does: a true
     * {@code pushToServer} or {@code pullFromServer} sets that flag, a false {@code requiresAggr} clears
     * aggregation; the other values leave the flags as they are. Defaults: false, false, true.
     */
    public void setParamFl(boolean pushToServer, boolean pullFromServer, boolean requiresAggr) {
        if (pushToServer) {
            this.pushToServer = true;
        }
        if (pullFromServer) {
            this.pullFromServer = true;
        }
        if (!requiresAggr) {
            this.requiresAggr = false;
        }
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
        ParamLayout parsed;
        try {
            parsed = ParamLayout.fromList(layout);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("Parameter '" + name + "': " + e.getMessage(), e);
        }
        return init(parsed, rank, setSliced);
    }

    private Parameter init(ParamLayout layout, int rank, boolean setSliced) {
        if (defaultInputInit && createdInParallel != ParallelContext.isInParallelMode()) {
            throw new IllegalStateException(PARALLEL_MODE_CHANGED + " Parameter '" + name + "' was created from an "
                    + "initializer in " + (createdInParallel ? "an auto-parallel" : "a non-auto-parallel")
                    + " mode but the mode is now " + ParallelContext.parallelMode() + "; set the parallel mode "
                    + "before creating initializer-backed parameters, or recreate the parameter");
        }
        Box region = null;
        if (layout != null) {
            try {
                region = layout.regionOf(shape(), rank);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("Parameter '" + name + "' of shape " + PyFormat.tuple(shape())
                        + ": " + e.getMessage(), e);
            }
        }
        if (initedParam != null) {
            return initedParam;
        }
        Tensor data;
        if (initMode != null) {
            data = region == null ? initMode.materialize() : initMode.materialize(region);
        } else if (region == null) {
            return this;
        } else {
            data = tensor.slice(region);
        }
        Parameter obj = copyWith(data);
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
     *   <li>A parameter holding values accepts only values: a {@link LazyTensor} (or a lazy parameter) is refused.
     *       A lazy parameter accepts both; given values, it holds them from then on.</li>
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
        if (data == null || data instanceof Boolean) {
            throw new IllegalArgumentException("Parameter '" + name + "': set_data found " + data + "; expected a "
                    + "Tensor, a LazyTensor, an int, long, float or double");
        }
        Object incoming;
        if (data instanceof Number n) {
            if (!dtype().isFloating() && (n instanceof Double || n instanceof Float)) {
                throw conversionError(name, dtype(), "the floating-point number " + n);
            }
            incoming = scalarOf(n, dtype());
        } else if (data instanceof Parameter p) {
            incoming = p.tensor != null ? p.tensor : p.initMode;
        } else if (data instanceof Tensor || data instanceof LazyTensor) {
            incoming = data;
        } else {
            throw new IllegalArgumentException("Parameter '" + name + "': set_data found a "
                    + data.getClass().getName() + "; expected a Tensor, a LazyTensor, an int, long, float or double");
        }
        boolean incomingHasValues = incoming instanceof Tensor;
        if (tensor != null && !incomingHasValues) {
            throw new IllegalArgumentException("The original tensor data is initialized, but the argument 'data' is "
                    + "not initialized. Please initialize 'data' before call this method: parameter '" + name
                    + "' holds values but the new data is the initializer '"
                    + ((LazyTensor) incoming).init().name() + "'; materialise it first (LazyTensor.materialize())");
        }
        long[] newShape = incomingHasValues ? ((Tensor) incoming).shape() : ((LazyTensor) incoming).shape();
        if (!Arrays.equals(shape(), newShape) && !sliceShape) {
            throw new IllegalArgumentException("Can not change the shape of Parameter which has been initialized. "
                    + "Current shape is " + PyFormat.tuple(shape()) + ", and incoming is " + PyFormat.tuple(newShape)
                    + ": parameter '" + name + "'; pass sliceShape=true to set a slice of another shape");
        }
        DType newType = incomingHasValues ? ((Tensor) incoming).dtype() : ((LazyTensor) incoming).dtype();
        DType current = dtype();
        if (newType != current) {
            if (!convertsImplicitly(newType, current)) {
                throw conversionError(name, current, newType.displayName());
            }
            incoming = incomingHasValues ? ((Tensor) incoming).astype(current) : castLazy((LazyTensor) incoming, current);
        }
        if (incomingHasValues) {
            tensor = (Tensor) incoming;
            initMode = null;
            defaultInputInit = false;
        } else {
            initMode = (LazyTensor) incoming;
        }
        initedParam = null;
        sliced = sliceShape;
        return this;
    }

    private static IllegalArgumentException conversionError(String name, DType current, String incoming) {
        return new IllegalArgumentException("Incoming Parameter dtype can not be converted to current dtype "
                + "implicitly. Current dtype is " + current.displayName() + ", and incoming is " + incoming
                + ": parameter '" + name + "'; convert the data to " + current.displayName()
                + " first (Tensor.astype), implicit conversion only widens");
    }

    /** MindSpore's {@code implicit_conversion_seq} position; Float16 and BFloat16 share one. */
    private static int conversionRank(DType t) {
        switch (t) {
            case BOOL: return 0;
            case INT8: return 1;
            case UINT8: return 2;
            case INT16: return 3;
            case INT32: return 4;
            case INT64: return 5;
            case FLOAT16: case BFLOAT16: return 6;
            case FLOAT32: return 7;
            case FLOAT64: return 8;
            default: throw new IllegalArgumentException("dtype " + t + " has no implicit conversion rank");
        }
    }

    /**
     * Whether data of dtype {@code from} may be set into a parameter of dtype {@code to} without an explicit cast:
     * when {@code from} is not later than {@code to} in MindSpore's implicit conversion order, except between
     * Float16 and BFloat16.
     */
    public static boolean convertsImplicitly(DType from, DType to) {
        if (from == to) {
            return true;
        }
        if ((from == DType.FLOAT16 && to == DType.BFLOAT16) || (from == DType.BFLOAT16 && to == DType.FLOAT16)) {
            return false;
        }
        return conversionRank(from) <= conversionRank(to);
    }

    /** A lazy description generating {@code lazy}'s values converted to {@code dtype}, region by region. */
    private static LazyTensor castLazy(LazyTensor lazy, DType dtype) {
        return new LazyTensor(new CastInitializer(lazy.init(), lazy.dtype()), lazy.shape(), dtype, lazy.seed());
    }

    /** Generates with the wrapped initializer in its own dtype, then converts. */
    private static final class CastInitializer implements Initializer {
        private final Initializer inner;
        private final DType source;

        CastInitializer(Initializer inner, DType source) {
            this.inner = inner;
            this.source = source;
        }

        @Override
        public String name() {
            return inner.name();
        }

        @Override
        public Tensor generate(long[] shape, DType dtype, long seed, Box region) {
            return inner.generate(shape, source, seed, region).astype(dtype);
        }

        @Override
        public OptionalLong explicitSeed() {
            return inner.explicitSeed();
        }

        @Override
        public boolean isRandom() {
            return inner.isRandom();
        }

        @Override
        public void checkShape(long[] shape) {
            inner.checkShape(shape);
        }

        @Override
        public String toString() {
            return inner + " as " + source;
        }
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
        Parameter x = copyWith(tensor != null ? tensor : initMode);
        x.sliced = sliced;
        x.defaultInputInit = defaultInputInit;
        x.createdInParallel = createdInParallel;
        if (init instanceof String s && s.strip().equalsIgnoreCase("same")) {
            return x;
        }
        long[] shape = shape();
        DType dtype = dtype();
        Object data;
        if (init instanceof String s) {
            data = Initializers.initializer(s, shape, dtype);
        } else if (init instanceof Initializer i) {
            data = Initializers.initializer(i, shape, dtype);
        } else if (init instanceof Boolean) {
            throw new IllegalArgumentException("Parameter '" + name + "': clone init can not be `bool`: found " + init
                    + "; expected \"same\", an initializer name, an Initializer, a number or a Tensor");
        } else if (init instanceof Number n) {
            data = Initializers.initializer(n, shape, dtype);
        } else if (init instanceof Tensor || init instanceof LazyTensor) {
            data = init;
        } else {
            throw new IllegalArgumentException("Parameter '" + name + "': clone init is a "
                    + init.getClass().getName() + "; expected \"same\", an initializer name, an Initializer, a "
                    + "number or a Tensor");
        }
        long[] newShape = data instanceof Tensor t ? t.shape() : ((LazyTensor) data).shape();
        if (!Arrays.equals(newShape, shape)) {
            throw new IllegalArgumentException("Parameter '" + name + "': clone init has the shape "
                    + PyFormat.tuple(newShape) + " but the parameter has " + PyFormat.tuple(shape)
                    + "; pass data of the parameter's shape");
        }
        DType newType = data instanceof Tensor t ? t.dtype() : ((LazyTensor) data).dtype();
        if (newType != dtype) {
            if (!convertsImplicitly(newType, dtype)) {
                throw conversionError(name, dtype, newType.displayName());
            }
            data = data instanceof Tensor t ? t.astype(dtype) : castLazy((LazyTensor) data, dtype);
        }
        if (data instanceof Tensor t) {
            x.tensor = t;
            x.initMode = null;
            x.defaultInputInit = false;
        } else {
            x.tensor = null;
            x.initMode = (LazyTensor) data;
            x.defaultInputInit = true;
            x.createdInParallel = ParallelContext.isInParallelMode();
        }
        return x;
    }

    /** A parameter holding {@code data} with this one's name and settings; not sliced, no inited parameter. */
    private Parameter copyWith(Object data) {
        Parameter x = new Parameter(data, name, requiresGrad, layerwiseParallel, parallelOptimizer);
        x.defaultInputInit = false;
        x.createdInParallel = false;
        x.commFusion = commFusion;
        x.parallelOptimizerCommRecompute = parallelOptimizerCommRecompute;
        x.unique = unique;
        x.cacheEnable = cacheEnable;
        x.cacheShape = cacheShape.clone();
        x.paramPs = paramPs;
        x.initInServer = initInServer;
        x.pushToServer = pushToServer;
        x.pullFromServer = pullFromServer;
        x.requiresAggr = requiresAggr;
        return x;
    }

    /** Prints as MindSpore: {@code Parameter (name=x, shape=(2, 3), dtype=Int64, requires_grad=True)}. */
    @Override
    public String toString() {
        return "Parameter (name=" + name + ", shape=" + PyFormat.tuple(shape()) + ", dtype=" + dtype().displayName()
                + ", requires_grad=" + PyFormat.bool(requiresGrad) + ")";
    }
}
