package io.tessera.simulator.kernel;

import io.tessera.layout.DType;
import io.tessera.planner.op.Cast;
import io.tessera.simulator.array.NDArray;

import java.util.List;

/**
 * {@code Cast}: converts values to the target dtype, kept as doubles. Float64 keeps them; float32 rounds to float
 * precision; float16 and bfloat16 round to nearest-even at their precision (float16 overflows to infinity past
 * 65504, with subnormals below 2^-14); the FP8 formats round as PyTorch's {@code .to(float8_...)} (non-saturating:
 * E4M3FN overflows to NaN, E5M2 to infinity; {@code io.tessera.layout.tensor.Float8}); integer types truncate toward zero and wrap to their width like a C cast of
 * the truncated value; bool gives 1 for non-zero. The gradient passes through unchanged when the target is floating
 * and is zero otherwise.
 */
public final class CastKernel {

    private static final String NAME = "CastKernel";
    private static final double FLOAT16_MAX = 65504;

    private CastKernel() {
    }

    /** The input converted to {@code op.to()}. */
    public static List<NDArray> forward(Cast op, KernelContext ctx, List<NDArray> inputs) {
        Shapes.checkInputs(NAME, inputs, 1);
        NDArray x = inputs.get(0);
        NDArray out = NDArray.zeros(x.shape());
        double[] s = x.data();
        double[] o = out.data();
        DType to = op.to();
        for (int i = 0; i < s.length; i++) {
            o[i] = convert(s[i], to);
        }
        return List.of(out);
    }

    /** The output gradient for a floating target; zeros for an integer or bool target. */
    public static List<NDArray> backward(Cast op, KernelContext ctx, List<NDArray> inputs, List<NDArray> outputs,
                                         List<NDArray> outputGrads, boolean[] needsGrad) {
        Shapes.checkBackward(NAME, inputs, 1, outputGrads, 1, needsGrad);
        NDArray x = inputs.get(0);
        if (!needsGrad[0]) {
            return Shapes.list(Shapes.gradients(1));
        }
        NDArray g = Shapes.outputGrad(NAME, outputGrads, 0, x.shape());
        return Shapes.list(g == null || !op.to().isFloating() ? NDArray.zeros(x.shape()) : g.copy());
    }

    /** {@code v} converted to {@code to}. */
    public static double convert(double v, DType to) {
        switch (to) {
            case FLOAT64:
                return v;
            case FLOAT32:
                return (float) v;
            case FLOAT16:
                return roundBinary(v, 11, -14, FLOAT16_MAX);
            case BFLOAT16:
                return roundBinary(v, 8, -126, Float.MAX_VALUE);
            case FLOAT8_E4M3FN:
            case FLOAT8_E5M2:
                return io.tessera.layout.tensor.Float8.round(to, v, false);
            case BOOL:
                return v != 0 && !Double.isNaN(v) ? 1 : 0;
            default:
                return wrap((long) v, to);
        }
    }

    /** A truncated value wrapped to the width of an integer dtype. */
    private static double wrap(long t, DType to) {
        switch (to) {
            case INT8:
                return (byte) t;
            case INT16:
                return (short) t;
            case INT32:
                return (int) t;
            case UINT8:
                return t & 0xFF;
            default:
                return t;
        }
    }

    /**
     * Rounds to a binary format with {@code precision} significand bits (the implicit one included) and minimum
     * normal exponent {@code minExp}, to nearest-even; past the largest finite {@code max}, infinity.
     */
    static double roundBinary(double v, int precision, int minExp, double max) {
        if (v == 0 || Double.isNaN(v) || Double.isInfinite(v)) {
            return v;
        }
        int e = Math.max(Math.getExponent(v), minExp);
        double ulp = Math.scalb(1.0, e - (precision - 1));
        double r = Math.rint(v / ulp) * ulp;
        if (Math.abs(r) > max) {
            return Math.copySign(Double.POSITIVE_INFINITY, v);
        }
        return r;
    }
}
