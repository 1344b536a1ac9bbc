package io.tessera.layout.param;

import io.tessera.layout.Box;
import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.Layout;
import io.tessera.layout.TensorMap;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The {@code layout} argument of {@link Parameter#initData(ParamLayout, int, boolean)}: MindSpore's
 * {@code (dev_matrix, tensor_map, slice_shape[, opt_shard_group])}. The slice shape is checked against the
 * parameter's full shape when the data is initialised. Immutable; arrays are copied in and out.
 *
 * @param devMatrix     the device matrix ({@code dev_mat})
 * @param tensorMap     one entry per tensor dimension, device dimensions counted from the right
 * @param sliceShape    the shape of one rank's slice; must equal what {@code devMatrix} and {@code tensorMap} give
 * @param optShardGroup the optimizer-shard group (spec §5): the ranks that hold the same slice and split its
 *                      dimension 0 among them, in order; empty (never null) when the parameter is not
 *                      optimizer-sharded
 */
public record ParamLayout(DeviceMatrix devMatrix, TensorMap tensorMap, long[] sliceShape, int[] optShardGroup) {

    /**
     * Validates the parts on their own: none null except {@code optShardGroup} (null means no group), one
     * {@code tensorMap} entry per slice dimension, map values within the device matrix, positive slice sizes and
     * distinct group ranks within the device matrix.
     */
    public ParamLayout {
        if (devMatrix == null || tensorMap == null || sliceShape == null) {
            throw new IllegalArgumentException("layout: dev_matrix, tensor_map and slice_shape are required; found "
                    + "dev_matrix=" + devMatrix + ", tensor_map=" + tensorMap + ", slice_shape="
                    + (sliceShape == null ? "null" : Arrays.toString(sliceShape)));
        }
        sliceShape = sliceShape.clone();
        optShardGroup = optShardGroup == null ? new int[0] : optShardGroup.clone();
        String where = "layout (dev_matrix " + devMatrix + ", tensor_map " + tensorMap + ", slice_shape "
                + Arrays.toString(sliceShape) + ")";
        if (tensorMap.size() != sliceShape.length) {
            throw new IllegalArgumentException(where + ": tensor_map has " + tensorMap.size() + " entries but "
                    + "slice_shape has " + sliceShape.length + " dims; give one entry per tensor dimension");
        }
        if (tensorMap.maxAxis() >= devMatrix.rank()) {
            throw new IllegalArgumentException(where + ": tensor_map uses device dimension " + tensorMap.maxAxis()
                    + " but the device matrix has " + devMatrix.rank() + " dims; expected -1 or 0.."
                    + (devMatrix.rank() - 1) + " (counted from the right)");
        }
        for (int i = 0; i < sliceShape.length; i++) {
            if (sliceShape[i] <= 0) {
                throw new IllegalArgumentException(where + ": slice_shape dim " + i + " is " + sliceShape[i]
                        + "; expected a positive size");
            }
        }
        int devices = devMatrix.size();
        for (int i = 0; i < optShardGroup.length; i++) {
            int r = optShardGroup[i];
            if (r < 0 || r >= devices) {
                throw new IllegalArgumentException(where + ": opt_shard_group " + Arrays.toString(optShardGroup)
                        + " holds rank " + r + "; expected ranks 0.." + (devices - 1) + " of the device matrix");
            }
            for (int j = 0; j < i; j++) {
                if (optShardGroup[j] == r) {
                    throw new IllegalArgumentException(where + ": opt_shard_group "
                            + Arrays.toString(optShardGroup) + " holds rank " + r + " twice; list each rank once");
                }
            }
        }
    }

    /** A layout without an optimizer-shard group, from plain values. */
    public static ParamLayout of(int[] devMatrix, int[] tensorMap, long[] sliceShape) {
        return of(devMatrix, tensorMap, sliceShape, null);
    }

    /** A layout from plain values; {@code optShardGroup} may be null or empty for none. */
    public static ParamLayout of(int[] devMatrix, int[] tensorMap, long[] sliceShape, int[] optShardGroup) {
        if (devMatrix == null || tensorMap == null) {
            throw new IllegalArgumentException("layout: dev_matrix and tensor_map are required; found dev_matrix="
                    + Arrays.toString(devMatrix) + ", tensor_map=" + Arrays.toString(tensorMap));
        }
        return new ParamLayout(DeviceMatrix.of(devMatrix), TensorMap.of(tensorMap), sliceShape, optShardGroup);
    }

    /**
     * The layout argument for a parameter laid out as {@code layout} (the slice shape is taken from it), with an
     * optional optimizer-shard group (null or empty for none).
     */
    public static ParamLayout of(Layout layout, int[] optShardGroup) {
        if (layout == null) {
            throw new IllegalArgumentException("layout: found null; expected a Layout");
        }
        return new ParamLayout(layout.devMatrix(), layout.tensorMap(), layout.sliceShape(), optShardGroup);
    }

    /**
     * Reads MindSpore's list form of a layout: {@code [dev_matrix, tensor_map, slice_shape]},
     * {@code [dev_matrix, tensor_map, slice_shape, opt_shard_group]} or MindSpore's full
     * {@code [dev_matrix, tensor_map, slice_shape, field_size, uniform_split, opt_shard_group]} (field_size and
     * uniform_split are ignored). Each list is a {@link List} of numbers or a primitive array; a tensor_map entry may
     * itself be a list (a dimension split over several device dimensions). The group is a list of ranks, or null or
     * an empty string or list for none.
     *
     * @throws IllegalArgumentException when {@code raw} is null, has fewer than 3 (or 5, or more than 6) elements, or
     *                                  an element has the wrong type or value
     */
    public static ParamLayout fromList(List<?> raw) {
        if (raw == null) {
            throw new IllegalArgumentException("layout: found null; expected a list [dev_matrix, tensor_map, "
                    + "slice_shape] with an optional opt_shard_group, or pass no layout to initialise the whole "
                    + "tensor");
        }
        int n = raw.size();
        if (n < 3) {
            throw new IllegalArgumentException("layout " + raw + ": has " + n + " elements; expected at least 3: "
                    + "[dev_matrix, tensor_map, slice_shape]");
        }
        if (n == 5 || n > 6) {
            throw new IllegalArgumentException("layout " + raw + ": has " + n + " elements; expected 3 "
                    + "[dev_matrix, tensor_map, slice_shape], 4 [..., opt_shard_group] or 6 [..., field_size, "
                    + "uniform_split, opt_shard_group]");
        }
        int[] dev = toIntArray(raw, 0, "dev_matrix");
        TensorMap map = toTensorMap(raw, raw.get(1));
        long[] slice = toLongArray(raw, 2, "slice_shape");
        Object groupRaw = n == 3 ? null : raw.get(n - 1);
        int[] group;
        if (groupRaw == null || (groupRaw instanceof String s && s.isEmpty())) {
            group = null;
        } else if (groupRaw instanceof String s) {
            throw new IllegalArgumentException("layout " + raw + ": opt_shard_group is the group name '" + s
                    + "'; expected the list of its ranks, e.g. [0, 8, 16, 24]");
        } else {
            group = toIntArray(raw, n - 1, "opt_shard_group");
        }
        return new ParamLayout(DeviceMatrix.of(dev), map, slice, group);
    }

    @Override
    public long[] sliceShape() {
        return sliceShape.clone();
    }

    @Override
    public int[] optShardGroup() {
        return optShardGroup.clone();
    }

    /** Whether an optimizer-shard group is given. */
    public boolean hasOptShardGroup() {
        return optShardGroup.length > 0;
    }

    /**
     * The full layout of a parameter of shape {@code fullShape}.
     *
     * @throws IllegalArgumentException when the map does not fit the shape, a split does not divide its dimension, or
     *                                  the given slice_shape differs from the one dev_matrix and tensor_map give
     */
    public Layout layoutFor(long[] fullShape) {
        Layout layout = new Layout(devMatrix, tensorMap, fullShape);
        long[] expected = layout.sliceShape();
        if (!Arrays.equals(expected, sliceShape)) {
            throw new IllegalArgumentException("layout (dev_matrix " + devMatrix + ", tensor_map " + tensorMap
                    + ", slice_shape " + Arrays.toString(sliceShape) + "): slice_shape disagrees with dev_matrix and "
                    + "tensor_map, which give " + Arrays.toString(expected) + " for the shape "
                    + Arrays.toString(fullShape) + "; pass slice_shape " + Arrays.toString(expected));
        }
        return layout;
    }

    /**
     * The region of a parameter of shape {@code fullShape} that {@code rank} initialises: its slice, or with an
     * optimizer-shard group, the part of the slice along dimension 0 at the rank's position in the group (the
     * slice's dimension 0 split into group-size equal parts).
     *
     * @throws IllegalArgumentException when the rank is outside the device matrix, the layout does not fit the shape,
     *                                  or the group does not contain the rank, holds a rank with another slice, or
     *                                  does not divide dimension 0 of the slice
     */
    public Box regionOf(long[] fullShape, int rank) {
        Layout layout = layoutFor(fullShape);
        int devices = devMatrix.size();
        if (rank < 0 || rank >= devices) {
            throw new IllegalArgumentException("rank " + rank + " is outside the device matrix " + devMatrix
                    + "; expected 0.." + (devices - 1));
        }
        Box box = layout.sliceBox(rank);
        if (!hasOptShardGroup()) {
            return box;
        }
        String where = "opt_shard_group " + Arrays.toString(optShardGroup);
        int position = -1;
        for (int i = 0; i < optShardGroup.length; i++) {
            if (optShardGroup[i] == rank) {
                position = i;
            }
            if (!layout.sliceBox(optShardGroup[i]).equals(box)) {
                throw new IllegalArgumentException(where + ": rank " + optShardGroup[i] + " holds the slice "
                        + layout.sliceBox(optShardGroup[i]) + " but rank " + rank + " holds " + box
                        + "; the group must be ranks sharing one slice, e.g. of "
                        + Arrays.toString(layout.repeatedGroup(rank)));
            }
        }
        if (position < 0) {
            throw new IllegalArgumentException(where + " does not contain rank " + rank
                    + "; pass the group this rank belongs to");
        }
        if (fullShape.length == 0) {
            throw new IllegalArgumentException(where + ": a 0-d parameter has no dimension 0 to shard; pass no "
                    + "group");
        }
        long extent = box.extent(0);
        int parts = optShardGroup.length;
        if (extent % parts != 0) {
            throw new IllegalArgumentException(where + ": dimension 0 of the slice " + box + " has " + extent
                    + " rows, which " + parts + " ranks cannot share equally; use a group whose size divides "
                    + extent);
        }
        long part = extent / parts;
        long[] start = box.start();
        long[] end = box.end();
        start[0] += position * part;
        end[0] = start[0] + part;
        return Box.of(start, end);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ParamLayout p && devMatrix.equals(p.devMatrix) && tensorMap.equals(p.tensorMap)
                && Arrays.equals(sliceShape, p.sliceShape) && Arrays.equals(optShardGroup, p.optShardGroup);
    }

    @Override
    public int hashCode() {
        return ((devMatrix.hashCode() * 31 + tensorMap.hashCode()) * 31 + Arrays.hashCode(sliceShape)) * 31
                + Arrays.hashCode(optShardGroup);
    }

    /** Prints as {@code (dev_matrix=[2, 4], tensor_map=[1, -1], slice_shape=[4, 8], opt_shard_group=[])}. */
    @Override
    public String toString() {
        return "(dev_matrix=" + devMatrix + ", tensor_map=" + tensorMap + ", slice_shape="
                + Arrays.toString(sliceShape) + ", opt_shard_group=" + Arrays.toString(optShardGroup) + ")";
    }

    private static List<?> asList(List<?> raw, Object value, String what) {
        if (value instanceof List<?> l) {
            return l;
        }
        if (value instanceof int[] a) {
            return Arrays.stream(a).boxed().toList();
        }
        if (value instanceof long[] a) {
            return Arrays.stream(a).boxed().toList();
        }
        if (value instanceof Object[] a) {
            return Arrays.asList(a);
        }
        throw new IllegalArgumentException("layout " + raw + ": " + what + " is "
                + (value == null ? "null" : value.getClass().getSimpleName() + " " + value)
                + "; expected a list of integers");
    }

    private static long integer(List<?> raw, Object v, String what) {
        if (v instanceof Integer || v instanceof Long || v instanceof Short || v instanceof Byte) {
            return ((Number) v).longValue();
        }
        throw new IllegalArgumentException("layout " + raw + ": " + what + " holds "
                + (v == null ? "null" : v.getClass().getSimpleName() + " " + v) + "; expected integers");
    }

    private static long[] toLongArray(List<?> raw, int index, String what) {
        List<?> l = asList(raw, raw.get(index), what);
        long[] out = new long[l.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = integer(raw, l.get(i), what);
        }
        return out;
    }

    private static int[] toIntArray(List<?> raw, int index, String what) {
        long[] values = toLongArray(raw, index, what);
        int[] out = new int[values.length];
        for (int i = 0; i < out.length; i++) {
            if (values[i] < Integer.MIN_VALUE || values[i] > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("layout " + raw + ": " + what + " holds " + values[i]
                        + ", which does not fit an int");
            }
            out[i] = (int) values[i];
        }
        return out;
    }

    private static TensorMap toTensorMap(List<?> raw, Object value) {
        List<?> l = asList(raw, value, "tensor_map");
        List<TensorMap.Entry> entries = new ArrayList<>(l.size());
        for (Object e : l) {
            if (e instanceof List<?> || e instanceof int[] || e instanceof long[] || e instanceof Object[]) {
                List<?> axes = asList(raw, e, "tensor_map entry");
                int[] a = new int[axes.size()];
                for (int i = 0; i < a.length; i++) {
                    a[i] = (int) integer(raw, axes.get(i), "tensor_map");
                }
                entries.add(TensorMap.Entry.of(a));
            } else {
                long v = integer(raw, e, "tensor_map");
                if (v < -1 || v > Integer.MAX_VALUE) {
                    throw new IllegalArgumentException("layout " + raw + ": tensor_map holds " + v
                            + "; expected -1 (not split) or a device dimension counted from the right");
                }
                entries.add(TensorMap.Entry.of((int) v));
            }
        }
        return TensorMap.of(entries);
    }
}
