package io.tessera.planner.op;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.layout.redistribution.ReduceOp;

import java.util.Arrays;
import java.util.List;

/**
 * {@code Transpose}: permutes the dimensions of its one input; output dimension {@code j} is input dimension
 * {@code perm[j]}.
 *
 * <p>Rule (spec §3): any strategy; the device matrix is the input's strategy, and the output map is the input map
 * permuted ({@code out[j] = in[perm[j]]}), so every rank transposes its own slice and nothing is communicated.
 *
 * @param perm a permutation of {@code 0..rank-1}; copied in and out
 */
public record Transpose(int[] perm) implements Operator {

    /** Validates that {@code perm} is a permutation of {@code 0..perm.length-1}. */
    public Transpose {
        if (perm == null) {
            throw new IllegalArgumentException("Transpose: perm is null; give a permutation of the input's dims, "
                    + "e.g. [1, 0]");
        }
        perm = perm.clone();
        boolean[] seen = new boolean[perm.length];
        for (int j = 0; j < perm.length; j++) {
            int p = perm[j];
            if (p < 0 || p >= perm.length || seen[p]) {
                throw new IllegalArgumentException("Transpose: perm " + Arrays.toString(perm) + " has " + p
                        + " at position " + j + "; expected a permutation of 0.." + (perm.length - 1)
                        + " (each dim exactly once)");
            }
            seen[p] = true;
        }
    }

    /** A transpose with the given permutation. */
    public static Transpose of(int... perm) {
        return new Transpose(perm);
    }

    /** A copy of the permutation. */
    @Override
    public int[] perm() {
        return perm.clone();
    }

    @Override
    public String type() {
        return "Transpose";
    }

    @Override
    public int inputCount() {
        return 1;
    }

    @Override
    public List<TensorType> outputs(String name, List<TensorType> inputs) {
        String label = Sharding.label(this, name);
        TensorType x = checkInputs(label, inputs);
        long[] out = new long[perm.length];
        for (int j = 0; j < perm.length; j++) {
            out[j] = x.dim(perm[j]);
        }
        return List.of(x.withShape(out));
    }

    private TensorType checkInputs(String label, List<TensorType> inputs) {
        if (inputs.size() != 1) {
            throw new IllegalArgumentException(label + ": found " + inputs.size() + " inputs; expected 1");
        }
        TensorType x = inputs.get(0);
        if (x.rank() != perm.length) {
            throw new IllegalArgumentException(label + ": input 0 " + x + " has " + x.rank() + " dims but perm "
                    + Arrays.toString(perm) + " has " + perm.length + " entries; give one entry per input dim");
        }
        return x;
    }

    /** Splits input dim 0 over {@link Sharding#fit} of the devices; other dims 1. */
    @Override
    public Strategy dataParallel(List<TensorType> inputs, int devices) {
        return Strategy.of(OpSupport.batchSplit(inputs.get(0), devices));
    }

    @Override
    public OpSharding shard(String name, List<TensorType> inputs, Strategy in, Strategy out, int devices) {
        String label = Sharding.label(this, name);
        TensorType x = checkInputs(label, inputs);
        OpSupport.rejectOutStrategy(label, out);
        Sharding.checkStrategy(label, inputs, in);
        int[] s = in.tuple(0);
        int[][] dimsIn = new int[s.length][];
        int[][] dimsOut = new int[s.length][];
        for (int i = 0; i < s.length; i++) {
            dimsIn[i] = new int[] {i};
        }
        for (int j = 0; j < s.length; j++) {
            dimsOut[j] = new int[] {perm[j]};
        }
        return Sharding.derive(label, s, List.<int[][]>of(dimsIn), List.<int[][]>of(dimsOut),
                new boolean[] {x.dtype().isFloating()}, devices, ReduceOp.SUM,
                "a transpose never holds partial results", List.of());
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Transpose t && Arrays.equals(perm, t.perm);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(perm);
    }

    /** Prints as {@code Transpose[perm=[1, 0]]}. */
    @Override
    public String toString() {
        return "Transpose[perm=" + Arrays.toString(perm) + "]";
    }

    @Override
    public OperatorKind operatorKind() {
        return OperatorKind.TRANSPOSE;
    }

    /** Every input has a gradient. */
    @Override
    public boolean differentiableInput(int i) {
        return true;
    }

    /** Every output's gradient flows back. */
    @Override
    public boolean differentiableOutput(int o) {
        return true;
    }

    /** No forward tensor: the permutation is static. */
    @Override
    public List<TensorRef> gradientReads(int i) {
        return List.of();
    }

    /** The attributes, every one written. */
    @Override
    public ObjectNode encodeAttrs() {
        ObjectNode o = OpAttrs.object();
        o.set("perm", OpAttrs.array(perm));
        return o;
    }

    /** 0: it only moves memory. */
    @Override
    public long forwardFlops(List<long[]> in, List<long[]> out) {
        return 0;
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
