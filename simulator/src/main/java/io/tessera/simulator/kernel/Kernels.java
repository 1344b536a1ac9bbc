package io.tessera.simulator.kernel;

import io.tessera.planner.op.Activation;
import io.tessera.planner.op.BatchNorm;
import io.tessera.planner.op.BiasAdd;
import io.tessera.planner.op.Binary;
import io.tessera.planner.op.Cast;
import io.tessera.planner.op.CausalMask;
import io.tessera.planner.op.Conv2D;
import io.tessera.planner.op.Dropout;
import io.tessera.planner.op.FlashAttention;
import io.tessera.planner.op.Gather;
import io.tessera.planner.op.LayerNorm;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.MoeCombine;
import io.tessera.planner.op.MoeDispatch;
import io.tessera.planner.op.MoeAuxLoss;
import io.tessera.planner.op.Concat;
import io.tessera.planner.op.BroadcastTo;
import io.tessera.planner.op.MoeRouter;
import io.tessera.planner.op.Operator;
import io.tessera.planner.op.RMSNorm;
import io.tessera.planner.op.Reduce;
import io.tessera.planner.op.Reshape;
import io.tessera.planner.op.Rope;
import io.tessera.planner.op.Softmax;
import io.tessera.planner.op.SoftmaxCrossEntropyWithLogits;
import io.tessera.planner.op.Split;
import io.tessera.planner.op.Transpose;
import io.tessera.simulator.array.NDArray;

import java.util.List;

/**
 * Dispatches an operator to its kernel: one kernel class {@code <Op>Kernel} per operator record of the catalogue,
 * reached through {@link Operator.Visitor}, so an operator without a kernel does not compile.
 */
public final class Kernels {

    private Kernels() {
    }

    /** The operator's outputs computed on local inputs. */
    public static List<NDArray> forward(Operator op, KernelContext ctx, List<NDArray> in) {
        return op.accept(new Forward(ctx, in));
    }

    /** The gradients of the operator's inputs (null where not needed) from its outputs' gradients. */
    public static List<NDArray> backward(Operator op, KernelContext ctx, List<NDArray> in, List<NDArray> out,
                                         List<NDArray> outGrads, boolean[] needsGrad) {
        return op.accept(new Backward(ctx, in, out, outGrads, needsGrad));
    }

    /** Each operator's forward kernel on local inputs. */
    private record Forward(KernelContext ctx, List<NDArray> in) implements Operator.Visitor<List<NDArray>> {

        @Override
        public List<NDArray> visit(MatMul op) {
            return MatMulKernel.forward(op, ctx, in);
        }

        @Override
        public List<NDArray> visit(Binary op) {
            return BinaryKernel.forward(op, ctx, in);
        }

        @Override
        public List<NDArray> visit(BiasAdd op) {
            return BiasAddKernel.forward(op, ctx, in);
        }

        @Override
        public List<NDArray> visit(Activation op) {
            return ActivationKernel.forward(op, ctx, in);
        }

        @Override
        public List<NDArray> visit(Dropout op) {
            return DropoutKernel.forward(op, ctx, in);
        }

        @Override
        public List<NDArray> visit(CausalMask op) {
            return CausalMaskKernel.forward(op, ctx, in);
        }

        @Override
        public List<NDArray> visit(Cast op) {
            return CastKernel.forward(op, ctx, in);
        }

        @Override
        public List<NDArray> visit(Softmax op) {
            return SoftmaxKernel.forward(op, ctx, in);
        }

        @Override
        public List<NDArray> visit(LayerNorm op) {
            return LayerNormKernel.forward(op, ctx, in);
        }

        @Override
        public List<NDArray> visit(RMSNorm op) {
            return RMSNormKernel.forward(op, ctx, in);
        }

        @Override
        public List<NDArray> visit(BatchNorm op) {
            return BatchNormKernel.forward(op, ctx, in);
        }

        @Override
        public List<NDArray> visit(SoftmaxCrossEntropyWithLogits op) {
            return SoftmaxCrossEntropyKernel.forward(op, ctx, in);
        }

        @Override
        public List<NDArray> visit(Reshape op) {
            return ReshapeKernel.forward(op, ctx, in);
        }

        @Override
        public List<NDArray> visit(Transpose op) {
            return TransposeKernel.forward(op, ctx, in);
        }

        @Override
        public List<NDArray> visit(Reduce op) {
            return ReduceKernel.forward(op, ctx, in);
        }

        @Override
        public List<NDArray> visit(Gather op) {
            return GatherKernel.forward(op, ctx, in);
        }

        @Override
        public List<NDArray> visit(Conv2D op) {
            return Conv2DKernel.forward(op, ctx, in);
        }

        @Override
        public List<NDArray> visit(FlashAttention op) {
            return FlashAttentionKernel.forward(op, ctx, in);
        }

        @Override
        public List<NDArray> visit(Rope op) {
            return RopeKernel.forward(op, ctx, in);
        }

        @Override
        public List<NDArray> visit(Split op) {
            return SplitKernel.forward(op, ctx, in);
        }

        @Override
        public List<NDArray> visit(MoeDispatch op) {
            return MoeDispatchKernel.forward(op, ctx, in);
        }

        @Override
        public List<NDArray> visit(MoeCombine op) {
            return MoeCombineKernel.forward(op, ctx, in);
        }

        @Override
        public List<NDArray> visit(MoeRouter op) {
            return MoeRouterKernel.forward(op, ctx, in);
        }

        @Override
        public List<NDArray> visit(MoeAuxLoss op) {
            return MoeAuxLossKernel.forward(op, ctx, in);
        }

        @Override
        public List<NDArray> visit(Concat op) {
            return ConcatKernel.forward(op, ctx, in);
        }

        @Override
        public List<NDArray> visit(BroadcastTo op) {
            return BroadcastToKernel.forward(op, ctx, in);
        }
    }

    /** Each operator's backward kernel. */
    private record Backward(KernelContext ctx, List<NDArray> in, List<NDArray> out, List<NDArray> outGrads,
                            boolean[] needsGrad) implements Operator.Visitor<List<NDArray>> {

        @Override
        public List<NDArray> visit(MatMul op) {
            return MatMulKernel.backward(op, ctx, in, out, outGrads, needsGrad);
        }

        @Override
        public List<NDArray> visit(Binary op) {
            return BinaryKernel.backward(op, ctx, in, out, outGrads, needsGrad);
        }

        @Override
        public List<NDArray> visit(BiasAdd op) {
            return BiasAddKernel.backward(op, ctx, in, out, outGrads, needsGrad);
        }

        @Override
        public List<NDArray> visit(Activation op) {
            return ActivationKernel.backward(op, ctx, in, out, outGrads, needsGrad);
        }

        @Override
        public List<NDArray> visit(Dropout op) {
            return DropoutKernel.backward(op, ctx, in, out, outGrads, needsGrad);
        }

        @Override
        public List<NDArray> visit(CausalMask op) {
            return CausalMaskKernel.backward(op, ctx, in, out, outGrads, needsGrad);
        }

        @Override
        public List<NDArray> visit(Cast op) {
            return CastKernel.backward(op, ctx, in, out, outGrads, needsGrad);
        }

        @Override
        public List<NDArray> visit(Softmax op) {
            return SoftmaxKernel.backward(op, ctx, in, out, outGrads, needsGrad);
        }

        @Override
        public List<NDArray> visit(LayerNorm op) {
            return LayerNormKernel.backward(op, ctx, in, out, outGrads, needsGrad);
        }

        @Override
        public List<NDArray> visit(RMSNorm op) {
            return RMSNormKernel.backward(op, ctx, in, out, outGrads, needsGrad);
        }

        @Override
        public List<NDArray> visit(BatchNorm op) {
            return BatchNormKernel.backward(op, ctx, in, out, outGrads, needsGrad);
        }

        @Override
        public List<NDArray> visit(SoftmaxCrossEntropyWithLogits op) {
            return SoftmaxCrossEntropyKernel.backward(op, ctx, in, out, outGrads, needsGrad);
        }

        @Override
        public List<NDArray> visit(Reshape op) {
            return ReshapeKernel.backward(op, ctx, in, out, outGrads, needsGrad);
        }

        @Override
        public List<NDArray> visit(Transpose op) {
            return TransposeKernel.backward(op, ctx, in, out, outGrads, needsGrad);
        }

        @Override
        public List<NDArray> visit(Reduce op) {
            return ReduceKernel.backward(op, ctx, in, out, outGrads, needsGrad);
        }

        @Override
        public List<NDArray> visit(Gather op) {
            return GatherKernel.backward(op, ctx, in, out, outGrads, needsGrad);
        }

        @Override
        public List<NDArray> visit(Conv2D op) {
            return Conv2DKernel.backward(op, ctx, in, out, outGrads, needsGrad);
        }

        @Override
        public List<NDArray> visit(FlashAttention op) {
            return FlashAttentionKernel.backward(op, ctx, in, out, outGrads, needsGrad);
        }

        @Override
        public List<NDArray> visit(Rope op) {
            return RopeKernel.backward(op, ctx, in, out, outGrads, needsGrad);
        }

        @Override
        public List<NDArray> visit(Split op) {
            return SplitKernel.backward(op, ctx, in, out, outGrads, needsGrad);
        }

        @Override
        public List<NDArray> visit(MoeDispatch op) {
            return MoeDispatchKernel.backward(op, ctx, in, out, outGrads, needsGrad);
        }

        @Override
        public List<NDArray> visit(MoeCombine op) {
            return MoeCombineKernel.backward(op, ctx, in, out, outGrads, needsGrad);
        }

        @Override
        public List<NDArray> visit(MoeRouter op) {
            return MoeRouterKernel.backward(op, ctx, in, out, outGrads, needsGrad);
        }

        @Override
        public List<NDArray> visit(MoeAuxLoss op) {
            return MoeAuxLossKernel.backward(op, ctx, in, out, outGrads, needsGrad);
        }

        @Override
        public List<NDArray> visit(Concat op) {
            return ConcatKernel.backward(op, ctx, in, out, outGrads, needsGrad);
        }

        @Override
        public List<NDArray> visit(BroadcastTo op) {
            return BroadcastToKernel.backward(op, ctx, in, out, outGrads, needsGrad);
        }
    }
}
