package io.tessera.planner.op;

import io.tessera.layout.comm.CollectiveKind;
import io.tessera.layout.comm.Phase;

import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.TensorMap;
import io.tessera.layout.redistribution.ReduceOp;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeSet;

/**
 * Shared steps of the sharding rules: strategy validation with uniform messages, the repeated-calculation dimension,
 * tensor maps from device-dimension indices, and the generic derivation of an operator's own communication.
 *
 * <p>Rules describe each tensor dimension by the indices (from the left) of the operator's device dimensions that
 * split it. Communication then follows from which tensors use which device dimensions: a device dimension that splits
 * some input but no output holds partial results, so the outputs are reduced over it in the forward pass; an input
 * that does not use a device dimension splitting another tensor of the operator receives a partial gradient from
 * each rank along it, so its gradient is summed over it in the backward pass. The appended repeated-calculation
 * dimension splits nothing and needs no communication.
 */
public final class Sharding {

    private Sharding() {
    }

    /** The label of an operator in messages: {@code MatMul 'dense1'}. */
    public static String label(Operator op, String name) {
        return op.type() + " '" + name + "'";
    }

    /**
     * Checks that {@code strategy} has one tuple per input, one positive value per dimension, each dividing its
     * dimension.
     *
     * @throws IllegalArgumentException naming the operator, the input, the dimension and the rule broken
     */
    public static void checkStrategy(String label, List<TensorType> inputs, Strategy strategy) {
        if (strategy == null) {
            throw new IllegalArgumentException(label + ": no in_strategy; give one tuple per input");
        }
        if (strategy.size() != inputs.size()) {
            throw new IllegalArgumentException(label + ": in_strategy " + strategy + " has " + strategy.size()
                    + " tuple" + (strategy.size() == 1 ? "" : "s") + " but the operator has " + inputs.size()
                    + " input" + (inputs.size() == 1 ? "" : "s") + "; give one tuple per input");
        }
        for (int i = 0; i < inputs.size(); i++) {
            checkTuple(label, "input " + i, inputs.get(i), strategy.tuple(i));
        }
    }

    /** Checks one tuple against one tensor: its length, positive values, divisibility. */
    public static void checkTuple(String label, String what, TensorType t, int[] tuple) {
        if (tuple.length != t.rank()) {
            throw new IllegalArgumentException(label + ": " + what + " strategy " + Arrays.toString(tuple) + " has "
                    + tuple.length + " values but the tensor " + t + " has " + t.rank()
                    + " dims; give one value per dimension");
        }
        for (int d = 0; d < tuple.length; d++) {
            if (tuple[d] <= 0) {
                throw new IllegalArgumentException(label + ": " + what + " dim " + d + " is split " + tuple[d]
                        + " ways; expected a positive number of slices");
            }
            if (t.dim(d) % tuple[d] != 0) {
                throw new IllegalArgumentException(label + ": " + what + " dim " + d + " of size " + t.dim(d)
                        + " is split " + tuple[d] + " ways, which does not divide it; choose a divisor of "
                        + t.dim(d));
            }
        }
    }

    /** Checks that dimension {@code dim} of {@code what} is not split (value 1), naming {@code rule}. */
    public static void checkUnsplit(String label, String what, int dim, int[] tuple, String rule) {
        if (tuple[dim] != 1) {
            throw new IllegalArgumentException(label + ": " + what + " dim " + dim + " is split " + tuple[dim]
                    + " ways but must not be split (" + rule + "); set it to 1");
        }
    }

    /** Checks that two splits agree, naming both places and {@code rule}. */
    public static void checkEqual(String label, String whatA, int a, String whatB, int b, String rule) {
        if (a != b) {
            throw new IllegalArgumentException(label + ": " + whatA + " is split " + a + " ways but " + whatB
                    + " is split " + b + " ways; " + rule);
        }
    }

    /** Per tensor dimension, the operator device dimension splitting it ({@code -1} = none), as the rule's input. */
    public static int[][] dims(int... deviceDims) {
        int[][] out = new int[deviceDims.length][];
        for (int i = 0; i < deviceDims.length; i++) {
            out[i] = deviceDims[i] < 0 ? new int[0] : new int[] {deviceDims[i]};
        }
        return out;
    }

    /**
     * Derives the sharding of an operator.
     *
     * @param label        the operator label for messages
     * @param opDev        the operator's device matrix from its strategy, without the repeated dimension
     * @param inputDims    per input, per tensor dimension, the indices (from the left) of the device dims splitting it
     * @param outputDims   the same for outputs
     * @param needsGrad    per input, whether it has a gradient (floating tensors do; indices do not)
     * @param devices      the number of devices in the stage
     * @param reduce       the reduction of partial outputs (SUM for contractions, MAX for ReduceMax, ...)
     * @param forwardWhy   the reason printed for a forward reduction
     * @param extra        communication the rule adds itself (e.g. a ReduceScatter), axes as opDev indices; forward
     *                     reductions of outputs it lists are not derived again
     * @throws IllegalArgumentException when the strategy uses more devices than the stage or does not divide it
     */
    public static OpSharding derive(String label, int[] opDev, List<int[][]> inputDims, List<int[][]> outputDims,
                                    boolean[] needsGrad, int devices, ReduceOp reduce, String forwardWhy,
                                    List<OpComm> extra) {
        long covered = 1;
        for (int d : opDev) {
            covered *= d;
        }
        if (covered > devices || devices % covered != 0) {
            throw new IllegalArgumentException(label + ": the strategy uses " + covered + " devices but the stage has "
                    + devices + "; the product of the splits must divide the device count");
        }
        int repeated = (int) (devices / covered);
        int[] dev = repeated > 1 ? Arrays.copyOf(opDev, opDev.length + 1) : opDev.clone();
        if (repeated > 1) {
            dev[opDev.length] = repeated;
        }
        if (dev.length == 0) {
            dev = new int[] {devices};
        }
        int n = dev.length;
        List<TensorMap> inMaps = new ArrayList<>();
        for (int[][] t : inputDims) {
            inMaps.add(toMap(t, n));
        }
        List<TensorMap> outMaps = new ArrayList<>();
        for (int[][] t : outputDims) {
            outMaps.add(toMap(t, n));
        }
        List<OpComm> comms = new ArrayList<>();
        for (OpComm c : extra) {
            comms.add(new OpComm(c.kind(), c.reduce(), c.phase(), c.output(), c.index(), toAxes(c.axes(), n),
                    c.reason(), c.payload()));
        }
        TreeSet<Integer> usedIn = new TreeSet<>();
        inputDims.forEach(t -> used(t, usedIn));
        for (int o = 0; o < outputDims.size(); o++) {
            final int out = o;
            if (extra.stream().anyMatch(c -> c.output() && c.index() == out && c.phase() == Phase.FORWARD)) {
                continue;
            }
            TreeSet<Integer> partial = new TreeSet<>(usedIn);
            partial.removeAll(used(outputDims.get(o), new TreeSet<>()));
            partial.removeIf(d -> opDev[d] == 1);
            if (!partial.isEmpty()) {
                comms.add(new OpComm(CollectiveKind.ALL_REDUCE, reduce, Phase.FORWARD, true, o,
                        toAxes(partial, n), forwardWhy));
            }
        }
        for (int i = 0; i < inputDims.size(); i++) {
            if (!needsGrad[i]) {
                continue;
            }
            TreeSet<Integer> others = new TreeSet<>();
            for (int j = 0; j < inputDims.size(); j++) {
                if (j != i) {
                    used(inputDims.get(j), others);
                }
            }
            outputDims.forEach(t -> used(t, others));
            others.removeAll(used(inputDims.get(i), new TreeSet<>()));
            others.removeIf(d -> opDev[d] == 1);
            if (!others.isEmpty()) {
                comms.add(new OpComm(CollectiveKind.ALL_REDUCE, ReduceOp.SUM, Phase.BACKWARD, false, i,
                        toAxes(others, n), "input " + i + " is replicated along device dims that split other tensors"
                        + " of the operator, so each rank holds a partial gradient"));
            }
        }
        return new OpSharding(DeviceMatrix.of(dev), inMaps, outMaps, comms, repeated);
    }

    private static TreeSet<Integer> used(int[][] tensor, TreeSet<Integer> into) {
        for (int[] dims : tensor) {
            for (int d : dims) {
                into.add(d);
            }
        }
        return into;
    }

    private static TensorMap toMap(int[][] tensor, int devRank) {
        List<TensorMap.Entry> entries = new ArrayList<>();
        for (int[] dims : tensor) {
            if (dims.length == 0) {
                entries.add(TensorMap.notSplit());
            } else if (dims.length == 1) {
                entries.add(TensorMap.Entry.of(devRank - 1 - dims[0]));
            } else {
                entries.add(TensorMap.Entry.of(toAxes(dims, devRank)));
            }
        }
        return TensorMap.of(entries);
    }

    private static int[] toAxes(int[] devIndices, int devRank) {
        int[] out = new int[devIndices.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = devRank - 1 - devIndices[i];
        }
        return out;
    }

    private static int[] toAxes(TreeSet<Integer> devIndices, int devRank) {
        return toAxes(devIndices.stream().mapToInt(Integer::intValue).toArray(), devRank);
    }

    /** The largest divisor of {@code devices} that divides {@code size}: a data-parallel split that always fits. */
    public static int fit(long size, int devices) {
        long a = size;
        long b = devices;
        while (b != 0) {
            long t = a % b;
            a = b;
            b = t;
        }
        return (int) a;
    }
}
