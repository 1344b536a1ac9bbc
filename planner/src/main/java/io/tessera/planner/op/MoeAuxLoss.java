package io.tessera.planner.op;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.layout.redistribution.ReduceOp;

import java.util.List;

/**
 * {@code MoeAuxLoss}: the Switch / GShard load-balancing loss of a mixture of experts, in Megatron-Core's
 * normalisation ({@code switch_load_balancing_loss_func}: the routed fraction over the {@code tokens * k} slots). Hugging
 * Face's {@code load_balancing_loss_func} sums the fraction over the k slots instead, which is {@code k} times this
 * value: give {@code coefficient * k} to match it (the two agree for top-1, Switch Transformer's case). Inputs: the router logits {@code [tokens, E]} (floating) and the chosen experts
 * {@code indices [tokens, k]} (integers, {@link MoeRouter}'s second output). Output: the scalar (shape {@code []},
 * as a full {@code ReduceMean}) {@code coefficient * E * sum_e f_e P_e}, where {@code f_e} is the fraction of the
 * {@code tokens * k} (token, slot) pairs routed to expert {@code e} and {@code P_e} the mean over tokens of
 * {@code softmax(logits)_e}.
 *
 * <p>Rule: nothing may be split. {@code f} and {@code P} are means over all tokens and the loss is their product, not
 * a sum of per-token parts, so every rank needs every token (a token-split producer is gathered by a redistribution
 * in front of the operator, its gradient sliced back). No communication of its own.
 *
 * <p>Gradient: with respect to the logits only ({@code f} counts the routing, a constant):
 * {@code dL/dlogits[t, e] = coefficient * E / tokens * p[t, e] (f_e - sum_e' f_e' p[t, e'])}. The indices have none.
 *
 * @param topK        the experts per token, equal to the indices' second dimension (checked)
 * @param coefficient the loss's weight in the total loss (default 0.01; Hugging Face's
 *                    {@code router_aux_loss_coef}), finite
 */
public record MoeAuxLoss(int topK, double coefficient) implements Operator {

    /** The default coefficient (Hugging Face's {@code router_aux_loss_coef} of Mixtral: 0.02; Switch: 0.01). */
    public static final double DEFAULT_COEFFICIENT = 0.01;

    /** FLOPs per logit element: 5 for the softmax (as {@link Flops#SOFTMAX}) and 1 to accumulate {@code P}. */
    public static final int FLOPS_PER_LOGIT = 6;

    /** FLOPs per index: counting it into {@code f}. */
    public static final int FLOPS_PER_INDEX = 1;

    /** Validates a positive top_k and a finite coefficient. */
    public MoeAuxLoss {
        if (topK < 1) {
            throw new IllegalArgumentException("MoeAuxLoss: top_k is " + topK + "; expected the router's experts per"
                    + " token, at least 1");
        }
        if (!Double.isFinite(coefficient)) {
            throw new IllegalArgumentException("MoeAuxLoss: coefficient is " + coefficient + "; expected a finite"
                    + " number (" + DEFAULT_COEFFICIENT + " by default)");
        }
    }

    /** The loss of a top-{@code k} router with the default coefficient. */
    public static MoeAuxLoss of(int k) {
        return new MoeAuxLoss(k, DEFAULT_COEFFICIENT);
    }

    @Override
    public String type() {
        return "MoeAuxLoss";
    }

    @Override
    public int inputCount() {
        return 2;
    }

    /** The scalar loss {@code []} of the logits' dtype. */
    @Override
    public List<TensorType> outputs(String name, List<TensorType> inputs) {
        String label = Sharding.label(this, name);
        Elementwise.checkCount(label, inputs, 2, "logits and indices");
        TensorType logits = inputs.get(0);
        TensorType indices = inputs.get(1);
        if (logits.rank() != 2 || !logits.dtype().isFloating()) {
            throw new IllegalArgumentException(label + ": input 0 (logits) " + logits + " is not a floating [tokens,"
                    + " experts] matrix; expected the router's logits [tokens, E]");
        }
        if (topK > logits.dim(1)) {
            throw new IllegalArgumentException(label + ": top_k " + topK + " exceeds the " + logits.dim(1)
                    + " experts of input 0 (logits) " + logits + "; choose top_k <= " + logits.dim(1));
        }
        if (indices.rank() != 2 || indices.dtype().isFloating() || indices.dim(0) != logits.dim(0)
                || indices.dim(1) != topK) {
            throw new IllegalArgumentException(label + ": input 1 (indices) " + indices + " does not fit top_k "
                    + topK + " and input 0 (logits) " + logits + "; expected int32 [" + logits.dim(0) + ", " + topK
                    + "] (the router's indices; set top_k to the router's)");
        }
        return List.of(logits.withShape());
    }

    /** Nothing split: the loss needs every token. */
    @Override
    public Strategy dataParallel(List<TensorType> inputs, int devices) {
        return Strategy.of(new int[] {1, 1}, new int[] {1, 1});
    }

    @Override
    public OpSharding shard(String name, List<TensorType> inputs, Strategy in, Strategy out, int devices) {
        String label = Sharding.label(this, name);
        outputs(name, inputs);
        Elementwise.rejectOutStrategy(label, out);
        Sharding.checkStrategy(label, inputs, in);
        String[] what = {"input 0 (logits)", "input 1 (indices)"};
        String[] why = {"the expert fractions and mean probabilities are taken over all tokens and multiplied, so"
                + " every rank needs every token; lay the tokens out replicated",
            "the loss weighs every expert of a token"};
        for (int i = 0; i < 2; i++) {
            for (int d = 0; d < 2; d++) {
                Sharding.checkUnsplit(label, what[i], d, in.tuple(i), why[d]);
            }
        }
        int[][] dims = Elementwise.identity(2);
        return Sharding.derive(label, in.tuple(0), List.of(dims, dims), List.<int[][]>of(new int[0][]),
                new boolean[] {inputs.get(0).dtype().isFloating(), false}, devices, ReduceOp.SUM,
                "nothing is split", List.of());
    }

    @Override
    public OperatorKind operatorKind() {
        return OperatorKind.MOE_AUX_LOSS;
    }

    /** The logits; the indices (a count, constant) have none. */
    @Override
    public boolean differentiableInput(int i) {
        return i == 0;
    }

    /** The loss's gradient flows back. */
    @Override
    public boolean differentiableOutput(int o) {
        return true;
    }

    /** The logits and the indices. */
    @Override
    public List<TensorRef> gradientReads(int i) {
        return List.of(TensorRef.input(0), TensorRef.input(1));
    }

    /** The attributes {@code top_k} and {@code coefficient}, always written. */
    @Override
    public ObjectNode encodeAttrs() {
        ObjectNode o = OpAttrs.object();
        o.put("top_k", topK);
        o.put("coefficient", coefficient);
        return o;
    }

    /** {@link #FLOPS_PER_LOGIT} per logit plus {@link #FLOPS_PER_INDEX} per index. */
    @Override
    public long forwardFlops(List<long[]> in, List<long[]> out) {
        return FLOPS_PER_LOGIT * Flops.volume(in.get(0)) + FLOPS_PER_INDEX * Flops.volume(in.get(1));
    }

    /** Both input slices read and the scalar written once. */
    @Override
    public long forwardBytes(List<long[]> in, List<DType> inTypes, List<long[]> out, List<DType> outTypes) {
        return Flops.streamedBytes(in, inTypes, out, outTypes);
    }

    @Override
    public <R> R accept(Visitor<R> v) {
        return v.visit(this);
    }
}
