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
 * @param inputShapes per input, the global (unsliced) shape, or an empty list when unknown (the kernels then take
 *                    each box's end as the extent: right for full boxes); read by kernels whose result depends on
 *                    the global size (the load-balanced sequence order of FlashAttention and RoPE)
 */
public record KernelContext(List<Box> inputBoxes, List<Box> outputBoxes, DType dtype, long seed,
                            List<long[]> inputShapes) {

    /** Copies the lists. */
    public KernelContext {
        inputBoxes = List.copyOf(inputBoxes);
        outputBoxes = List.copyOf(outputBoxes);
        inputShapes = List.copyOf(inputShapes);
    }

    /** A context without global shapes (one device, or kernels that need only the boxes). */
    public KernelContext(List<Box> inputBoxes, List<Box> outputBoxes, DType dtype, long seed) {
        this(inputBoxes, outputBoxes, dtype, seed, List.of());
    }

    /** The same context with other input boxes (e.g. the key/value block a ring step holds). */
    public KernelContext withInputBoxes(List<Box> boxes) {
        return new KernelContext(boxes, outputBoxes, dtype, seed, inputShapes);
    }

    /**
     * The global size of dimension {@code dim} of input {@code i}: from {@link #inputShapes} when given, else the end
     * of the input's box (the local size {@code local} without a box).
     */
    public long globalDim(int i, int dim, long local) {
        if (inputShapes.size() > i) {
            return inputShapes.get(i)[dim];
        }
        return inputBoxes.size() > i ? inputBoxes.get(i).end()[dim] : local;
    }
}
