package io.tessera.planner.op;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.layout.redistribution.ReduceOp;

import java.util.Arrays;
import java.util.List;

/**
 * {@code RMSNorm}, the root-mean-square normalisation of Llama-family models (Hugging Face's {@code LlamaRMSNorm},
 * MindSpore's {@code RmsNorm}): inputs x and weight (of shape {@code [x.shape[-1]]}, no bias); outputs
 * {@code y = x / sqrt(mean(x^2 over the last dim) + eps) * weight} (x's type) and the saved statistic
 * {@code rstd = 1 / sqrt(mean(x^2) + eps)} (x's shape with the last dim of size 1, x's type).
 *
 * <p>Rule (as {@link LayerNorm}'s): x's last dimension, the normalised one, must not be split; its other dimensions
 * may be split any way (data and sequence parallel); weight is never split. The device matrix is x's strategy; y has
 * x's layout; rstd maps x's leading dimensions and leaves the last one unsplit ({@code -1}, size 1). There is no
 * forward communication; weight's gradient is partial along the device dimensions splitting x's leading dimensions
 * and is summed by a backward AllReduce.
 *
 * @param eps added to the mean square; positive and finite (Hugging Face's {@code rms_norm_eps}; default
 *            {@link #DEFAULT_EPS})
 */
public record RMSNorm(double eps) implements Operator {

    /** The default {@code eps}: 1e-6, Llama's {@code rms_norm_eps} and MindSpore's RmsNorm default. */
    public static final double DEFAULT_EPS = 1e-6;

    /** Validates a positive, finite eps. */
    public RMSNorm {
        if (!(eps > 0) || Double.isInfinite(eps)) {
            throw new IllegalArgumentException("RMSNorm: eps is " + eps
                    + "; expected a small positive number such as 1e-6 (rms_norm_eps)");
        }
    }

    /** {@code RMSNorm} with eps {@link #DEFAULT_EPS}. */
    public static RMSNorm of() {
        return new RMSNorm(DEFAULT_EPS);
    }

    @Override
    public String type() {
        return "RMSNorm";
    }

    @Override
    public int inputCount() {
        return 2;
    }

    /** y (x's type) and rstd (x's shape with the last dim of size 1). */
    @Override
    public List<TensorType> outputs(String name, List<TensorType> inputs) {
        String label = Sharding.label(this, name);
        Elementwise.checkCount(label, inputs, 2, "x and weight");
        TensorType x = inputs.get(0);
        if (x.rank() == 0) {
            throw new IllegalArgumentException(label + ": input 0 (x) " + x + " is a scalar; expected at least one"
                    + " dimension (the last one is normalised)");
        }
        TensorType w = inputs.get(1);
        long[] paramShape = {x.dim(x.rank() - 1)};
        if (!Arrays.equals(w.shape(), paramShape)) {
            throw new IllegalArgumentException(label + ": input 1 (weight) " + w + " does not match input 0 " + x
                    + "; expected shape " + Arrays.toString(paramShape) + " (x's last dim)");
        }
        long[] stats = x.shape();
        stats[stats.length - 1] = 1;
        return List.of(x, x.withShape(stats));
    }

    /** x's dimension 0 split over {@link Sharding#fit} of its size unless it is the normalised one; weight whole. */
    @Override
    public Strategy dataParallel(List<TensorType> inputs, int devices) {
        TensorType x = inputs.get(0);
        int[] sx = x.rank() <= 1 ? Elementwise.ones(x.rank()) : Elementwise.batchTuple(x, devices);
        return Strategy.of(sx, new int[] {1});
    }

    @Override
    public OpSharding shard(String name, List<TensorType> inputs, Strategy in, Strategy out, int devices) {
        String label = Sharding.label(this, name);
        outputs(name, inputs);
        Elementwise.rejectOutStrategy(label, out);
        Sharding.checkStrategy(label, inputs, in);
        TensorType x = inputs.get(0);
        int r = x.rank();
        int[] sx = in.tuple(0);
        Sharding.checkUnsplit(label, "input 0", r - 1, sx, "RMSNorm normalises x's last dim");
        Sharding.checkEqual(label, "input 1 (weight) dim 0", in.tuple(1)[0], "input 0 dim " + (r - 1), sx[r - 1],
                "weight must be split like x's last dim, which is never split");
        int[][] dimsX = Elementwise.identity(r);
        int[][] dimsW = Elementwise.shifted(1, r - 1);
        int[][] dimsStats = new int[r][];
        for (int d = 0; d < r; d++) {
            dimsStats[d] = d < r - 1 ? new int[] {d} : new int[0];
        }
        return Sharding.derive(label, sx, List.of(dimsX, dimsW), List.of(dimsX, dimsStats),
                new boolean[] {x.dtype().isFloating(), inputs.get(1).dtype().isFloating()},
                devices, ReduceOp.SUM, "the normalised dim is not split", List.of());
    }

    @Override
    public OperatorKind operatorKind() {
        return OperatorKind.RMS_NORM;
    }

    /** Every input has a gradient. */
    @Override
    public boolean differentiableInput(int i) {
        return true;
    }

    /** Only y (output 0): rstd is a saved statistic. */
    @Override
    public boolean differentiableOutput(int o) {
        return o == 0;
    }

    /**
     * RmsNormGrad(dy, x, rstd, weight): dx reads x, weight and rstd; dweight reads x and rstd (as Megatron's and
     * Apex's fused RMSNorm save x, weight and the inverse RMS).
     */
    @Override
    public List<TensorRef> gradientReads(int i) {
        if (i == 0) {
            return List.of(TensorRef.input(0), TensorRef.input(1), TensorRef.output(1));
        }
        return List.of(TensorRef.input(0), TensorRef.output(1));
    }

    /** The attribute {@code eps}, always written. */
    @Override
    public ObjectNode encodeAttrs() {
        ObjectNode o = OpAttrs.object();
        o.put("eps", eps);
        return o;
    }

    /** {@link Flops#RMS_NORM} per output element. */
    @Override
    public long forwardFlops(List<long[]> in, List<long[]> out) {
        return Flops.RMS_NORM * Flops.volume(out.get(0));
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
