package io.tessera.planner.op;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.layout.redistribution.ReduceOp;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * {@code MoeRouter}: the top-k router of a mixture of experts, after the gate MatMul. Inputs: the router logits
 * {@code [tokens, E]} (floating) and, when {@code withBias}, DeepSeek-V3's {@code e_score_correction_bias [E]}
 * (used only to choose the experts, never in the weights; it has no gradient). Outputs: {@code weights [tokens, k]}
 * (the logits' dtype) and {@code indices [tokens, k]} (INT32).
 *
 * <p>Per token: the scores {@code s} are {@code softmax(logits)} over all experts or {@code sigmoid(logits)}; the
 * selection scores are {@code c = s + bias} (no bias: {@code c = s}). With {@code nGroup > 1} (DeepSeek-V3's grouped
 * top-k) the experts are cut into {@code nGroup} consecutive groups, a group's score is the sum of its two best
 * {@code c} (its one when a group holds one expert), and only the experts of the {@code topkGroup} best groups stay
 * eligible (the others are excluded, as DeepSeek-V3's reference fills them with {@code -inf}). The {@code k} slots
 * hold the eligible experts of the largest {@code c}, in descending order, ties going to the lower expert (or group)
 * index. The weights are the unbiased scores {@code s} of the chosen experts, divided by their sum when
 * {@code normTopkProb}, times {@code routedScalingFactor}. This is Hugging Face's {@code MixtralSparseMoeBlock}
 * (softmax, top-k, optional renormalisation) and {@code DeepseekV3TopkRouter} (sigmoid, bias, grouped top-k,
 * normalised, scaled).
 *
 * <p>Rule: tokens may be split any way; the expert dimension of the logits (and the bias) must not be split (every
 * rank needs a token's whole row to choose among all experts). Both outputs take the tokens' layout, their {@code k}
 * dimension whole. No communication.
 *
 * <p>Gradient: with respect to the logits only, at fixed routing (the choice is piecewise constant): the derivative
 * of the chosen weights through the renormalisation and the scaling, then through the softmax over all experts or
 * the sigmoid. The backward recomputes the routing from the inputs.
 *
 * @param topK                the experts per token, {@code 1..E} (required; Hugging Face's
 *                            {@code num_experts_per_tok})
 * @param score               the scoring function ({@link Score#SOFTMAX} by default)
 * @param normTopkProb        whether the chosen weights are divided by their sum (default false; Mixtral and
 *                            DeepSeek-V3 true, Qwen-MoE false)
 * @param routedScalingFactor the factor the weights are multiplied by (default 1; DeepSeek-V3 2.5), positive
 * @param nGroup              the expert groups of the grouped top-k (default 1: no grouping); it divides E
 * @param topkGroup           the groups kept, {@code 1..nGroup} (default 1)
 * @param withBias            whether a second input {@code bias [E]} corrects the selection scores (default false)
 */
public record MoeRouter(int topK, Score score, boolean normTopkProb, double routedScalingFactor, int nGroup,
                        int topkGroup, boolean withBias) implements Operator {

    /** FLOPs per logit element: 5 for the scores (as {@link Flops#SOFTMAX}), 1 for the bias, 2 for the selection. */
    public static final int FLOPS_PER_LOGIT = 8;

    /** FLOPs per output weight: its share of the renormalising sum, the division and the scaling. */
    public static final int FLOPS_PER_WEIGHT = 3;

    /** The scoring functions of the router, as Hugging Face's {@code scoring_func}. */
    public enum Score {
        /** {@code softmax} over all experts (Mixtral, Qwen-MoE). */
        SOFTMAX("softmax"),
        /** {@code sigmoid} of each logit (DeepSeek-V3). */
        SIGMOID("sigmoid");

        private final String jsonName;

        Score(String jsonName) {
            this.jsonName = jsonName;
        }

        /** The JSON name, e.g. {@code softmax}. */
        public String jsonName() {
            return jsonName;
        }

        /**
         * The score of JSON name {@code name}.
         *
         * @throws IllegalArgumentException naming the value and the valid names
         */
        public static Score parse(String name) {
            for (Score s : values()) {
                if (s.jsonName.equals(name)) {
                    return s;
                }
            }
            throw new IllegalArgumentException("MoeRouter: score '" + name + "' is not a scoring function; expected"
                    + " \"softmax\" (Mixtral, Qwen-MoE) or \"sigmoid\" (DeepSeek-V3)");
        }
    }

    /** Validates the attributes that do not depend on the number of experts. */
    public MoeRouter {
        if (topK < 1) {
            throw new IllegalArgumentException("MoeRouter: top_k is " + topK + "; expected at least 1 expert per"
                    + " token, e.g. 2 for Mixtral");
        }
        if (score == null) {
            throw new IllegalArgumentException("MoeRouter: score is null; expected one of "
                    + Arrays.toString(Score.values()));
        }
        if (!(routedScalingFactor > 0) || Double.isInfinite(routedScalingFactor)) {
            throw new IllegalArgumentException("MoeRouter: routed_scaling_factor is " + routedScalingFactor
                    + "; expected a positive finite number (1 by default, DeepSeek-V3 2.5)");
        }
        if (nGroup < 1) {
            throw new IllegalArgumentException("MoeRouter: n_group is " + nGroup + "; expected at least 1 (1 = no"
                    + " grouped top-k)");
        }
        if (topkGroup < 1 || topkGroup > nGroup) {
            throw new IllegalArgumentException("MoeRouter: topk_group is " + topkGroup + " with n_group " + nGroup
                    + "; expected 1 <= topk_group <= n_group");
        }
    }

    /** Mixtral / Qwen-MoE: softmax over all experts, top-{@code k}, renormalised when {@code normTopkProb}. */
    public static MoeRouter softmax(int k, boolean normTopkProb) {
        return new MoeRouter(k, Score.SOFTMAX, normTopkProb, 1, 1, 1, false);
    }

    /**
     * DeepSeek-V3: sigmoid scores, a selection bias input, grouped top-{@code k}, weights normalised and scaled.
     */
    public static MoeRouter deepseek(int k, int nGroup, int topkGroup, double routedScalingFactor) {
        return new MoeRouter(k, Score.SIGMOID, true, routedScalingFactor, nGroup, topkGroup, true);
    }

    @Override
    public String type() {
        return "MoeRouter";
    }

    /** 1, or 2 with the bias. */
    @Override
    public int inputCount() {
        return withBias ? 2 : 1;
    }

    /** weights {@code [tokens, k]} of the logits' dtype and indices {@code [tokens, k]} INT32. */
    @Override
    public List<TensorType> outputs(String name, List<TensorType> inputs) {
        String label = Sharding.label(this, name);
        Elementwise.checkCount(label, inputs, inputCount(), withBias ? "logits and bias" : "logits");
        TensorType logits = inputs.get(0);
        if (logits.rank() != 2 || !logits.dtype().isFloating()) {
            throw new IllegalArgumentException(label + ": input 0 (logits) " + logits + " is not a floating [tokens,"
                    + " experts] matrix; expected the gate MatMul's output [tokens, E]");
        }
        long experts = logits.dim(1);
        if (topK > experts) {
            throw new IllegalArgumentException(label + ": top_k " + topK + " exceeds the " + experts + " experts of"
                    + " input 0 (logits) " + logits + "; choose top_k <= " + experts);
        }
        if (experts % nGroup != 0) {
            throw new IllegalArgumentException(label + ": n_group " + nGroup + " does not divide the " + experts
                    + " experts of input 0 (logits) " + logits + "; choose a divisor of " + experts);
        }
        long eligible = topkGroup * (experts / nGroup);
        if (topK > eligible) {
            throw new IllegalArgumentException(label + ": top_k " + topK + " exceeds the " + eligible + " experts of"
                    + " the topk_group " + topkGroup + " kept groups of " + experts / nGroup + "; raise topk_group or"
                    + " lower top_k");
        }
        if (withBias) {
            TensorType bias = inputs.get(1);
            if (bias.rank() != 1 || bias.dim(0) != experts || !bias.dtype().isFloating()) {
                throw new IllegalArgumentException(label + ": input 1 (bias) " + bias + " is not a floating vector"
                        + " of the " + experts + " experts; expected [" + experts + "] (e_score_correction_bias)");
            }
        }
        return List.of(logits.withShape(logits.dim(0), topK),
                TensorType.of(DType.INT32, logits.dim(0), topK));
    }

    /** Tokens split over {@link Sharding#fit} of their count; experts (and the bias) whole. */
    @Override
    public Strategy dataParallel(List<TensorType> inputs, int devices) {
        int[] s = Elementwise.batchTuple(inputs.get(0), devices);
        return withBias ? Strategy.of(s, new int[] {1}) : Strategy.of(s);
    }

    @Override
    public OpSharding shard(String name, List<TensorType> inputs, Strategy in, Strategy out, int devices) {
        String label = Sharding.label(this, name);
        outputs(name, inputs);
        Elementwise.rejectOutStrategy(label, out);
        Sharding.checkStrategy(label, inputs, in);
        String why = "the router chooses among all experts of a token, so every rank needs the whole expert row";
        Sharding.checkUnsplit(label, "input 0 (logits)", 1, in.tuple(0), why);
        List<int[][]> ins = new ArrayList<>();
        ins.add(new int[][] {{0}, {1}});
        if (withBias) {
            Sharding.checkUnsplit(label, "input 1 (bias)", 0, in.tuple(1), why);
            ins.add(new int[][] {{1}});
        }
        int[][] rows = {{0}, {}};
        boolean floating = inputs.get(0).dtype().isFloating();
        return Sharding.derive(label, in.tuple(0), ins, List.of(rows, rows),
                withBias ? new boolean[] {floating, false} : new boolean[] {floating}, devices, ReduceOp.SUM,
                "a router never holds partial results", List.of());
    }

    @Override
    public OperatorKind operatorKind() {
        return OperatorKind.MOE_ROUTER;
    }

    /** The logits; the bias only chooses the experts and has none. */
    @Override
    public boolean differentiableInput(int i) {
        return i == 0;
    }

    /** The weights' gradient flows back; the indices have none. */
    @Override
    public boolean differentiableOutput(int o) {
        return o == 0;
    }

    /** Every input: the backward recomputes the scores and the routing. */
    @Override
    public List<TensorRef> gradientReads(int i) {
        return withBias ? List.of(TensorRef.input(0), TensorRef.input(1)) : List.of(TensorRef.input(0));
    }

    /** Every attribute, always written. */
    @Override
    public ObjectNode encodeAttrs() {
        ObjectNode o = OpAttrs.object();
        o.put("top_k", topK);
        o.put("score", score.jsonName());
        o.put("norm_topk_prob", normTopkProb);
        o.put("routed_scaling_factor", routedScalingFactor);
        o.put("n_group", nGroup);
        o.put("topk_group", topkGroup);
        o.put("with_bias", withBias);
        return o;
    }

    /** {@link #FLOPS_PER_LOGIT} per logit element plus {@link #FLOPS_PER_WEIGHT} per output weight. */
    @Override
    public long forwardFlops(List<long[]> in, List<long[]> out) {
        return FLOPS_PER_LOGIT * Flops.volume(in.get(0)) + FLOPS_PER_WEIGHT * Flops.volume(out.get(0));
    }

    /** Every input slice read and both output slices written once. */
    @Override
    public long forwardBytes(List<long[]> in, List<DType> inTypes, List<long[]> out, List<DType> outTypes) {
        return Flops.streamedBytes(in, inTypes, out, outTypes);
    }

    @Override
    public <R> R accept(Visitor<R> v) {
        return v.visit(this);
    }
}
