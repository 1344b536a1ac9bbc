package io.tessera.planner.op;

import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;

import java.util.ArrayList;
import java.util.List;

/**
 * {@code RotaryPositionEmbedding}: rotary position embedding (RoPE) as Hugging Face's Llama applies it to queries and
 * keys ({@code apply_rotary_pos_emb} with {@code rotate_half}). For {@code x [batch, heads, seq, head_dim]} (the
 * layout of {@link FlashAttention}'s q and k) and {@code h = head_dim / 2}, element {@code i < h} of a row at global
 * sequence position {@code p} rotates with element {@code i + h} by the angle {@code a = p * invFreq[i]}:
 * {@code out[i] = x[i] cos a - x[i + h] sin a}, {@code out[i + h] = x[i + h] cos a + x[i] sin a}, with
 * {@code invFreq[i] = theta^(-2i / head_dim)} ({@link #invFreq}), optionally rescaled as Llama 3's
 * {@code rope_scaling} ({@link Llama3Scaling}) or YaRN's ({@link YarnScaling}, DeepSeek-V2/V3; it also multiplies
 * {@code cos} and {@code sin} by its {@link Scaling#attentionFactor}). Positions are global: a rank holding a slice of the sequence rotates
 * by its slice's global positions, so any split of the sequence gives the unsplit result.
 *
 * <p>Rule: batch, heads and sequence may be split (the device matrix is the strategy, the output has the input's
 * layout, no communication); the head dimension must not be (element {@code i} pairs with {@code i + h} of the same
 * head). Gradient: the rotation's transpose, the inverse rotation, read from the positions only (no forward tensor is
 * kept). With {@code load_balance = c} (context parallelism's causal load balance, {@link LoadBalance}) sequence index
 * {@code i} holds the token of position {@link LoadBalance#position}{@code (i)}, and that position is the one rotated
 * by; {@code 2c} must divide the sequence. Costs: {@link #FLOPS_PER_ELEMENT} per output element (the cos/sin tables are precomputed, as in Hugging Face
 * and Megatron), the input and output streamed once.
 *
 * @param theta   the base of the frequencies, Hugging Face's {@code rope_theta}: positive and finite (default
 *                {@link #DEFAULT_THETA})
 * @param scaling the rescaling of the frequencies, Llama 3's or YaRN's, or null for none (Hugging Face's
 *                {@code rope_scaling})
 * <p>With {@code interleaved} (DeepSeek-V2/V3's {@code rope_interleave}, Hugging Face's
 * {@code apply_rotary_pos_emb_interleave}) the input's pairs are adjacent: x is first de-interleaved
 * ({@code [x0, x2, ..., x1, x3, ...]}, a view as {@code [.., head_dim/2, 2]} transposed) and then rotated as above, so
 * {@code out[i] = x[2i] cos a - x[2i+1] sin a}, {@code out[i + h] = x[2i+1] cos a + x[2i] sin a}.
 *
 * @param interleaved whether the input's rotated pairs are adjacent elements, de-interleaved on the way (default false)
 * @param loadBalance the causal load balance {@code c} of {@link LoadBalance} (the attention's {@code load_balance});
 *                    1, the default, is the natural order
 */
public record Rope(double theta, Scaling scaling, int loadBalance, boolean interleaved) implements Operator {

    /** Hugging Face's default {@code rope_theta}: 10000. */
    public static final double DEFAULT_THETA = 10000;

    /** FLOPs per output element: {@code x cos + rotate_half(x) sin}, two multiplies and an add. */
    public static final int FLOPS_PER_ELEMENT = 3;

    /** The JSON keys of {@code rope_scaling} (Llama 3's and YaRN's), in write order. */
    public static final List<String> SCALING_KEYS = List.of("rope_type", "factor", "low_freq_factor",
            "high_freq_factor", "original_max_position_embeddings", "beta_fast", "beta_slow", "mscale",
            "mscale_all_dim");

    /** Validates a positive finite theta and a positive load balance. */
    public Rope {
        if (!(theta > 0) || Double.isInfinite(theta)) {
            throw new IllegalArgumentException("RotaryPositionEmbedding: theta is " + theta
                    + "; expected a positive finite base such as 10000 (Hugging Face's rope_theta)");
        }
        if (loadBalance < 1) {
            throw new IllegalArgumentException("RotaryPositionEmbedding: load_balance is " + loadBalance
                    + "; expected a positive number of chunk pairs (1, the default, keeps the natural order)");
        }
    }

    /** RoPE in the natural sequence order ({@code load_balance} 1). */
    public Rope(double theta, Scaling scaling, int loadBalance) {
        this(theta, scaling, loadBalance, false);
    }

    /** RoPE in the natural sequence order ({@code load_balance} 1). */
    public Rope(double theta, Scaling scaling) {
        this(theta, scaling, 1);
    }

    /** This RoPE with the causal load balance {@code c} ({@link LoadBalance}; 1 is the natural order). */
    public Rope withLoadBalance(int c) {
        return new Rope(theta, scaling, c, interleaved);
    }

    /** This RoPE on interleaved pairs (DeepSeek's {@code rope_interleave}) or on {@code rotate_half} pairs. */
    public Rope withInterleaved(boolean interleaved) {
        return new Rope(theta, scaling, loadBalance, interleaved);
    }

    /** RoPE with base {@code theta} and no rescaling. */
    public static Rope of(double theta) {
        return new Rope(theta, null);
    }

    /** RoPE with the default base 10000 and no rescaling. */
    public static Rope of() {
        return of(DEFAULT_THETA);
    }

    /** A rescaling of the RoPE frequencies (Hugging Face's {@code rope_scaling}): Llama 3's or YaRN's. */
    public sealed interface Scaling permits Llama3Scaling, YarnScaling {

        /** The rescaled frequencies of a head of {@code headDim} elements from the plain ones {@code base}. */
        double[] rescale(double[] base, double theta, int headDim);

        /** The factor of {@code cos} and {@code sin} (1 but for YaRN's attention factor). */
        default double attentionFactor() {
            return 1;
        }

        /** The JSON object. */
        ObjectNode encode();

        /** Reads the JSON object {@code a}: {@code rope_type} "llama3" (the default) or "yarn". */
        static Scaling decode(OpAttrs a) {
            String type = a.text("rope_type", "llama3");
            boolean yarn = "yarn".equals(type);
            List<String> foreign = yarn ? List.of("low_freq_factor", "high_freq_factor")
                    : List.of("beta_fast", "beta_slow", "mscale", "mscale_all_dim");
            for (String k : foreign) {
                if (a.has(k)) {
                    throw new IllegalArgumentException("RotaryPositionEmbedding: rope_scaling key '" + k + "' does not"
                            + " belong to rope_type '" + type + "'; " + (yarn ? "YaRN's keys are factor,"
                            + " original_max_position_embeddings, beta_fast, beta_slow, mscale and mscale_all_dim"
                            : "Llama 3's keys are factor, low_freq_factor, high_freq_factor and"
                            + " original_max_position_embeddings"));
                }
            }
            return yarn ? YarnScaling.decode(a) : Llama3Scaling.decode(a);
        }
    }

    /**
     * Llama 3's rescaling of the RoPE frequencies (Hugging Face's {@code rope_scaling} with {@code rope_type
     * "llama3"}, {@code _compute_llama3_parameters}): with wavelength {@code w = 2 pi / f} of frequency {@code f},
     * {@code f} is kept when {@code w < L / high_freq_factor}, divided by {@code factor} when
     * {@code w > L / low_freq_factor}, and in between interpolated, {@code (1 - s) f / factor + s f} with
     * {@code s = (L / w - low_freq_factor) / (high_freq_factor - low_freq_factor)}, where {@code L} is
     * {@code original_max_position_embeddings}.
     *
     * @param factor                        the stretch of the low frequencies, at least 1 (8 for Llama 3.1)
     * @param lowFreqFactor                 positive (1 for Llama 3.1)
     * @param highFreqFactor                above {@code lowFreqFactor} (4 for Llama 3.1)
     * @param originalMaxPositionEmbeddings the pre-training context length, positive (8192 for Llama 3.1)
     */
    public record Llama3Scaling(double factor, double lowFreqFactor, double highFreqFactor,
                                long originalMaxPositionEmbeddings) implements Scaling {

        /** Validates the factors as Hugging Face's {@code _validate_llama3_parameters} does. */
        public Llama3Scaling {
            if (!(factor >= 1) || Double.isInfinite(factor)) {
                throw new IllegalArgumentException("RotaryPositionEmbedding: rope_scaling factor is " + factor
                        + "; expected a finite number >= 1 such as 8");
            }
            if (!(lowFreqFactor > 0) || !(highFreqFactor > lowFreqFactor) || Double.isInfinite(highFreqFactor)) {
                throw new IllegalArgumentException("RotaryPositionEmbedding: rope_scaling low_freq_factor "
                        + lowFreqFactor + " and high_freq_factor " + highFreqFactor
                        + "; expected 0 < low_freq_factor < high_freq_factor, finite (Llama 3.1: 1 and 4)");
            }
            if (originalMaxPositionEmbeddings <= 0) {
                throw new IllegalArgumentException("RotaryPositionEmbedding: rope_scaling"
                        + " original_max_position_embeddings is " + originalMaxPositionEmbeddings
                        + "; expected a positive context length such as 8192");
            }
        }

        /** Frequency {@code f} (radians per position) rescaled. */
        public double apply(double f) {
            double wavelen = 2 * Math.PI / f;
            double lowWavelen = originalMaxPositionEmbeddings / lowFreqFactor;
            double highWavelen = originalMaxPositionEmbeddings / highFreqFactor;
            if (wavelen < highWavelen) {
                return f;
            }
            if (wavelen > lowWavelen) {
                return f / factor;
            }
            double s = (originalMaxPositionEmbeddings / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
            return (1 - s) * f / factor + s * f;
        }

        /** Every frequency through {@link #apply}. */
        @Override
        public double[] rescale(double[] base, double theta, int headDim) {
            double[] f = new double[base.length];
            for (int i = 0; i < f.length; i++) {
                f[i] = apply(base[i]);
            }
            return f;
        }

        /** The JSON object, Llama 3's keys written ({@code rope_type} is {@code "llama3"}). */
        @Override
        public ObjectNode encode() {
            ObjectNode o = OpAttrs.object();
            o.put("rope_type", "llama3");
            o.put("factor", factor);
            o.put("low_freq_factor", lowFreqFactor);
            o.put("high_freq_factor", highFreqFactor);
            o.put("original_max_position_embeddings", originalMaxPositionEmbeddings);
            return o;
        }

        /** Reads the JSON object {@code a} (all keys but {@code rope_type} required; that one must be llama3). */
        static Llama3Scaling decode(OpAttrs a) {
            String type = a.text("rope_type", "llama3");
            if (!"llama3".equals(type)) {
                throw new IllegalArgumentException("RotaryPositionEmbedding: rope_scaling rope_type is '" + type
                        + "'; expected \"llama3\" or \"yarn\"");
            }
            a.require("factor", "a number >= 1 such as 8");
            a.require("low_freq_factor", "a positive number such as 1");
            a.require("high_freq_factor", "a number above low_freq_factor such as 4");
            a.require("original_max_position_embeddings", "a positive integer such as 8192");
            return new Llama3Scaling(a.number("factor", 1), a.number("low_freq_factor", 1),
                    a.number("high_freq_factor", 4), a.integer("original_max_position_embeddings", 1));
        }
    }

    /**
     * YaRN's rescaling of the RoPE frequencies (Hugging Face's {@code rope_scaling} with {@code rope_type "yarn"},
     * as DeepSeek-V2/V3's {@code DeepseekV3YarnRotaryEmbedding} and Hugging Face's {@code _compute_yarn_parameters}):
     * with {@code d = head_dim}, {@code L = original_max_position_embeddings} and the correction dimension
     * {@code dim(n) = d ln(L / (2 pi n)) / (2 ln theta)}, {@code low = max(floor(dim(beta_fast)), 0)} and
     * {@code high = min(ceil(dim(beta_slow)), d - 1)}; frequency {@code i} is the plain one {@code f_i} blended
     * with the interpolated {@code f_i / factor} by the linear ramp {@code r_i = clamp((i - low) / (high - low), 0,
     * 1)} ({@code high} nudged by 0.001 when equal to {@code low}): {@code f_i / factor * r_i + f_i (1 - r_i)}.
     * The rotation is scaled by the attention factor {@code m(factor, mscale) / m(factor, mscale_all_dim)} with
     * {@code m(s, k) = 0.1 k ln(s) + 1} for {@code s > 1}, else 1 (DeepSeek-V3: mscale = mscale_all_dim, factor 1).
     *
     * @param factor                        the context extension, at least 1 (DeepSeek-V3: 40)
     * @param originalMaxPositionEmbeddings the pre-training context length, positive (DeepSeek-V3: 4096; default
     *                                      4096)
     * @param betaFast                      the rotations above which a frequency is kept, positive (default 32)
     * @param betaSlow                      the rotations below which it is interpolated, positive (default 1)
     * @param mscale                        the numerator's mscale, finite (default 1)
     * @param mscaleAllDim                  the denominator's mscale, finite (default 0, DeepSeek's; 1 for V3)
     */
    public record YarnScaling(double factor, long originalMaxPositionEmbeddings, double betaFast, double betaSlow,
                              double mscale, double mscaleAllDim) implements Scaling {

        /** Validates the factors. */
        public YarnScaling {
            if (!(factor >= 1) || Double.isInfinite(factor)) {
                throw new IllegalArgumentException("RotaryPositionEmbedding: yarn rope_scaling factor is " + factor
                        + "; expected a finite number >= 1 such as 40");
            }
            if (originalMaxPositionEmbeddings <= 0) {
                throw new IllegalArgumentException("RotaryPositionEmbedding: yarn rope_scaling"
                        + " original_max_position_embeddings is " + originalMaxPositionEmbeddings
                        + "; expected a positive context length such as 4096");
            }
            if (!(betaFast > 0) || !(betaSlow > 0) || Double.isInfinite(betaFast) || Double.isInfinite(betaSlow)) {
                throw new IllegalArgumentException("RotaryPositionEmbedding: yarn rope_scaling beta_fast " + betaFast
                        + " and beta_slow " + betaSlow + "; expected positive finite rotation counts (32 and 1)");
            }
            if (!Double.isFinite(mscale) || !Double.isFinite(mscaleAllDim)) {
                throw new IllegalArgumentException("RotaryPositionEmbedding: yarn rope_scaling mscale " + mscale
                        + " and mscale_all_dim " + mscaleAllDim + "; expected finite numbers such as 1 and 1");
            }
        }

        /** DeepSeek's {@code yarn_get_mscale(scale, mscale)}: {@code 0.1 mscale ln(scale) + 1}, or 1 for scale <= 1. */
        public static double mscale(double scale, double mscale) {
            return scale <= 1 ? 1 : 0.1 * mscale * Math.log(scale) + 1;
        }

        /** DeepSeek's {@code yarn_find_correction_dim}: the dimension whose frequency turns {@code rotations} times. */
        static double correctionDim(double rotations, int headDim, double theta, long maxPositions) {
            return headDim * Math.log(maxPositions / (rotations * 2 * Math.PI)) / (2 * Math.log(theta));
        }

        @Override
        public double[] rescale(double[] base, double theta, int headDim) {
            double low = Math.max(Math.floor(correctionDim(betaFast, headDim, theta, originalMaxPositionEmbeddings)),
                    0);
            double high = Math.min(Math.ceil(correctionDim(betaSlow, headDim, theta, originalMaxPositionEmbeddings)),
                    headDim - 1);
            if (low == high) {
                high += 0.001;
            }
            double[] f = new double[base.length];
            for (int i = 0; i < f.length; i++) {
                double ramp = Math.min(Math.max((i - low) / (high - low), 0), 1);
                double extrapolation = 1 - ramp;
                f[i] = base[i] / factor * (1 - extrapolation) + base[i] * extrapolation;
            }
            return f;
        }

        /** {@code mscale(factor, mscale) / mscale(factor, mscale_all_dim)}. */
        @Override
        public double attentionFactor() {
            return mscale(factor, mscale) / mscale(factor, mscaleAllDim);
        }

        /** The JSON object, YaRN's keys written ({@code rope_type} is {@code "yarn"}). */
        @Override
        public ObjectNode encode() {
            ObjectNode o = OpAttrs.object();
            o.put("rope_type", "yarn");
            o.put("factor", factor);
            o.put("original_max_position_embeddings", originalMaxPositionEmbeddings);
            o.put("beta_fast", betaFast);
            o.put("beta_slow", betaSlow);
            o.put("mscale", mscale);
            o.put("mscale_all_dim", mscaleAllDim);
            return o;
        }

        /** Reads the JSON object {@code a} ({@code factor} required; the others default as DeepSeek's). */
        static YarnScaling decode(OpAttrs a) {
            a.require("factor", "a number >= 1 such as 40");
            return new YarnScaling(a.number("factor", 1), a.integer("original_max_position_embeddings", 4096),
                    a.number("beta_fast", 32), a.number("beta_slow", 1), a.number("mscale", 1),
                    a.number("mscale_all_dim", 0));
        }
    }

    /**
     * The rotation frequencies (radians per position) of a head of {@code headDim} elements: {@code headDim / 2}
     * values {@code theta^(-2i / headDim)}, rescaled by {@link #scaling} when set.
     */
    public double[] invFreq(int headDim) {
        double[] f = new double[headDim / 2];
        for (int i = 0; i < f.length; i++) {
            f[i] = 1 / Math.pow(theta, 2.0 * i / headDim);
        }
        return scaling == null ? f : scaling.rescale(f, theta, headDim);
    }

    /** The factor of {@code cos} and {@code sin}: the scaling's {@link Scaling#attentionFactor}, else 1. */
    public double attentionFactor() {
        return scaling == null ? 1 : scaling.attentionFactor();
    }

    @Override
    public String type() {
        return "RotaryPositionEmbedding";
    }

    @Override
    public int inputCount() {
        return 1;
    }

    /** The input's type; the input is {@code [batch, heads, seq, head_dim]}, floating, with an even head_dim. */
    @Override
    public List<TensorType> outputs(String name, List<TensorType> inputs) {
        String label = Sharding.label(this, name);
        Elementwise.checkCount(label, inputs, 1, "x");
        TensorType x = inputs.get(0);
        if (x.rank() != 4) {
            throw new IllegalArgumentException(label + ": input 0 " + x + " has " + x.rank()
                    + " dims; expected 4 [batch, heads, seq, head_dim] (split and transpose the heads first)");
        }
        if (!x.dtype().isFloating()) {
            throw new IllegalArgumentException(label + ": input 0 is " + x.dtype()
                    + "; expected a floating dtype (queries or keys): insert a Cast");
        }
        if (x.dim(3) % 2 != 0) {
            throw new IllegalArgumentException(label + ": input 0 " + x + " has head_dim " + x.dim(3)
                    + ", which is odd; expected an even head_dim (element i rotates with element i + head_dim/2)");
        }
        LoadBalance.check(label, "input 0 " + x, x.dim(2), loadBalance);
        return List.of(x);
    }

    /** Dimension 0 split over {@link Sharding#fit} of its size; everything else 1. */
    @Override
    public Strategy dataParallel(List<TensorType> inputs, int devices) {
        return Strategy.of(Elementwise.batchTuple(inputs.get(0), devices));
    }

    /**
     * Any split of batch, heads and sequence; head_dim unsplit. The output has the input's layout. The device matrix
     * is the strategy, except with both heads and sequence split: then {@code [batch, seq, heads, 1]} (tensor ranks
     * fastest, as {@link FlashAttention}'s with context parallelism).
     */
    @Override
    public OpSharding shard(String name, List<TensorType> inputs, Strategy in, Strategy out, int devices) {
        String label = Sharding.label(this, name);
        outputs(name, inputs);
        Elementwise.rejectOutStrategy(label, out);
        Sharding.checkStrategy(label, inputs, in);
        Sharding.checkUnsplit(label, "input 0", 3, in.tuple(0), "head_dim: element i rotates with element"
                + " i + head_dim/2 of the same head; split batch (dim 0), heads (dim 1) or sequence (dim 2) instead");
        int[] t = in.tuple(0);
        if (t[1] > 1 && t[2] > 1) {
            // heads and sequence both split (tensor x context parallel): the device matrix [batch, seq, heads, 1],
            // Megatron's rank order (tensor fastest) as FlashAttention's with context parallelism, so that RoPE's
            // output reaches the attention without a permutation of the ranks
            int[][] dims = {{0}, {2}, {1}, {3}};
            return Sharding.derive(label, new int[] {t[0], t[2], t[1], t[3]}, List.<int[][]>of(dims),
                    List.<int[][]>of(dims), new boolean[] {true}, devices, io.tessera.layout.redistribution.ReduceOp.SUM,
                    "", List.of());
        }
        return Elementwise.sameLayout(label, inputs.get(0), in, null, devices, true);
    }

    /** The input's tuples that leave head_dim unsplit, the only ones the rule accepts. */
    @Override
    public List<Strategy> searchCandidates(List<List<int[]>> perInput) {
        List<Strategy> out = new ArrayList<>();
        for (int[] t : perInput.get(0)) {
            if (t.length == 4 && t[3] == 1) {
                out.add(Strategy.of(t));
            }
        }
        return out;
    }

    @Override
    public OperatorKind operatorKind() {
        return OperatorKind.ROPE;
    }

    /** The input has a gradient (the inverse rotation of the output's). */
    @Override
    public boolean differentiableInput(int i) {
        return true;
    }

    /** The output's gradient flows back. */
    @Override
    public boolean differentiableOutput(int o) {
        return true;
    }

    /** No forward tensor: the rotation follows from the positions. */
    @Override
    public List<TensorRef> gradientReads(int i) {
        return List.of();
    }

    /**
     * The attributes: {@code theta} and {@code rope_scaling} (null when none) always, {@code load_balance} only when
     * not 1, {@code interleaved} only when true.
     */
    @Override
    public ObjectNode encodeAttrs() {
        ObjectNode o = OpAttrs.object();
        o.put("theta", theta);
        o.set("rope_scaling", scaling == null ? NullNode.getInstance() : scaling.encode());
        if (loadBalance != 1) {
            o.put("load_balance", loadBalance);
        }
        if (interleaved) {
            o.put("interleaved", true);
        }
        return o;
    }

    /** {@link #FLOPS_PER_ELEMENT} per output element. */
    @Override
    public long forwardFlops(List<long[]> in, List<long[]> out) {
        return FLOPS_PER_ELEMENT * Flops.volume(out.get(0));
    }

    /** Every input slice read and every output slice written once (the cos/sin tables are not counted). */
    @Override
    public long forwardBytes(List<long[]> in, List<DType> inTypes, List<long[]> out, List<DType> outTypes) {
        return Flops.streamedBytes(in, inTypes, out, outTypes);
    }

    @Override
    public <R> R accept(Visitor<R> v) {
        return v.visit(this);
    }
}
