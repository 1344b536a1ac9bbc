package io.tessera.planner.op;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.layout.comm.CollectiveKind;
import io.tessera.layout.comm.Phase;
import io.tessera.layout.redistribution.ReduceOp;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * {@code BatchNorm} in training mode: inputs x {@code (N, C, ...)}, scale {@code (C)}, bias {@code (C)}, the moving
 * mean {@code (C)} and the moving variance {@code (C)}; output y (x's type). The statistics are taken per channel over
 * N and the spatial dimensions.
 *
 * <p>Rule (spec §3): every dimension of x may be split; scale, bias, mean and variance must be split like x's
 * channel dimension. The device matrix is x's strategy; y has x's layout. When N or a spatial dimension is split, each
 * rank sees only part of the batch, so the per-channel statistics are partial: a forward AllReduce (sum) of the
 * per-channel sums (2 x C/c values, not the output tensor) over the device dimensions splitting N and the spatial
 * dimensions makes them global (MindSpore replaces the operator by {@code SyncBatchNorm}); the backward pass reduces
 * the per-channel sums of the output gradient over the same group for x's gradient, and scale's and bias's
 * gradients are summed over it as well. The moving mean and variance have no gradient.
 *
 * @param epsilon  added to the variance; positive and finite (MindSpore's default is {@code 1e-5})
 * @param momentum the moving-average momentum, in [0, 1] (MindSpore's default is {@code 0.1})
 */
public record BatchNorm(double epsilon, double momentum) implements Operator {

    private static final String[] NAMES = {"x", "scale", "bias", "mean", "variance"};

    /** Validates a positive finite epsilon and a momentum in [0, 1]. */
    public BatchNorm {
        if (!(epsilon > 0) || Double.isInfinite(epsilon)) {
            throw new IllegalArgumentException("BatchNorm: epsilon is " + epsilon
                    + "; expected a small positive number such as 1e-5");
        }
        if (!(momentum >= 0 && momentum <= 1)) {
            throw new IllegalArgumentException("BatchNorm: momentum is " + momentum
                    + "; expected a value in [0, 1] such as 0.1");
        }
    }

    /** {@code BatchNorm} with MindSpore's defaults: epsilon 1e-5, momentum 0.1. */
    public static BatchNorm of() {
        return new BatchNorm(1e-5, 0.1);
    }

    @Override
    public String type() {
        return "BatchNorm";
    }

    @Override
    public int inputCount() {
        return 5;
    }

    /** y, of x's type. */
    @Override
    public List<TensorType> outputs(String name, List<TensorType> inputs) {
        String label = Sharding.label(this, name);
        Elementwise.checkCount(label, inputs, 5, "x, scale, bias, mean and variance");
        TensorType x = inputs.get(0);
        if (x.rank() < 2) {
            throw new IllegalArgumentException(label + ": input 0 (x) " + x + " has " + x.rank()
                    + " dims; expected at least 2 (N, C, ...)");
        }
        for (int i = 1; i < 5; i++) {
            TensorType p = inputs.get(i);
            if (p.rank() != 1 || p.dim(0) != x.dim(1)) {
                throw new IllegalArgumentException(label + ": input " + i + " (" + NAMES[i] + ") " + p
                        + " does not match input 0 " + x + "; expected shape [" + x.dim(1)
                        + "] (x's channel dimension 1)");
            }
        }
        return List.of(x);
    }

    /** x's dimension 0 split over {@link Sharding#fit} of its size; the per-channel inputs are not split. */
    @Override
    public Strategy dataParallel(List<TensorType> inputs, int devices) {
        int[] c = {1};
        return Strategy.of(Elementwise.batchTuple(inputs.get(0), devices), c, c, c, c);
    }

    @Override
    public OpSharding shard(String name, List<TensorType> inputs, Strategy in, Strategy out, int devices) {
        String label = Sharding.label(this, name);
        outputs(name, inputs);
        Elementwise.rejectOutStrategy(label, out);
        Sharding.checkStrategy(label, inputs, in);
        TensorType x = inputs.get(0);
        int[] sx = in.tuple(0);
        for (int i = 1; i < 5; i++) {
            Sharding.checkEqual(label, "input " + i + " (" + NAMES[i] + ") dim 0", in.get(i, 0), "input 0 dim 1",
                    sx[1], NAMES[i] + " must be split like x's channel dimension");
        }
        List<Integer> batchDims = new ArrayList<>();
        for (int d = 0; d < sx.length; d++) {
            if (d != 1 && sx[d] > 1) {
                batchDims.add(d);
            }
        }
        List<OpComm> extra = new ArrayList<>();
        long channels = inputs.get(0).dim(1);
        if (!batchDims.isEmpty()) {
            int[] axes = batchDims.stream().mapToInt(Integer::intValue).toArray();
            String split = "x dims " + batchDims + " are split " + splits(sx, axes) + " ways";
            extra.add(new OpComm(CollectiveKind.ALL_REDUCE, ReduceOp.SUM, Phase.FORWARD, true, 0, axes,
                    split + ": each rank sees part of the batch, so the per-channel sum and sum of squares (2 x C/"
                            + sx[1] + " values) are reduced to global batch statistics (SyncBatchNorm)")
                    .withPayload(2 * channels / sx[1]));
            extra.add(new OpComm(CollectiveKind.ALL_REDUCE, ReduceOp.SUM, Phase.BACKWARD, false, 0, axes,
                    split + ": x's gradient needs the per-channel sums of dy and dy * x_hat over the whole batch "
                            + "(2 x C/" + sx[1] + " values, not the gradient tensor)")
                    .withPayload(2 * channels / sx[1]));
        }
        int[][] dimsX = Elementwise.identity(x.rank());
        int[][] dimsC = {{1}};
        boolean floating = x.dtype().isFloating();
        return Sharding.derive(label, sx, List.of(dimsX, dimsC, dimsC, dimsC, dimsC), List.<int[][]>of(dimsX),
                new boolean[] {floating, inputs.get(1).dtype().isFloating(), inputs.get(2).dtype().isFloating(),
                        false, false}, devices, ReduceOp.SUM, "batch statistics are partial", extra);
    }

    private static String splits(int[] sx, int[] axes) {
        int[] s = new int[axes.length];
        for (int i = 0; i < axes.length; i++) {
            s[i] = sx[axes[i]];
        }
        return s.length == 1 ? Integer.toString(s[0]) : Arrays.toString(s);
    }

    @Override
    public OperatorKind operatorKind() {
        return OperatorKind.BATCH_NORM;
    }

    /** x, scale and bias; the moving mean and variance have none. */
    @Override
    public boolean differentiableInput(int i) {
        return i < 3;
    }

    /** Every output's gradient flows back. */
    @Override
    public boolean differentiableOutput(int o) {
        return true;
    }

    /** The batch statistics are recomputed from x; dx reads x and scale, dscale x, dbias only dy. */
    @Override
    public List<TensorRef> gradientReads(int i) {
        return i == 0 ? List.of(TensorRef.input(0), TensorRef.input(1)) : i == 1 ? List.of(TensorRef.input(0)) : List.of();
    }

    /** The attributes, every one written. */
    @Override
    public ObjectNode encodeAttrs() {
        ObjectNode o = OpAttrs.object();
        o.put("epsilon", epsilon);
        o.put("momentum", momentum);
        return o;
    }

    /** {@link Flops#NORM} per output element. */
    @Override
    public long forwardFlops(List<long[]> in, List<long[]> out) {
        return Flops.NORM * Flops.volume(out.get(0));
    }

    /** Every input slice read and every output slice written once. */
    @Override
    public long forwardBytes(List<long[]> in, List<DType> inTypes, List<long[]> out, List<DType> outTypes) {
        return Flops.streamedBytes(in, inTypes, out, outTypes);
    }

    @Override
    public <R> R accept(Visitor<R> v) {
        return v.visit(this);
    }
}
