package io.tessera.planner.strategy;

import java.util.Arrays;
import java.util.Objects;

/**
 * One {@code parallel_layout_item} of a strategy checkpoint (spec §7): a parameter's layout. Arrays are copied in
 * and out.
 *
 * @param devMatrix          {@code dev_matrix}: normalised device matrix, values >= 1, at least one
 * @param tensorMap          {@code tensor_map}: one entry per tensor dimension, -1 or a device dimension counted
 *                           from the right ({@code < devMatrix.length}), non-negative entries distinct
 * @param tensorShape        {@code tensor_shape}: the full shape, one entry per tensor dimension, values >= 0
 * @param field              {@code field}: MindSpore's field size (0 unless the parameter is a field-split
 *                           embedding), >= 0
 * @param optWeightShardStep {@code opt_weight_shard_step}: the rank stride of the optimizer-shard group, >= 0 (0
 *                           when not sharded)
 * @param optWeightShardSize {@code opt_weight_shard_size}: the optimizer-shard group size, -1 when not configured,
 *                           else >= 1
 * @param paramSplitShape    {@code param_split_shape}: uneven split sizes, or null; present exactly when
 *                           {@code indicesOffset} is, with the same length
 * @param indicesOffset      {@code indices_offset}: offsets matching {@code paramSplitShape}, or null
 */
public record LayoutItem(int[] devMatrix, int[] tensorMap, long[] tensorShape, int field, int optWeightShardStep,
                         int optWeightShardSize, long[] paramSplitShape, long[] indicesOffset) {

    /** Validates and copies. */
    public LayoutItem {
        if (devMatrix == null || devMatrix.length == 0) {
            throw new IllegalArgumentException("dev_matrix: found " + (devMatrix == null ? "null" : "[]")
                    + "; expected a non-empty list of positive ints, e.g. [2, 4]");
        }
        for (int d : devMatrix) {
            if (d < 1) {
                throw new IllegalArgumentException("dev_matrix: found " + Arrays.toString(devMatrix)
                        + "; expected positive dimensions");
            }
        }
        if (tensorMap == null || tensorShape == null) {
            throw new IllegalArgumentException((tensorMap == null ? "tensor_map" : "tensor_shape")
                    + ": found null; expected one entry per tensor dimension");
        }
        if (tensorMap.length != tensorShape.length) {
            throw new IllegalArgumentException("tensor_map: found " + Arrays.toString(tensorMap) + " for tensor_shape "
                    + Arrays.toString(tensorShape) + "; expected one entry per tensor dimension ("
                    + tensorShape.length + ")");
        }
        boolean[] used = new boolean[devMatrix.length];
        for (int m : tensorMap) {
            if (m < -1 || m >= devMatrix.length || (m >= 0 && used[m])) {
                throw new IllegalArgumentException("tensor_map: found " + Arrays.toString(tensorMap)
                        + " for dev_matrix " + Arrays.toString(devMatrix) + "; expected -1 or distinct device "
                        + "dimensions 0.." + (devMatrix.length - 1) + " counted from the right");
            }
            if (m >= 0) {
                used[m] = true;
            }
        }
        for (long s : tensorShape) {
            if (s < 0) {
                throw new IllegalArgumentException("tensor_shape: found " + Arrays.toString(tensorShape)
                        + "; expected sizes >= 0");
            }
        }
        if (field < 0) {
            throw new IllegalArgumentException("field: found " + field + "; expected a field size >= 0 (0 when "
                    + "not a field-split embedding)");
        }
        if (optWeightShardStep < 0) {
            throw new IllegalArgumentException("opt_weight_shard_step: found " + optWeightShardStep
                    + "; expected a rank stride >= 0 (0 when not sharded)");
        }
        if (optWeightShardSize < -1 || optWeightShardSize == 0) {
            throw new IllegalArgumentException("opt_weight_shard_size: found " + optWeightShardSize
                    + "; expected -1 (not configured) or a group size >= 1");
        }
        if ((paramSplitShape == null) != (indicesOffset == null)) {
            throw new IllegalArgumentException((paramSplitShape == null ? "indices_offset" : "param_split_shape")
                    + ": found without " + (paramSplitShape == null ? "param_split_shape" : "indices_offset")
                    + "; expected param_split_shape and indices_offset together or neither");
        }
        if (paramSplitShape != null && paramSplitShape.length != indicesOffset.length) {
            throw new IllegalArgumentException("param_split_shape: found " + Arrays.toString(paramSplitShape)
                    + " with indices_offset " + Arrays.toString(indicesOffset)
                    + "; expected lists of the same length");
        }
        devMatrix = devMatrix.clone();
        tensorMap = tensorMap.clone();
        tensorShape = tensorShape.clone();
        paramSplitShape = paramSplitShape == null ? null : paramSplitShape.clone();
        indicesOffset = indicesOffset == null ? null : indicesOffset.clone();
    }

    /**
     * A layout item without uneven split information.
     *
     * @param optWeightShardStep 0 when not optimizer-sharded
     * @param optWeightShardSize -1 when not configured
     */
    public static LayoutItem of(int[] devMatrix, int[] tensorMap, long[] tensorShape, int field,
                                int optWeightShardStep, int optWeightShardSize) {
        return new LayoutItem(devMatrix, tensorMap, tensorShape, field, optWeightShardStep, optWeightShardSize,
                null, null);
    }

    /** A copy of the device matrix. */
    @Override
    public int[] devMatrix() {
        return devMatrix.clone();
    }

    /** A copy of the tensor map. */
    @Override
    public int[] tensorMap() {
        return tensorMap.clone();
    }

    /** A copy of the tensor shape. */
    @Override
    public long[] tensorShape() {
        return tensorShape.clone();
    }

    /** A copy of {@code param_split_shape}, or null. */
    @Override
    public long[] paramSplitShape() {
        return paramSplitShape == null ? null : paramSplitShape.clone();
    }

    /** A copy of {@code indices_offset}, or null. */
    @Override
    public long[] indicesOffset() {
        return indicesOffset == null ? null : indicesOffset.clone();
    }

    /** Whether {@code param_split_shape} and {@code indices_offset} are present. */
    public boolean hasSplitInfo() {
        return paramSplitShape != null;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LayoutItem l && Arrays.equals(devMatrix, l.devMatrix)
                && Arrays.equals(tensorMap, l.tensorMap) && Arrays.equals(tensorShape, l.tensorShape)
                && field == l.field && optWeightShardStep == l.optWeightShardStep
                && optWeightShardSize == l.optWeightShardSize && Arrays.equals(paramSplitShape, l.paramSplitShape)
                && Arrays.equals(indicesOffset, l.indicesOffset);
    }

    @Override
    public int hashCode() {
        return Objects.hash(Arrays.hashCode(devMatrix), Arrays.hashCode(tensorMap), Arrays.hashCode(tensorShape),
                field, optWeightShardStep, optWeightShardSize, Arrays.hashCode(paramSplitShape),
                Arrays.hashCode(indicesOffset));
    }

    /** Prints every field with arrays as lists. */
    @Override
    public String toString() {
        return "LayoutItem[devMatrix=" + Arrays.toString(devMatrix) + ", tensorMap=" + Arrays.toString(tensorMap)
                + ", tensorShape=" + Arrays.toString(tensorShape) + ", field=" + field + ", optWeightShardStep="
                + optWeightShardStep + ", optWeightShardSize=" + optWeightShardSize + ", paramSplitShape="
                + Arrays.toString(paramSplitShape) + ", indicesOffset=" + Arrays.toString(indicesOffset) + "]";
    }
}
