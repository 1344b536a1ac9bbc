package io.tessera.planner.op;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.layout.redistribution.ReduceOp;

import java.util.ArrayList;
import java.util.List;

/**
 * {@code Gather} (Gather/GatherV2; an embedding lookup is {@code Gather(0)}): input 0 is the table {@code params},
 * input 1 the integer {@code indices}; the output shape is
 * {@code params.shape[:axis] + indices.shape + params.shape[axis+1:]} with the table's dtype.
 *
 * <p>Rule (spec §3): the in_strategy has one tuple for the table, then one for the indices. The device matrix is the
 * table's strategy followed by the indices' strategy. The output takes the table's dims before the axis, then the
 * indices' dims, then the table's dims after the axis, each with its device dim; for axis 0 that is
 * {@code (indices strategy, table strategy[1:])}.
 *
 * <p><b>Axis split (row-split vocabulary).</b> When the table's axis dim is split {@code s} ways, each rank holds a
 * contiguous block of {@code V / s} rows starting at {@code offset = c * V / s} ({@code c} its coordinate along that
 * device dim) and performs a <i>masked lookup</i>: an index {@code i} with {@code offset <= i < offset + V / s} reads
 * local row {@code i - offset}, every other index produces zeros. Exactly one rank of the axis group holds each row,
 * so a forward AllReduce(sum) over the axis group yields the full lookup (the output does not use that device dim,
 * so the generic rule derives it). This is allowed only for 1-D and 2-D tables and only when the indices are not
 * split (the masked partial outputs would otherwise be spread over different index slices); other strategies are
 * rejected. The indices have no gradient; the table's gradient is AllReduced (sum) over the device dims that split
 * the indices, whose ranks each see only part of the lookups.
 *
 * @param axis the gathered dim of the table; negative values count from the end
 */
public record Gather(int axis) implements Operator {

    /** A gather along {@code axis} ({@code 0} for an embedding lookup). */
    public static Gather of(int axis) {
        return new Gather(axis);
    }

    @Override
    public String type() {
        return "Gather";
    }

    @Override
    public int inputCount() {
        return 2;
    }

    private int axisOf(String label, TensorType params) {
        int rank = params.rank();
        if (axis < -rank || axis >= rank) {
            throw new IllegalArgumentException(label + ": axis " + axis + " is out of range for input 0 (params) "
                    + params + "; expected " + (-rank) + ".." + (rank - 1));
        }
        return axis < 0 ? axis + rank : axis;
    }

    private void checkInputs(String label, List<TensorType> inputs) {
        OpSupport.checkInputCount(label, inputs, 2, "params and indices");
        if (inputs.get(0).rank() == 0) {
            throw new IllegalArgumentException(label + ": input 0 (params) " + inputs.get(0)
                    + " is a scalar; expected a table with at least 1 dim");
        }
        DType it = inputs.get(1).dtype();
        if (it.isFloating() || it == DType.BOOL) {
            throw new IllegalArgumentException(label + ": input 1 (indices) has dtype " + it
                    + "; expected an integer dtype such as Int32 or Int64");
        }
    }

    @Override
    public List<TensorType> outputs(String name, List<TensorType> inputs) {
        String label = Sharding.label(this, name);
        checkInputs(label, inputs);
        TensorType params = inputs.get(0);
        TensorType indices = inputs.get(1);
        int ax = axisOf(label, params);
        long[] out = new long[params.rank() - 1 + indices.rank()];
        int j = 0;
        for (int i = 0; i < ax; i++) {
            out[j++] = params.dim(i);
        }
        for (int i = 0; i < indices.rank(); i++) {
            out[j++] = indices.dim(i);
        }
        for (int i = ax + 1; i < params.rank(); i++) {
            out[j++] = params.dim(i);
        }
        return List.of(params.withShape(out));
    }

    /**
     * The data-parallel default: for axis 0 (an embedding lookup) the indices' dim 0 (the batch) is split over
     * {@link Sharding#fit} of the devices and the table is not split; for another axis the table's dim 0 (which
     * then carries the batch into the output) is split and the indices are not.
     */
    @Override
    public Strategy dataParallel(List<TensorType> inputs, int devices) {
        TensorType params = inputs.get(0);
        TensorType indices = inputs.get(1);
        int ax = axisOf(Sharding.label(this, "?"), params);
        if (ax == 0) {
            return Strategy.of(OpSupport.ones(params.rank()), OpSupport.batchSplit(indices, devices));
        }
        return Strategy.of(OpSupport.batchSplit(params, devices), OpSupport.ones(indices.rank()));
    }

    @Override
    public OpSharding shard(String name, List<TensorType> inputs, Strategy in, Strategy out, int devices) {
        String label = Sharding.label(this, name);
        List<TensorType> outTypes = outputs(name, inputs);
        OpSupport.rejectOutStrategy(label, out);
        Sharding.checkStrategy(label, inputs, in);
        TensorType params = inputs.get(0);
        TensorType indices = inputs.get(1);
        int ax = axisOf(label, params);
        int[] sp = in.tuple(0);
        int[] si = in.tuple(1);
        int p = sp.length;
        if (sp[ax] > 1) {
            if (p > 2) {
                throw new IllegalArgumentException(label + ": input 0 (params) dim " + ax + " (the gather axis) is "
                        + "split " + sp[ax] + " ways but the table " + params + " has " + p + " dims; the axis may be "
                        + "split only for 1-D or 2-D tables, set it to 1");
            }
            for (int d = 0; d < si.length; d++) {
                if (si[d] > 1) {
                    throw new IllegalArgumentException(label + ": input 0 (params) dim " + ax + " (the gather axis)"
                            + " is split " + sp[ax] + " ways and input 1 (indices) dim " + d + " is split " + si[d]
                            + " ways; the axis (row split with masked lookup) may not be split together with the "
                            + "indices, set one of them to 1");
                }
            }
        }
        int[] dev = new int[p + si.length];
        System.arraycopy(sp, 0, dev, 0, p);
        System.arraycopy(si, 0, dev, p, si.length);
        int[][] dimsP = new int[p][];
        for (int d = 0; d < p; d++) {
            dimsP[d] = new int[] {d};
        }
        int[][] dimsI = new int[si.length][];
        for (int d = 0; d < si.length; d++) {
            dimsI[d] = new int[] {p + d};
        }
        List<int[][]> outDims = new ArrayList<>();
        int[][] dimsO = new int[outTypes.get(0).rank()][];
        int j = 0;
        for (int d = 0; d < ax; d++) {
            dimsO[j++] = new int[] {d};
        }
        for (int d = 0; d < si.length; d++) {
            dimsO[j++] = new int[] {p + d};
        }
        for (int d = ax + 1; d < p; d++) {
            dimsO[j++] = new int[] {d};
        }
        outDims.add(dimsO);
        return Sharding.derive(label, dev, List.of(dimsP, dimsI), outDims,
                new boolean[] {params.dtype().isFloating(), false}, devices, ReduceOp.SUM,
                "the table's axis dim " + ax + " is split " + sp[ax] + " ways: each rank looks up only the rows it "
                + "holds (masked lookup, zeros elsewhere)", List.of());
    }

    @Override
    public OperatorKind operatorKind() {
        return OperatorKind.GATHER;
    }

    /** Only the table: the indices are integers. */
    @Override
    public boolean differentiableInput(int i) {
        return i == 0;
    }

    /** Every output's gradient flows back. */
    @Override
    public boolean differentiableOutput(int o) {
        return true;
    }

    /** The table's gradient is a scatter-add of dout into the rows named by the indices. */
    @Override
    public List<TensorRef> gradientReads(int i) {
        return List.of(TensorRef.input(1));
    }

    /** The attributes, every one written. */
    @Override
    public ObjectNode encodeAttrs() {
        ObjectNode o = OpAttrs.object();
        o.put("axis", axis);
        return o;
    }

    /** 0: it only moves memory. */
    @Override
    public long forwardFlops(List<long[]> in, List<long[]> out) {
        return 0;
    }

    /**
     * Every output slice and the indices, but of the table only the rows it gathers: the table counts as the
     * output slice's size in the table's dtype, not as the table slice's.
     */
    @Override
    public long forwardBytes(List<long[]> in, List<DType> inTypes, List<long[]> out, List<DType> outTypes) {
        long bytes = 0;
        for (int i = 0; i < out.size(); i++) {
            bytes += Flops.volume(out.get(i)) * outTypes.get(i).bytes();
        }
        for (int i = 0; i < in.size(); i++) {
            bytes += Flops.volume(i == 0 ? out.get(0) : in.get(i)) * inTypes.get(i).bytes();
        }
        return bytes;
    }

    @Override
    public <R> R accept(Visitor<R> v) {
        return v.visit(this);
    }
}
