package io.tessera.layout;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The layout of one tensor over a device matrix: which device dimensions split which tensor dimensions, in MindSpore's
 * conventions ({@code dev_matrix}, {@code tensor_map}, full {@code shape}; the {@code slice_shape} is derived).
 * Immutable; arrays are copied in and out.
 *
 * @param devMatrix the device matrix
 * @param tensorMap one entry per tensor dimension
 * @param shape     the full (unsliced) tensor shape, each dimension positive
 */
public record Layout(DeviceMatrix devMatrix, TensorMap tensorMap, long[] shape) {

    /** Validates ranks, map values against the device matrix, and divisibility of every split dimension. */
    public Layout {
        if (devMatrix == null || tensorMap == null || shape == null) {
            throw new IllegalArgumentException("layout: dev_matrix, tensor_map and shape are required; found "
                    + "dev_matrix=" + devMatrix + ", tensor_map=" + tensorMap + ", shape="
                    + (shape == null ? "null" : Arrays.toString(shape)));
        }
        shape = shape.clone();
        String where = "layout dev_matrix " + devMatrix + " tensor_map " + tensorMap + " shape " + Arrays.toString(shape);
        if (tensorMap.size() != shape.length) {
            throw new IllegalArgumentException(where + ": tensor_map has " + tensorMap.size() + " entries but the shape"
                    + " has " + shape.length + " dims; give one tensor_map entry per tensor dimension");
        }
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] <= 0) {
                throw new IllegalArgumentException(where + ": dim " + i + " has size " + shape[i]
                        + "; expected a positive size");
            }
        }
        int devRank = devMatrix.rank();
        for (int i = 0; i < shape.length; i++) {
            long parts = 1;
            for (int a : tensorMap.entry(i).axes()) {
                if (a >= devRank) {
                    throw new IllegalArgumentException(where + ": dim " + i + " maps to device dimension " + a
                            + " but the device matrix has " + devRank + " dims; expected -1 or 0.." + (devRank - 1)
                            + " (counted from the right)");
                }
                parts *= devMatrix.dim(devRank - 1 - a);
            }
            if (shape[i] % parts != 0) {
                throw new IllegalArgumentException(where + ": dim " + i + " of size " + shape[i] + " is split "
                        + parts + " ways, which does not divide it; choose a split that divides " + shape[i]);
            }
        }
    }

    /** A layout from plain values: device matrix sizes, tensor map values ({@code -1} or from the right), shape. */
    public static Layout of(int[] devMatrix, int[] tensorMap, long... shape) {
        return new Layout(DeviceMatrix.of(devMatrix), TensorMap.of(tensorMap), shape);
    }

    /** A layout from a device matrix, a tensor map and a shape. */
    public static Layout of(DeviceMatrix devMatrix, TensorMap tensorMap, long... shape) {
        return new Layout(devMatrix, tensorMap, shape);
    }

    /**
     * The layout of a tensor under an operator strategy (spec §2): the device matrix is the strategy itself, tensor
     * dimension {@code i} maps to device dimension {@code i}; when the strategy covers fewer devices than the stage,
     * the quotient is appended as a new rightmost device dimension (the repeated-calculation dimension).
     *
     * @param shape        the full tensor shape
     * @param strategy     the number of slices of each dimension, each at least 1 and dividing the dimension
     * @param stageDevices the number of devices in the stage
     */
    public static Layout fromStrategy(long[] shape, int[] strategy, int stageDevices) {
        if (strategy.length != shape.length) {
            throw new IllegalArgumentException("strategy " + Arrays.toString(strategy) + " has " + strategy.length
                    + " values but the tensor " + Arrays.toString(shape) + " has " + shape.length
                    + " dims; give one value per dimension");
        }
        long covered = 1;
        for (int i = 0; i < strategy.length; i++) {
            if (strategy[i] <= 0) {
                throw new IllegalArgumentException("strategy " + Arrays.toString(strategy) + ": dim " + i + " is "
                        + strategy[i] + "; expected a positive number of slices");
            }
            covered *= strategy[i];
        }
        if (covered > stageDevices || stageDevices % covered != 0) {
            throw new IllegalArgumentException("strategy " + Arrays.toString(strategy) + " uses " + covered
                    + " devices but the stage has " + stageDevices + "; the product of a strategy must divide the "
                    + "device count");
        }
        int repeat = (int) (stageDevices / covered);
        int n = strategy.length;
        int[] dev = repeat > 1 ? Arrays.copyOf(strategy, n + 1) : strategy.clone();
        if (repeat > 1) {
            dev[n] = repeat;
        }
        int shift = repeat > 1 ? 1 : 0;
        int[] map = new int[n];
        for (int i = 0; i < n; i++) {
            map[i] = n - 1 - i + shift;
        }
        if (n == 0) {
            return Layout.of(new int[] {stageDevices}, map, shape);
        }
        return Layout.of(dev, map, shape);
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Number of tensor dimensions. */
    public int rank() {
        return shape.length;
    }

    /** Number of devices the layout is over. */
    public int deviceCount() {
        return devMatrix.size();
    }

    /** The device dimension (index from the left) named by map value {@code axis}. */
    public int deviceDimOf(int axis) {
        return devMatrix.rank() - 1 - axis;
    }

    /** How many slices tensor dimension {@code dim} is cut into. */
    public int splits(int dim) {
        int p = 1;
        for (int a : tensorMap.entry(dim).axes()) {
            p *= devMatrix.dim(deviceDimOf(a));
        }
        return p;
    }

    /** The shape of each rank's slice. */
    public long[] sliceShape() {
        long[] s = new long[shape.length];
        for (int i = 0; i < s.length; i++) {
            s[i] = shape[i] / splits(i);
        }
        return s;
    }

    /** Elements in one slice. */
    public long sliceVolume() {
        long v = 1;
        for (long d : sliceShape()) {
            v *= d;
        }
        return v;
    }

    /** Bytes in one slice for elements of {@code dtype}. */
    public long sliceBytes(DType dtype) {
        return sliceVolume() * dtype.bytes();
    }

    /** The slice coordinate of {@code rank} in each tensor dimension (0 where the dimension is not split). */
    public long[] sliceCoordinates(int rank) {
        return sliceCoordinates(devMatrix.coordinate(rank));
    }

    private long[] sliceCoordinates(int[] coord) {
        long[] c = new long[shape.length];
        for (int i = 0; i < shape.length; i++) {
            long v = 0;
            for (int a : tensorMap.entry(i).axes()) {
                int d = deviceDimOf(a);
                v = v * devMatrix.dim(d) + coord[d];
            }
            c[i] = v;
        }
        return c;
    }

    /** The slice {@code rank} holds: {@code [c*slice[i], (c+1)*slice[i])} per dimension. */
    public Box sliceBox(int rank) {
        long[] c = sliceCoordinates(rank);
        long[] slice = sliceShape();
        long[] start = new long[shape.length];
        long[] end = new long[shape.length];
        for (int i = 0; i < shape.length; i++) {
            start[i] = c[i] * slice[i];
            end[i] = start[i] + slice[i];
        }
        return Box.of(start, end);
    }

    /** The row-major index of {@code rank}'s slice coordinates over the per-dimension split counts. */
    public long sliceIndex(int rank) {
        long[] c = sliceCoordinates(rank);
        long idx = 0;
        for (int i = 0; i < shape.length; i++) {
            idx = idx * splits(i) + c[i];
        }
        return idx;
    }

    /** Number of distinct slices: the product of the split counts. */
    public long sliceCount() {
        long p = 1;
        for (int i = 0; i < shape.length; i++) {
            p *= splits(i);
        }
        return p;
    }

    /** For each device dimension (from the left), whether the tensor map uses it. */
    public boolean[] usedDeviceDims() {
        boolean[] used = new boolean[devMatrix.rank()];
        for (TensorMap.Entry e : tensorMap.entries()) {
            for (int a : e.axes()) {
                used[deviceDimOf(a)] = true;
            }
        }
        return used;
    }

    /** Number of ranks holding each slice: {@code prod(dev) / prod(used dims)}. */
    public int repeatedCount() {
        boolean[] used = usedDeviceDims();
        int r = 1;
        for (int d = 0; d < used.length; d++) {
            if (!used[d]) {
                r *= devMatrix.dim(d);
            }
        }
        return r;
    }

    /**
     * Which copy of its slice {@code rank} holds: the row-major index of its coordinates over the unused device
     * dimensions, in {@code [0, repeatedCount())}.
     */
    public int replicaIndex(int rank) {
        int[] coord = devMatrix.coordinate(rank);
        boolean[] used = usedDeviceDims();
        int idx = 0;
        for (int d = 0; d < used.length; d++) {
            if (!used[d]) {
                idx = idx * devMatrix.dim(d) + coord[d];
            }
        }
        return idx;
    }

    /** The rank holding copy {@code replica} of the slice at slice coordinates {@code sliceCoords}. */
    public int rankOf(long[] sliceCoords, int replica) {
        if (sliceCoords.length != shape.length) {
            throw new IllegalArgumentException("layout " + this + ": slice coordinates " + Arrays.toString(sliceCoords)
                    + " have " + sliceCoords.length + " entries; expected " + shape.length);
        }
        int[] coord = new int[devMatrix.rank()];
        for (int i = 0; i < shape.length; i++) {
            long v = sliceCoords[i];
            if (v < 0 || v >= splits(i)) {
                throw new IllegalArgumentException("layout " + this + ": slice coordinate " + v + " of dim " + i
                        + " is out of range; expected 0.." + (splits(i) - 1));
            }
            int[] axes = tensorMap.entry(i).axes();
            for (int k = axes.length - 1; k >= 0; k--) {
                int d = deviceDimOf(axes[k]);
                coord[d] = (int) (v % devMatrix.dim(d));
                v /= devMatrix.dim(d);
            }
        }
        boolean[] used = usedDeviceDims();
        int rest = replica;
        if (replica < 0 || replica >= repeatedCount()) {
            throw new IllegalArgumentException("layout " + this + ": replica " + replica + " is out of range; expected 0.."
                    + (repeatedCount() - 1));
        }
        for (int d = used.length - 1; d >= 0; d--) {
            if (!used[d]) {
                coord[d] = rest % devMatrix.dim(d);
                rest /= devMatrix.dim(d);
            }
        }
        return devMatrix.rankOf(coord);
    }

    /**
     * The ranks holding the same slice as {@code rank} (the repeated-calculation group: gradient AllReduce group and
     * optimizer-shard group), ascending.
     */
    public int[] repeatedGroup(int rank) {
        long[] c = sliceCoordinates(rank);
        int n = repeatedCount();
        int[] out = new int[n];
        for (int k = 0; k < n; k++) {
            out[k] = rankOf(c, k);
        }
        Arrays.sort(out);
        return out;
    }

    /**
     * The normalised layout (spec §1): device dimensions of size 1 are dropped, a tensor dimension mapped only to
     * such dimensions becomes {@code -1}, and larger map values shift down. The original is unchanged. A device matrix
     * of only size-1 dimensions normalises to {@code [1]}.
     */
    public Layout normalized() {
        int devRank = devMatrix.rank();
        // new map value for each old map value, or -1 when the device dim is dropped
        int[] newAxis = new int[devRank];
        int kept = 0;
        for (int a = 0; a < devRank; a++) {
            if (devMatrix.dim(deviceDimOf(a)) == 1) {
                newAxis[a] = -1;
            } else {
                newAxis[a] = kept++;
            }
        }
        List<Integer> dims = new ArrayList<>();
        for (int d = 0; d < devRank; d++) {
            if (devMatrix.dim(d) != 1) {
                dims.add(devMatrix.dim(d));
            }
        }
        List<TensorMap.Entry> entries = new ArrayList<>();
        for (TensorMap.Entry e : tensorMap.entries()) {
            int[] axes = Arrays.stream(e.axes()).map(a -> newAxis[a]).filter(a -> a >= 0).toArray();
            if (axes.length == 0) {
                entries.add(TensorMap.notSplit());
            } else if (axes.length == 1) {
                entries.add(TensorMap.Entry.of(axes[0]));
            } else {
                entries.add(TensorMap.Entry.of(axes));
            }
        }
        DeviceMatrix dm = dims.isEmpty() ? DeviceMatrix.of(1) : DeviceMatrix.of(dims);
        return new Layout(dm, TensorMap.of(entries), shape);
    }

    /** The same layout over another device matrix with the same number of dims (a copy with a new matrix). */
    public Layout withDevMatrix(DeviceMatrix m) {
        return new Layout(m, tensorMap, shape);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Layout l && devMatrix.equals(l.devMatrix) && tensorMap.equals(l.tensorMap)
                && Arrays.equals(shape, l.shape);
    }

    @Override
    public int hashCode() {
        return (devMatrix.hashCode() * 31 + tensorMap.hashCode()) * 31 + Arrays.hashCode(shape);
    }

    /** Prints as {@code {dev_matrix=[2, 4], tensor_map=[1, -1], shape=[32, 256]}}. */
    @Override
    public String toString() {
        return "{dev_matrix=" + devMatrix + ", tensor_map=" + tensorMap + ", shape=" + Arrays.toString(shape) + "}";
    }
}
