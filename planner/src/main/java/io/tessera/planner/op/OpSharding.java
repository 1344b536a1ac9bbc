package io.tessera.planner.op;

import io.tessera.layout.comm.Phase;

import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.Layout;
import io.tessera.layout.TensorMap;

import java.util.List;

/**
 * What an operator's sharding rule derives from a strategy: the operator's device matrix (with the
 * repeated-calculation dimension appended on the right when the strategy covers fewer devices than the stage), the
 * tensor maps of its inputs and outputs over that matrix, and the communication the operator itself needs. Immutable.
 *
 * @param devMatrix  the operator's device matrix
 * @param inputMaps  one tensor map per input
 * @param outputMaps one tensor map per output
 * @param comms      the operator's own communication, forward and backward
 * @param repeated   the size of the appended repeated-calculation dimension (1 when none was appended)
 */
public record OpSharding(DeviceMatrix devMatrix, List<TensorMap> inputMaps, List<TensorMap> outputMaps,
                         List<OpComm> comms, int repeated) {

    /** Copies the lists. */
    public OpSharding {
        inputMaps = List.copyOf(inputMaps);
        outputMaps = List.copyOf(outputMaps);
        comms = List.copyOf(comms);
    }

    /** The layout input {@code i} must have, for a tensor of type {@code t}. */
    public Layout inputLayout(int i, TensorType t) {
        return Layout.of(devMatrix, inputMaps.get(i), t.shape());
    }

    /** The layout output {@code i} has, for a tensor of type {@code t}. */
    public Layout outputLayout(int i, TensorType t) {
        return Layout.of(devMatrix, outputMaps.get(i), t.shape());
    }

    /** The forward communications. */
    public List<OpComm> forward() {
        return comms.stream().filter(c -> c.phase() == Phase.FORWARD).toList();
    }

    /** The backward communications. */
    public List<OpComm> backward() {
        return comms.stream().filter(c -> c.phase() == Phase.BACKWARD).toList();
    }
}
