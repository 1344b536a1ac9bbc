package io.tessera.planner.op;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The registry of the operator catalogue: one constant per operator record ({@link Operator}'s permitted records),
 * with the MindSpore primitive names it is written as, its JSON attribute names (in write order) and its decoder from
 * a network-JSON op's {@code attrs}. Each record names its constant ({@link Operator#operatorKind}); the constants' order
 * fixes the order of {@link #allTypes()} (schema and messages).
 */
public enum OperatorKind {
    /** {@link MatMul}: {@code MatMul} and {@code BatchMatMul}. */
    MAT_MUL(MatMul.class, List.of("MatMul", "BatchMatMul"), List.of("transpose_a", "transpose_b", "gemm_dtype"),
            (t, a) -> new MatMul(a.bool("transpose_a", false), a.bool("transpose_b", false), !"MatMul".equals(t),
                    a.optionalDtype("gemm_dtype"))),
    /** {@link Binary}: {@code Add}, {@code Sub}, {@code Mul}, {@code Div}. */
    BINARY(Binary.class, Names.of(Binary.Kind.values(), Binary.Kind::type), List.of(),
            (t, a) -> new Binary(Names.find(Binary.Kind.values(), Binary.Kind::type, t))),
    /** {@link BiasAdd}. */
    BIAS_ADD(BiasAdd.class, List.of("BiasAdd"), List.of(), (t, a) -> new BiasAdd()),
    /** {@link Activation}: {@code ReLU}, {@code GeLU}, {@code Tanh}, {@code Sigmoid}, {@code SiLU}. */
    ACTIVATION(Activation.class, Names.of(Activation.Kind.values(), Activation.Kind::type), List.of(),
            (t, a) -> new Activation(Names.find(Activation.Kind.values(), Activation.Kind::type, t))),
    /** {@link Dropout}. */
    DROPOUT(Dropout.class, List.of("Dropout"), List.of("keep_prob"), (t, a) -> new Dropout(a.number("keep_prob", 0.5))),
    /** {@link CausalMask}. */
    CAUSAL_MASK(CausalMask.class, List.of("CausalMask"), List.of("fill_value"),
            (t, a) -> new CausalMask(a.number("fill_value", CausalMask.DEFAULT_FILL))),
    /** {@link Cast}. */
    CAST(Cast.class, List.of("Cast"), List.of("dst_type"), (t, a) -> new Cast(a.dtype("dst_type"))),
    /** {@link Softmax}: {@code Softmax} and {@code LogSoftmax}. */
    SOFTMAX(Softmax.class, List.of("Softmax", "LogSoftmax"), List.of("axis"),
            (t, a) -> "Softmax".equals(t) ? Softmax.of(a.axis("axis", -1)) : Softmax.log(a.axis("axis", -1))),
    /** {@link LayerNorm}. */
    LAYER_NORM(LayerNorm.class, List.of("LayerNorm"), List.of("begin_norm_axis", "begin_params_axis", "epsilon"),
            (t, a) -> new LayerNorm(a.integer("begin_norm_axis", 1), a.integer("begin_params_axis", 1),
                    a.number("epsilon", 1e-7))),
    /** {@link RMSNorm}. */
    RMS_NORM(RMSNorm.class, List.of("RMSNorm"), List.of("eps"),
            (t, a) -> new RMSNorm(a.number("eps", RMSNorm.DEFAULT_EPS))),
    /** {@link BatchNorm}. */
    BATCH_NORM(BatchNorm.class, List.of("BatchNorm"), List.of("epsilon", "momentum"),
            (t, a) -> new BatchNorm(a.number("epsilon", 1e-5), a.number("momentum", 0.1))),
    /** {@link SoftmaxCrossEntropyWithLogits}. */
    SOFTMAX_CROSS_ENTROPY_WITH_LOGITS(SoftmaxCrossEntropyWithLogits.class, List.of("SoftmaxCrossEntropyWithLogits"),
            List.of(), (t, a) -> new SoftmaxCrossEntropyWithLogits()),
    /** {@link Reshape}. */
    RESHAPE(Reshape.class, List.of("Reshape"), List.of("shape"),
            (t, a) -> new Reshape(a.longs("shape", "the target shape, a list of integers (one may be -1)"))),
    /** {@link Transpose}. */
    TRANSPOSE(Transpose.class, List.of("Transpose"), List.of("perm", "output_device_order"),
            (t, a) -> new Transpose(a.ints("perm", 0, null, "a permutation such as [0, 2, 1, 3]"),
                    a.bool("output_device_order", false))),
    /** {@link Reduce}: {@code ReduceSum}, {@code ReduceMean}, {@code ReduceMax}, {@code ReduceMin}. */
    REDUCE(Reduce.class, Names.of(Reduce.Kind.values(), Reduce.Kind::type), List.of("axis", "keep_dims"),
            (t, a) -> new Reduce(Names.find(Reduce.Kind.values(), Reduce.Kind::type, t),
                    a.ints("axis", 1, new int[0], "an axis or a list of axes ([] reduces all)"),
                    a.bool("keep_dims", false))),
    /** {@link Gather}. */
    GATHER(Gather.class, List.of("Gather"), List.of("axis"), (t, a) -> Gather.of(a.integer("axis", 0))),
    /** {@link Conv2D}. */
    CONV2D(Conv2D.class, List.of("Conv2D"), List.of("out_channel", "kernel_size", "stride", "pad", "dilation", "group"),
            (t, a) -> {
                a.require("out_channel", "the number of output channels");
                a.require("kernel_size", "an int or [height, width]");
                return new Conv2D(a.integer("out_channel", 0),
                        a.ints("kernel_size", 2, null, "an int or [height, width]"),
                        a.ints("stride", 2, new int[] {1, 1}, "an int or [height, width]"),
                        a.ints("pad", 4, new int[] {0, 0, 0, 0}, "an int, [ph, pw] or [top, bottom, left, right]"),
                        a.ints("dilation", 2, new int[] {1, 1}, "an int or [height, width]"),
                        a.integer("group", 1));
            }),
    /** {@link FlashAttention}: {@code FlashAttentionScore}. */
    FLASH_ATTENTION(FlashAttention.class, List.of("FlashAttentionScore"),
            List.of("scale_value", "causal", "keep_prob", "load_balance"),
            (t, a) -> new FlashAttention(a.number("scale_value", FlashAttention.DEFAULT_SCALE), a.bool("causal", false),
                    a.number("keep_prob", 1), a.integer("load_balance", 1))),
    /** {@link Rope}: {@code RotaryPositionEmbedding}. */
    ROPE(Rope.class, List.of("RotaryPositionEmbedding"), List.of("theta", "rope_scaling", "load_balance",
            "interleaved"),
            (t, a) -> {
                OpAttrs scaling = a.optionalObject("rope_scaling", Rope.SCALING_KEYS);
                return new Rope(a.number("theta", Rope.DEFAULT_THETA),
                        scaling == null ? null : Rope.Scaling.decode(scaling), a.integer("load_balance", 1),
                        a.bool("interleaved", false));
            }),
    /** {@link Split}. */
    SPLIT(Split.class, List.of("Split"), List.of("axis", "output_num", "size_splits"),
            (t, a) -> {
                long[] sizes = a.optionalLongs("size_splits", "a list of positive output sizes such as [512, 64]");
                return new Split(a.integer("axis", 0), a.integer("output_num", sizes == null ? 1 : sizes.length),
                        sizes == null ? List.of() : java.util.Arrays.stream(sizes).boxed().toList());
            }),
    /** {@link MoeDispatch}. */
    MOE_DISPATCH(MoeDispatch.class, List.of("MoeDispatch"), List.of("experts", "capacity_factor", "groups"),
            (t, a) -> {
                a.require("experts", "the number of experts, a positive integer");
                return new MoeDispatch(a.integer("experts", 0), a.number("capacity_factor", 0),
                        a.integer("groups", 1));
            }),
    /** {@link MoeCombine}. */
    MOE_COMBINE(MoeCombine.class, List.of("MoeCombine"), List.of("experts", "capacity_factor", "groups"),
            (t, a) -> {
                a.require("experts", "the number of experts, a positive integer");
                return new MoeCombine(a.integer("experts", 0), a.number("capacity_factor", 0),
                        a.integer("groups", 1));
            }),
    /** {@link MoeRouter}. */
    MOE_ROUTER(MoeRouter.class, List.of("MoeRouter"), List.of("top_k", "score", "norm_topk_prob",
            "routed_scaling_factor", "n_group", "topk_group", "with_bias"),
            (t, a) -> {
                a.require("top_k", "the experts per token, an integer from 1 to the number of experts");
                return new MoeRouter(a.integer("top_k", 0), MoeRouter.Score.parse(a.text("score", "softmax")),
                        a.bool("norm_topk_prob", false), a.number("routed_scaling_factor", 1),
                        a.integer("n_group", 1), a.integer("topk_group", 1), a.bool("with_bias", false));
            }),
    /** {@link MoeAuxLoss}. */
    MOE_AUX_LOSS(MoeAuxLoss.class, List.of("MoeAuxLoss"), List.of("top_k", "coefficient"),
            (t, a) -> {
                a.require("top_k", "the router's experts per token (the indices' second dimension)");
                return new MoeAuxLoss(a.integer("top_k", 0),
                        a.number("coefficient", MoeAuxLoss.DEFAULT_COEFFICIENT));
            }),
    /** {@link Concat}. */
    CONCAT(Concat.class, List.of("Concat"), List.of("axis", "input_num"),
            (t, a) -> new Concat(a.integer("axis", 0), a.integer("input_num", 2))),
    /** {@link BroadcastTo}. */
    BROADCAST_TO(BroadcastTo.class, List.of("BroadcastTo"), List.of("shape"),
            (t, a) -> new BroadcastTo(a.longs("shape", "the output shape, a list of positive integers")));

    /** Builds an operator of one of a kind's primitive names from its attributes. */
    @FunctionalInterface
    public interface Decoder {
        /**
         * The operator of primitive {@code type} with attributes {@code attrs}.
         *
         * @throws IllegalArgumentException for an attribute of the wrong form or an invalid operator
         */
        Operator decode(String type, OpAttrs attrs);
    }

    private final Class<? extends Operator> record;
    private final List<String> types;
    private final List<String> attrNames;
    private final Decoder decoder;

    OperatorKind(Class<? extends Operator> record, List<String> types, List<String> attrNames, Decoder decoder) {
        this.record = record;
        this.types = List.copyOf(types);
        this.attrNames = List.copyOf(attrNames);
        this.decoder = decoder;
    }

    /** The operator record of this kind. */
    public Class<? extends Operator> recordClass() {
        return record;
    }

    /** The MindSpore primitive names this kind is written as, e.g. {@code [MatMul, BatchMatMul]}. */
    public List<String> types() {
        return types;
    }

    /** The JSON attribute names, in the order {@link Operator#encodeAttrs} writes them. */
    public List<String> attrNames() {
        return attrNames;
    }

    /**
     * The operator of primitive {@code type} (one of {@link #types()}) with attributes {@code attrs}.
     *
     * @throws IllegalArgumentException when {@code type} is not one of this kind's, or from the decoder
     */
    public Operator decode(String type, OpAttrs attrs) {
        if (!types.contains(type)) {
            throw new IllegalArgumentException("operator kind " + name() + ": type '" + type + "' is not one of "
                    + types + "; look the kind up with OperatorKind.forType(type)");
        }
        return decoder.decode(type, attrs);
    }

    /** The kind written as primitive {@code type}, or null when no operator of the catalogue is. */
    public static OperatorKind forType(String type) {
        for (OperatorKind k : values()) {
            if (k.types.contains(type)) {
                return k;
            }
        }
        return null;
    }

    /**
     * The kind of operator record {@code record}.
     *
     * @throws IllegalArgumentException when no constant names it (add one for a new operator record)
     */
    public static OperatorKind of(Class<?> record) {
        for (OperatorKind k : values()) {
            if (k.record == record) {
                return k;
            }
        }
        throw new IllegalArgumentException("operator kind: record " + (record == null ? null : record.getName())
                + " has no OperatorKind constant; expected one of " + Arrays.toString(values())
                + " (add a constant for a new operator record)");
    }

    /** Every primitive name of the catalogue, kind by kind in declaration order. */
    public static List<String> allTypes() {
        List<String> out = new ArrayList<>();
        for (OperatorKind k : values()) {
            out.addAll(k.types);
        }
        return List.copyOf(out);
    }

    /** Primitive names of sub-kind enums. */
    private static final class Names {
        private Names() {
        }

        static <E> List<String> of(E[] values, java.util.function.Function<E, String> type) {
            List<String> out = new ArrayList<>();
            for (E e : values) {
                out.add(type.apply(e));
            }
            return out;
        }

        static <E> E find(E[] values, java.util.function.Function<E, String> type, String t) {
            for (E e : values) {
                if (type.apply(e).equals(t)) {
                    return e;
                }
            }
            throw new IllegalArgumentException("operator kind: type '" + t + "' is not one of " + of(values, type)
                    + "; give one of those MindSpore type names");
        }
    }
}
