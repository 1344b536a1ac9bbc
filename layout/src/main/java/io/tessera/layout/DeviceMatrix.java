package io.tessera.layout;

import java.util.Arrays;
import java.util.List;

/**
 * A device matrix ({@code dev_matrix}): the devices of a stage arranged as an n-d grid. Ranks are numbered
 * row-major over it, the last dimension varying fastest. Immutable; arrays are copied in and out.
 *
 * @param dims the size of each device dimension, each at least 1
 */
public record DeviceMatrix(int[] dims) {

    /** Validates that there is at least one dimension, every size is positive and the product fits an int. */
    public DeviceMatrix {
        if (dims == null || dims.length == 0) {
            throw new IllegalArgumentException("dev_matrix: found an empty list; expected at least one positive "
                    + "device dimension, e.g. [8] or [2, 4]");
        }
        dims = dims.clone();
        long product = 1;
        for (int i = 0; i < dims.length; i++) {
            if (dims[i] <= 0) {
                throw new IllegalArgumentException("dev_matrix " + Arrays.toString(dims) + ": device dim " + i
                        + " is " + dims[i] + "; expected a positive size (use 1 for an unused dimension)");
            }
            product *= dims[i];
            if (product > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("dev_matrix " + Arrays.toString(dims)
                        + ": more than 2^31-1 devices; use a smaller device matrix");
            }
        }
    }

    /** A device matrix of the given sizes. */
    public static DeviceMatrix of(int... dims) {
        return new DeviceMatrix(dims);
    }

    /** A device matrix from a list of sizes. */
    public static DeviceMatrix of(List<Integer> dims) {
        return new DeviceMatrix(dims.stream().mapToInt(Integer::intValue).toArray());
    }

    @Override
    public int[] dims() {
        return dims.clone();
    }

    /** Size of device dimension {@code i} (counted from the left). */
    public int dim(int i) {
        return dims[i];
    }

    /** Number of device dimensions. */
    public int rank() {
        return dims.length;
    }

    /** Number of devices: the product of the dimensions. */
    public int size() {
        int p = 1;
        for (int d : dims) {
            p *= d;
        }
        return p;
    }

    /** The coordinate of {@code rank}: for i from last to first, {@code coord[i] = rank % dev[i]; rank /= dev[i]}. */
    public int[] coordinate(int rank) {
        checkRank(rank);
        int[] c = new int[dims.length];
        int r = rank;
        for (int i = dims.length - 1; i >= 0; i--) {
            c[i] = r % dims[i];
            r /= dims[i];
        }
        return c;
    }

    /** The rank at a coordinate (row-major, last dimension fastest). */
    public int rankOf(int[] coordinate) {
        if (coordinate.length != dims.length) {
            throw new IllegalArgumentException("dev_matrix " + this + ": coordinate " + Arrays.toString(coordinate)
                    + " has " + coordinate.length + " entries; expected " + dims.length);
        }
        int r = 0;
        for (int i = 0; i < dims.length; i++) {
            if (coordinate[i] < 0 || coordinate[i] >= dims[i]) {
                throw new IllegalArgumentException("dev_matrix " + this + ": coordinate " + i + " is "
                        + coordinate[i] + "; expected 0.." + (dims[i] - 1));
            }
            r = r * dims[i] + coordinate[i];
        }
        return r;
    }

    /** The ranks that differ from {@code rank} only in device dimension {@code dim}, ascending (includes rank). */
    public int[] ranksAlong(int dim, int rank) {
        if (dim < 0 || dim >= dims.length) {
            throw new IllegalArgumentException("dev_matrix " + this + ": device dim " + dim
                    + " does not exist; expected 0.." + (dims.length - 1));
        }
        int[] c = coordinate(rank);
        int[] out = new int[dims[dim]];
        for (int k = 0; k < dims[dim]; k++) {
            c[dim] = k;
            out[k] = rankOf(c);
        }
        return out;
    }

    /** One group per device dimension: the ranks along that dimension through {@code rank} (spec §1). */
    public int[][] ranksAlongEachDim(int rank) {
        int[][] out = new int[dims.length][];
        for (int d = 0; d < dims.length; d++) {
            out[d] = ranksAlong(d, rank);
        }
        return out;
    }

    /**
     * Like {@link #ranksAlongEachDim(int)} for a stage whose devices are the list {@code devices} (position in the
     * list = rank in this matrix): the groups of device ids along each dimension through device {@code device}.
     *
     * @throws IllegalArgumentException when the list length differs from {@link #size()} or the device is absent
     */
    public int[][] deviceGroupsAlongEachDim(List<Integer> devices, int device) {
        if (devices.size() != size()) {
            throw new IllegalArgumentException("dev_matrix " + this + " arranges " + size() + " devices but the "
                    + "device list has " + devices.size() + "; give one device id per position");
        }
        int rank = devices.indexOf(device);
        if (rank < 0) {
            throw new IllegalArgumentException("device " + device + " is not in the device list " + devices);
        }
        int[][] groups = ranksAlongEachDim(rank);
        for (int[] g : groups) {
            for (int i = 0; i < g.length; i++) {
                g[i] = devices.get(g[i]);
            }
        }
        return groups;
    }

    private void checkRank(int rank) {
        if (rank < 0 || rank >= size()) {
            throw new IllegalArgumentException("dev_matrix " + this + ": rank " + rank + " is out of range; expected 0.."
                    + (size() - 1));
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof DeviceMatrix m && Arrays.equals(dims, m.dims);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(dims);
    }

    /** Prints as {@code [2, 4]}. */
    @Override
    public String toString() {
        return Arrays.toString(dims);
    }
}
