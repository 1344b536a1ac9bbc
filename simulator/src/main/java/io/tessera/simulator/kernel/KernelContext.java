package io.tessera.simulator.kernel;

import io.tessera.layout.Box;
import io.tessera.layout.DType;

import java.util.List;

/**
 * Where a kernel runs: the global region each local input and output covers (full boxes on one device), the
 * element type, and the seed of random operators. Kernels compute on local slices; results that are partial
 * (a split contraction, a split reduced dimension, a broadcast input's gradient) are reduced by the simulator with
 * the communication of the plan, not by the kernel.
 *
 * @param inputBoxes  per input, the global region of the local array
 * @param outputBoxes per output, the global region of the local array
 * @param dtype       the element type (float32: outputs are rounded to float precision by the simulator)
 * @param seed        the seed of random operators (Dropout masks are a hash of (seed, global coordinates of the
 *                    element), the same however the tensor is sliced)
 */
public record KernelContext(List<Box> inputBoxes, List<Box> outputBoxes, DType dtype, long seed) {

    /** Copies the lists. */
    public KernelContext {
        inputBoxes = List.copyOf(inputBoxes);
        outputBoxes = List.copyOf(outputBoxes);
    }
}
