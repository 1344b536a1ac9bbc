package io.tessera.planner.op;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.layout.redistribution.ReduceOp;

import java.util.Arrays;
import java.util.List;

/**
 * {@code LayerNorm}: inputs x, gamma and beta (gamma and beta of shape {@code x.shape[beginParamsAxis:]}); outputs
 * y (x's type), mean and variance (x's leading dimensions before {@code beginNormAxis}, the normalised dimensions
 * kept with size 1, as in MindSpore).
 *
 * <p>Rule (spec §3): x's dimensions from {@code beginNormAxis} on must not be split (the statistics span them);
 * gamma's and beta's strategies must equal x's trailing strategy from {@code beginParamsAxis}. The device matrix is
 * x's strategy; y has x's layout; mean and variance map x's leading dimensions and leave the normalised ones unsplit
 * ({@code -1}, size 1). There is no forward communication; gamma's and beta's gradients are partial along the device
 * dimensions splitting x's leading dimensions (the batch group) and are summed by a backward AllReduce.
 *
 * @param beginNormAxis   the first normalised axis; negative counts from the end of x's shape
 * @param beginParamsAxis the first axis gamma and beta cover; negative counts from the end of x's shape
 * @param epsilon         added to the variance; positive and finite (MindSpore's default is {@code 1e-7})
 */
public record LayerNorm(int beginNormAxis, int beginParamsAxis, double epsilon) implements Operator {

    /** Validates a positive, finite epsilon. */
    public LayerNorm {
        if (!(epsilon > 0) || Double.isInfinite(epsilon)) {
            throw new IllegalArgumentException("LayerNorm: epsilon is " + epsilon
                    + "; expected a small positive number such as 1e-7");
        }
    }

    /** {@code LayerNorm} normalising from {@code axis} on, with gamma/beta from the same axis and epsilon 1e-7. */
    public static LayerNorm of(int axis) {
        return new LayerNorm(axis, axis, 1e-7);
    }

    @Override
    public String type() {
        return "LayerNorm";
    }

    @Override
    public int inputCount() {
        return 3;
    }

    /** y (x's type), mean and variance (x's leading dims, normalised dims of size 1). */
    @Override
    public List<TensorType> outputs(String name, List<TensorType> inputs) {
        String label = Sharding.label(this, name);
        Elementwise.checkCount(label, inputs, 3, "x, gamma and beta");
        TensorType x = inputs.get(0);
        int norm = Elementwise.axis(label, "begin_norm_axis", beginNormAxis, x);
        int params = Elementwise.axis(label, "begin_params_axis", beginParamsAxis, x);
        long[] paramShape = Arrays.copyOfRange(x.shape(), params, x.rank());
        String[] names = {"x", "gamma", "beta"};
        for (int i = 1; i < 3; i++) {
            TensorType p = inputs.get(i);
            if (!Arrays.equals(p.shape(), paramShape)) {
                throw new IllegalArgumentException(label + ": input " + i + " (" + names[i] + ") " + p
                        + " does not match input 0 " + x + "; expected shape " + Arrays.toString(paramShape)
                        + " (x's dims from begin_params_axis " + beginParamsAxis + ")");
            }
        }
        long[] stats = x.shape();
        for (int d = norm; d < stats.length; d++) {
            stats[d] = 1;
        }
        TensorType s = x.withShape(stats);
        return List.of(x, s, s);
    }

    /**
     * x's dimension 0 split over {@link Sharding#fit} of its size unless it is normalised; gamma and beta follow x's
     * trailing strategy.
     */
    @Override
    public Strategy dataParallel(List<TensorType> inputs, int devices) {
        TensorType x = inputs.get(0);
        String label = Sharding.label(this, "data parallel");
        int norm = Elementwise.axis(label, "begin_norm_axis", beginNormAxis, x);
        int params = Elementwise.axis(label, "begin_params_axis", beginParamsAxis, x);
        int[] sx = norm == 0 ? Elementwise.ones(x.rank()) : Elementwise.batchTuple(x, devices);
        int[] sp = Arrays.copyOfRange(sx, params, sx.length);
        return Strategy.of(sx, sp, sp);
    }

    @Override
    public OpSharding shard(String name, List<TensorType> inputs, Strategy in, Strategy out, int devices) {
        String label = Sharding.label(this, name);
        List<TensorType> outTypes = outputs(name, inputs);
        Elementwise.rejectOutStrategy(label, out);
        Sharding.checkStrategy(label, inputs, in);
        TensorType x = inputs.get(0);
        int r = x.rank();
        int norm = Elementwise.axis(label, "begin_norm_axis", beginNormAxis, x);
        int params = Elementwise.axis(label, "begin_params_axis", beginParamsAxis, x);
        int[] sx = in.tuple(0);
        for (int d = norm; d < r; d++) {
            Sharding.checkUnsplit(label, "input 0", d, sx,
                    "LayerNorm normalises the dims from begin_norm_axis " + beginNormAxis);
        }
        String[] names = {"x", "gamma", "beta"};
        for (int i = 1; i < 3; i++) {
            int[] sp = in.tuple(i);
            for (int j = 0; j < sp.length; j++) {
                Sharding.checkEqual(label, "input " + i + " (" + names[i] + ") dim " + j, sp[j],
                        "input 0 dim " + (params + j), sx[params + j], names[i] + " must be split like x's dims from"
                        + " begin_params_axis " + beginParamsAxis);
            }
        }
        int[][] dimsX = Elementwise.identity(r);
        int[][] dimsP = Elementwise.shifted(r - params, params);
        int[][] dimsStats = new int[r][];
        for (int d = 0; d < r; d++) {
            dimsStats[d] = d < norm ? new int[] {d} : new int[0];
        }
        boolean floating = outTypes.get(0).dtype().isFloating();
        return Sharding.derive(label, sx, List.of(dimsX, dimsP, dimsP), List.of(dimsX, dimsStats, dimsStats),
                new boolean[] {floating, inputs.get(1).dtype().isFloating(), inputs.get(2).dtype().isFloating()},
                devices, ReduceOp.SUM, "the normalised dims are not split", List.of());
    }

    @Override
    public OperatorKind operatorKind() {
        return OperatorKind.LAYER_NORM;
    }

    /** Every input has a gradient. */
    @Override
    public boolean differentiableInput(int i) {
        return true;
    }

    /** Only y (output 0): the mean and variance are saved statistics. */
    @Override
    public boolean differentiableOutput(int o) {
        return o == 0;
    }

    /** LayerNormGrad(x, dy, variance, mean, gamma): dx and dgamma need the statistics; dbeta sums dy. */
    @Override
    public List<TensorRef> gradientReads(int i) {
        if (i == 0) {
            return List.of(TensorRef.input(0), TensorRef.input(1), TensorRef.output(1), TensorRef.output(2));
        }
        return i == 1 ? List.of(TensorRef.input(0), TensorRef.output(1), TensorRef.output(2)) : List.of();
    }

    /** The attributes, every one written. */
    @Override
    public ObjectNode encodeAttrs() {
        ObjectNode o = OpAttrs.object();
        o.put("begin_norm_axis", beginNormAxis);
        o.put("begin_params_axis", beginParamsAxis);
        o.put("epsilon", epsilon);
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
