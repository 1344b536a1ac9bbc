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
 * {@code MatMul} / {@code BatchMatMul}: {@code A (..., m, k) x B (..., k, n)}, with optional transposes, batch
 * dimensions right-aligned and broadcast where one side has size 1 or lacks the dimension.
 *
 * <p>Rule (spec §3): the k splits of A and B must be equal, and so must the batch splits where both have the
 * dimension with a size above 1. The device matrix is A's batch strategy followed by {@code [m, k, n]}; the output
 * map drops k. A split k makes partial outputs: a forward AllReduce (sum) over the k group, or a ReduceScatter when
 * the out_strategy splits m by {@code m * k} (the gradient of the output is then AllGathered in backward).
 *
 * <p>{@code gemmDtype} (JSON attribute {@code gemm_dtype}, written only when set) marks a product whose inputs are
 * cast to FP8 with per-tensor scaling as Transformer Engine runs a linear layer: {@code float8_e4m3fn} is TE's
 * hybrid recipe (E4M3 forward inputs, E5M2 output gradient in backward), {@code float8_e5m2} E5M2 throughout. The
 * tensors keep their dtype (the output is the inputs' dtype); the cost model prices the products at the device's
 * FP8 peak plus the casts, and the numeric simulator computes in the inputs' dtype (FP8 rounding is not simulated).
 *
 * @param transposeA whether A is stored as {@code (..., k, m)}
 * @param transposeB whether B is stored as {@code (..., n, k)}
 * @param batch      true for {@code BatchMatMul}, false for {@code MatMul} (same rule, different name)
 * @param gemmDtype  the FP8 format the product's inputs are cast to, or null (the default) to compute in the
 *                   inputs' dtype
 */
public record MatMul(boolean transposeA, boolean transposeB, boolean batch, DType gemmDtype) implements Operator {

    /** Validates that {@code gemmDtype} is null or an FP8 format. */
    public MatMul {
        if (gemmDtype != null && !gemmDtype.isFp8()) {
            throw new IllegalArgumentException((batch ? "BatchMatMul" : "MatMul") + ": gemm_dtype is "
                    + gemmDtype.jsonName() + "; expected float8_e4m3fn or float8_e5m2 (FP8 GEMM inputs), or no "
                    + "gemm_dtype to compute in the inputs' dtype");
        }
    }

    /** A product computing in its inputs' dtype (no {@code gemm_dtype}). */
    public MatMul(boolean transposeA, boolean transposeB, boolean batch) {
        this(transposeA, transposeB, batch, null);
    }

    /** This product with its inputs cast to {@code format} (an FP8 dtype), or computing in its inputs' dtype (null). */
    public MatMul withGemmDtype(DType format) {
        return new MatMul(transposeA, transposeB, batch, format);
    }

    /** A {@code MatMul} with the given transposes. */
    public static MatMul of(boolean transposeA, boolean transposeB) {
        return new MatMul(transposeA, transposeB, false);
    }

    /** A {@code BatchMatMul} with the given transposes. */
    public static MatMul batched(boolean transposeA, boolean transposeB) {
        return new MatMul(transposeA, transposeB, true);
    }

    @Override
    public String type() {
        return batch ? "BatchMatMul" : "MatMul";
    }

    @Override
    public int inputCount() {
        return 2;
    }

    private int mDim(int rank) {
        return transposeA ? rank - 1 : rank - 2;
    }

    private int kDimA(int rank) {
        return transposeA ? rank - 2 : rank - 1;
    }

    private int kDimB(int rank) {
        return transposeB ? rank - 1 : rank - 2;
    }

    private int nDim(int rank) {
        return transposeB ? rank - 2 : rank - 1;
    }

    @Override
    public List<TensorType> outputs(String name, List<TensorType> inputs) {
        String label = label(name);
        checkInputs(label, inputs);
        TensorType a = inputs.get(0);
        TensorType b = inputs.get(1);
        int ra = a.rank();
        int rb = b.rank();
        if (a.dim(kDimA(ra)) != b.dim(kDimB(rb))) {
            throw new IllegalArgumentException(label + ": input 0 " + a + " has k = " + a.dim(kDimA(ra))
                    + " but input 1 " + b + " has k = " + b.dim(kDimB(rb)) + "; the contracted sizes must be equal"
                    + (transposeB ? "" : " (set transpose_b if input 1 is stored as (n, k))"));
        }
        int batchRank = Math.max(ra, rb) - 2;
        long[] out = new long[batchRank + 2];
        for (int i = 0; i < batchRank; i++) {
            long da = batchDim(a, i, batchRank);
            long db = batchDim(b, i, batchRank);
            if (da != db && da != 1 && db != 1) {
                throw new IllegalArgumentException(label + ": batch dim " + i + " is " + da + " in input 0 but " + db
                        + " in input 1; batch dims must be equal or 1 (broadcast)");
            }
            out[i] = Math.max(da, db);
        }
        out[batchRank] = a.dim(mDim(ra));
        out[batchRank + 1] = b.dim(nDim(rb));
        return List.of(a.withShape(out));
    }

    /** Size of right-aligned batch position {@code i} of {@code t} (1 when {@code t} lacks it). */
    private static long batchDim(TensorType t, int i, int batchRank) {
        int own = i - (batchRank - (t.rank() - 2));
        return own < 0 ? 1 : t.dim(own);
    }

    private void checkInputs(String label, List<TensorType> inputs) {
        if (inputs.size() != 2) {
            throw new IllegalArgumentException(label + ": found " + inputs.size() + " inputs; expected 2 (A and B)");
        }
        for (int i = 0; i < 2; i++) {
            if (inputs.get(i).rank() < 2) {
                throw new IllegalArgumentException(label + ": input " + i + " " + inputs.get(i) + " has "
                        + inputs.get(i).rank() + " dims; expected at least 2");
            }
        }
    }

    private String label(String name) {
        return type() + " '" + name + "'";
    }

    @Override
    public Strategy dataParallel(List<TensorType> inputs, int devices) {
        TensorType a = inputs.get(0);
        TensorType b = inputs.get(1);
        int[] sa = new int[a.rank()];
        int[] sb = new int[b.rank()];
        Arrays.fill(sa, 1);
        Arrays.fill(sb, 1);
        int split = Sharding.fit(a.dim(0), devices);
        sa[0] = split;
        // B shares A's dim 0 only when it is a batch dimension both have (same rank, size above 1)
        if (a.rank() > 2 && b.rank() == a.rank() && b.dim(0) == a.dim(0)) {
            sb[0] = split;
        }
        return Strategy.of(sa, sb);
    }

    @Override
    public OpSharding shard(String name, List<TensorType> inputs, Strategy in, Strategy out, int devices) {
        String label = label(name);
        List<TensorType> outTypes = outputs(name, inputs);
        Sharding.checkStrategy(label, inputs, in);
        TensorType a = inputs.get(0);
        TensorType b = inputs.get(1);
        int ra = a.rank();
        int rb = b.rank();
        int[] sa = in.tuple(0);
        int[] sb = in.tuple(1);
        Sharding.checkEqual(label, "input 1 dim " + kDimB(rb), sb[kDimB(rb)], "input 0 dim " + kDimA(ra),
                sa[kDimA(ra)], "k must be split equally");
        int batchRank = Math.max(ra, rb) - 2;
        int[] dev = new int[batchRank + 3];
        int[][] dimsA = new int[ra][];
        int[][] dimsB = new int[rb][];
        int[][] dimsOut = new int[batchRank + 2][];
        int m = batchRank;
        int k = batchRank + 1;
        int n = batchRank + 2;
        // batch positions, right-aligned: equal splits where both inputs have a real (size > 1) dimension
        for (int i = 0; i < batchRank; i++) {
            int offA = i - (batchRank - (ra - 2));
            int offB = i - (batchRank - (rb - 2));
            int splitA = offA < 0 ? 1 : sa[offA];
            int splitB = offB < 0 ? 1 : sb[offB];
            if (offA >= 0 && offB >= 0 && a.dim(offA) > 1 && b.dim(offB) > 1) {
                Sharding.checkEqual(label, "input 1 batch dim " + offB, splitB, "input 0 batch dim " + offA, splitA,
                        "batch dimensions must be split equally");
            }
            dev[i] = Math.max(splitA, splitB);
            // every tensor dim keeps its device dim even when split once (the published maps of spec §3); a
            // broadcast dim of size 1 under a split batch position is not split
            if (offA >= 0) {
                dimsA[offA] = splitA == dev[i] ? new int[] {i} : new int[0];
            }
            if (offB >= 0) {
                dimsB[offB] = splitB == dev[i] ? new int[] {i} : new int[0];
            }
            dimsOut[i] = new int[] {i};
        }
        dev[m] = sa[mDim(ra)];
        dev[k] = sa[kDimA(ra)];
        dev[n] = sb[nDim(rb)];
        dimsA[mDim(ra)] = new int[] {m};
        dimsA[kDimA(ra)] = new int[] {k};
        dimsB[kDimB(rb)] = new int[] {k};
        dimsB[nDim(rb)] = new int[] {n};
        dimsOut[batchRank] = new int[] {m};
        dimsOut[batchRank + 1] = new int[] {n};

        List<OpComm> extra = new ArrayList<>();
        if (out != null) {
            if (out.size() != 1) {
                throw new IllegalArgumentException(label + ": out_strategy " + out + " has " + out.size()
                        + " tuples; expected 1 (one output)");
            }
            int[] so = out.tuple(0);
            Sharding.checkTuple(label, "output 0", outTypes.get(0), so);
            for (int i = 0; i < batchRank; i++) {
                Sharding.checkEqual(label, "out_strategy dim " + i, so[i], "the batch dim " + i, dev[i],
                        "out_strategy batch dims must equal in_strategy's");
            }
            Sharding.checkEqual(label, "out_strategy dim " + (batchRank + 1), so[batchRank + 1], "n (input 1 dim "
                    + nDim(rb) + ")", dev[n], "out_strategy n must equal in_strategy's");
            int mo = so[batchRank];
            if (mo == dev[m] * dev[k] && dev[k] > 1) {
                dimsOut[batchRank] = new int[] {m, k};
                extra.add(new OpComm(CollectiveKind.REDUCE_SCATTER, ReduceOp.SUM, Phase.FORWARD, true, 0,
                        new int[] {k}, "k is split " + dev[k] + " ways and out_strategy splits m " + mo
                        + " ways: partial sums are reduce-scattered along m"));
                extra.add(new OpComm(CollectiveKind.ALL_GATHER, null, Phase.BACKWARD, true, 0, new int[] {k},
                        "the output gradient is scattered along m over the k group; it is gathered for the "
                        + "input gradients"));
            } else if (mo != dev[m]) {
                throw new IllegalArgumentException(label + ": out_strategy splits m " + mo + " ways; expected "
                        + dev[m] + " (like in_strategy, AllReduce) or " + (dev[m] * dev[k])
                        + " (m times k, ReduceScatter)" + (dev[k] > 1 ? "" : " with k split"));
            }
        }
        return Sharding.derive(label, dev, List.of(dimsA, dimsB), List.<int[][]>of(dimsOut),
                new boolean[] {a.dtype().isFloating(), b.dtype().isFloating()}, devices, ReduceOp.SUM,
                "k is split " + dev[k] + " ways: each rank holds a partial sum", extra);
    }

    @Override
    public OperatorKind operatorKind() {
        return OperatorKind.MAT_MUL;
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

    /** dA = dC x B^T, dB = A^T x dC (transposes aside): each reads the other input. */
    @Override
    public List<TensorRef> gradientReads(int i) {
        return List.of(TensorRef.input(1 - i));
    }

    /** The attributes: both transposes always, {@code gemm_dtype} only when set. */
    @Override
    public ObjectNode encodeAttrs() {
        ObjectNode o = OpAttrs.object();
        o.put("transpose_a", transposeA);
        o.put("transpose_b", transposeB);
        if (gemmDtype != null) {
            o.put("gemm_dtype", gemmDtype.jsonName());
        }
        return o;
    }

    /** {@code 2 * batch * m * n * k} over the local slices, batch dims broadcast. */
    @Override
    public long forwardFlops(List<long[]> in, List<long[]> out) {
        long[] s = sizes(in);
        return Flops.product(2, s[0], s[1], s[2], s[3]);
    }

    /** One product of the local slices: {@code batch} times {@code (m, k) x (k, n)}, batch dims broadcast. */
    @Override
    public List<Gemm> forwardGemms(List<long[]> in, List<long[]> out) {
        long[] s = sizes(in);
        return nonEmpty(s) ? List.of(Gemm.of(s[0], s[1], s[2], s[3])) : List.of();
    }

    /**
     * Two products: {@code dA = dC x B^T}, an {@code (m, n) x (n, k)} product reducing over {@code n}, and
     * {@code dB = A^T x dC}, a {@code (k, m) x (m, n)} product reducing over {@code m} (transposes only change which
     * operand is read transposed, not the shapes).
     */
    @Override
    public List<Gemm> backwardGemms(List<long[]> in, List<long[]> out) {
        long[] s = sizes(in);
        if (!nonEmpty(s)) {
            return List.of();
        }
        return List.of(Gemm.of(s[0], s[1], s[3], s[2]), Gemm.of(s[0], s[3], s[2], s[1]));
    }

    private static boolean nonEmpty(long[] s) {
        return s[0] > 0 && s[1] > 0 && s[2] > 0 && s[3] > 0;
    }

    /** {@code {batch, m, n, k}} of the local slices. */
    private long[] sizes(List<long[]> in) {
        long[] a = in.get(0);
        long[] b = in.get(1);
        long m = transposeA ? a[a.length - 1] : a[a.length - 2];
        long k = transposeA ? a[a.length - 2] : a[a.length - 1];
        long n = transposeB ? b[b.length - 2] : b[b.length - 1];
        long batch = 1;
        int dims = Math.max(a.length, b.length) - 2;
        for (int d = 1; d <= dims; d++) {
            long da = a.length - 2 - d >= 0 ? a[a.length - 2 - d] : 1;
            long db = b.length - 2 - d >= 0 ? b[b.length - 2 - d] : 1;
            batch *= Math.max(da, db);
        }
        return new long[] {batch, m, n, k};
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
