package io.tessera.planner.zoo;

import io.tessera.layout.UserText;
import io.tessera.layout.DType;
import io.tessera.layout.init.Constant;
import io.tessera.layout.init.Initializers;
import io.tessera.layout.param.Parameter;
import io.tessera.planner.graph.Network;
import io.tessera.planner.op.Activation;
import io.tessera.planner.op.BatchNorm;
import io.tessera.planner.op.BiasAdd;
import io.tessera.planner.op.Binary;
import io.tessera.planner.op.CausalMask;
import io.tessera.planner.op.Conv2D;
import io.tessera.planner.op.Dropout;
import io.tessera.planner.op.FlashAttention;
import io.tessera.planner.op.Gather;
import io.tessera.planner.op.LayerNorm;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.Reduce;
import io.tessera.planner.op.Reshape;
import io.tessera.planner.op.Softmax;
import io.tessera.planner.op.SoftmaxCrossEntropyWithLogits;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.op.Transpose;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The built-in model zoo: parameterised forward networks with a loss, hierarchical names, as MindSpore cells would
 * name them. Models: {@code mlp}, {@code gpt}, {@code resnet}, {@code llama} (see {@link #mlp}, {@link #gpt},
 * {@link #resnet}, {@link #llama} for the graphs and their op and parameter names). Weights are initialised "normal",
 * biases and LayerNorm betas "zeros", scales and gammas "ones". {@link #fromHfConfig} builds a network from a Hugging
 * Face {@code config.json}.
 */
public final class Zoo {

    /** The model names accepted by {@link #build}. */
    public static final List<String> MODELS = List.of("mlp", "gpt", "resnet", "llama");

    private Zoo() {
    }

    /**
     * The arguments of {@code model} with their defaults (as {@link #build} reads them), in documentation order.
     * {@code gpt}'s ffn default is 4 x hidden, shown as {@code "4*hidden"}.
     *
     * @throws IllegalArgumentException for an unknown model, listing the valid ones
     */
    public static Map<String, Object> defaults(String model) {
        Map<String, Object> d = new LinkedHashMap<>();
        switch (checkModel(model)) {
            case "mlp":
                d.put("layers", 2);
                d.put("widths", MlpConfig.DEFAULT_WIDTHS);
                d.put("batch", 8);
                d.put("dtype", "float32");
                break;
            case "gpt":
                GptConfig g = GptConfig.defaults();
                d.put("layers", g.layers());
                d.put("hidden", g.hidden());
                d.put("heads", g.heads());
                d.put("ffn", "4*hidden");
                d.put("seq", g.seq());
                d.put("vocab", g.vocab());
                d.put("batch", g.batch());
                d.put("dtype", "float32");
                d.put("bias", g.bias());
                d.put("dropout", g.dropout());
                d.put("causal_mask", g.causalMask());
                d.put("tied_embeddings", g.tiedEmbeddings());
                d.put("fused_attention", g.fusedAttention());
                d.put("fp8", g.fp8());
                break;
            case "llama":
                LlamaConfig l = LlamaConfig.defaults();
                d.put("layers", l.layers());
                d.put("hidden", l.hidden());
                d.put("heads", l.heads());
                d.put("kv_heads", l.kvHeads());
                d.put("ffn", l.ffn());
                d.put("seq", l.seq());
                d.put("vocab", l.vocab());
                d.put("batch", l.batch());
                d.put("dtype", "float32");
                d.put("rms_eps", l.rmsEps());
                d.put("rope_theta", l.ropeTheta());
                d.put("rope_scaling", null);
                d.put("tied_embeddings", l.tiedEmbeddings());
                d.put("attention_bias", l.attentionBias());
                d.put("fused_attention", l.fusedAttention());
                d.put("load_balance", l.loadBalance());
                d.put("experts", 0);
                d.put("top_k", 2);
                d.put("capacity_factor", 0.0);
                d.put("moe_groups", 1);
                d.put("aux_loss", true);
                break;
            default:
                ResNetConfig r = ResNetConfig.defaults();
                d.put("batch", r.batch());
                d.put("channels", r.channels());
                d.put("blocks", r.blocks());
                d.put("image", r.image());
                d.put("classes", r.classes());
                d.put("norm", r.norm().jsonName());
                d.put("dtype", "float32");
                break;
        }
        return d;
    }

    /**
     * Builds zoo model {@code model} with {@code args} (null or empty: all defaults; see {@link #defaults}). Integer
     * arguments accept any integral {@link Number} or a decimal string; {@code widths} a list of them; {@code dtype}
     * a {@link DType} or its name; {@code norm} "batchnorm" or "layernorm"; the gpt switches {@code bias},
     * {@code causal_mask}, {@code tied_embeddings}, {@code fused_attention}, {@code fp8} a {@link Boolean} or "true" /
     * "false",
     * {@code dropout} a
     * {@link Number} or decimal string in [0, 1) (see {@link GptConfig} for their meaning; all off by default);
     * llama's {@code rms_eps} and {@code rope_theta} a positive {@link Number} or decimal string, {@code rope_scaling}
     * a map as Hugging Face's Llama 3 {@code rope_scaling} (see {@link LlamaConfig}); llama's {@code experts} (0:
     * dense), {@code top_k} (2), {@code capacity_factor} (0: dropless), {@code moe_groups} (1) and {@code aux_loss}
     * (true: coefficient 0.02) make its MLP Mixtral's mixture of experts (see {@link MoeConfig}).
     *
     * @throws IllegalArgumentException for an unknown model (listing the valid ones), an unknown argument (listing
     *                                  the valid ones with their defaults) or an invalid value
     */
    public static Network build(String model, Map<String, ?> args) {
        String m = checkModel(model);
        Args a = new Args(m, args == null ? Map.of() : args, defaults(m));
        switch (m) {
            case "mlp":
                return mlp(MlpConfig.of(a.positiveOrNull("layers"), a.longsOrNull("widths"), a.positive("batch", 8),
                        a.dtype()));
            case "gpt":
                return gpt(gptConfig(a));
            case "llama":
                return llama(llamaConfig(a));
            default: {
                ResNetConfig d = ResNetConfig.defaults();
                return resnet(new ResNetConfig(a.positive("batch", d.batch()), a.positive("channels", d.channels()),
                        a.positive("blocks", d.blocks()), a.positive("image", d.image()),
                        a.positive("classes", d.classes()), a.norm(), a.dtype()));
            }
        }
    }

    /**
     * The {@link GptConfig} that {@link #build build("gpt", args)} builds: the same strict reading of the arguments
     * (null or empty: all defaults).
     *
     * @throws IllegalArgumentException for an unknown argument (listing the valid ones with their defaults) or an
     *                                  invalid value
     */
    public static GptConfig gptConfig(Map<String, ?> args) {
        return gptConfig(new Args("gpt", args == null ? Map.of() : args, defaults("gpt")));
    }

    private static GptConfig gptConfig(Args a) {
        GptConfig d = GptConfig.defaults();
        int hidden = a.positive("hidden", d.hidden());
        return new GptConfig(a.positive("layers", d.layers()), hidden, a.positive("heads", d.heads()),
                a.positive("ffn", 4 * hidden), a.positive("seq", d.seq()), a.positive("vocab", d.vocab()),
                a.positive("batch", d.batch()), a.dtype(), a.bool("bias", d.bias()),
                a.probability("dropout", d.dropout()), a.bool("causal_mask", d.causalMask()),
                a.bool("tied_embeddings", d.tiedEmbeddings()), a.bool("fused_attention", d.fusedAttention()),
                a.bool("fp8", d.fp8()));
    }

    /**
     * The {@link LlamaConfig} that {@link #build build("llama", args)} builds: the same strict reading of the arguments
     * (null or empty: all defaults).
     *
     * @throws IllegalArgumentException for an unknown argument (listing the valid ones with their defaults) or an
     *                                  invalid value
     */
    public static LlamaConfig llamaConfig(Map<String, ?> args) {
        return llamaConfig(new Args("llama", args == null ? Map.of() : args, defaults("llama")));
    }

    private static LlamaConfig llamaConfig(Args a) {
        LlamaConfig d = LlamaConfig.defaults();
        return new LlamaConfig(a.positive("layers", d.layers()), a.positive("hidden", d.hidden()),
                a.positive("heads", d.heads()), a.positive("kv_heads", d.kvHeads()), a.positive("ffn", d.ffn()),
                a.positive("seq", d.seq()), a.positive("vocab", d.vocab()), a.positive("batch", d.batch()), a.dtype(),
                a.positiveReal("rms_eps", d.rmsEps()), a.positiveReal("rope_theta", d.ropeTheta()),
                HfConfig.ropeScaling(a.raw("rope_scaling"), "zoo model 'llama': argument 'rope_scaling'"),
                a.bool("tied_embeddings", d.tiedEmbeddings()), a.bool("attention_bias", d.attentionBias()),
                a.bool("fused_attention", d.fusedAttention()), a.positive("load_balance", d.loadBalance()),
                MoeConfig.fromArgs(a));
    }

    /**
     * The network of a Hugging Face {@code config.json} with {@code args} overriding some of its values (null or
     * empty: none). Supported {@code model_type}s: {@code llama}, {@code mistral}, {@code qwen2}, {@code mixtral},
     * {@code qwen2_moe} (the zoo {@link #llama}, from {@link #hfConfig}). Arguments: {@code seq} (default {@code min(max_position_embeddings,
     * 4096)}), {@code batch} (default 1), {@code layers} (default {@code num_hidden_layers}), {@code dtype} (default
     * {@code torch_dtype}, else float32), {@code fused_attention} (default true), {@code load_balance} (default 1).
     * For {@code mixtral} also {@code capacity_factor} (0: dropless), {@code moe_groups} (1) and {@code aux_loss}
     * (default: whether {@code router_aux_loss_coef} is above 0).
     *
     * @throws IllegalArgumentException one line naming the file and the key: an unreadable file, an unsupported
     *                                  {@code model_type} (listing the supported ones), a missing or invalid key,
     *                                  heads not dividing the width or KV heads not dividing the heads, an unknown
     *                                  argument (listing the valid ones)
     */
    public static Network fromHfConfig(Path configJson, Map<String, ?> args) {
        return HfConfig.read(configJson).network(args);
    }

    /**
     * The {@link LlamaConfig} of a Hugging Face {@code config.json} of {@code model_type} {@code llama},
     * {@code mistral}, {@code qwen2} or {@code mixtral} with {@code args} applied, as {@link #fromHfConfig} reads it. Keys read:
     * {@code hidden_size}, {@code num_hidden_layers}, {@code num_attention_heads}, {@code intermediate_size},
     * {@code vocab_size} (required); {@code num_key_value_heads} (default {@code num_attention_heads}),
     * {@code rms_norm_eps} (1e-6), {@code rope_theta} (10000), {@code rope_scaling} (Llama 3's or none),
     * {@code tie_word_embeddings} (false), {@code max_position_embeddings}, {@code torch_dtype}; qwen2 adds q, k and
     * v biases; {@code mixtral} reads {@code num_local_experts} (required), {@code num_experts_per_tok} (2) and
     * {@code router_aux_loss_coef} (0.02) into a {@link MoeConfig}; {@code qwen2_moe} adds q, k and v biases and
     * reads its MoE keys as {@code HfMoe} lists them.
     *
     * @throws IllegalArgumentException as {@link #fromHfConfig}
     */
    public static LlamaConfig hfConfig(Path configJson, Map<String, ?> args) {
        return HfConfig.read(configJson).llama(args);
    }

    /**
     * The {@code model_type} of a Hugging Face {@code config.json} (e.g. {@code llama}, {@code gpt2}).
     *
     * @throws IllegalArgumentException one line naming the file: unreadable, not a JSON object, no model_type
     */
    public static String hfModelType(Path configJson) {
        return HfConfig.read(configJson).modelType();
    }

    private static String checkModel(String model) {
        String m = model == null ? "" : model.trim().toLowerCase(Locale.ROOT);
        if (!MODELS.contains(m)) {
            throw new IllegalArgumentException("zoo: unknown model " + UserText.quoted(model) + "; expected one of "
                    + String.join(", ", MODELS));
        }
        return m;
    }

    /**
     * The Llama-family decoder (Llama 2/3, Mistral, Qwen2), with Hugging Face's parameter names and [out, in] weight
     * shapes; every linear layer is MatMul(transpose_b). Inputs {@code input_ids} (Int32 {@code [batch, seq]}) and the
     * one-hot {@code labels [batch*seq, vocab]}. Gather(0) {@code model.embed_tokens} of
     * {@code model.embed_tokens.weight [vocab, hidden]}; Reshape {@code model.embed_flatten} to
     * {@code [batch*seq, hidden]}. Per layer under {@code L = model.layers.i}: RMSNorm {@code L.input_layernorm}
     * ({@code L.input_layernorm.weight [hidden]}, "ones"); for q (heads {@code H}) and k, v (heads {@code K}, the KV
     * heads), with {@code hd = hidden / H}: MatMul {@code L.self_attn.q_proj} ({@code L.self_attn.q_proj.weight
     * [H*hd, hidden]}; k and v {@code [K*hd, hidden]}), with attention biases BiasAdd {@code L.self_attn.q_proj_bias}
     * ({@code L.self_attn.q_proj.bias}, "zeros"), Reshape {@code q_split} to {@code [batch, seq, H, hd]}, Transpose
     * {@code q_heads} (0, 2, 1, 3), and for q and k RotaryPositionEmbedding {@code q_rope} / {@code k_rope}
     * ({@code rope_theta}, {@code rope_scaling}). Fused attention: FlashAttentionScore {@code L.self_attn.attention}
     * (causal, keep_prob 1; grouped-query when {@code K < H}) of q_rope, k_rope, v_heads, output 0. Unfused (only
     * {@code K == H}): BatchMatMul {@code scores} (transpose_b), Mul {@code scale_mul} by the non-trainable
     * {@code L.self_attn.scale [1]} (1/sqrt(hd)), CausalMask {@code causal_mask}, Softmax {@code softmax} (-1),
     * BatchMatMul {@code context}. Then Transpose {@code L.self_attn.merge_heads} (its device matrix in the output's
     * dimension order, {@link Transpose#outputDeviceOrder}), Reshape {@code flatten} to
     * {@code [batch*seq, H*hd]}, MatMul {@code o_proj} ({@code L.self_attn.o_proj.weight [hidden, H*hd]}); Add
     * {@code L.residual1}; RMSNorm {@code L.post_attention_layernorm}; MatMul {@code L.mlp.gate_proj} and
     * {@code L.mlp.up_proj} ({@code [ffn, hidden]} weights), SiLU {@code L.mlp.act} of the gate, Mul {@code L.mlp.mul}
     * (act, up), MatMul {@code L.mlp.down_proj} ({@code [hidden, ffn]}); Add {@code L.residual2}. Then RMSNorm
     * {@code model.norm} ({@code model.norm.weight}), MatMul {@code lm_head} by {@code lm_head.weight [vocab, hidden]}
     * (or, tied, by {@code model.embed_tokens.weight}), SoftmaxCrossEntropyWithLogits {@code loss_fn}, ReduceMean
     * {@code loss}. Every RMSNorm has eps {@code rms_eps}.
     *
     * <p>With experts ({@link MoeConfig}, Mixtral) the MLP of every layer is, under {@code M =
     * L.block_sparse_moe} and with {@code T = batch*seq}, {@code G = moe_groups}, {@code C} the dispatch's capacity:
     * MatMul {@code M.gate} ({@code M.gate.weight [E, hidden]}) to the logits {@code [T, E]}; MoeRouter
     * {@code M.router} (softmax, top-k, renormalised): weights {@code M.router}, expert ids {@code M.router:1};
     * MoeDispatch {@code M.dispatch} to {@code [G, E, C, hidden]}; BatchMatMul (transpose_b, the weights broadcast
     * over G) {@code M.experts.w1} and {@code M.experts.w3} of the buffer by the stacked {@code M.experts.w1.weight} /
     * {@code w3.weight [E, ffn, hidden]}, SiLU {@code M.experts.act} of w1, Mul {@code M.experts.mul}, BatchMatMul
     * {@code M.experts.w2} by {@code M.experts.w2.weight [E, hidden, ffn]} to {@code [G, E, C, hidden]}; MoeCombine
     * {@code M.combine} to {@code [T, hidden]}, then Add
     * {@code L.residual2}. Row {@code j} of a stacked expert weight is Hugging Face's per-expert
     * {@code M.experts.j.w1.weight} ({@code w2}, {@code w3} alike). With an auxiliary-loss coefficient: MoeAuxLoss
     * {@code M.aux_loss} of the gate logits and the ids; Add {@code aux_sum.i} (i = 1..layers-1) sums them in layer
     * order and Add {@code loss_total} of {@code loss} and the sum is the network's loss. Qwen2-MoE's and DeepSeek-V3's
     * blocks ({@link MoeConfig.Naming}) are {@code M = L.mlp} on the sparse layers ({@link MoeConfig.SparseLayers}),
     * their experts {@code M.experts.gate_proj / up_proj / down_proj} ({@code [E, moe_ffn, hidden]}, {@code [E,
     * hidden, moe_ffn]}); DeepSeek-V3's router also reads the non-trained {@code M.gate.e_score_correction_bias [E]}.
     * Shared experts follow the combine: MatMul {@code S.gate_proj}, {@code S.up_proj}, SiLU {@code S.act}, Mul
     * {@code S.mul}, MatMul {@code S.down_proj} under {@code S = M.shared_expert} (DeepSeek: {@code M.shared_experts});
     * gated (Qwen2-MoE), MatMul {@code M.shared_expert_gate} by {@code [1, hidden]}, Sigmoid
     * {@code M.shared_expert_gate_act}, Mul {@code M.shared_expert_scale}; then Add {@code M.add_shared}.
     */
    public static Network llama(LlamaConfig c) {
        return LlamaNetwork.build(c);
    }

    /**
     * The MLP: input {@code x [batch, widths[0]]}; per layer {@code i} under {@code layers.i}: MatMul {@code dense}
     * (parameter {@code weight [w_i, w_i+1]}), BiasAdd {@code bias_add} (parameter {@code bias [w_i+1]}), ReLU
     * {@code relu} (not after the last layer); then SoftmaxCrossEntropyWithLogits {@code loss_fn} against the
     * one-hot input {@code labels [batch, widths.last]} and ReduceMean {@code loss} (the loss, a scalar).
     */
    public static Network mlp(MlpConfig c) {
        long[] w = c.widths();
        Network.Builder b = Network.builder("mlp");
        String h = b.input("x", TensorType.of(c.dtype(), c.batch(), w[0]));
        String labels = b.input("labels", TensorType.of(c.dtype(), c.batch(), w[w.length - 1]));
        for (int i = 0; i < c.layers(); i++) {
            Network.Builder l = b.scope("layers." + i);
            String weight = l.parameter("weight", "normal", c.dtype(), w[i], w[i + 1]);
            String bias = l.parameter("bias", "zeros", c.dtype(), w[i + 1]);
            h = l.op("dense", MatMul.of(false, false), h, weight);
            h = l.op("bias_add", new BiasAdd(), h, bias);
            if (i < c.layers() - 1) {
                h = l.op("relu", Activation.relu(), h);
            }
        }
        return lossHead(b, h, labels).build();
    }

    /**
     * The decoder-only transformer. Input {@code tokens} (Int32 {@code [batch, seq]}); Gather(0)
     * {@code embedding.lookup} of parameter {@code embedding.word_table [vocab, hidden]}; Add
     * {@code embedding.add_position} of {@code embedding.position [seq, hidden]}; Reshape {@code embedding.flatten}
     * to {@code [batch*seq, hidden]}. Per layer under {@code layers.i}: LayerNorm {@code ln1} ({@code ln1.gamma},
     * {@code ln1.beta}); MatMul {@code attention.q/k/v} ({@code attention.wq/wk/wv [hidden, hidden]}); Reshape
     * {@code attention.q_split/k_split/v_split} to {@code [batch, seq, heads, hidden/heads]}; Transpose
     * {@code attention.q_heads/k_heads/v_heads} (0, 2, 1, 3); BatchMatMul {@code attention.scores} (q, k,
     * transpose_b); Mul {@code attention.scale_mul} by {@code attention.scale [1]} (1/sqrt(hidden/heads),
     * requires_grad false); Softmax {@code attention.softmax} (-1); BatchMatMul {@code attention.context} (probs,
     * v); Transpose {@code attention.merge_heads} (0, 2, 1, 3); Reshape {@code attention.flatten}
     * {@code [batch*seq, hidden]}; MatMul {@code attention.out} ({@code attention.wo}); Add {@code residual1}; LayerNorm
     * {@code ln2}; MatMul {@code ffn.fc1} ({@code ffn.w1 [hidden, ffn]}); GeLU {@code ffn.gelu}; MatMul {@code ffn.fc2}
     * ({@code ffn.w2 [ffn, hidden]}); Add {@code residual2}. Then LayerNorm {@code final_ln}, MatMul {@code head}
     * ({@code head.weight [hidden, vocab]}), SoftmaxCrossEntropyWithLogits {@code loss_fn} against the one-hot input
     * {@code labels [batch*seq, vocab]}, ReduceMean {@code loss}. LayerNorms normalise the last axis (-1).
     *
     * <p>The switches of {@link GptConfig} (all off by default, leaving exactly the graph above) add:
     * <ul>
     *   <li>{@code bias}: after each block MatMul a BiasAdd with a "zeros" bias: {@code attention.q_bias},
     *       {@code k_bias}, {@code v_bias} ({@code attention.bq/bk/bv [hidden]}) before the head split,
     *       {@code attention.out_bias} ({@code attention.bo [hidden]}), {@code ffn.fc1_bias} ({@code ffn.b1 [ffn]})
     *       before the GeLU and {@code ffn.fc2_bias} ({@code ffn.b2 [hidden]});</li>
     *   <li>{@code dropout > 0}: Dropout (keep_prob {@code 1 - dropout}) {@code embedding.dropout} after
     *       {@code embedding.flatten}, {@code attention.probs_dropout} after the softmax, {@code attention.dropout}
     *       after the attention output (and its bias) before {@code residual1}, {@code ffn.dropout} after
     *       {@code ffn.fc2} (and its bias) before {@code residual2};</li>
     *   <li>{@code causal_mask}: CausalMask {@code attention.causal_mask} between {@code scale_mul} and the
     *       softmax;</li>
     *   <li>{@code tied_embeddings}: no {@code head.weight}; {@code head} is MatMul(transpose_b) of the final
     *       LayerNorm's output and {@code embedding.word_table}, so the table gets the gradients of the lookup and of
     *       the head (both consumers must be in one pipeline stage).</li>
     *   <li>{@code fused_attention}: instead of {@code scores}, {@code scale_mul}, {@code causal_mask},
     *       {@code softmax}, {@code probs_dropout} and {@code context} (and the parameter {@code attention.scale}),
     *       one FlashAttentionScore {@code attention.flash} of {@code q_heads}, {@code k_heads}, {@code v_heads}
     *       (default scale 1/sqrt(hidden/heads), causal with {@code causal_mask}, keep_prob {@code 1 - dropout})
     *       whose output 0 feeds {@code merge_heads} (output 1, the softmax log-sum-exp, is read by its backward
     *       only).</li>
     *   <li>{@code fp8}: the six linear MatMuls of each block ({@code attention.q/k/v}, {@code attention.out},
     *       {@code ffn.fc1}, {@code ffn.fc2}) carry {@code gemm_dtype float8_e4m3fn} (Transformer Engine's FP8
     *       linear layers); the attention products and the head do not. Tensors and parameters keep {@code dtype}.</li>
     * </ul>
     */
    public static Network gpt(GptConfig c) {
        DType dt = c.dtype();
        long tokens = (long) c.batch() * c.seq();
        int hd = c.hidden() / c.heads();
        Network.Builder b = Network.builder("gpt");
        MatMul linear = c.fp8() ? MatMul.of(false, false).withGemmDtype(DType.FLOAT8_E4M3FN) : MatMul.of(false, false);
        String ids = b.input("tokens", TensorType.of(DType.INT32, c.batch(), c.seq()));
        String labels = b.input("labels", TensorType.of(dt, tokens, c.vocab()));
        Network.Builder e = b.scope("embedding");
        String table = e.parameter("word_table", "normal", dt, c.vocab(), c.hidden());
        String position = e.parameter("position", "normal", dt, c.seq(), c.hidden());
        String h = e.op("lookup", Gather.of(0), table, ids);
        h = e.op("add_position", Binary.add(), h, position);
        h = e.op("flatten", Reshape.of(tokens, c.hidden()), h);
        h = dropout(e, "dropout", h, c);
        for (int i = 0; i < c.layers(); i++) {
            Network.Builder l = b.scope("layers." + i);
            Network.Builder att = l.scope("attention");
            String x1 = layerNorm(l, "ln1", h, c.hidden(), dt);
            String[] heads = new String[3];
            String[] qkv = {"q", "k", "v"};
            for (int j = 0; j < 3; j++) {
                String w = att.parameter("w" + qkv[j], "normal", dt, c.hidden(), c.hidden());
                String p = att.op(qkv[j], linear, x1, w);
                p = bias(att, qkv[j] + "_bias", "b" + qkv[j], p, c.hidden(), c);
                p = att.op(qkv[j] + "_split", Reshape.of(c.batch(), c.seq(), c.heads(), hd), p);
                heads[j] = att.op(qkv[j] + "_heads", Transpose.of(0, 2, 1, 3), p);
            }
            String s = attentionCore(att, heads, hd, c);
            s = att.op("merge_heads", Transpose.of(0, 2, 1, 3), s);
            s = att.op("flatten", Reshape.of(tokens, c.hidden()), s);
            String wo = att.parameter("wo", "normal", dt, c.hidden(), c.hidden());
            s = att.op("out", linear, s, wo);
            s = bias(att, "out_bias", "bo", s, c.hidden(), c);
            s = dropout(att, "dropout", s, c);
            String r1 = l.op("residual1", Binary.add(), h, s);
            String x2 = layerNorm(l, "ln2", r1, c.hidden(), dt);
            Network.Builder ffn = l.scope("ffn");
            String w1 = ffn.parameter("w1", "normal", dt, c.hidden(), c.ffn());
            String w2 = ffn.parameter("w2", "normal", dt, c.ffn(), c.hidden());
            String f = ffn.op("fc1", linear, x2, w1);
            f = bias(ffn, "fc1_bias", "b1", f, c.ffn(), c);
            f = ffn.op("gelu", Activation.gelu(), f);
            f = ffn.op("fc2", linear, f, w2);
            f = bias(ffn, "fc2_bias", "b2", f, c.hidden(), c);
            f = dropout(ffn, "dropout", f, c);
            h = l.op("residual2", Binary.add(), r1, f);
        }
        h = layerNorm(b, "final_ln", h, c.hidden(), dt);
        if (c.tiedEmbeddings()) {
            h = b.op("head", MatMul.of(false, true), h, table);
        } else {
            String head = b.scope("head").parameter("weight", "normal", dt, c.hidden(), c.vocab());
            h = b.op("head", MatMul.of(false, false), h, head);
        }
        return lossHead(b, h, labels).build();
    }

    /**
     * The attention core of one layer on the {@code [batch, heads, seq, hd]} q, k and v heads, giving the context
     * {@code [batch, heads, seq, hd]}: one FlashAttention {@code flash} with {@code c.fusedAttention()}, else scores,
     * scale, mask, softmax, dropout and context as separate operators.
     */
    private static String attentionCore(Network.Builder att, String[] heads, int hd, GptConfig c) {
        if (c.fusedAttention()) {
            FlashAttention flash = FlashAttention.of(c.causalMask(), 1 - c.dropout());
            return att.op("flash", flash, heads[0], heads[1], heads[2]);
        }
        String scale = att.parameter(Parameter.lazy(
                att.initializer(new Constant(1.0 / Math.sqrt(hd)),
                        new long[] {1}, c.dtype()), "scale", false));
        String s = att.op("scores", MatMul.batched(false, true), heads[0], heads[1]);
        s = att.op("scale_mul", Binary.mul(), s, scale);
        if (c.causalMask()) {
            s = att.op("causal_mask", CausalMask.of(), s);
        }
        s = att.op("softmax", Softmax.of(-1), s);
        s = dropout(att, "probs_dropout", s, c);
        return att.op("context", MatMul.batched(false, false), s, heads[2]);
    }

    /** With {@code c.bias()}: BiasAdd {@code name} of a "zeros" parameter {@code param [width]}; else {@code x}. */
    private static String bias(Network.Builder b, String name, String param, String x, long width, GptConfig c) {
        if (!c.bias()) {
            return x;
        }
        String bias = b.parameter(param, "zeros", c.dtype(), width);
        return b.op(name, new BiasAdd(), x, bias);
    }

    /** With {@code c.dropout() > 0}: Dropout {@code name} keeping {@code 1 - dropout}; else {@code x}. */
    private static String dropout(Network.Builder b, String name, String x, GptConfig c) {
        return c.dropout() > 0 ? b.op(name, new Dropout(1 - c.dropout()), x) : x;
    }

    /** LayerNorm {@code name} over the last axis with parameters {@code name.gamma}, {@code name.beta}. */
    private static String layerNorm(Network.Builder b, String name, String x, long hidden, DType dt) {
        Network.Builder s = b.scope(name);
        String gamma = s.parameter("gamma", "ones", dt, hidden);
        String beta = s.parameter("beta", "zeros", dt, hidden);
        return b.op(name, LayerNorm.of(-1), x, gamma, beta);
    }

    /**
     * The small ResNet-style CNN (NCHW). Input {@code images [batch, 3, image, image]}; Conv2D {@code stem.conv}
     * (3x3, stride 1, pad 1; parameter {@code stem.conv.weight [channels, 3, 3, 3]}), norm {@code stem.norm}, ReLU
     * {@code stem.relu}; per block under {@code blocks.i}: Conv2D {@code conv1} ({@code conv1.weight
     * [channels, channels, 3, 3]}), norm {@code norm1}, ReLU {@code relu1}, Conv2D {@code conv2}, norm {@code norm2},
     * Add {@code residual} (block input + norm2), ReLU {@code relu}; then ReduceMean {@code pool} over H and W, MatMul
     * {@code head} ({@code head.weight [channels, classes]}), SoftmaxCrossEntropyWithLogits {@code loss_fn} against
     * the one-hot input {@code labels [batch, classes]}, ReduceMean {@code loss}. A BatchNorm norm {@code n} has
     * parameters {@code n.scale}, {@code n.bias} (trainable) and {@code n.mean}, {@code n.variance} (not trainable,
     * [channels]); a LayerNorm norm normalises C, H and W (begin_norm_axis = begin_params_axis = 1) with
     * {@code n.gamma}, {@code n.beta} of shape {@code [channels, image, image]}.
     */
    public static Network resnet(ResNetConfig c) {
        DType dt = c.dtype();
        Network.Builder b = Network.builder("resnet");
        String h = b.input("images", TensorType.of(dt, c.batch(), 3, c.image(), c.image()));
        String labels = b.input("labels", TensorType.of(dt, c.batch(), c.classes()));
        Network.Builder stem = b.scope("stem");
        h = conv(stem, "conv", h, 3, c);
        h = norm(stem, "norm", h, c);
        h = stem.op("relu", Activation.relu(), h);
        for (int i = 0; i < c.blocks(); i++) {
            Network.Builder blk = b.scope("blocks." + i);
            String in = h;
            h = conv(blk, "conv1", h, c.channels(), c);
            h = norm(blk, "norm1", h, c);
            h = blk.op("relu1", Activation.relu(), h);
            h = conv(blk, "conv2", h, c.channels(), c);
            h = norm(blk, "norm2", h, c);
            h = blk.op("residual", Binary.add(), in, h);
            h = blk.op("relu", Activation.relu(), h);
        }
        h = b.op("pool", Reduce.mean(false, 2, 3), h);
        String head = b.scope("head").parameter("weight", "normal", dt, c.channels(), c.classes());
        h = b.op("head", MatMul.of(false, false), h, head);
        return lossHead(b, h, labels).build();
    }

    private static String conv(Network.Builder b, String name, String x, int inChannels, ResNetConfig c) {
        String w = b.scope(name).parameter("weight", "normal", c.dtype(), c.channels(), inChannels, 3, 3);
        return b.op(name, Conv2D.of(c.channels(), new int[] {3}, new int[] {1}, new int[] {1}), x, w);
    }

    private static String norm(Network.Builder b, String name, String x, ResNetConfig c) {
        Network.Builder s = b.scope(name);
        DType dt = c.dtype();
        if (c.norm() == ResNetConfig.Norm.LAYERNORM) {
            String gamma = s.parameter("gamma", "ones", dt, c.channels(), c.image(), c.image());
            String beta = s.parameter("beta", "zeros", dt, c.channels(), c.image(), c.image());
            return b.op(name, new LayerNorm(1, 1, 1e-7), x, gamma, beta);
        }
        String scale = s.parameter("scale", "ones", dt, c.channels());
        String bias = s.parameter("bias", "zeros", dt, c.channels());
        String mean = s.parameter(Parameter.lazy(s.initializer(Initializers.byName("zeros"),
                new long[] {c.channels()}, dt), "mean", false));
        String variance = s.parameter(Parameter.lazy(s.initializer(Initializers.byName("ones"),
                new long[] {c.channels()}, dt), "variance", false));
        return b.op(name, BatchNorm.of(), x, scale, bias, mean, variance);
    }

    /** SoftmaxCrossEntropyWithLogits {@code loss_fn}, ReduceMean {@code loss} over all dims; sets the loss. */
    static Network.Builder lossHead(Network.Builder b, String logits, String labels) {
        String l = b.op("loss_fn", new SoftmaxCrossEntropyWithLogits(), logits, labels);
        l = b.op("loss", Reduce.mean(false), l);
        return b.loss(l);
    }

    /** Reads the arguments of one model, rejecting unknown keys. */
    static final class Args {
        private final String who;
        private final Map<String, ?> args;

        Args(String model, Map<String, ?> args, Map<String, Object> defaults) {
            this(args, defaults, "zoo model '" + model + "'");
        }

        private Args(Map<String, ?> args, Map<String, Object> defaults, String who) {
            this.who = who;
            this.args = args;
            for (String k : args.keySet()) {
                if (!defaults.containsKey(k)) {
                    List<String> valid = new ArrayList<>();
                    defaults.forEach((key, v) -> valid.add(key + "=" + v));
                    throw new IllegalArgumentException(who + ": unknown argument " + UserText.quoted(k)
                            + "; valid arguments (with defaults): " + String.join(", ", valid));
                }
            }
        }

        private IllegalArgumentException bad(String key, Object v, String expected) {
            return new IllegalArgumentException(who + ": argument '" + key + "' is " + show(v)
                    + "; expected " + expected);
        }

        /** Arguments read for {@code who} (the message prefix, e.g. {@code "hf_config f.json"}). */
        static Args labelled(String who, Map<String, ?> args, Map<String, Object> defaults) {
            return new Args(args, defaults, who);
        }

        /** Whether {@code key} is given (not null). */
        boolean has(String key) {
            return args.get(key) != null;
        }

        /** The value of {@code key} as given, or null. */
        Object raw(String key) {
            return args.get(key);
        }

        /** A {@link Number} or a decimal string as a double; NaN for anything else. */
        private static double real(Object v) {
            if (v instanceof Number n) {
                return n.doubleValue();
            }
            if (v instanceof String str) {
                try {
                    return Double.parseDouble(str.trim());
                } catch (NumberFormatException e) {
                    return Double.NaN;
                }
            }
            return Double.NaN;
        }

        /** A positive finite number: any {@link Number} or a decimal string; absent: {@code def}. */
        double positiveReal(String key, double def) {
            Object v = args.get(key);
            if (v == null) {
                return def;
            }
            double x = real(v);
            if (Double.isNaN(x)) {
                throw bad(key, v, "a positive number such as 1e-5");
            }
            if (!(x > 0) || Double.isInfinite(x)) {
                throw bad(key, v, "a positive finite number such as 1e-5");
            }
            return x;
        }

        /** A finite number at least 0: any {@link Number} or a decimal string; absent: {@code def}. */
        double nonNegativeReal(String key, double def) {
            Object v = args.get(key);
            if (v == null) {
                return def;
            }
            double x = real(v);
            if (!(x >= 0) || Double.isInfinite(x)) {
                throw bad(key, v, "a finite number at least 0 such as 1.25 (0: dropless)");
            }
            return x;
        }

        /** An integer at least 0: any integral {@link Number} or a decimal string; absent: {@code def}. */
        int nonNegative(String key, int def) {
            Object v = args.get(key);
            if (v == null) {
                return def;
            }
            long l = integral(key, v);
            if (l < 0 || l > Integer.MAX_VALUE) {
                throw bad(key, v, "an integer at least 0");
            }
            return (int) l;
        }

        private static String show(Object v) {
            return v instanceof String ? "'" + v + "'" : String.valueOf(v);
        }

        private long integral(String key, Object v) {
            if (v instanceof Integer || v instanceof Long || v instanceof Short || v instanceof Byte) {
                return ((Number) v).longValue();
            }
            if (v instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue())
                    && Math.abs(n.doubleValue()) < 1e15) {
                return (long) n.doubleValue();
            }
            if (v instanceof String s) {
                try {
                    return Long.parseLong(s.trim());
                } catch (NumberFormatException e) {
                    throw bad(key, v, "a positive integer");
                }
            }
            throw bad(key, v, "a positive integer");
        }

        int positive(String key, int def) {
            Integer v = positiveOrNull(key);
            return v == null ? def : v;
        }

        Integer positiveOrNull(String key) {
            Object v = args.get(key);
            if (v == null) {
                return null;
            }
            long l = integral(key, v);
            if (l <= 0 || l > Integer.MAX_VALUE) {
                throw bad(key, v, "a positive integer");
            }
            return (int) l;
        }

        long[] longsOrNull(String key) {
            Object v = args.get(key);
            if (v == null) {
                return null;
            }
            List<?> list;
            if (v instanceof List<?> l) {
                list = l;
            } else if (v instanceof long[] a) {
                list = Arrays.stream(a).boxed().toList();
            } else if (v instanceof int[] a) {
                list = Arrays.stream(a).boxed().toList();
            } else {
                throw bad(key, v, "a list of positive integers such as [1024, 4096, 1024]");
            }
            long[] out = new long[list.size()];
            for (int i = 0; i < out.length; i++) {
                Object e = list.get(i);
                long x = e == null ? 0 : integral(key, e);
                if (x <= 0) {
                    throw bad(key, v, "a list of positive integers such as [1024, 4096, 1024]");
                }
                out[i] = x;
            }
            return out;
        }

        /** A boolean: {@link Boolean} or the string "true" / "false" (any case); absent: {@code def}. */
        boolean bool(String key, boolean def) {
            Object v = args.get(key);
            if (v == null) {
                return def;
            }
            if (v instanceof Boolean b) {
                return b;
            }
            if (v instanceof String str) {
                String t = str.trim().toLowerCase(Locale.ROOT);
                if (t.equals("true") || t.equals("false")) {
                    return t.equals("true");
                }
            }
            throw bad(key, v, "true or false");
        }

        /** A probability in [0, 1): any {@link Number} or a decimal string; absent: {@code def}. */
        double probability(String key, double def) {
            Object v = args.get(key);
            if (v == null) {
                return def;
            }
            double p = real(v);
            if (Double.isNaN(p)) {
                throw bad(key, v, "a probability in [0, 1) such as 0.1");
            }
            if (!(p >= 0 && p < 1)) {
                throw bad(key, v, "a probability in [0, 1) such as 0.1 (0 adds no dropout)");
            }
            return p;
        }

        DType dtype() {
            Object v = args.get("dtype");
            if (v == null) {
                return DType.FLOAT32;
            }
            if (v instanceof DType d) {
                return d;
            }
            if (!(v instanceof String s)) {
                throw bad("dtype", v, "a floating dtype name such as \"float32\"");
            }
            DType d;
            try {
                d = DType.parse(s);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(who + ": argument 'dtype': " + e.getMessage(), e);
            }
            if (!d.isFloating()) {
                throw bad("dtype", v, "a floating dtype such as float32, float16 or bfloat16");
            }
            return d;
        }

        ResNetConfig.Norm norm() {
            Object v = args.get("norm");
            if (v == null) {
                return ResNetConfig.Norm.BATCHNORM;
            }
            if (v instanceof ResNetConfig.Norm n) {
                return n;
            }
            return ResNetConfig.Norm.parse(String.valueOf(v));
        }
    }
}
