package io.tessera.planner.zoo;

import io.tessera.layout.DType;
import io.tessera.layout.init.Constant;
import io.tessera.layout.param.Parameter;
import io.tessera.planner.graph.Network;
import io.tessera.planner.op.Activation;
import io.tessera.planner.op.BiasAdd;
import io.tessera.planner.op.Binary;
import io.tessera.planner.op.CausalMask;
import io.tessera.planner.op.FlashAttention;
import io.tessera.planner.op.Gather;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.RMSNorm;
import io.tessera.planner.op.Reshape;
import io.tessera.planner.op.Rope;
import io.tessera.planner.op.Softmax;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.op.Transpose;

import java.util.ArrayList;
import java.util.List;

/** Builds the zoo's {@code llama} network ({@link Zoo#llama} documents the graph and its names). */
final class LlamaNetwork {

    /** Hugging Face's linear layers: {@code x W^T} with {@code W [out, in]}. */
    private static final MatMul LINEAR = MatMul.of(false, true);

    private LlamaNetwork() {
    }

    static Network build(LlamaConfig c) {
        DType dt = c.dtype();
        long tokens = (long) c.batch() * c.seq();
        Network.Builder b = Network.builder("llama");
        String ids = b.input("input_ids", TensorType.of(DType.INT32, c.batch(), c.seq()));
        String labels = b.input("labels", TensorType.of(dt, tokens, c.vocab()));
        Network.Builder model = b.scope("model");
        String table = model.scope("embed_tokens").parameter("weight", "normal", dt, c.vocab(), c.hidden());
        String h = model.op("embed_tokens", Gather.of(0), table, ids);
        h = model.op("embed_flatten", Reshape.of(tokens, c.hidden()), h);
        List<String> auxLosses = new ArrayList<>();
        for (int i = 0; i < c.layers(); i++) {
            h = layer(model.scope("layers." + i), i, h, c, auxLosses);
        }
        h = rmsNorm(model, "norm", h, c);
        String head = c.tiedEmbeddings() ? table
                : b.scope("lm_head").parameter("weight", "normal", dt, c.vocab(), c.hidden());
        h = b.op("lm_head", LINEAR, h, head);
        Zoo.lossHead(b, h, labels);
        if (!auxLosses.isEmpty()) {
            String sum = auxLosses.get(0);
            for (int i = 1; i < auxLosses.size(); i++) {
                sum = b.op("aux_sum." + i, Binary.add(), sum, auxLosses.get(i));
            }
            b.loss(b.op("loss_total", Binary.add(), "loss", sum));
        }
        return b.build();
    }

    /**
     * Decoder layer {@code i} under {@code l} ({@code model.layers.i}) on the hidden states {@code h [tokens,
     * hidden]}; a sparse MLP's auxiliary loss, if any, is appended to {@code auxLosses}.
     */
    private static String layer(Network.Builder l, int i, String h, LlamaConfig c, List<String> auxLosses) {
        String x = rmsNorm(l, "input_layernorm", h, c);
        Network.Builder attn = l.scope("self_attn");
        String s = c.mla() != null ? MlaAttention.build(attn, x, c, c.mla()) : attention(attn, x, c);
        String r1 = l.op("residual1", Binary.add(), h, s);
        String x2 = rmsNorm(l, "post_attention_layernorm", r1, c);
        if (c.moe().sparse(i)) {
            return l.op("residual2", Binary.add(), r1, MoeBlock.build(l.scope(c.moe().naming().scope()), x2, c,
                    auxLosses));
        }
        return l.op("residual2", Binary.add(), r1, swiglu(l.scope("mlp"), x2, c.ffn(), c));
    }

    /**
     * The SwiGLU MLP under {@code mlp} of {@code x [tokens, hidden]} with intermediate width {@code ffn}: MatMul
     * {@code gate_proj} and {@code up_proj} (weights {@code [ffn, hidden]}), SiLU {@code act} of the gate, Mul
     * {@code mul} (act, up), MatMul {@code down_proj} (weight {@code [hidden, ffn]}); returns the down projection.
     */
    static String swiglu(Network.Builder mlp, String x, int ffn, LlamaConfig c) {
        DType dt = c.dtype();
        String wGate = mlp.scope("gate_proj").parameter("weight", "normal", dt, ffn, c.hidden());
        String wUp = mlp.scope("up_proj").parameter("weight", "normal", dt, ffn, c.hidden());
        String wDown = mlp.scope("down_proj").parameter("weight", "normal", dt, c.hidden(), ffn);
        String gate = mlp.op("gate_proj", LINEAR, x, wGate);
        String up = mlp.op("up_proj", LINEAR, x, wUp);
        String act = mlp.op("act", Activation.silu(), gate);
        String prod = mlp.op("mul", Binary.mul(), act, up);
        return mlp.op("down_proj", LINEAR, prod, wDown);
    }

    /**
     * Llama's grouped-query attention under {@code attn} ({@code model.layers.i.self_attn}) of the normed hidden
     * states {@code x [tokens, hidden]}: q/k/v projections, the attention core, {@code merge_heads}, {@code flatten}
     * and {@code o_proj}; returns the {@code [tokens, hidden]} output.
     */
    private static String attention(Network.Builder attn, String x, LlamaConfig c) {
        long tokens = (long) c.batch() * c.seq();
        long qWidth = (long) c.heads() * c.headDim();
        String q = heads(attn, "q", x, c.heads(), true, c);
        String k = heads(attn, "k", x, c.kvHeads(), true, c);
        String v = heads(attn, "v", x, c.kvHeads(), false, c);
        String s = attentionCore(attn, q, k, v, c);
        // the device matrix in the output's order: sequence (context) split outside the heads (tensor) split, as the
        // attention and the following token-row operators number their ranks, so nothing moves under context parallel
        s = attn.op("merge_heads", Transpose.of(0, 2, 1, 3).withOutputDeviceOrder(), s);
        s = attn.op("flatten", Reshape.of(tokens, qWidth), s);
        String wo = attn.scope("o_proj").parameter("weight", "normal", c.dtype(), c.hidden(), qWidth);
        return attn.op("o_proj", LINEAR, s, wo);
    }

    /**
     * The {@code n} ("q", "k" or "v") projection of {@code x} to {@code count} heads: {@code n_proj} (weight
     * {@code n_proj.weight [count*hd, hidden]}), with attention biases {@code n_proj_bias} ({@code n_proj.bias}),
     * {@code n_split} to {@code [batch, seq, count, hd]}, {@code n_heads} to {@code [batch, count, seq, hd]} and,
     * with {@code rotate}, {@code n_rope}.
     */
    private static String heads(Network.Builder attn, String n, String x, int count, boolean rotate, LlamaConfig c) {
        long width = (long) count * c.headDim();
        Network.Builder proj = attn.scope(n + "_proj");
        String w = proj.parameter("weight", "normal", c.dtype(), width, c.hidden());
        String p = attn.op(n + "_proj", LINEAR, x, w);
        if (c.attentionBias()) {
            String bias = proj.parameter("bias", "zeros", c.dtype(), width);
            p = attn.op(n + "_proj_bias", new BiasAdd(), p, bias);
        }
        p = attn.op(n + "_split", Reshape.of(c.batch(), c.seq(), count, c.headDim()), p);
        p = attn.op(n + "_heads", Transpose.of(0, 2, 1, 3), p);
        return rotate ? attn.op(n + "_rope", rope(c), p) : p;
    }

    /**
     * The attention core on {@code q [batch, heads, seq, hd]}, {@code k, v [batch, kv_heads, seq, hd]}: one causal
     * FlashAttention {@code attention} when fused, else scores, scale, causal mask, softmax and context (multi-head
     * only, {@code kv_heads == heads}); the context is {@code [batch, heads, seq, hd]}.
     */
    private static String attentionCore(Network.Builder attn, String q, String k, String v, LlamaConfig c) {
        if (c.fusedAttention()) {
            return attn.op("attention", attention(c), q, k, v);
        }
        String scale = attn.parameter(Parameter.lazy(attn.initializer(new Constant(1.0 / Math.sqrt(c.headDim())),
                new long[] {1}, c.dtype()), "scale", false));
        String s = attn.op("scores", MatMul.batched(false, true), q, k);
        s = attn.op("scale_mul", Binary.mul(), s, scale);
        s = attn.op("causal_mask", CausalMask.of(), s);
        s = attn.op("softmax", Softmax.of(-1), s);
        return attn.op("context", MatMul.batched(false, false), s, v);
    }

    /**
     * The rotary embedding of q and k.
     *
     * <p>With {@code c.loadBalance() > 1} the sequence is stored in Megatron's order of 2 x load_balance chunks
     * (context parallelism's causal load balance): RoPE rotates each index by the token position stored there.
     */
    private static Rope rope(LlamaConfig c) {
        return new Rope(c.ropeTheta(), c.ropeScaling()).withLoadBalance(c.loadBalance());
    }

    /**
     * The fused attention: causal, default scale {@code 1/sqrt(hd)}, no dropout.
     *
     * <p>With {@code c.loadBalance() > 1} the causal mask compares the token positions Megatron's chunk order
     * stores at each index.
     */
    private static FlashAttention attention(LlamaConfig c) {
        return FlashAttention.of(true, 1).withLoadBalance(c.loadBalance());
    }

    /** RMSNorm {@code name} of {@code x} with parameter {@code name.weight [hidden]} ("ones"). */
    private static String rmsNorm(Network.Builder b, String name, String x, LlamaConfig c) {
        String w = b.scope(name).parameter("weight", "ones", c.dtype(), c.hidden());
        return b.op(name, new RMSNorm(c.rmsEps()), x, w);
    }
}
