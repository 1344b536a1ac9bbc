package io.tessera.planner.op;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.layout.redistribution.ReduceOp;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * {@code BroadcastTo} (MindSpore's {@code BroadcastTo(shape)}): repeats its one input x along the dimensions where x
 * has size 1 and {@code shape} more, as DeepSeek-V3's latent attention repeats its one shared rotary key
 * {@code k_pe [b, 1, s, qk_rope_head_dim]} over the heads. x has {@code shape}'s rank (reshape first for a lower
 * rank); each of its dimensions equals {@code shape}'s or is 1.
 *
 * <p>Rule: the in_strategy's one tuple is over the <em>output's</em> dimensions; the device matrix is that tuple.
 * On a dimension x holds whole-sized, the value splits x and the output alike; on a broadcast dimension it splits the
 * output only (x, of size 1 there, is replicated along it): the heads of {@code k_pe}'s broadcast are split over
 * the tensor group while the shared key is computed whole on each rank. Nothing is communicated forward; x's gradient,
 * the output gradient summed over the broadcast dimensions, is partial along the device dimensions splitting a
 * broadcast dimension and summed over them by a backward AllReduce. Costs: no FLOPs; x read and the output written.
 *
 * @param shape the output shape, each entry positive; copied in and out
 */
public record BroadcastTo(long[] shape) implements Operator {

    /** Validates positive sizes. */
    public BroadcastTo {
        if (shape == null || shape.length == 0) {
            throw new IllegalArgumentException("BroadcastTo: shape is " + (shape == null ? "null" : "[]")
                    + "; give the output shape, e.g. [2, 4, 16, 8]");
        }
        shape = shape.clone();
        for (long n : shape) {
            if (n < 1) {
                throw new IllegalArgumentException("BroadcastTo: shape " + Arrays.toString(shape) + " has " + n
                        + "; expected positive sizes");
            }
        }
    }

    /** A broadcast to {@code shape}. */
    public static BroadcastTo of(long... shape) {
        return new BroadcastTo(shape);
    }

    /** A copy of the output shape. */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof BroadcastTo b && Arrays.equals(shape, b.shape);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return "BroadcastTo" + Arrays.toString(shape);
    }

    @Override
    public String type() {
        return "BroadcastTo";
    }

    @Override
    public int inputCount() {
        return 1;
    }

    /** x's dtype in {@link #shape}. */
    @Override
    public List<TensorType> outputs(String name, List<TensorType> inputs) {
        String label = Sharding.label(this, name);
        Elementwise.checkCount(label, inputs, 1, "x");
        TensorType x = inputs.get(0);
        boolean fits = x.rank() == shape.length;
        for (int d = 0; fits && d < shape.length; d++) {
            fits = x.dim(d) == shape[d] || x.dim(d) == 1;
        }
        if (!fits) {
            throw new IllegalArgumentException(label + ": input 0 (x) " + x + " does not broadcast to "
                    + Arrays.toString(shape) + "; expected the same rank with each size equal or 1 (reshape first)");
        }
        return List.of(x.withShape(shape));
    }

    /** Whether output dimension {@code d} repeats x (x has 1 there, the output more). */
    private boolean broadcast(TensorType x, int d) {
        return x.dim(d) == 1 && shape[d] > 1;
    }

    /** The output's dimension 0 split over {@link Sharding#fit} of its size. */
    @Override
    public Strategy dataParallel(List<TensorType> inputs, int devices) {
        int[] s = Elementwise.ones(shape.length);
        s[0] = Sharding.fit(shape[0], devices);
        return Strategy.of(s);
    }

    /** The device matrix is the tuple (over the output's dims); x not split along the broadcast dimensions. */
    @Override
    public OpSharding shard(String name, List<TensorType> inputs, Strategy in, Strategy out, int devices) {
        String label = Sharding.label(this, name);
        List<TensorType> outputs = outputs(name, inputs);
        Elementwise.rejectOutStrategy(label, out);
        if (in == null || in.size() != 1) {
            Sharding.checkStrategy(label, inputs, in); // throws: no strategy, or not one tuple
        }
        int[] t = in.tuple(0);
        Sharding.checkTuple(label, "input 0 (a tuple over the output's dims)", outputs.get(0), t);
        TensorType x = inputs.get(0);
        int[][] xDims = new int[shape.length][];
        for (int d = 0; d < shape.length; d++) {
            xDims[d] = broadcast(x, d) ? new int[0] : new int[] {d};
        }
        return Sharding.derive(label, t, List.<int[][]>of(xDims), List.<int[][]>of(Elementwise.identity(shape.length)),
                new boolean[] {x.dtype().isFloating()}, devices, ReduceOp.SUM, "a broadcast never holds partial results",
                List.of());
    }

    /** x's candidate tuples (which leave the broadcast dimensions whole). */
    @Override
    public List<Strategy> searchCandidates(List<List<int[]>> perInput) {
        List<Strategy> out = new ArrayList<>();
        for (int[] t : perInput.get(0)) {
            out.add(Strategy.of(t));
        }
        return out;
    }

    @Override
    public OperatorKind operatorKind() {
        return OperatorKind.BROADCAST_TO;
    }

    /** x has a gradient (the output's summed over the broadcast dimensions). */
    @Override
    public boolean differentiableInput(int i) {
        return true;
    }

    /** The output's gradient flows back. */
    @Override
    public boolean differentiableOutput(int o) {
        return true;
    }

    /** No forward tensor. */
    @Override
    public List<TensorRef> gradientReads(int i) {
        return List.of();
    }

    /** The attribute {@code shape}, always written. */
    @Override
    public ObjectNode encodeAttrs() {
        ObjectNode o = OpAttrs.object();
        o.set("shape", OpAttrs.array(shape));
        return o;
    }

    /** 0: it only moves memory. */
    @Override
    public long forwardFlops(List<long[]> in, List<long[]> out) {
        return 0;
    }

    /** x's slice read and the output slice written once. */
    @Override
    public long forwardBytes(List<long[]> in, List<DType> inTypes, List<long[]> out, List<DType> outTypes) {
        return Flops.streamedBytes(in, inTypes, out, outTypes);
    }

    @Override
    public <R> R accept(Visitor<R> v) {
        return v.visit(this);
    }
}
