package io.tessera.planner.zoo;

import io.tessera.layout.UserText;
import com.fasterxml.jackson.databind.JsonNode;
import io.tessera.layout.DType;
import io.tessera.layout.Limits;
import io.tessera.layout.init.Constant;
import io.tessera.layout.param.Parameter;
import io.tessera.planner.graph.Network;
import io.tessera.planner.op.Activation;
import io.tessera.planner.op.BiasAdd;
import io.tessera.planner.op.Binary;
import io.tessera.planner.op.CausalMask;
import io.tessera.planner.op.FlashAttention;
import io.tessera.planner.op.Gather;
import io.tessera.planner.op.LayerNorm;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.Reduce;
import io.tessera.planner.op.Reshape;
import io.tessera.planner.op.Softmax;
import io.tessera.planner.op.SoftmaxCrossEntropyWithLogits;
import io.tessera.planner.op.Split;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.op.Transpose;

import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * GPT-2 as Hugging Face's {@code transformers} builds it ({@code GPT2LMHeadModel}, {@code model_type} {@code gpt2}),
 * from the keys of its {@code config.json}, with Hugging Face's parameter names and shapes, so plans line up with real
 * checkpoints and the parameter count is the published one (gpt2: 124,439,808; gpt2-medium: 354,823,168).
 *
 * <p>GPT-2's linear layers are {@code Conv1D} modules whose weights are stored {@code [in, out]} (not
 * {@code nn.Linear}'s {@code [out, in]}), so their products are {@code MatMul(false, false)} followed by a
 * {@code BiasAdd}. The LM head is an {@code nn.Linear} without bias, {@code [vocab, hidden]}, multiplied transposed;
 * tied to {@code transformer.wte.weight} by default ({@code tie_word_embeddings}). Dropout is not modelled (the
 * {@code *_pdrop} keys are ignored). See {@link #network} for the graph.
 */
public final class HfGpt2 {

    /** The {@code model_type} of the configs this class reads. */
    public static final String MODEL_TYPE = "gpt2";

    /** The arguments {@link #fromJson} accepts, in documentation order. */
    public static final List<String> ARGS = List.of("seq", "batch", "layers", "dtype", "fused_attention");

    /** The sequence length {@link #fromJson} uses when {@code args} give none and n_positions is larger. */
    public static final int DEFAULT_SEQ = 1024;

    /** GPT2Config's default {@code layer_norm_epsilon}. */
    public static final double DEFAULT_LAYER_NORM_EPS = 1e-5;

    /** The {@code activation_function} values computed by the tanh-approximated GeLU ({@link Activation#gelu()}). */
    public static final List<String> ACTIVATIONS = List.of("gelu_new", "gelu_pytorch_tanh", "gelu_fast");

    private HfGpt2() {
    }

    /**
     * The sizes of a GPT-2, with the Hugging Face key each comes from (messages name the key).
     *
     * @param layers          {@code n_layer}, positive
     * @param hidden          {@code n_embd}, positive, a multiple of {@code heads}
     * @param heads           {@code n_head}, positive
     * @param ffn             {@code n_inner}, positive (Hugging Face's null means 4 x n_embd)
     * @param seq             the sequence length (argument {@code seq}), positive, at most {@code positions}
     * @param vocab           {@code vocab_size}, positive
     * @param batch           the batch size (argument {@code batch}), positive
     * @param dtype           the floating dtype of activations and parameters (argument {@code dtype}, else
     *                        {@code torch_dtype}, else float32); token and position ids are Int32
     * @param layerNormEps    {@code layer_norm_epsilon}, positive and finite (GPT2Config's default 1e-5)
     * @param tiedEmbeddings  {@code tie_word_embeddings}: the LM head multiplies by {@code transformer.wte.weight}
     *                        (default true) instead of its own {@code lm_head.weight}
     * @param positions       {@code n_positions}, the rows of {@code transformer.wpe.weight}, positive
     * @param fusedAttention  whether each layer's attention core is one causal {@code FlashAttentionScore} (argument
     *                        {@code fused_attention}, default true) or scores, scale, causal mask, softmax and context
     */
    public record Config(int layers, int hidden, int heads, int ffn, int seq, int vocab, int batch, DType dtype,
                         double layerNormEps, boolean tiedEmbeddings, int positions, boolean fusedAttention) {

        /** Validates the sizes, naming the Hugging Face key or argument at fault. */
        public Config {
            positive("n_layer", layers);
            Limits.Limit.LAYERS.check("n_layer", layers);
            positive("n_embd", hidden);
            positive("n_head", heads);
            positive("n_inner", ffn);
            positive("argument seq", seq);
            positive("vocab_size", vocab);
            positive("argument batch", batch);
            positive("n_positions", positions);
            if (hidden % heads != 0) {
                throw new IllegalArgumentException("gpt2 config: n_embd " + hidden + " is not a multiple of n_head "
                        + heads + "; choose n_head dividing n_embd");
            }
            if (seq > positions) {
                throw new IllegalArgumentException("gpt2 config: argument seq " + seq + " exceeds n_positions "
                        + positions + " (the rows of transformer.wpe.weight); give seq <= " + positions);
            }
            if (dtype == null || !dtype.isFloating() || dtype.isFp8()) {
                throw new IllegalArgumentException("gpt2 config: dtype is " + (dtype == null ? null : dtype.jsonName())
                        + "; expected a floating dtype such as float32, float16 or bfloat16");
            }
            if (!(layerNormEps > 0) || Double.isInfinite(layerNormEps)) {
                throw new IllegalArgumentException("gpt2 config: layer_norm_epsilon is " + layerNormEps
                        + "; expected a small positive number such as 1e-5");
            }
        }

        /**
         * A config with {@code positions = seq} (the position table holds exactly the sequence) and fused attention.
         */
        public Config(int layers, int hidden, int heads, int ffn, int seq, int vocab, int batch, DType dtype,
                      double layerNormEps, boolean tiedEmbeddings) {
            this(layers, hidden, heads, ffn, seq, vocab, batch, dtype, layerNormEps, tiedEmbeddings, seq, true);
        }

        private static void positive(String key, int v) {
            if (v <= 0) {
                throw new IllegalArgumentException("gpt2 config: " + key + " is " + v + "; expected a positive integer");
            }
        }

        /** This config with {@code layers} layers. */
        public Config withLayers(int n) {
            return new Config(n, hidden, heads, ffn, seq, vocab, batch, dtype, layerNormEps, tiedEmbeddings,
                    positions, fusedAttention);
        }

        /** This config with or without fused attention. */
        public Config withFusedAttention(boolean fused) {
            return new Config(layers, hidden, heads, ffn, seq, vocab, batch, dtype, layerNormEps, tiedEmbeddings,
                    positions, fused);
        }

        /** The width of one attention head, {@code hidden / heads}. */
        public int headDim() {
            return hidden / heads;
        }
    }

    /**
     * The config of a Hugging Face GPT-2 {@code config.json} and run arguments. Keys read: {@code n_layer},
     * {@code n_embd}, {@code n_head}, {@code n_positions}, {@code vocab_size} (required), {@code n_inner} (absent or
     * null: 4 x n_embd), {@code layer_norm_epsilon} (1e-5), {@code tie_word_embeddings} (true), {@code torch_dtype}
     * (float32); {@code model_type}, when present, must be {@code gpt2}, {@code activation_function}, when present,
     * one of {@link #ACTIVATIONS}, and {@code scale_attn_weights} / {@code scale_attn_by_inverse_layer_idx} /
     * {@code reorder_and_upcast_attn}, when present, their defaults (true / false / false). Other keys are ignored.
     *
     * <p>{@code args} (null: none) override: {@code seq} (default min(n_positions, {@value #DEFAULT_SEQ})),
     * {@code batch} (1), {@code layers} (n_layer), {@code dtype} (torch_dtype, else float32), {@code fused_attention}
     * (true). Integers may be any integral {@link Number} or a decimal string, booleans {@link Boolean} or "true" /
     * "false", dtype a {@link DType} or its name.
     *
     * @throws IllegalArgumentException (one line, naming the key or argument) for a missing or ill-typed key, an
     *                                  unknown argument (listing the valid ones), or a config {@link Config} rejects
     */
    public static Config fromJson(JsonNode hfConfig, Map<String, ?> args) {
        if (hfConfig == null || !hfConfig.isObject()) {
            throw new IllegalArgumentException("gpt2 config.json: found " + (hfConfig == null ? "nothing"
                    : hfConfig.getNodeType().toString().toLowerCase(Locale.ROOT)) + "; expected a JSON object with"
                    + " the keys n_layer, n_embd, n_head, n_positions and vocab_size");
        }
        Map<String, ?> a = args == null ? Map.of() : args;
        for (String k : a.keySet()) {
            if (!ARGS.contains(k)) {
                throw new IllegalArgumentException("gpt2 args: unknown argument " + UserText.quoted(k) + "; valid arguments: "
                        + String.join(", ", ARGS));
            }
        }
        JsonNode type = hfConfig.get("model_type");
        if (type != null && !(type.isTextual() && MODEL_TYPE.equals(type.textValue()))) {
            throw new IllegalArgumentException("gpt2 config.json: model_type is " + type + "; expected \"" + MODEL_TYPE
                    + "\" (another model_type needs its own builder)");
        }
        JsonNode act = hfConfig.get("activation_function");
        if (act != null && !(act.isTextual() && ACTIVATIONS.contains(act.textValue()))) {
            throw new IllegalArgumentException("gpt2 config.json: activation_function is " + act + "; expected one of "
                    + String.join(", ", ACTIVATIONS) + " (GeLU's tanh approximation, the one supported)");
        }
        expectFlag(hfConfig, "scale_attn_weights", true);
        expectFlag(hfConfig, "scale_attn_by_inverse_layer_idx", false);
        expectFlag(hfConfig, "reorder_and_upcast_attn", false);
        int layers = requiredInt(hfConfig, "n_layer");
        int hidden = requiredInt(hfConfig, "n_embd");
        int heads = requiredInt(hfConfig, "n_head");
        int positions = requiredInt(hfConfig, "n_positions");
        int vocab = requiredInt(hfConfig, "vocab_size");
        JsonNode inner = hfConfig.get("n_inner");
        int ffn = inner == null || inner.isNull() ? Math.multiplyExact(4, hidden) : intValue("n_inner", inner);
        double eps = DEFAULT_LAYER_NORM_EPS;
        JsonNode e = hfConfig.get("layer_norm_epsilon");
        if (e != null) {
            if (!e.isNumber()) {
                throw new IllegalArgumentException("gpt2 config.json: layer_norm_epsilon is " + e
                        + "; expected a number such as 1e-05");
            }
            eps = e.doubleValue();
        }
        boolean tied = true;
        JsonNode t = hfConfig.get("tie_word_embeddings");
        if (t != null) {
            if (!t.isBoolean()) {
                throw new IllegalArgumentException("gpt2 config.json: tie_word_embeddings is " + t
                        + "; expected true or false");
            }
            tied = t.booleanValue();
        }
        DType dtype = DType.FLOAT32;
        JsonNode td = hfConfig.get("torch_dtype");
        if (td != null && !td.isNull()) {
            dtype = parseDtype("config.json: torch_dtype", td.isTextual() ? td.textValue() : td.toString());
        }
        Object d = a.get("dtype");
        if (d != null) {
            dtype = d instanceof DType dt ? dt : parseDtype("args: dtype", String.valueOf(d));
        }
        Integer seqArg = positiveArg(a, "seq");
        Integer batchArg = positiveArg(a, "batch");
        Integer layersArg = positiveArg(a, "layers");
        return new Config(layersArg == null ? layers : layersArg, hidden, heads, ffn,
                seqArg == null ? Math.min(positions, DEFAULT_SEQ) : seqArg, vocab, batchArg == null ? 1 : batchArg,
                dtype, eps, tied, positions, boolArg(a, "fused_attention", true));
    }

    private static void expectFlag(JsonNode cfg, String key, boolean supported) {
        JsonNode v = cfg.get(key);
        if (v != null && !(v.isBoolean() && v.booleanValue() == supported)) {
            throw new IllegalArgumentException("gpt2 config.json: " + key + " is " + v + "; only " + supported
                    + " (GPT2Config's default) is supported");
        }
    }

    private static int requiredInt(JsonNode cfg, String key) {
        JsonNode v = cfg.get(key);
        if (v == null || v.isNull()) {
            throw new IllegalArgumentException("gpt2 config.json: missing key '" + key + "'; a GPT-2 config.json"
                    + " gives n_layer, n_embd, n_head, n_positions and vocab_size");
        }
        return intValue(key, v);
    }

    private static int intValue(String key, JsonNode v) {
        if (!v.isIntegralNumber() || !v.canConvertToInt() || v.intValue() <= 0) {
            throw new IllegalArgumentException("gpt2 config.json: " + key + " is " + v + "; expected a positive"
                    + " integer");
        }
        return v.intValue();
    }

    private static DType parseDtype(String where, String name) {
        DType d;
        try {
            d = DType.parse(name);
        } catch (IllegalArgumentException ex) {
            throw new IllegalArgumentException("gpt2 " + where + " is '" + name + "'; expected a floating dtype such"
                    + " as float32, float16 or bfloat16", ex);
        }
        if (!d.isFloating() || d.isFp8()) {
            throw new IllegalArgumentException("gpt2 " + where + " is '" + name + "'; expected a floating dtype such"
                    + " as float32, float16 or bfloat16");
        }
        return d;
    }

    private static Integer positiveArg(Map<String, ?> args, String key) {
        Object v = args.get(key);
        if (v == null) {
            return null;
        }
        long l;
        if (v instanceof Integer || v instanceof Long || v instanceof Short || v instanceof Byte) {
            l = ((Number) v).longValue();
        } else if (v instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue())
                && Math.abs(n.doubleValue()) < 1e15) {
            l = (long) n.doubleValue();
        } else if (v instanceof String s && s.trim().matches("-?\\d{1,15}")) {
            l = Long.parseLong(s.trim());
        } else {
            l = 0;
        }
        if (l <= 0 || l > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("gpt2 args: " + key + " is " + show(v) + "; expected a positive"
                    + " integer");
        }
        return (int) l;
    }

    private static boolean boolArg(Map<String, ?> args, String key, boolean def) {
        Object v = args.get(key);
        if (v == null) {
            return def;
        }
        if (v instanceof Boolean b) {
            return b;
        }
        if (v instanceof String s && (s.trim().equalsIgnoreCase("true") || s.trim().equalsIgnoreCase("false"))) {
            return s.trim().equalsIgnoreCase("true");
        }
        throw new IllegalArgumentException("gpt2 args: " + key + " is " + show(v) + "; expected true or false");
    }

    private static String show(Object v) {
        return v instanceof String ? "'" + v + "'" : String.valueOf(v);
    }

    /**
     * GPT-2 as {@code GPT2LMHeadModel}. Inputs {@code input_ids} and {@code position_ids} (Int32
     * {@code [batch, seq]}; the position ids index the rows of {@code transformer.wpe.weight}, 0..seq-1 in Hugging
     * Face's default) and the one-hot {@code labels [batch*seq, vocab]} (dtype). Parameters (Hugging Face's names):
     * {@code transformer.wte.weight [vocab, hidden]}, {@code transformer.wpe.weight [n_positions, hidden]}; per layer
     * {@code i} under {@code transformer.h.i.}: {@code ln_1.weight}, {@code ln_1.bias} {@code [hidden]},
     * {@code attn.c_attn.weight [hidden, 3*hidden]}, {@code attn.c_attn.bias [3*hidden]},
     * {@code attn.c_proj.weight [hidden, hidden]}, {@code attn.c_proj.bias [hidden]}, {@code ln_2.weight},
     * {@code ln_2.bias}, {@code mlp.c_fc.weight [hidden, ffn]}, {@code mlp.c_fc.bias [ffn]},
     * {@code mlp.c_proj.weight [ffn, hidden]}, {@code mlp.c_proj.bias [hidden]}; {@code transformer.ln_f.weight},
     * {@code transformer.ln_f.bias}; {@code lm_head.weight [vocab, hidden]} only when not tied. Weights start
     * "normal", biases "zeros", LayerNorm weights "ones".
     *
     * <p>Operators: Gather {@code transformer.wte} and {@code transformer.wpe}, Add {@code transformer.embed}, Reshape
     * {@code transformer.flatten} to {@code [batch*seq, hidden]}; per layer under {@code transformer.h.i.}: LayerNorm
     * {@code ln_1} (last axis, epsilon {@code layer_norm_epsilon}); MatMul {@code attn.c_attn.matmul} and BiasAdd
     * {@code attn.c_attn} ({@code [batch*seq, 3*hidden]}); Split {@code attn.split_qkv} (axis -1, 3 outputs: q, k,
     * v); per q, k, v Reshape {@code attn.q_split} to {@code [batch, seq, heads, hidden/heads]} and Transpose
     * {@code attn.q_heads} (0, 2, 1, 3); with fused attention one causal FlashAttentionScore {@code attn.flash}
     * (scale 1/sqrt(head_dim)), else BatchMatMul {@code attn.scores} (q, k transposed), Mul {@code attn.scale_mul} by
     * the non-trainable {@code attn.scale [1]} (1/sqrt(head_dim); an extra scalar per layer, not a Hugging Face
     * parameter), CausalMask {@code attn.causal_mask}, Softmax {@code attn.softmax} and BatchMatMul
     * {@code attn.context}; Transpose {@code attn.merge_heads}, Reshape {@code attn.flatten}; MatMul
     * {@code attn.c_proj.matmul}, BiasAdd {@code attn.c_proj}; Add {@code attn_residual}; LayerNorm {@code ln_2};
     * MatMul {@code mlp.c_fc.matmul}, BiasAdd {@code mlp.c_fc}, GeLU {@code mlp.act} (the tanh approximation
     * {@code 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))}, which is exactly Hugging Face's {@code gelu_new}),
     * MatMul {@code mlp.c_proj.matmul}, BiasAdd {@code mlp.c_proj}; Add {@code mlp_residual}. Then LayerNorm
     * {@code transformer.ln_f}, MatMul(transpose_b) {@code lm_head} of its output and the (tied or own)
     * {@code [vocab, hidden]} weight, SoftmaxCrossEntropyWithLogits {@code loss_fn} against {@code labels} and
     * ReduceMean {@code loss}.
     */
    public static Network network(Config c) {
        DType dt = c.dtype();
        long tokens = (long) c.batch() * c.seq();
        int hd = c.headDim();
        Network.Builder b = Network.builder(MODEL_TYPE);
        MatMul conv1d = MatMul.of(false, false);
        String ids = b.input("input_ids", TensorType.of(DType.INT32, c.batch(), c.seq()));
        String positionIds = b.input("position_ids", TensorType.of(DType.INT32, c.batch(), c.seq()));
        String labels = b.input("labels", TensorType.of(dt, tokens, c.vocab()));
        Network.Builder tr = b.scope("transformer");
        String wte = tr.scope("wte").parameter("weight", "normal", dt, c.vocab(), c.hidden());
        String wpe = tr.scope("wpe").parameter("weight", "normal", dt, c.positions(), c.hidden());
        String h = tr.op("embed", Binary.add(), tr.op("wte", Gather.of(0), wte, ids),
                tr.op("wpe", Gather.of(0), wpe, positionIds));
        h = tr.op("flatten", Reshape.of(tokens, c.hidden()), h);
        for (int i = 0; i < c.layers(); i++) {
            Network.Builder l = tr.scope("h." + i);
            Network.Builder attn = l.scope("attn");
            String x1 = layerNorm(l, "ln_1", h, c);
            String qkv = conv1d(attn, "c_attn", x1, c.hidden(), 3L * c.hidden(), dt, conv1d);
            List<String> parts = attn.opOutputs("split_qkv", Split.of(-1, 3), qkv);
            String[] heads = new String[3];
            String[] names = {"q", "k", "v"};
            for (int j = 0; j < 3; j++) {
                String p = attn.op(names[j] + "_split", Reshape.of(c.batch(), c.seq(), c.heads(), hd), parts.get(j));
                heads[j] = attn.op(names[j] + "_heads", Transpose.of(0, 2, 1, 3), p);
            }
            String s = attentionCore(attn, heads, hd, c);
            s = attn.op("merge_heads", Transpose.of(0, 2, 1, 3), s);
            s = attn.op("flatten", Reshape.of(tokens, c.hidden()), s);
            s = conv1d(attn, "c_proj", s, c.hidden(), c.hidden(), dt, conv1d);
            String r1 = l.op("attn_residual", Binary.add(), h, s);
            String x2 = layerNorm(l, "ln_2", r1, c);
            Network.Builder mlp = l.scope("mlp");
            String f = conv1d(mlp, "c_fc", x2, c.hidden(), c.ffn(), dt, conv1d);
            f = mlp.op("act", Activation.gelu(), f);
            f = conv1d(mlp, "c_proj", f, c.ffn(), c.hidden(), dt, conv1d);
            h = l.op("mlp_residual", Binary.add(), r1, f);
        }
        h = layerNorm(tr, "ln_f", h, c);
        String head = c.tiedEmbeddings() ? wte : b.scope("lm_head").parameter("weight", "normal", dt, c.vocab(),
                c.hidden());
        String logits = b.op("lm_head", MatMul.of(false, true), h, head);
        return lossHead(b, logits, labels).build();
    }

    /**
     * Hugging Face's {@code Conv1D} {@code name}: MatMul {@code name.matmul} of {@code x} and {@code name.weight
     * [in, out]}, then BiasAdd {@code name} of {@code name.bias [out]}.
     */
    private static String conv1d(Network.Builder b, String name, String x, long in, long out, DType dt, MatMul mm) {
        Network.Builder s = b.scope(name);
        String w = s.parameter("weight", "normal", dt, in, out);
        String bias = s.parameter("bias", "zeros", dt, out);
        return b.op(name, new BiasAdd(), s.op("matmul", mm, x, w), bias);
    }

    /** The causal attention core on the {@code [batch, heads, seq, hd]} q, k, v, giving the context. */
    private static String attentionCore(Network.Builder attn, String[] heads, int hd, Config c) {
        if (c.fusedAttention()) {
            return attn.op("flash", FlashAttention.of(true, 1), heads[0], heads[1], heads[2]);
        }
        String scale = attn.parameter(Parameter.lazy(attn.initializer(new Constant(1.0 / Math.sqrt(hd)),
                new long[] {1}, c.dtype()), "scale", false));
        String s = attn.op("scores", MatMul.batched(false, true), heads[0], heads[1]);
        s = attn.op("scale_mul", Binary.mul(), s, scale);
        s = attn.op("causal_mask", CausalMask.of(), s);
        s = attn.op("softmax", Softmax.of(-1), s);
        return attn.op("context", MatMul.batched(false, false), s, heads[2]);
    }

    /** LayerNorm {@code name} over the last axis with {@code name.weight} (ones) and {@code name.bias} (zeros). */
    private static String layerNorm(Network.Builder b, String name, String x, Config c) {
        Network.Builder s = b.scope(name);
        String weight = s.parameter("weight", "ones", c.dtype(), c.hidden());
        String bias = s.parameter("bias", "zeros", c.dtype(), c.hidden());
        return b.op(name, new LayerNorm(-1, -1, c.layerNormEps()), x, weight, bias);
    }

    /** SoftmaxCrossEntropyWithLogits {@code loss_fn}, ReduceMean {@code loss} over all dims; sets the loss. */
    private static Network.Builder lossHead(Network.Builder b, String logits, String labels) {
        String l = b.op("loss_fn", new SoftmaxCrossEntropyWithLogits(), logits, labels);
        l = b.op("loss", Reduce.mean(false), l);
        return b.loss(l);
    }
}
