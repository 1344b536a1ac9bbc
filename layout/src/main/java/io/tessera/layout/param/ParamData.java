package io.tessera.layout.param;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.init.LazyTensor;
import io.tessera.layout.tensor.Tensor;

import java.util.Arrays;

/**
 * The data of a {@link Parameter}, as an immutable value: its values or the lazy description of them, and whether
 * it came from an initializer in which parallel mode (for {@code init_data}'s mode check). Holds MindSpore's rules
 * for creation ({@link #of}), {@code set_data} ({@link #withData}) and {@code init_data} ({@link #checkMode},
 * {@link #materialize}).
 *
 * @param values            the values; null exactly when {@code lazy} is set
 * @param lazy              the initializer description while there are no values (MindSpore's {@code init_mode})
 * @param fromInitializer   whether the data came from an initializer (MindSpore's {@code is_default_input_init})
 * @param createdInParallel whether the mode was semi_auto/auto parallel then (MindSpore's {@code is_in_parallel})
 */
record ParamData(Tensor values, LazyTensor lazy, boolean fromInitializer, boolean createdInParallel) {

    /**
     * Checks that exactly one of values and lazy description is held.
     *
     * @throws IllegalArgumentException otherwise
     */
    ParamData {
        if ((values == null) == (lazy == null)) {
            throw new IllegalArgumentException("parameter data: found " + (values == null ? "neither" : "both")
                    + " values and a lazy description; expected exactly one");
        }
    }

    /**
     * The data of a new parameter (MindSpore's {@code _get_parameter_new_args}): a {@link LazyTensor} stays lazy when
     * {@code keepLazy} or the mode is semi_auto/auto parallel, and is filled in at once otherwise.
     */
    static ParamData of(Object data, boolean keepLazy) {
        if (data instanceof LazyTensor l) {
            boolean parallel = ParallelContext.isInParallelMode();
            return keepLazy || parallel ? new ParamData(null, l, true, parallel)
                    : new ParamData(l.materialize(), null, true, false);
        }
        return held(data);
    }

    /** {@code data} (a {@link Tensor} or a {@link LazyTensor}) held as it is, not counted as from an initializer. */
    static ParamData held(Object data) {
        return data instanceof Tensor t ? new ParamData(t, null, false, false)
                : new ParamData(null, (LazyTensor) data, false, false);
    }

    /** The values or the lazy description. */
    Object raw() {
        return values != null ? values : lazy;
    }

    /** The shape. */
    long[] shape() {
        return ParamConversions.shapeOf(raw());
    }

    /** The element type. */
    DType dtype() {
        return ParamConversions.dtypeOf(raw());
    }

    /** This data with another origin. */
    ParamData withOrigin(boolean fromInitializer, boolean createdInParallel) {
        return new ParamData(values, lazy, fromInitializer, createdInParallel);
    }

    /**
     * Checks MindSpore's {@code init_data} rule for parameter {@code name}: data from an initializer is initialised
     * in the parallel mode class it was created in.
     *
     * @throws IllegalStateException when the mode changed between semi_auto/auto parallel and the others
     */
    void checkMode(String name) {
        if (fromInitializer && createdInParallel != ParallelContext.isInParallelMode()) {
            String created = createdInParallel ? "an auto-parallel" : "a non-auto-parallel";
            throw new IllegalStateException(Parameter.PARALLEL_MODE_CHANGED + " Parameter '" + name + "' was "
                    + "created from an initializer in " + created + " mode but the mode is now " + ParallelContext.parallelMode() + "; set the parallel mode "
                    + "before creating initializer-backed parameters, or recreate the parameter");
        }
    }

    /**
     * The region of {@code rank} under {@code layout} for parameter {@code name}, or null for the whole tensor when
     * {@code layout} is null.
     *
     * @throws IllegalArgumentException when the layout does not fit the shape or the rank
     */
    Box regionOf(String name, ParamLayout layout, int rank) {
        if (layout == null) {
            return null;
        }
        try {
            return layout.regionOf(shape(), rank);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("Parameter '" + name + "' of shape " + PyFormat.tuple(shape()) + ": "
                    + e.getMessage(), e);
        }
    }

    /** The values of {@code region} (the whole tensor when null): generated when lazy, sliced otherwise. */
    Tensor materialize(Box region) {
        if (lazy != null) {
            return region == null ? lazy.materialize() : lazy.materialize(region);
        }
        return region == null ? values : values.slice(region);
    }

    /**
     * The data after MindSpore's {@code set_data(incoming, slice_shape)} on parameter {@code name}: values given a
     * lazy description fill it in; a lazy description refuses values ({@link Parameter#DATA_NOT_INITIALIZED});
     * lazy given lazy stays lazy; the shape must stay unless {@code sliceShape}; the dtype converts only when that
     * widens. New values are no longer counted as from an initializer.
     *
     * @throws IllegalArgumentException on any refusal above
     */
    ParamData withData(String name, Object incoming, boolean sliceShape) {
        if (values == null && incoming instanceof Tensor) {
            throw new IllegalArgumentException(Parameter.DATA_NOT_INITIALIZED + ": parameter '" + name + "' holds no "
                    + "values (it is backed by the initializer '" + lazy.init().name() + "') but the new data is a "
                    + "Tensor of values; call initData() and set the data on the parameter it returns, or pass a "
                    + "LazyTensor (Initializers.initializer(...))");
        }
        long[] newShape = ParamConversions.shapeOf(incoming);
        if (!Arrays.equals(shape(), newShape) && !sliceShape) {
            throw new IllegalArgumentException("Can not change the shape of Parameter which has been initialized. "
                    + "Current shape is " + PyFormat.tuple(shape()) + ", and incoming is " + PyFormat.tuple(newShape)
                    + ": parameter '" + name + "'; pass sliceShape=true to set a slice of another shape");
        }
        Object data = ParamConversions.cast(name, incoming, dtype());
        if (values != null && data instanceof LazyTensor l) {
            data = l.materialize();
        }
        return data instanceof Tensor t ? new ParamData(t, null, false, createdInParallel)
                : new ParamData(null, (LazyTensor) data, fromInitializer, createdInParallel);
    }
}
