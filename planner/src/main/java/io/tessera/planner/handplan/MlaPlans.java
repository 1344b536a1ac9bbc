package io.tessera.planner.handplan;

import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.zoo.MlaAttention;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Megatron-style strategies for the multi-head latent attention of a layer ({@link MlaAttention}, DeepSeek-V2/V3),
 * beside {@link LlamaPlans}' plan of the rest of the layer. With {@code A = <layer>self_attn.}, {@code D = data x
 * context} the token split and {@code t} the tensor degree:
 * <ul>
 *   <li>The compressions are replicated over the tensor group, token split only: {@code A.q_a_proj},
 *       {@code A.kv_a_proj_with_mqa} (x {@code (D, 1)}, weight {@code (1, 1)}), their RMSNorms {@code A.q_a_layernorm},
 *       {@code A.kv_a_layernorm} and {@code A.kv_split}. Their weights' gradients are whole on every tensor rank
 *       (summed over the data group only); with sequence parallelism the planner AllGathers x over the tensor group
 *       as for a column-parallel input.</li>
 *   <li>{@code A.q_b_proj} (or {@code A.q_proj}) and {@code A.kv_b_proj} column parallel: their weights' rows, the
 *       heads, split {@code t} ways (their input's gradient, partial over the tensor group, is AllReduced).</li>
 *   <li>Every {@code [batch, heads, seq, *]} tensor splits its heads {@code t} ways, batch {@code data} and sequence
 *       {@code context} ways: the head splits, RoPE of {@code q_pe}, the joins and the attention. The one shared
 *       rotary key {@code k_pe [batch, 1, seq, r]} is computed whole on every tensor rank ({@code A.k_pe_heads},
 *       {@code A.k_rope}) and {@code A.k_pe_broadcast} splits its repeated heads {@code t} ways, so its gradient is
 *       AllReduced over the tensor group (as Megatron's MLA reduces the shared key's).</li>
 *   <li>{@code A.o_proj} row parallel (a forward AllReduce, or a ReduceScatter with sequence parallelism through
 *       {@link LlamaPlans#outStrategies}, whose {@code o_proj} entry this plan keeps).</li>
 * </ul>
 * With both {@code t > 1} and {@code context > 1} the Split, Concat and BroadcastTo operators number their ranks in
 * their tuple's order (heads outside the sequence) while RoPE and the attention put the sequence outside: the planner
 * then permutes the tensors between them (correct, not free); pure tensor x data plans move nothing inside the block
 * beyond the reductions above.
 *
 * <p>To plan a Llama-family model whose layers use MLA: take {@link LlamaPlans#strategies}, drop each layer's
 * {@code self_attn.*} entries and put {@link #strategies} of that layer in their place ({@link #replaceAttention}).
 */
public final class MlaPlans {

    private MlaPlans() {
    }

    /**
     * The in_strategies of the latent attention of the layer {@code layerPrefix} ({@code "model.layers.i."}) of
     * {@code network}, by operator name.
     *
     * @param network     the network holding {@code <layerPrefix>self_attn.attention} built by {@link MlaAttention}
     * @param layerPrefix the layer's prefix, ending with a dot
     * @param data        the data-parallel degree (splits the batch)
     * @param context     the context-parallel degree (splits the sequence)
     * @param tensor      the tensor-parallel degree (splits the heads)
     * @param ring        with {@code context > 1}: the attention's ring form (k and v sequence-split) instead of the
     *                    all-gather form
     * @throws IllegalArgumentException (one line) when the layer has no latent attention or a degree does not divide
     *                                  what it splits
     */
    public static Map<String, Strategy> strategies(Network network, String layerPrefix, int data, int context,
                                                   int tensor, boolean ring) {
        String a = layerPrefix + "self_attn.";
        if (!network.hasNode(a + "kv_a_proj_with_mqa") || !network.hasNode(a + "attention")) {
            throw new IllegalArgumentException("MLA plan: " + network.name() + " has no latent attention under '" + a
                    + "' (no " + a + "kv_a_proj_with_mqa); expected a layer built by MlaAttention");
        }
        Node attention = network.node(a + "attention");
        long[] q = network.tensor(attention.inputs().get(0)).shape();
        check("batch", q[0], "data", data);
        check("num_attention_heads", q[1], "tensor", tensor);
        check("seq", q[2], "context", context);
        int dp = data;
        int cp = context;
        int t = tensor;
        int rows = dp * cp;
        int kvSeq = ring ? cp : 1;
        int[] heads = {dp, t, cp, 1};
        Map<String, Strategy> s = new LinkedHashMap<>();
        if (network.hasNode(a + "q_a_proj")) {
            s.put(a + "q_a_proj", Strategy.of(t(rows, 1), t(1, 1)));
            s.put(a + "q_a_layernorm", Strategy.of(t(rows, 1), t(1)));
            s.put(a + "q_b_proj", Strategy.of(t(rows, 1), t(t, 1)));
        } else {
            s.put(a + "q_proj", Strategy.of(t(rows, 1), t(t, 1)));
        }
        s.put(a + "q_split", Strategy.of(t(rows, t)));
        s.put(a + "q_heads", Strategy.of(t(dp, cp, t, 1)));
        s.put(a + "q_nope_pe", Strategy.of(heads.clone()));
        s.put(a + "q_rope", Strategy.of(heads.clone()));
        s.put(a + "q_concat", Strategy.of(heads.clone(), heads.clone()));
        s.put(a + "kv_a_proj_with_mqa", Strategy.of(t(rows, 1), t(1, 1)));
        s.put(a + "kv_split", Strategy.of(t(rows, 1)));
        s.put(a + "kv_a_layernorm", Strategy.of(t(rows, 1), t(1)));
        s.put(a + "kv_b_proj", Strategy.of(t(rows, 1), t(t, 1)));
        s.put(a + "kv_b_split", Strategy.of(t(rows, t)));
        s.put(a + "kv_heads", Strategy.of(t(dp, cp, t, 1)));
        s.put(a + "kv_nope_v", Strategy.of(heads.clone()));
        s.put(a + "k_pe_heads", Strategy.of(t(rows, 1)));
        s.put(a + "k_rope", Strategy.of(t(dp, 1, cp, 1)));
        s.put(a + "k_pe_broadcast", Strategy.of(heads.clone()));
        s.put(a + "k_concat", Strategy.of(heads.clone(), heads.clone()));
        s.put(a + "attention", Strategy.of(heads.clone(), t(dp, t, kvSeq, 1), t(dp, t, kvSeq, 1)));
        s.put(a + "merge_heads", Strategy.of(heads.clone()));
        s.put(a + "flatten", Strategy.of(t(dp, cp, t, 1)));
        s.put(a + "o_proj", Strategy.of(t(rows, t), t(1, t)));
        return s;
    }

    /**
     * {@code plan} (e.g. {@link LlamaPlans#strategies}) with every layer's {@code self_attn.*} entries replaced, in
     * place, by {@link #strategies} of that layer for each layer of {@code network} that has a latent attention;
     * layers without one keep their entries.
     */
    public static Map<String, Strategy> replaceAttention(Map<String, Strategy> plan, Network network, int data,
                                                         int context, int tensor, boolean ring) {
        Map<String, Strategy> out = new LinkedHashMap<>();
        java.util.Set<String> done = new java.util.HashSet<>();
        for (Map.Entry<String, Strategy> e : plan.entrySet()) {
            String layer = Network.layerPrefix(e.getKey());
            boolean mla = layer != null && e.getKey().startsWith(layer + "self_attn.")
                    && network.hasNode(layer + "self_attn.kv_a_proj_with_mqa");
            if (!mla) {
                out.put(e.getKey(), e.getValue());
            } else if (done.add(layer)) {
                out.putAll(strategies(network, layer, data, context, tensor, ring));
            }
        }
        return out;
    }

    private static void check(String dim, long size, String degree, int d) {
        if (d < 1 || size % d != 0) {
            throw new IllegalArgumentException("MLA plan: " + degree + " = " + d + " does not divide " + dim + " = "
                    + size + "; choose a " + degree + " degree that divides it");
        }
    }

    private static int[] t(int... v) {
        return v;
    }
}
