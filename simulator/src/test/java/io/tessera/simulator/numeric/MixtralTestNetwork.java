package io.tessera.simulator.numeric;

import io.tessera.layout.DType;
import io.tessera.planner.graph.Network;
import io.tessera.planner.op.Activation;
import io.tessera.planner.op.Binary;
import io.tessera.planner.op.FlashAttention;
import io.tessera.planner.op.Gather;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.MoeAuxLoss;
import io.tessera.planner.op.MoeCombine;
import io.tessera.planner.op.MoeDispatch;
import io.tessera.planner.op.MoeRouter;
import io.tessera.planner.op.RMSNorm;
import io.tessera.planner.op.Reduce;
import io.tessera.planner.op.Reshape;
import io.tessera.planner.op.Rope;
import io.tessera.planner.op.SoftmaxCrossEntropyWithLogits;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.op.Transpose;
import io.tessera.planner.zoo.LlamaConfig;

import java.util.List;

/**
 * Test-side twin of the zoo's Mixtral with Xavier-initialised router and experts (so that routing and dropped slots
 * move the loss well above the comparison's tolerance): the zoo {@code llama} graph (fused attention, no attention
 * bias, untied, load balance 1), every layer's {@code mlp} replaced by a {@code block_sparse_moe} with exactly the op
 * and parameter names the zoo block uses ({@code M = model.layers.i.block_sparse_moe}): {@code M.gate},
 * {@code M.router} (softmax, top-k renormalised, Mixtral's), {@code M.dispatch}, {@code M.experts.w1} / {@code w3} /
 * {@code act} / {@code mul} / {@code w2} on the buffer {@code [G, E, C, h]} (the weights broadcast over G),
 * {@code M.combine}; with an auxiliary loss {@code M.aux_loss} (MoeAuxLoss of the gate logits and the indices,
 * coefficient 0.5 so that it matters), summed over the layers ({@code model.aux_sum_i}) and added to the LM loss
 * ({@code total_loss}).
 */
final class MixtralTestNetwork {

    private static final MatMul LINEAR = MatMul.of(false, true);

    /**
     * The initializer of the router, the experts and the LM head: Xavier-uniform rather than the zoo's small normal, so
     * that the routing and the dropped slots move the loss and the gradients well above the 1e-5 comparison.
     */
    private static final String INIT = "xavier_uniform";

    private MixtralTestNetwork() {
    }

    /**
     * The network of {@code c} with {@code experts} experts of width {@code c.ffn()}, {@code topK} per token,
     * capacity factor {@code capacityFactor} (0: dropless) over {@code groups} dispatch groups.
     */
    static Network build(LlamaConfig c, int experts, int topK, double capacityFactor, int groups) {
        return build(c, experts, topK, capacityFactor, groups, false);
    }

    /** As {@link #build(LlamaConfig, int, int, double, int)}, with {@code M.aux_loss} in every layer when asked. */
    static Network build(LlamaConfig c, int experts, int topK, double capacityFactor, int groups, boolean auxLoss) {
        DType dt = c.dtype();
        long tokens = (long) c.batch() * c.seq();
        Network.Builder b = Network.builder("mixtral");
        String ids = b.input("input_ids", TensorType.of(DType.INT32, c.batch(), c.seq()));
        String labels = b.input("labels", TensorType.of(dt, tokens, c.vocab()));
        Network.Builder model = b.scope("model");
        String table = model.scope("embed_tokens").parameter("weight", "normal", dt, c.vocab(), c.hidden());
        String h = model.op("embed_tokens", Gather.of(0), table, ids);
        h = model.op("embed_flatten", Reshape.of(tokens, c.hidden()), h);
        String aux = null;
        for (int i = 0; i < c.layers(); i++) {
            h = layer(model.scope("layers." + i), h, c, experts, topK, capacityFactor, groups);
            if (auxLoss) {
                String m = "model.layers." + i + ".block_sparse_moe.";
                String a = model.op("layers." + i + ".block_sparse_moe.aux_loss", new MoeAuxLoss(topK, 0.5),
                        m + "gate", m + "router:1");
                aux = aux == null ? a : model.op("aux_sum_" + i, Binary.add(), aux, a);
            }
        }
        h = rmsNorm(model, "norm", h, c);
        String head = b.scope("lm_head").parameter("weight", INIT, dt, c.vocab(), c.hidden());
        h = b.op("lm_head", LINEAR, h, head);
        String l = b.op("loss_fn", new SoftmaxCrossEntropyWithLogits(), h, labels);
        l = b.op("loss", Reduce.mean(false), l);
        if (aux != null) {
            l = b.op("total_loss", Binary.add(), l, aux);
        }
        return b.loss(l).build();
    }

    private static String layer(Network.Builder l, String h, LlamaConfig c, int experts, int topK,
                                double capacityFactor, int groups) {
        DType dt = c.dtype();
        long tokens = (long) c.batch() * c.seq();
        long qWidth = (long) c.heads() * c.headDim();
        String x = rmsNorm(l, "input_layernorm", h, c);
        Network.Builder attn = l.scope("self_attn");
        String q = heads(attn, "q", x, c.heads(), true, c);
        String k = heads(attn, "k", x, c.kvHeads(), true, c);
        String v = heads(attn, "v", x, c.kvHeads(), false, c);
        String s = attn.op("attention", FlashAttention.of(true, 1), q, k, v);
        s = attn.op("merge_heads", Transpose.of(0, 2, 1, 3).withOutputDeviceOrder(), s);
        s = attn.op("flatten", Reshape.of(tokens, qWidth), s);
        String wo = attn.scope("o_proj").parameter("weight", "normal", dt, c.hidden(), qWidth);
        s = attn.op("o_proj", LINEAR, s, wo);
        String r1 = l.op("residual1", Binary.add(), h, s);
        String x2 = rmsNorm(l, "post_attention_layernorm", r1, c);

        Network.Builder m = l.scope("block_sparse_moe");
        int e = experts;
        long hidden = c.hidden();
        String wGate = m.scope("gate").parameter("weight", INIT, dt, e, hidden);
        String logits = m.op("gate", LINEAR, x2, wGate);
        List<String> routed = m.opOutputs("router", MoeRouter.softmax(topK, true), logits);
        MoeDispatch dispatch = new MoeDispatch(e, capacityFactor, groups);
        long cap = dispatch.capacity(tokens, topK);
        String buf = m.op("dispatch", dispatch, x2, routed.get(1));
        Network.Builder ex = m.scope("experts");
        String w1 = ex.scope("w1").parameter("weight", INIT, dt, e, c.ffn(), hidden);
        String w3 = ex.scope("w3").parameter("weight", INIT, dt, e, c.ffn(), hidden);
        String w2 = ex.scope("w2").parameter("weight", INIT, dt, e, hidden, c.ffn());
        String gate = ex.op("w1", MatMul.batched(false, true), buf, w1);
        String up = ex.op("w3", MatMul.batched(false, true), buf, w3);
        String act = ex.op("act", Activation.silu(), gate);
        String prod = ex.op("mul", Binary.mul(), act, up);
        String back = ex.op("w2", MatMul.batched(false, true), prod, w2);
        String y = m.op("combine", MoeCombine.of(dispatch), back, routed.get(1), routed.get(0));
        return l.op("residual2", Binary.add(), r1, y);
    }

    private static String heads(Network.Builder attn, String n, String x, int count, boolean rotate, LlamaConfig c) {
        long width = (long) count * c.headDim();
        String w = attn.scope(n + "_proj").parameter("weight", "normal", c.dtype(), width, c.hidden());
        String p = attn.op(n + "_proj", LINEAR, x, w);
        p = attn.op(n + "_split", Reshape.of(c.batch(), c.seq(), count, c.headDim()), p);
        p = attn.op(n + "_heads", Transpose.of(0, 2, 1, 3), p);
        return rotate ? attn.op(n + "_rope", new Rope(c.ropeTheta(), c.ropeScaling()), p) : p;
    }

    private static String rmsNorm(Network.Builder b, String name, String x, LlamaConfig c) {
        String w = b.scope(name).parameter("weight", "ones", c.dtype(), c.hidden());
        return b.op(name, new RMSNorm(c.rmsEps()), x, w);
    }
}
