package io.tessera.simulator.kernel;

import io.tessera.planner.op.Activation;
import io.tessera.planner.op.BatchNorm;
import io.tessera.planner.op.BiasAdd;
import io.tessera.planner.op.Binary;
import io.tessera.planner.op.Cast;
import io.tessera.planner.op.Conv2D;
import io.tessera.planner.op.Dropout;
import io.tessera.planner.op.Gather;
import io.tessera.planner.op.LayerNorm;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.Operator;
import io.tessera.planner.op.Reduce;
import io.tessera.planner.op.Reshape;
import io.tessera.planner.op.Softmax;
import io.tessera.planner.op.SoftmaxCrossEntropyWithLogits;
import io.tessera.planner.op.Transpose;
import io.tessera.simulator.array.NDArray;

import java.util.List;

/** Dispatches an operator to its kernel: one kernel class per operator record of the catalogue. */
public final class Kernels {

    private Kernels() {
    }

    /** The operator's outputs computed on local inputs. */
    public static List<NDArray> forward(Operator op, KernelContext ctx, List<NDArray> in) {
        if (op instanceof MatMul o) {
            return MatMulKernel.forward(o, ctx, in);
        } else if (op instanceof Binary o) {
            return BinaryKernel.forward(o, ctx, in);
        } else if (op instanceof BiasAdd o) {
            return BiasAddKernel.forward(o, ctx, in);
        } else if (op instanceof Activation o) {
            return ActivationKernel.forward(o, ctx, in);
        } else if (op instanceof Dropout o) {
            return DropoutKernel.forward(o, ctx, in);
        } else if (op instanceof Cast o) {
            return CastKernel.forward(o, ctx, in);
        } else if (op instanceof Softmax o) {
            return SoftmaxKernel.forward(o, ctx, in);
        } else if (op instanceof SoftmaxCrossEntropyWithLogits o) {
            return SoftmaxCrossEntropyKernel.forward(o, ctx, in);
        } else if (op instanceof Reduce o) {
            return ReduceKernel.forward(o, ctx, in);
        } else if (op instanceof LayerNorm o) {
            return LayerNormKernel.forward(o, ctx, in);
        } else if (op instanceof BatchNorm o) {
            return BatchNormKernel.forward(o, ctx, in);
        } else if (op instanceof Reshape o) {
            return ReshapeKernel.forward(o, ctx, in);
        } else if (op instanceof Transpose o) {
            return TransposeKernel.forward(o, ctx, in);
        } else if (op instanceof Gather o) {
            return GatherKernel.forward(o, ctx, in);
        } else if (op instanceof Conv2D o) {
            return Conv2DKernel.forward(o, ctx, in);
        }
        throw new IllegalArgumentException("no kernel for operator " + op.type());
    }

    /** The gradients of the operator's inputs (null where not needed) from its outputs' gradients. */
    public static List<NDArray> backward(Operator op, KernelContext ctx, List<NDArray> in, List<NDArray> out,
                                         List<NDArray> outGrads, boolean[] needsGrad) {
        if (op instanceof MatMul o) {
            return MatMulKernel.backward(o, ctx, in, out, outGrads, needsGrad);
        } else if (op instanceof Binary o) {
            return BinaryKernel.backward(o, ctx, in, out, outGrads, needsGrad);
        } else if (op instanceof BiasAdd o) {
            return BiasAddKernel.backward(o, ctx, in, out, outGrads, needsGrad);
        } else if (op instanceof Activation o) {
            return ActivationKernel.backward(o, ctx, in, out, outGrads, needsGrad);
        } else if (op instanceof Dropout o) {
            return DropoutKernel.backward(o, ctx, in, out, outGrads, needsGrad);
        } else if (op instanceof Cast o) {
            return CastKernel.backward(o, ctx, in, out, outGrads, needsGrad);
        } else if (op instanceof Softmax o) {
            return SoftmaxKernel.backward(o, ctx, in, out, outGrads, needsGrad);
        } else if (op instanceof SoftmaxCrossEntropyWithLogits o) {
            return SoftmaxCrossEntropyKernel.backward(o, ctx, in, out, outGrads, needsGrad);
        } else if (op instanceof Reduce o) {
            return ReduceKernel.backward(o, ctx, in, out, outGrads, needsGrad);
        } else if (op instanceof LayerNorm o) {
            return LayerNormKernel.backward(o, ctx, in, out, outGrads, needsGrad);
        } else if (op instanceof BatchNorm o) {
            return BatchNormKernel.backward(o, ctx, in, out, outGrads, needsGrad);
        } else if (op instanceof Reshape o) {
            return ReshapeKernel.backward(o, ctx, in, out, outGrads, needsGrad);
        } else if (op instanceof Transpose o) {
            return TransposeKernel.backward(o, ctx, in, out, outGrads, needsGrad);
        } else if (op instanceof Gather o) {
            return GatherKernel.backward(o, ctx, in, out, outGrads, needsGrad);
        } else if (op instanceof Conv2D o) {
            return Conv2DKernel.backward(o, ctx, in, out, outGrads, needsGrad);
        }
        throw new IllegalArgumentException("no kernel for operator " + op.type());
    }
}
