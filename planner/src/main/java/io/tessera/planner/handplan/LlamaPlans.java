package io.tessera.planner.handplan;

import io.tessera.planner.graph.Network;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.zoo.LlamaConfig;
import io.tessera.planner.zoo.Zoo;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Megatron-style strategies for {@link Zoo#llama} (Llama, Mistral, Qwen2 and any Hugging Face config of that family):
 * tensor parallelism inside a group of {@code tensor} devices, context parallelism over {@code context} devices,
 * data parallelism over {@code data} groups, optionally Megatron's sequence parallelism. Device order inside a
 * pipeline stage is Megatron's: tensor fastest, then context, then data.
 *
 * <p>The plan ({@link #strategies}, {@link #outStrategies}):
 * <ul>
 *   <li>Token rows {@code [batch * seq, hidden]} are split {@code data x context} ways ({@code D}); with sequence
 *       parallelism the RMSNorms and residual Adds split them {@code D x tensor} ways (the column-parallel inputs are
 *       then AllGathered over the tensor group and the row-parallel outputs ReduceScattered onto the split, as in
 *       {@link HandPlans#megatronGpt(io.tessera.planner.zoo.GptConfig, int, int, boolean)}).</li>
 *   <li>{@code q_proj}, {@code gate_proj}, {@code up_proj} and {@code lm_head} column parallel (weight rows, Hugging
 *       Face's {@code [out, in]}, split {@code tensor} ways); {@code o_proj} and {@code down_proj} row parallel (one
 *       forward AllReduce, or ReduceScatter with sequence parallelism).</li>
 *   <li>Grouped-query attention: {@code k_proj} and {@code v_proj} split their {@code kv_heads} {@code g =
 *       min(tensor, kv_heads)} ways; when {@code tensor > kv_heads} each KV head is computed by the {@code tensor /
 *       kv_heads} consecutive ranks whose query heads use it (MindSpore's repeated calculation), as Megatron
 *       replicates KV heads beyond the tensor degree.</li>
 *   <li>Context parallelism: every {@code [batch, heads, seq, head_dim]} tensor splits its sequence {@code context}
 *       ways; RoPE rotates by global positions. The attention's q is sequence-split; k and v are whole
 *       (the all-gather form: the planner AllGathers them over the context group, ReduceScatters their gradients) or
 *       sequence-split like q (the ring form: the operator passes the K/V blocks around the context ring). With
 *       context parallelism the micro-batch must be one sequence per data-parallel replica.</li>
 *   <li>Mixture-of-experts layers (Mixtral's {@code block_sparse_moe}, or Qwen2-MoE's and DeepSeek-V3's sparse
 *       {@code mlp}, in place of the dense {@code mlp}): {@link MoePlans},
 *       expert parallelism over the whole token-split group ({@code expert = data x context}) or none.</li>
 * </ul>
 */
public final class LlamaPlans {

    private LlamaPlans() {
    }

    /**
     * The in_strategies of the plan by operator name.
     *
     * @param c       the model (its batch is one micro-batch over the {@code data} replicas)
     * @param data    data-parallel degree, divides the batch
     * @param tensor  tensor-parallel degree: divides heads, ffn and vocab; divides kv_heads or is a multiple of it
     * @param context context-parallel degree: divides the sequence; above 1 only with one sequence per replica
     * @param sequenceParallel whether RMSNorms and residuals split the token rows over the tensor group too
     * @param ring    with {@code context > 1}: the ring form (k and v sequence-split) instead of the all-gather form
     * @throws IllegalArgumentException (one line) when a degree does not divide the dimension it splits
     */
    public static Map<String, Strategy> strategies(LlamaConfig c, int data, int tensor, int context,
                                                   boolean sequenceParallel, boolean ring) {
        check(c, data, tensor, context, sequenceParallel);
        int dp = data;
        int t = tensor;
        int cp = context;
        int g = kvSplit(c, t);
        int rows = dp * cp;
        int outer = sequenceParallel ? rows * t : rows;
        Map<String, Strategy> s = new LinkedHashMap<>();
        s.put("model.embed_tokens", Strategy.of(t(1, 1), t(dp, cp)));
        s.put("model.embed_flatten", Strategy.of(t(dp, cp, 1)));
        for (int i = 0; i < c.layers(); i++) {
            String p = "model.layers." + i + ".";
            String a = p + "self_attn.";
            s.put(p + "input_layernorm", Strategy.of(t(outer, 1), t(1)));
            projection(s, c, a + "q", rows, t, dp, cp);
            projection(s, c, a + "k", rows, g, dp, cp);
            projection(s, c, a + "v", rows, g, dp, cp);
            s.put(a + "q_rope", Strategy.of(t(dp, t, cp, 1)));
            s.put(a + "k_rope", Strategy.of(t(dp, g, cp, 1)));
            if (c.fusedAttention()) {
                int kvSeq = ring ? cp : 1;
                s.put(a + "attention", Strategy.of(t(dp, t, cp, 1), t(dp, g, kvSeq, 1), t(dp, g, kvSeq, 1)));
            } else {
                s.put(a + "scores", Strategy.of(t(dp, t, 1, 1), t(dp, t, 1, 1)));
                s.put(a + "scale_mul", Strategy.of(t(dp, t, 1, 1), t(1)));
                s.put(a + "causal_mask", Strategy.of(t(dp, t, 1, 1)));
                s.put(a + "softmax", Strategy.of(t(dp, t, 1, 1)));
                s.put(a + "context", Strategy.of(t(dp, t, 1, 1), t(dp, t, 1, 1)));
            }
            s.put(a + "merge_heads", Strategy.of(t(dp, t, cp, 1)));
            s.put(a + "flatten", Strategy.of(t(dp, cp, t, 1)));
            s.put(a + "o_proj", Strategy.of(t(rows, t), t(1, t)));
            s.put(p + "residual1", Strategy.of(t(outer, 1), t(outer, 1)));
            s.put(p + "post_attention_layernorm", Strategy.of(t(outer, 1), t(1)));
            s.put(p + "mlp.gate_proj", Strategy.of(t(rows, 1), t(t, 1)));
            s.put(p + "mlp.up_proj", Strategy.of(t(rows, 1), t(t, 1)));
            s.put(p + "mlp.act", Strategy.of(t(rows, t)));
            s.put(p + "mlp.mul", Strategy.of(t(rows, t), t(rows, t)));
            s.put(p + "mlp.down_proj", Strategy.of(t(rows, t), t(1, t)));
            s.put(p + "residual2", Strategy.of(t(outer, 1), t(outer, 1)));
        }
        s.put("model.norm", Strategy.of(t(outer, 1), t(1)));
        s.put("lm_head", Strategy.of(t(rows, 1), t(t, 1)));
        s.put("loss_fn", Strategy.of(t(rows, 1), t(rows, 1)));
        s.put("loss", Strategy.of(t(rows)));
        return s;
    }

    /**
     * The in_strategies of the plan on {@code network}, the model {@code c} builds: {@link #strategies} with the
     * {@code mlp} entries of every mixture-of-experts layer replaced by the {@link MoePlans} entries of its block
     * ({@code block_sparse_moe} or the sparse {@code mlp}, in the same place) and, with multi-head latent attention
     * ({@link LlamaConfig#mla}), every layer's {@code self_attn} entries replaced by {@link MlaPlans#replaceAttention};
     * {@link #strategies} itself for a dense Llama.
     *
     * @param expert the expert-parallel degree, dividing {@code data x context}
     * @throws IllegalArgumentException (one line) as {@link #strategies} and {@link MoePlans#strategies}
     */
    public static Map<String, Strategy> strategies(LlamaConfig c, int data, int tensor, int context,
                                                   boolean sequenceParallel, boolean ring, int expert,
                                                   Network network) {
        Map<String, Strategy> dense = strategies(c, data, tensor, context, sequenceParallel, ring);
        if (c.mla() != null) {
            dense = MlaPlans.replaceAttention(dense, network, data, context, tensor, ring);
        }
        Map<String, Strategy> moe = MoePlans.strategies(network, data * context, tensor, expert);
        if (moe.isEmpty()) {
            return dense;
        }
        Map<String, String> blocks = MoePlans.blockPrefixes(network);
        Map<String, Strategy> s = new LinkedHashMap<>();
        for (Map.Entry<String, Strategy> e : dense.entrySet()) {
            String layer = Network.layerPrefix(e.getKey());
            if (layer != null && blocks.containsKey(layer) && e.getKey().startsWith(layer + "mlp.")) {
                if (e.getKey().equals(layer + "mlp.gate_proj")) {
                    String block = blocks.get(layer);
                    moe.forEach((op, st) -> {
                        if (op.startsWith(block)) {
                            s.put(op, st);
                        }
                    });
                }
                continue;
            }
            s.put(e.getKey(), e.getValue());
        }
        return s;
    }

    /**
     * The out_strategies that go with {@link #strategies(LlamaConfig, int, int, int, boolean, boolean, int, Network)}:
     * {@link #outStrategies} without the {@code mlp.down_proj} of the mixture-of-experts layers (their experts' row
     * parallel partial sums are AllReduced before the combine, whose token rows the residual then slices).
     */
    public static Map<String, Strategy> outStrategies(LlamaConfig c, int data, int tensor, int context,
                                                      boolean sequenceParallel, Network network) {
        Map<String, Strategy> s = new LinkedHashMap<>(outStrategies(c, data, tensor, context, sequenceParallel));
        for (String layer : MoePlans.blocks(network).keySet()) {
            s.remove(layer + "mlp.down_proj");
        }
        return s;
    }

    /**
     * The out_strategies that go with {@link #strategies}: none without sequence parallelism; with it
     * {@code ((data x context x tensor, 1))} for every {@code o_proj} and {@code down_proj}, whose partial sums then
     * ReduceScatter onto the token split.
     */
    public static Map<String, Strategy> outStrategies(LlamaConfig c, int data, int tensor, int context,
                                                      boolean sequenceParallel) {
        check(c, data, tensor, context, sequenceParallel);
        Map<String, Strategy> s = new LinkedHashMap<>();
        if (sequenceParallel) {
            int split = data * context * tensor;
            for (int i = 0; i < c.layers(); i++) {
                s.put("model.layers." + i + ".self_attn.o_proj", Strategy.of(t(split, 1)));
                s.put("model.layers." + i + ".mlp.down_proj", Strategy.of(t(split, 1)));
            }
        }
        return s;
    }

    /** The dataset strategy of the plan: {@code input_ids [batch, seq]} split (data, context), label rows D ways. */
    public static Strategy datasetStrategy(int data, int context) {
        return Strategy.of(t(data, context), t(data * context, 1));
    }

    /**
     * The split of the key/value heads under tensor degree {@code tensor}: {@code tensor} while it divides kv_heads,
     * else kv_heads (each KV head shared by {@code tensor / kv_heads} ranks).
     */
    public static int kvSplit(LlamaConfig c, int tensor) {
        return tensor <= c.kvHeads() ? tensor : c.kvHeads();
    }

    /** A column-parallel projection {@code x} (q, k or v) splitting its output features {@code split} ways. */
    private static void projection(Map<String, Strategy> s, LlamaConfig c, String x, int rows, int split, int dp,
                                   int cp) {
        s.put(x + "_proj", Strategy.of(t(rows, 1), t(split, 1)));
        if (c.attentionBias()) {
            s.put(x + "_proj_bias", Strategy.of(t(rows, split), t(split)));
        }
        s.put(x + "_split", Strategy.of(t(rows, split)));
        s.put(x + "_heads", Strategy.of(t(dp, cp, split, 1)));
    }

    private static void check(LlamaConfig c, int data, int tensor, int context, boolean sequenceParallel) {
        check(c, "batch", c.batch(), "data", data);
        check(c, "num_attention_heads", c.heads(), "tensor", tensor);
        check(c, "intermediate_size", c.ffn(), "tensor", tensor);
        check(c, "vocab_size", c.vocab(), "tensor", tensor);
        if (tensor <= c.kvHeads() ? c.kvHeads() % tensor != 0 : tensor % c.kvHeads() != 0) {
            throw new IllegalArgumentException("Megatron Llama: tensor = " + tensor + " neither divides nor is a "
                    + "multiple of num_key_value_heads = " + c.kvHeads() + "; choose a tensor degree that divides the "
                    + "KV heads (they are split) or a multiple of them (each KV head is shared by tensor / kv_heads "
                    + "ranks)");
        }
        check(c, "seq", c.seq(), "context", context);
        if (context > 1 && c.batch() != data) {
            throw new IllegalArgumentException("Megatron Llama: context = " + context + " with " + c.batch() / data
                    + " sequences per data-parallel replica; expected 1 (context parallelism splits each sequence "
                    + "over the context group, and the token rows of a replica must be one sequence): use "
                    + "micro_batch_size 1 with more micro-batches");
        }
        long rows = (long) c.batch() / data * c.seq() / context;
        if (sequenceParallel && rows % tensor != 0) {
            throw new IllegalArgumentException("Megatron Llama with sequence parallelism: tensor = " + tensor
                    + " does not divide the " + rows + " token rows of a replica's context shard; choose a tensor "
                    + "degree that divides them or turn sequence_parallel off");
        }
        if (context > 1 && !c.fusedAttention()) {
            throw new IllegalArgumentException("Megatron Llama: context = " + context + " needs the fused attention "
                    + "(FlashAttentionScore); set fused_attention true");
        }
    }

    private static void check(LlamaConfig c, String dim, int size, String degree, int d) {
        if (d < 1 || size % d != 0) {
            throw new IllegalArgumentException("Megatron Llama: " + degree + " = " + d + " does not divide " + dim
                    + " = " + size + "; choose a " + degree + " degree that divides it");
        }
    }

    private static int[] t(int... v) {
        return v;
    }
}
