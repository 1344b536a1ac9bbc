package io.tessera.simulator.numeric;

import io.tessera.layout.Box;
import io.tessera.layout.tensor.Tensor;
import io.tessera.planner.checkpoint.CheckpointIndex;
import io.tessera.planner.checkpoint.CheckpointLayout;
import io.tessera.planner.checkpoint.CheckpointOptions;
import io.tessera.planner.checkpoint.CheckpointTensor;
import io.tessera.planner.checkpoint.Checkpoints;
import io.tessera.planner.checkpoint.Piece;
import io.tessera.planner.checkpoint.RankFile;
import io.tessera.planner.checkpoint.SafeTensors;
import io.tessera.planner.checkpoint.CheckpointException;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.strategy.OptimizerKind;
import io.tessera.simulator.array.NDArray;
import io.tessera.simulator.cluster.RankState;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Sharded checkpoints of a numeric {@link Simulation}: {@link #save} writes the parallel run's current parameter
 * slices (or optimizer shards) and optimizer state, rank by rank, as {@link Checkpoints} lays them out for the
 * simulation's plan; {@link #load} puts a checkpoint of that plan back into the parallel run's ranks and, whole, into
 * its one-device reference. With {@link Checkpoints#reshard} in between, a run trained under one plan continues under
 * another, which checks a migration by execution.
 */
public final class SimulationCheckpoints {

    private SimulationCheckpoints() {
    }

    /**
     * Saves the parallel run's current state to {@code dir}: parameters in their dtype, optimizer state in float32
     * (PyTorch's names: {@code momentum_buffer}; {@code exp_avg}, {@code exp_avg_sq}).
     *
     * @param origin what the state is (e.g. "run X after 2 steps"); a rerun with the same origin keeps complete
     *               files
     * @return the index written
     */
    public static CheckpointIndex save(Simulation sim, boolean hfNames, String origin, Path dir,
                                       CheckpointOptions options) {
        PipelinePlan pipe = sim.pipelinePlan();
        CheckpointLayout layout = CheckpointLayout.of(pipe, true);
        Map<String, CheckpointTensor> tensors = layout.tensorMap();
        OptimizerKind kind = pipe.plan().config().optimizer();
        Checkpoints.SliceSource data = (rank, piece) -> {
            CheckpointTensor t = tensors.get(piece.tensor());
            String slot = slot(t, kind);
            RankState s = sim.rank(rank);
            if (!s.has(slot)) {
                return null;
            }
            NDArray a = s.get(slot);
            return Tensor.of(t.dtype(), piece.box().shape(), a.data());
        };
        return Checkpoints.save(layout, indexInfo(sim, hfNames), data, origin, dir, options);
    }

    private static CheckpointIndex.PlanInfo indexInfo(Simulation sim, boolean hfNames) {
        return Checkpoints.planInfo(sim.pipelinePlan(), hfNames);
    }

    /**
     * Loads checkpoint {@code dir}, saved or resharded for the simulation's plan, into the parallel run's ranks and
     * (assembled whole) into the one-device reference. Continue with {@link Simulation#parallelStep} and
     * {@link Simulation#referenceStep} at the step index the checkpoint was saved after (Adam's bias correction and
     * the batches depend on it).
     *
     * @throws CheckpointException when the checkpoint's layout is not the plan's
     */
    public static void load(Simulation sim, Path dir) {
        PipelinePlan pipe = sim.pipelinePlan();
        CheckpointIndex index = CheckpointIndex.read(dir);
        CheckpointLayout expected = CheckpointLayout.of(pipe, index.layout().hasOptimizerState());
        if (!expected.equals(index.layout())) {
            throw new CheckpointException("checkpoint " + dir + ": its slices are not those of the simulation's plan ("
                    + pipe.devices() + " ranks); reshard it to the plan first (tessera checkpoint reshard)");
        }
        OptimizerKind kind = pipe.plan().config().optimizer();
        Map<String, NDArray> whole = new LinkedHashMap<>();
        Map<String, CheckpointTensor> tensors = index.layout().tensorMap();
        for (RankFile f : index.layout().files()) {
            Map<String, Tensor> values = SafeTensors.read(dir.resolve(f.file()));
            RankState s = sim.rank(f.rank());
            for (Piece p : f.pieces()) {
                CheckpointTensor t = tensors.get(p.tensor());
                double[] v = values.get(p.name()).toDoubleArray();
                s.put(slot(t, kind), NDArray.of(p.box().shape(), v.clone()));
                NDArray full = whole.computeIfAbsent(t.name(), k -> NDArray.zeros(t.shape()));
                place(full, p.box(), v);
            }
        }
        RankState ref = sim.referenceRank();
        for (Map.Entry<String, NDArray> e : whole.entrySet()) {
            ref.put(slot(tensors.get(e.getKey()), kind), e.getValue());
        }
    }

    /** The simulation slot of a checkpoint tensor. */
    static String slot(CheckpointTensor t, OptimizerKind kind) {
        if (t.isParameter()) {
            return "param/" + t.name();
        }
        String moment = switch (t.state()) {
            case "momentum_buffer", "exp_avg_sq" -> "v";
            case "exp_avg" -> "m";
            default -> throw new CheckpointException("optimizer state '" + t.state() + "' of '" + t.parameter()
                    + "' is not one the " + kind.jsonName() + " optimizer keeps; expected "
                    + CheckpointLayout.stateNames(kind));
        };
        return "opt/" + t.parameter() + "/" + moment;
    }

    /** Writes {@code values} (row-major over {@code box}) into {@code full} at {@code box}. */
    private static void place(NDArray full, Box box, double[] values) {
        long[] shape = full.shape();
        int n = shape.length;
        double[] d = full.data();
        if (n == 0) {
            d[0] = values[0];
            return;
        }
        long[] p = box.start();
        if (box.isEmpty()) {
            return;
        }
        int run = (int) box.extent(n - 1);
        int i = 0;
        while (true) {
            long at = 0;
            for (int k = 0; k < n; k++) {
                at = at * shape[k] + p[k];
            }
            System.arraycopy(values, i, d, (int) at, run);
            i += run;
            int k = n - 2;
            while (k >= 0 && ++p[k] == box.end(k)) {
                p[k] = box.start(k);
                k--;
            }
            if (k < 0) {
                return;
            }
        }
    }
}
