package io.tessera.planner.op;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.layout.redistribution.ReduceOp;

import java.util.List;

/**
 * {@code MoeDispatch}: mixture-of-experts token dispatch with GShard's groups and capacity. Inputs: the tokens
 * {@code x [T, h]} (floating) and the router's expert ids {@code indices [T, k]} (integer, each in {@code [0, E)}).
 * Output: {@code buffer [G, E, C, h]} in x's dtype, where row {@code c} of (group g, expert e) is the token holding
 * the c-th claimed slot of expert e in group g, zeros where unused; {@code C} and the claim order are
 * {@link MoeSlots}'s (the tokens cut into {@code G} contiguous groups; slot 0 of every token first, then slot 1, ...;
 * a slot whose expert is full in its group is dropped).
 *
 * <p>Rule: x's token dim may be split {@code s} ways only when {@code s} divides {@code groups} (every rank holds
 * whole groups, so it assigns slots exactly as one device does); x's hidden dim may be split; the indices are split
 * like x's tokens and not along k. The output is split along G like the tokens and along h like x's h; E and C are
 * whole in the operator's own output layout. Expert parallelism comes from the consumer: one that wants the buffer
 * split along E (and whole along G) gets it through the planner's byte-minimal redistribution, an AllToAll. Nothing
 * is communicated by the operator itself. Only x has a gradient (the buffer's gradient scattered back to its tokens);
 * the indices have none.
 *
 * @param experts        the number of experts E, at least 1
 * @param capacityFactor 0 for dropless ({@code C = T / G}), else the factor of {@code C = ceil(factor * (T / G) * k
 *                       / E)}; default 0
 * @param groups         the number of token groups G, at least 1 and dividing T; default 1 (a plan sets it to the
 *                       token split, e.g. data x context)
 */
public record MoeDispatch(int experts, double capacityFactor, int groups) implements Operator {

    /** Validates the attributes. */
    public MoeDispatch {
        MoeSlots.checkAttrs("MoeDispatch", experts, capacityFactor, groups);
    }

    /** A dispatch to {@code experts} experts, dropless, one group. */
    public static MoeDispatch of(int experts) {
        return new MoeDispatch(experts, 0, 1);
    }

    @Override
    public String type() {
        return "MoeDispatch";
    }

    @Override
    public int inputCount() {
        return 2;
    }

    /** The rows per (group, expert) for {@code tokens} tokens of {@code k} slots each. */
    public int capacity(long tokens, int k) {
        return MoeSlots.capacity(tokens / groups, k, experts, capacityFactor);
    }

    /** {@code buffer [G, E, C, h]} in x's dtype. */
    @Override
    public List<TensorType> outputs(String name, List<TensorType> inputs) {
        String label = Sharding.label(this, name);
        OpSupport.checkInputCount(label, inputs, 2, "x and indices");
        TensorType x = inputs.get(0);
        MoeSlots.checkFloating(label, x, "input 0 (x)", 2, "[tokens, hidden]");
        long tokens = MoeSlots.checkIndices(label, inputs.get(1), "input 1 (indices)", experts, groups);
        if (x.dim(0) != tokens) {
            throw new IllegalArgumentException(label + ": input 0 (x) " + x + " has " + x.dim(0) + " tokens but "
                    + "input 1 (indices) " + inputs.get(1) + " has " + tokens + "; expected one row of expert ids per"
                    + " token");
        }
        int k = (int) inputs.get(1).dim(1);
        return List.of(x.withShape(new long[] {groups, experts, capacity(tokens, k), x.dim(1)}));
    }

    /** The tokens (and their indices) split over {@link Sharding#fit} of groups and devices. */
    @Override
    public Strategy dataParallel(List<TensorType> inputs, int devices) {
        int s = MoeSlots.dataParallelSplit(groups, devices);
        return Strategy.of(new int[] {s, 1}, new int[] {s, 1});
    }

    @Override
    public OpSharding shard(String name, List<TensorType> inputs, Strategy in, Strategy out, int devices) {
        String label = Sharding.label(this, name);
        outputs(name, inputs);
        OpSupport.rejectOutStrategy(label, out);
        Sharding.checkStrategy(label, inputs, in);
        int[] sx = in.tuple(0);
        int[] si = in.tuple(1);
        MoeSlots.checkTokenSplit(label, "input 0 (x)", sx[0], groups);
        Sharding.checkEqual(label, "input 0 (x) dim 0 (tokens)", sx[0], "input 1 (indices) dim 0 (tokens)", si[0],
                "the indices must be split like the tokens they route; give them the same split");
        Sharding.checkUnsplit(label, "input 1 (indices)", 1, si, "a token's k expert ids are read together");
        return Sharding.derive(label, new int[] {sx[0], sx[1]}, List.of(Sharding.dims(0, 1), Sharding.dims(0, -1)),
                List.<int[][]>of(Sharding.dims(0, -1, -1, 1)), new boolean[] {true, false}, devices, ReduceOp.SUM,
                "a dispatch never holds partial results", List.of());
    }

    @Override
    public OperatorKind operatorKind() {
        return OperatorKind.MOE_DISPATCH;
    }

    /** Only x: the indices are integers. */
    @Override
    public boolean differentiableInput(int i) {
        return i == 0;
    }

    /** The buffer's gradient flows back to x. */
    @Override
    public boolean differentiableOutput(int o) {
        return true;
    }

    /** x's gradient gathers the buffer's gradient at the slots the indices give. */
    @Override
    public List<TensorRef> gradientReads(int i) {
        return List.of(TensorRef.input(1));
    }

    /** The attributes {@code experts}, {@code capacity_factor} and {@code groups}, always written. */
    @Override
    public ObjectNode encodeAttrs() {
        ObjectNode o = OpAttrs.object();
        o.put("experts", experts);
        o.put("capacity_factor", capacityFactor);
        o.put("groups", groups);
        return o;
    }

    /** 0: it only moves memory. */
    @Override
    public long forwardFlops(List<long[]> in, List<long[]> out) {
        return 0;
    }

    /** The input slices read and the buffer slice written once. */
    @Override
    public long forwardBytes(List<long[]> in, List<DType> inTypes, List<long[]> out, List<DType> outTypes) {
        return Flops.streamedBytes(in, inTypes, out, outTypes);
    }

    @Override
    public <R> R accept(Visitor<R> v) {
        return v.visit(this);
    }
}
