package io.tessera.planner.op;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.layout.redistribution.ReduceOp;

import java.util.List;

/**
 * {@code MoeCombine}: the mirror of {@link MoeDispatch}. Inputs: the experts' outputs {@code expert_out [G, E, C, h]}
 * (floating), the router's expert ids {@code indices [T, k]} (integer) and its weights {@code weights [T, k]}
 * (floating). Its attributes must equal the dispatch's, so that {@link MoeSlots} recomputes the same slots from the
 * indices. Output {@code y [T, h] = sum over kept slots j of weights[t, j] * expert_out[g, e_j, c_j, :]}, with g the
 * token's group, {@code e_j = indices[t, j]} and {@code c_j} its row; a dropped slot contributes nothing.
 *
 * <p>Rule: expert_out's G dim is split like the tokens of indices and weights ({@code s} ways, {@code s} dividing G,
 * so every rank holds whole groups); E and C are whole in the operator's own input layout (an E-split producer is
 * redistributed back by an AllToAll), h may be split (y's hidden dim follows it); k is never split. Gradients: to
 * expert_out (the weights times y's gradient, scattered to the slots) and to the weights (y's gradient dotted with
 * the slot's expert row; summed over the ranks splitting h); the indices have none.
 *
 * @param experts        the number of experts E, at least 1 (the dispatch's)
 * @param capacityFactor the dispatch's capacity factor (0 = dropless)
 * @param groups         the dispatch's number of token groups G
 */
public record MoeCombine(int experts, double capacityFactor, int groups) implements Operator {

    /** Validates the attributes. */
    public MoeCombine {
        MoeSlots.checkAttrs("MoeCombine", experts, capacityFactor, groups);
    }

    /** The combine matching {@code dispatch} (same experts, capacity factor and groups). */
    public static MoeCombine of(MoeDispatch dispatch) {
        return new MoeCombine(dispatch.experts(), dispatch.capacityFactor(), dispatch.groups());
    }

    @Override
    public String type() {
        return "MoeCombine";
    }

    @Override
    public int inputCount() {
        return 3;
    }

    /** The rows per (group, expert) for {@code tokens} tokens of {@code k} slots each. */
    public int capacity(long tokens, int k) {
        return MoeSlots.capacity(tokens / groups, k, experts, capacityFactor);
    }

    /** {@code y [T, h]} in expert_out's dtype. */
    @Override
    public List<TensorType> outputs(String name, List<TensorType> inputs) {
        String label = Sharding.label(this, name);
        OpSupport.checkInputCount(label, inputs, 3, "expert_out, indices and weights");
        TensorType eo = inputs.get(0);
        TensorType indices = inputs.get(1);
        TensorType weights = inputs.get(2);
        MoeSlots.checkFloating(label, eo, "input 0 (expert_out)", 4, "[groups, experts, capacity, hidden]");
        long tokens = MoeSlots.checkIndices(label, indices, "input 1 (indices)", experts, groups);
        MoeSlots.checkFloating(label, weights, "input 2 (weights)", 2, "[tokens, k] router weights");
        if (weights.dim(0) != tokens || weights.dim(1) != indices.dim(1)) {
            throw new IllegalArgumentException(label + ": input 2 (weights) " + weights + " does not match input 1 "
                    + "(indices) " + indices + "; expected one weight per (token, slot), shape [" + tokens + ", "
                    + indices.dim(1) + "]");
        }
        long[] expected = {groups, experts, capacity(tokens, (int) indices.dim(1)), eo.dim(3)};
        if (!java.util.Arrays.equals(expected, eo.shape())) {
            throw new IllegalArgumentException(label + ": input 0 (expert_out) " + eo + " is not [groups " + groups
                    + ", experts " + experts + ", capacity " + expected[2] + ", hidden]; expected "
                    + java.util.Arrays.toString(expected) + " (experts, capacity_factor and groups must equal the"
                    + " dispatch's)");
        }
        return List.of(eo.withShape(new long[] {tokens, eo.dim(3)}));
    }

    /** The groups, tokens and weights split over {@link Sharding#fit} of groups and devices. */
    @Override
    public Strategy dataParallel(List<TensorType> inputs, int devices) {
        int s = MoeSlots.dataParallelSplit(groups, devices);
        return Strategy.of(new int[] {s, 1, 1, 1}, new int[] {s, 1}, new int[] {s, 1});
    }

    @Override
    public OpSharding shard(String name, List<TensorType> inputs, Strategy in, Strategy out, int devices) {
        String label = Sharding.label(this, name);
        outputs(name, inputs);
        OpSupport.rejectOutStrategy(label, out);
        Sharding.checkStrategy(label, inputs, in);
        int[] se = in.tuple(0);
        int[] si = in.tuple(1);
        int[] sw = in.tuple(2);
        Sharding.checkUnsplit(label, "input 0 (expert_out)", 1, se, "the experts are whole in the combine's own "
                + "layout; an expert-split producer is redistributed back by an AllToAll");
        Sharding.checkUnsplit(label, "input 0 (expert_out)", 2, se, "a group's capacity rows are read together");
        MoeSlots.checkTokenSplit(label, "input 1 (indices)", si[0], groups);
        Sharding.checkEqual(label, "input 0 (expert_out) dim 0 (groups)", se[0], "input 1 (indices) dim 0 (tokens)",
                si[0], "the groups must be split like the tokens they hold; give them the same split");
        Sharding.checkEqual(label, "input 2 (weights) dim 0 (tokens)", sw[0], "input 1 (indices) dim 0 (tokens)",
                si[0], "the weights must be split like the indices; give them the same split");
        Sharding.checkUnsplit(label, "input 1 (indices)", 1, si, "a token's k expert ids are read together");
        Sharding.checkUnsplit(label, "input 2 (weights)", 1, sw, "a token's k weights are read together");
        return Sharding.derive(label, new int[] {se[0], se[3]},
                List.of(Sharding.dims(0, -1, -1, 1), Sharding.dims(0, -1), Sharding.dims(0, -1)),
                List.<int[][]>of(Sharding.dims(0, 1)), new boolean[] {true, false, true}, devices, ReduceOp.SUM,
                "a combine never holds partial results", List.of());
    }

    @Override
    public OperatorKind operatorKind() {
        return OperatorKind.MOE_COMBINE;
    }

    /** expert_out and the weights; the indices are integers. */
    @Override
    public boolean differentiableInput(int i) {
        return i != 1;
    }

    /** y's gradient flows back. */
    @Override
    public boolean differentiableOutput(int o) {
        return true;
    }

    /** expert_out's gradient reads the indices and weights; the weights' gradient expert_out and the indices. */
    @Override
    public List<TensorRef> gradientReads(int i) {
        return i == 0 ? List.of(TensorRef.input(1), TensorRef.input(2))
                : List.of(TensorRef.input(0), TensorRef.input(1));
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

    /** A multiply-add per (token, slot) and hidden unit: {@code 2 * T * k * h} over the local slices. */
    @Override
    public long forwardFlops(List<long[]> in, List<long[]> out) {
        long[] indices = in.get(1);
        return Flops.product(2, indices[0], indices[1], out.get(0)[1]);
    }

    /** The input slices read and y's slice written once. */
    @Override
    public long forwardBytes(List<long[]> in, List<DType> inTypes, List<long[]> out, List<DType> outTypes) {
        return Flops.streamedBytes(in, inTypes, out, outTypes);
    }

    @Override
    public <R> R accept(Visitor<R> v) {
        return v.visit(this);
    }
}
