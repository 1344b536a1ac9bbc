package io.tessera.bench;

import io.tessera.layout.init.TruncatedNormal;

import io.tessera.layout.init.Constant;


import io.tessera.layout.init.Dirac;

import io.tessera.layout.init.XavierNormal;

import io.tessera.layout.init.HeNormal;

import io.tessera.layout.init.Zero;

import io.tessera.layout.init.XavierUniform;

import io.tessera.layout.init.Uniform;

import io.tessera.layout.init.Identity;

import io.tessera.layout.init.One;

import io.tessera.layout.init.Initializer;

import io.tessera.layout.init.HeUniform;

import io.tessera.layout.init.Orthogonal;

import io.tessera.layout.init.LazyTensor;

import io.tessera.layout.init.Normal;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.Layout;
import io.tessera.layout.tensor.Tensor;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.util.ArrayList;
import java.util.List;

/**
 * Figures for the initializers: generation throughput per initializer, and the memory one rank needs to initialise
 * its slice of a large sharded parameter (which must stay near the slice size, not the full size). Not a unit
 * test; run {@link #main} or call {@link #run()}.
 */
public final class InitializerBenchmark {

    private InitializerBenchmark() {
    }

    /**
     * Generation speed of one initializer.
     *
     * @param initializer       the initializer's name
     * @param shape             the generated shape
     * @param elements          elements generated in the timed loop (all repetitions)
     * @param seconds           wall time of the timed loop, in seconds
     * @param elementsPerSecond {@code elements / seconds}
     */
    public record Throughput(String initializer, long[] shape, long elements, double seconds,
                             double elementsPerSecond) {
        /** Copies the shape. */
        public Throughput {
            shape = shape.clone();
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }
    }

    /**
     * Memory used by one rank initialising its slice of a sharded parameter.
     *
     * @param initializer         the initializer's name
     * @param fullShape           shape of the whole parameter
     * @param sliceShape          shape of the rank's slice
     * @param fullBytes           bytes of the whole parameter in its dtype
     * @param sliceBytes          bytes of the slice in its dtype
     * @param allocatedBytes      bytes the generating thread allocated while materialising the slice
     *                            ({@code com.sun.management.ThreadMXBean}; -1 when unsupported)
     * @param peakHeapGrowthBytes the heap pools' summed peak usage during generation minus their usage before it
     *                            ({@code MemoryPoolMXBean}; an upper bound, as pools peak at different times)
     * @param seconds             wall time of the generation, in seconds
     */
    public record ShardMemory(String initializer, long[] fullShape, long[] sliceShape, long fullBytes,
                              long sliceBytes, long allocatedBytes, long peakHeapGrowthBytes, double seconds) {
        /** Copies the shapes. */
        public ShardMemory {
            fullShape = fullShape.clone();
            sliceShape = sliceShape.clone();
        }

        @Override
        public long[] fullShape() {
            return fullShape.clone();
        }

        @Override
        public long[] sliceShape() {
            return sliceShape.clone();
        }

        /** {@code allocatedBytes / sliceBytes}: 1.0 means nothing but the slice itself was allocated. */
        public double allocatedPerSliceByte() {
            return sliceBytes == 0 ? 0 : (double) allocatedBytes / sliceBytes;
        }
    }

    /**
     * All figures.
     *
     * @param throughput  one entry per built-in initializer
     * @param shardMemory the 1/64 slice of a 1 GiB float32 parameter
     */
    public record Figures(List<Throughput> throughput, ShardMemory shardMemory) {
        /** Copies the list. */
        public Figures {
            throughput = List.copyOf(throughput);
        }
    }

    /**
     * Throughput of every built-in initializer on about 1 Mi float32 elements ({@code [1024, 1024]}; conv
     * {@code [64, 64, 16, 16]} for Dirac; {@code [256, 256]} for Orthogonal, whose QR is cubic), each repeated
     * for about {@code secondsPerInitializer} seconds after a warm-up pass over all of them (0.3 of that each).
     */
    public static List<Throughput> throughput(double secondsPerInitializer) {
        long[] dense = {1024, 1024};
        List<Object[]> cases = List.of(
            new Object[] {new Zero(), dense}, new Object[] {new One(), dense},
            new Object[] {new Constant(0.5), dense}, new Object[] {new Normal(), dense},
            new Object[] {new TruncatedNormal(), dense}, new Object[] {new Uniform(), dense},
            new Object[] {new XavierUniform(), dense}, new Object[] {new XavierNormal(), dense},
            new Object[] {new HeUniform(), dense}, new Object[] {new HeNormal(), dense},
            new Object[] {new Identity(), dense}, new Object[] {new Dirac(), new long[] {64, 64, 16, 16}},
            new Object[] {new Orthogonal(), new long[] {256, 256}});
        for (Object[] c : cases) {
            long[] shape = (long[]) c[1];
            long warmUntil = System.nanoTime() + (long) (secondsPerInitializer * 0.3e9);
            do {
                ((Initializer) c[0]).generate(shape, DType.FLOAT32, 1, Box.full(shape));
            } while (System.nanoTime() < warmUntil);
        }
        List<Throughput> out = new ArrayList<>();
        for (Object[] c : cases) {
            Initializer init = (Initializer) c[0];
            long[] shape = (long[]) c[1];
            Box full = Box.full(shape);
            long elements = 0;
            long seed = 2;
            long t0 = System.nanoTime();
            long deadline = t0 + (long) (secondsPerInitializer * 1e9);
            do {
                elements += init.generate(shape, DType.FLOAT32, seed++, full).size();
            } while (System.nanoTime() < deadline);
            double s = (System.nanoTime() - t0) / 1e9;
            out.add(new Throughput(init.name(), shape, elements, s, elements / s));
        }
        return out;
    }

    /**
     * Memory of rank {@code rank} initialising its slice of {@code shape} (float32) split along dim 0 over
     * {@code devices} devices (dev matrix {@code [devices]}, tensor map {@code [0, -1, ...]}).
     */
    public static ShardMemory shardMemory(Initializer init, long[] shape, int devices, int rank) {
        int[] map = new int[shape.length];
        java.util.Arrays.fill(map, -1);
        map[0] = 0;
        Layout layout = Layout.of(new int[] {devices}, map, shape);
        LazyTensor lazy = new LazyTensor(init, shape, DType.FLOAT32, 1234);
        Box box = layout.sliceBox(rank);

        java.lang.management.ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        com.sun.management.ThreadMXBean sun = mx instanceof com.sun.management.ThreadMXBean
            ? (com.sun.management.ThreadMXBean) mx : null;
        long tid = Thread.currentThread().getId();
        List<MemoryPoolMXBean> heap = new ArrayList<>();
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
            if (p.getType() == MemoryType.HEAP) {
                heap.add(p);
            }
        }
        System.gc();
        long before = 0;
        for (MemoryPoolMXBean p : heap) {
            p.resetPeakUsage();
            before += p.getUsage().getUsed();
        }
        long alloc0 = sun != null ? sun.getThreadAllocatedBytes(tid) : -1;
        long t0 = System.nanoTime();
        Tensor slice = lazy.materialize(box);
        double seconds = (System.nanoTime() - t0) / 1e9;
        long alloc1 = sun != null ? sun.getThreadAllocatedBytes(tid) : -1;
        long peak = 0;
        for (MemoryPoolMXBean p : heap) {
            peak += p.getPeakUsage().getUsed();
        }
        long sliceBytes = slice.size() * DType.FLOAT32.bytes();
        return new ShardMemory(init.name(), shape, slice.shape(), lazy.bytes(), sliceBytes,
            sun != null ? alloc1 - alloc0 : -1, Math.max(0, peak - before), seconds);
    }

    /** The 1/64 slice (256 x 16384, 16 MiB) of a 1 GiB float32 Normal parameter {@code [16384, 16384]}, rank 0. */
    public static ShardMemory shardMemory() {
        return shardMemory(new Normal(), new long[] {16384, 16384}, 64, 0);
    }

    /** Throughput (about 0.3 s per initializer, a few seconds in all) and the sharded memory figure. */
    public static Figures run() {
        return new Figures(throughput(0.3), shardMemory());
    }

    /** Prints {@link #run()}. */
    public static void main(String[] args) {
        Figures f = run();
        System.out.println("initializer throughput (float32):");
        for (Throughput t : f.throughput()) {
            System.out.printf("  %-16s %-18s %8.1f M elements/s%n", t.initializer(),
                Tensor.shapeString(t.shape()), t.elementsPerSecond() / 1e6);
        }
        ShardMemory m = f.shardMemory();
        System.out.printf("sharded init: %s %s (%.1f MiB) -> rank 0 slice %s (%.1f MiB) in %.3f s%n",
            m.initializer(), Tensor.shapeString(m.fullShape()), m.fullBytes() / 1048576.0,
            Tensor.shapeString(m.sliceShape()), m.sliceBytes() / 1048576.0, m.seconds());
        System.out.printf("  allocated by the thread: %.1f MiB (%.2f x slice); heap peak growth: %.1f MiB%n",
            m.allocatedBytes() / 1048576.0, m.allocatedPerSliceByte(), m.peakHeapGrowthBytes() / 1048576.0);
    }
}
