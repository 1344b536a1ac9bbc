package io.tessera.simulator.numeric;

import io.tessera.layout.Box;
import io.tessera.layout.DType;
import io.tessera.layout.Layout;
import io.tessera.layout.TensorMap;
import io.tessera.layout.redistribution.Block;
import io.tessera.layout.redistribution.RedistributionExecutor;
import io.tessera.layout.redistribution.RedistributionPlan;
import io.tessera.planner.graph.BackwardGraph;
import io.tessera.planner.graph.Network;
import io.tessera.planner.plan.Communication;
import io.tessera.planner.plan.OpExecution;
import io.tessera.planner.plan.OpPlan;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.plan.Plan;
import io.tessera.simulator.array.NDArray;
import io.tessera.simulator.cluster.RankState;
import io.tessera.simulator.kernel.KernelContext;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What every emitter of an {@link Execution} shares: the plan and its network, the options, the ranks per stage, and
 * the helpers turning a rank's memory into slices (its local rank, rounding to the simulated dtype, kernel contexts,
 * regions of boxes) and running a redistribution plan the plan carries.
 */
final class ExecutionContext {

    final PipelinePlan pipe;
    final Plan plan;
    final Network net;
    final BackwardGraph bg;
    final SimulationOptions options;
    /** Ranks per stage. */
    final int n;
    final int microBatches;
    /** Inputs ({@code op/input}) whose redistribution later consumers reuse: they sum those consumers' gradients. */
    private final Set<String> shared = new HashSet<>();
    /**
     * The one-device reference's factors on parameter gradient contributions (see {@link GradientScales}), by
     * {@link GradientScales#key}; empty for a parallel run.
     */
    final Map<String, Double> gradientScales;

    ExecutionContext(PipelinePlan pipe, SimulationOptions options) {
        this(pipe, options, Map.of());
    }

    ExecutionContext(PipelinePlan pipe, SimulationOptions options, Map<String, Double> gradientScales) {
        this.gradientScales = Map.copyOf(gradientScales);
        this.pipe = pipe;
        this.plan = pipe.plan();
        this.net = plan.network();
        this.bg = net.backward();
        this.options = options;
        this.n = plan.devices();
        this.microBatches = pipe.microBatches();
        for (OpPlan op : plan.ops()) {
            // every operator must carry what executing it needs (fails early, naming the operator)
            op.requireExecution();
            op.reuses().forEach(u -> shared.add(u.owner() + "/" + u.ownerInput()));
        }
    }

    /** Whether later consumers reuse the redistribution of input {@code input} of {@code op}. */
    boolean shared(String op, int input) {
        return shared.contains(op + "/" + input);
    }

    /** The execution record of {@code op} (the plan's redistribution plans and communications). */
    static OpExecution exec(OpPlan op) {
        return op.requireExecution();
    }

    /** Whether input {@code i} of {@code op} is redistributed in forward (its layout differs from its producer's). */
    static boolean redistributed(OpPlan op, int i) {
        return exec(op).input(i).redistributed();
    }

    /** The stage-local rank of a rank's memory. */
    int local(RankState s) {
        return s.rank() % n;
    }

    /** {@code a} rounded to the simulated dtype (in place for float32), returned. */
    NDArray round(NDArray a) {
        return options.dtype() == DType.FLOAT32 ? a.roundToFloat() : a;
    }

    /** The training step being emitted (from 0), for {@link #seed(String)}. */
    private int step;
    /** The micro-batch of {@link #step} being emitted (from 0), for {@link #seed(String)}. */
    private int microBatch;

    /** Starts emitting micro-batch {@code microBatch} of training step {@code step} (both from 0). */
    void startMicroBatch(int step, int microBatch) {
        this.step = step;
        this.microBatch = microBatch;
    }

    /**
     * The seed of operator {@code op}'s random masks in the micro-batch being emitted: a 64-bit hash of the run's
     * seed, the operator's name, the step and the micro-batch, so that two Dropouts draw independent masks and one
     * Dropout draws a new mask every step and micro-batch. The one-device reference and every rank of a parallel run
     * get the same seed for the same operator, step and micro-batch (masks are then keyed by global coordinates, so
     * sharded runs still equal one device); forward and backward of a micro-batch share it. Call it while emitting,
     * outside the rank programs' closures.
     */
    long seed(String op) {
        long h = mix(options.seed() ^ 0x9E3779B97F4A7C15L);
        for (int i = 0; i < op.length(); i++) {
            h = mix(h ^ op.charAt(i));
        }
        h = mix(h ^ ((long) op.length() << 32));
        h = mix(h ^ step);
        return mix(h ^ ((long) microBatch << 32 | 0x5bd1e995L));
    }

    /** The splitmix64 finaliser. */
    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /**
     * The kernel context of {@code op} on local rank {@code rank}: its input and output slice boxes, and the seed
     * {@code seed} of its random masks (from {@link #seed(String)}).
     */
    KernelContext context(OpPlan op, int rank, long seed) {
        List<Box> in = new ArrayList<>();
        for (Layout l : op.inputLayouts()) {
            in.add(l.sliceBox(rank));
        }
        List<Box> out = new ArrayList<>();
        for (Layout l : op.outputLayouts()) {
            out.add(l.sliceBox(rank));
        }
        List<long[]> shapes = new ArrayList<>();
        for (Layout l : op.inputLayouts()) {
            shapes.add(l.shape());
        }
        return new KernelContext(in, out, options.dtype(), seed, shapes);
    }

    /**
     * Puts the tensor of slot {@code src} (in layout {@code from}) into slot {@code dst} in layout {@code to} by the
     * plan's redistribution {@code rp}: an alias when null, a local slice when it has only local steps, else one
     * collective over the stage's ranks running its steps.
     */
    void move(RankPrograms p, Slot src, Layout from, Layout to, RedistributionPlan rp, Slot dst, String what) {
        if (rp == null || rp.steps().isEmpty()) {
            p.compute("alias " + dst, s -> dst.put(s, src.get(s)));
        } else if (rp.communicationStepCount() == 0) {
            p.compute("slice " + dst, s -> dst.put(s, region(src.get(s), from.sliceBox(local(s)),
                    to.sliceBox(local(s)))));
        } else {
            List<Integer> all = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                all.add(r);
            }
            p.collective("redistribution of " + what, List.of(all), members -> {
                List<Block> blocks = new ArrayList<>();
                for (RankState m : members) {
                    blocks.add(src.get(m).toBlock(from.sliceBox(local(m))));
                }
                List<Block> out = RedistributionExecutor.run(rp.steps(), blocks);
                for (RankState m : members) {
                    dst.put(m, NDArray.of(out.get(local(m))));
                }
            });
        }
    }

    /** Region {@code region} of array {@code a} covering box {@code of}. */
    static NDArray region(NDArray a, Box of, Box region) {
        return NDArray.of(a.toBlock(of).region(region));
    }

    /** Pastes {@code local}, covering {@code box}, into {@code full}. */
    static void paste(NDArray full, NDArray local, Box box) {
        Block whole = Block.of(Box.full(full.shape()), full.data());
        Block merged = Block.assemble(Box.full(full.shape()), List.of(whole, local.toBlock(box)));
        System.arraycopy(merged.data(), 0, full.data(), 0, full.size());
    }

    /** The dimension split over several device dimensions (a reduce-scattered output's). */
    static int multiDim(TensorMap m) {
        for (int d = 0; d < m.size(); d++) {
            if (m.entry(d) instanceof TensorMap.SplitMulti) {
                return d;
            }
        }
        throw new IllegalStateException("no dimension split over several device dims in " + m);
    }

    /** The union of the input boxes of the group of {@code rank}: what a partly carried Reshape gathers. */
    static Box union(Communication gather, OpPlan op, int rank) {
        Layout in = op.inputLayouts().get(0);
        long[] start = null;
        long[] end = null;
        for (List<Integer> g : gather.groups()) {
            if (!g.contains(rank)) {
                continue;
            }
            for (int r : g) {
                Box b = in.sliceBox(r);
                if (start == null) {
                    start = b.start();
                    end = b.end();
                }
                for (int d = 0; d < start.length; d++) {
                    start[d] = Math.min(start[d], b.start(d));
                    end[d] = Math.max(end[d], b.end(d));
                }
            }
        }
        return Box.of(start, end);
    }
}
