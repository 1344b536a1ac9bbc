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
 * With {@code outputDeviceOrder} the device matrix is the strategy in the output's dimension order instead
 * ({@code dev[j] = strategy[perm[j]]}): the same slices, numbered the way the consumers of the output number their
 * devices. This is what MindSpore expresses by giving a layout as the in_strategy; Tessera's attention block needs it
 * to bring the {@code [batch, heads, seq, head_dim]} output of a context- and tensor-parallel attention back to
 * {@code [batch, seq, heads, head_dim]} with the sequence split outside the heads split, as Megatron orders its
 * ranks (tensor fastest), so that nothing moves.
 *
 * @param perm              a permutation of {@code 0..rank-1}; copied in and out
 * @param outputDeviceOrder whether the device matrix follows the output's dimension order (default false: the
 *                          input's, MindSpore's rule); JSON attr {@code output_device_order}, written only when true
 */
public record Transpose(int[] perm, boolean outputDeviceOrder) implements Operator {

    /** A transpose whose device matrix follows the input's dimension order (MindSpore's rule). */
    public Transpose(int[] perm) {
        this(perm, false);
    }

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

    /** The same transpose with its device matrix in the output's dimension order ({@link #outputDeviceOrder}). */
    public Transpose withOutputDeviceOrder() {
        return new Transpose(perm, true);
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
        if (outputDeviceOrder) {
            int[] dev = new int[s.length];
            for (int j = 0; j < s.length; j++) {
                dev[j] = s[perm[j]];
                dimsOut[j] = new int[] {j};
                dimsIn[perm[j]] = new int[] {j};
            }
            s = dev;
        } else {
            for (int i = 0; i < s.length; i++) {
                dimsIn[i] = new int[] {i};
            }
            for (int j = 0; j < s.length; j++) {
                dimsOut[j] = new int[] {perm[j]};
            }
        }
        return Sharding.derive(label, s, List.<int[][]>of(dimsIn), List.<int[][]>of(dimsOut),
                new boolean[] {x.dtype().isFloating()}, devices, ReduceOp.SUM,
                "a transpose never holds partial results", List.of());
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Transpose t && Arrays.equals(perm, t.perm) && outputDeviceOrder == t.outputDeviceOrder;
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(perm) * 31 + Boolean.hashCode(outputDeviceOrder);
    }

    /** Prints as {@code Transpose[perm=[1, 0]]} (with {@code , outputDeviceOrder} when set). */
    @Override
    public String toString() {
        return "Transpose[perm=" + Arrays.toString(perm) + (outputDeviceOrder ? ", outputDeviceOrder" : "") + "]";
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

    /** The attributes: {@code perm}, and {@code output_device_order} when true. */
    @Override
    public ObjectNode encodeAttrs() {
        ObjectNode o = OpAttrs.object();
        o.set("perm", OpAttrs.array(perm));
        if (outputDeviceOrder) {
            o.put("output_device_order", true);
        }
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
