package io.tessera.layout.tensor;

import io.tessera.layout.DType;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongFunction;

/**
 * numpy's {@code str(ndarray)} layout with its default print options (precision 8, floatmode "maxprec",
 * line width 75, threshold 1000, edge items 3), which MindSpore uses to print a Tensor.
 */
final class TensorFormat {

    private static final int LINE_WIDTH = 75;
    private static final int THRESHOLD = 1000;
    private static final int EDGE_ITEMS = 3;
    private static final int PRECISION = 8;
    private static final String SEPARATOR = " ";
    private static final String SUMMARY = "...";

    private final Tensor t;
    private final long[] shape;
    private final long[] strides;
    private final boolean summarize;
    private LongFunction<String> formatter;

    private TensorFormat(Tensor t) {
        this.t = t;
        this.shape = t.shape();
        this.strides = new long[shape.length];
        long s = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            strides[i] = s;
            s *= shape[i];
        }
        this.summarize = t.size() > THRESHOLD;
    }

    static String format(Tensor t) {
        if (t.ndim() == 0) {
            return scalarString(t);
        }
        if (t.size() == 0) {
            return "[]";
        }
        TensorFormat f = new TensorFormat(t);
        f.formatter = f.buildFormatter(f.shownIndices());
        return f.recurse(new long[f.shape.length], 0, " ", LINE_WIDTH);
    }

    // ------------------------------------------------------------------ which elements are shown

    private long[] shownIndices() {
        List<Long> out = new ArrayList<>();
        collect(0, 0, out);
        return out.stream().mapToLong(Long::longValue).toArray();
    }

    private void collect(int axis, long base, List<Long> out) {
        if (axis == shape.length) {
            out.add(base);
            return;
        }
        long len = shape[axis];
        boolean cut = summarize && 2L * EDGE_ITEMS < len;
        for (long i = 0; i < len; i++) {
            if (cut && i >= EDGE_ITEMS && i < len - EDGE_ITEMS) {
                i = len - EDGE_ITEMS - 1;
                continue;
            }
            collect(axis + 1, base + i * strides[axis], out);
        }
    }

    // ------------------------------------------------------------------ numpy's _formatArray

    private String recurse(long[] index, int axis, String hanging, int width) {
        int axesLeft = shape.length - axis;
        if (axesLeft == 0) {
            long flat = 0;
            for (int i = 0; i < index.length; i++) {
                flat += index[i] * strides[i];
            }
            return formatter.apply(flat);
        }
        String nextHanging = hanging + " ";
        int nextWidth = width - 1;
        long len = shape[axis];
        boolean showSummary = summarize && 2L * EDGE_ITEMS < len;
        long leading = showSummary ? EDGE_ITEMS : 0;
        long trailing = showSummary ? EDGE_ITEMS : len;
        StringBuilder s = new StringBuilder();
        if (axesLeft == 1) {
            int elemWidth = width - Math.max(SEPARATOR.stripTrailing().length(), 1);
            StringBuilder line = new StringBuilder(hanging);
            for (long i = 0; i < leading; i++) {
                index[axis] = i;
                extend(s, line, recurse(index, axis + 1, nextHanging, nextWidth), elemWidth, hanging);
                line.append(SEPARATOR);
            }
            if (showSummary) {
                extend(s, line, SUMMARY, elemWidth, hanging);
                line.append(SEPARATOR);
            }
            for (long i = trailing; i > 1; i--) {
                index[axis] = len - i;
                extend(s, line, recurse(index, axis + 1, nextHanging, nextWidth), elemWidth, hanging);
                line.append(SEPARATOR);
            }
            index[axis] = len - 1;
            extend(s, line, recurse(index, axis + 1, nextHanging, nextWidth), elemWidth, hanging);
            s.append(line);
        } else {
            String lineSep = SEPARATOR.stripTrailing() + "\n".repeat(axesLeft - 1);
            for (long i = 0; i < leading; i++) {
                index[axis] = i;
                s.append(hanging).append(recurse(index, axis + 1, nextHanging, nextWidth)).append(lineSep);
            }
            if (showSummary) {
                s.append(hanging).append(SUMMARY).append(lineSep);
            }
            for (long i = trailing; i > 1; i--) {
                index[axis] = len - i;
                s.append(hanging).append(recurse(index, axis + 1, nextHanging, nextWidth)).append(lineSep);
            }
            index[axis] = len - 1;
            s.append(hanging).append(recurse(index, axis + 1, nextHanging, nextWidth));
        }
        index[axis] = 0;
        return "[" + s.substring(hanging.length()) + "]";
    }

    private static void extend(StringBuilder s, StringBuilder line, String word, int width, String prefix) {
        boolean wrap = line.length() + word.length() > width;
        if (line.length() <= prefix.length()) {
            wrap = false;
        }
        if (wrap) {
            s.append(line.toString().stripTrailing()).append('\n');
            line.setLength(0);
            line.append(prefix);
        }
        line.append(word);
    }

    // ------------------------------------------------------------------ element formatters

    private LongFunction<String> buildFormatter(long[] shown) {
        DType dtype = t.dtype();
        if (dtype == DType.BOOL) {
            return i -> t.longAt(i) != 0 ? " True" : "False";
        }
        if (!dtype.isFloating()) {
            int w = 0;
            for (long i : shown) {
                w = Math.max(w, Long.toString(t.longAt(i)).length());
            }
            int width = w;
            return i -> pad(Long.toString(t.longAt(i)), width);
        }
        return floatFormatter(shown);
    }

    private LongFunction<String> floatFormatter(long[] shown) {
        DType dtype = t.dtype();
        boolean anyFinite = false;
        boolean anyNegInf = false;
        double maxAbs = 0;
        double minAbs = Double.POSITIVE_INFINITY;
        for (long i : shown) {
            double v = t.doubleAt(i);
            if (Double.isFinite(v)) {
                anyFinite = true;
                double a = Math.abs(v);
                if (a != 0) {
                    maxAbs = Math.max(maxAbs, a);
                    minAbs = Math.min(minAbs, a);
                }
            } else if (v == Double.NEGATIVE_INFINITY) {
                anyNegInf = true;
            }
        }
        boolean exp = maxAbs > 0 && (maxAbs >= 1e8 || minAbs < 1e-4 || maxAbs / minAbs > 1000.0);
        int padLeft = 0;
        int padRight = 0;
        int precision = PRECISION;
        if (anyFinite) {
            if (exp) {
                int expSize = 0;
                for (long i : shown) {
                    double v = t.doubleAt(i);
                    if (Double.isFinite(v)) {
                        String[] p = scientific(dtype, v, PRECISION, 0);
                        padLeft = Math.max(padLeft, p[0].length());
                        padRight = Math.max(padRight, p[1].length());
                        expSize = Math.max(expSize, p[2].length() - 1);
                    }
                }
                precision = padRight;
                padRight = expSize + 2 + precision;
            } else {
                for (long i : shown) {
                    double v = t.doubleAt(i);
                    if (Double.isFinite(v)) {
                        String[] p = positional(dtype, v, PRECISION);
                        padLeft = Math.max(padLeft, p[0].length());
                        padRight = Math.max(padRight, p[1].length());
                    }
                }
            }
        }
        int offset = padRight + 1;
        for (long i : shown) {
            if (!Double.isFinite(t.doubleAt(i))) {
                padLeft = Math.max(padLeft, Math.max(3 - offset, 3 + (anyNegInf ? 1 : 0) - offset));
            }
        }
        int fPadLeft = padLeft;
        int fPadRight = padRight;
        int fPrecision = precision;
        boolean fExp = exp;
        return i -> {
            double v = t.doubleAt(i);
            if (!Double.isFinite(v)) {
                String r = Double.isNaN(v) ? "nan" : (v < 0 ? "-inf" : "inf");
                return " ".repeat(Math.max(0, fPadLeft + fPadRight + 1 - r.length())) + r;
            }
            if (fExp) {
                String[] p = scientific(dtype, v, fPrecision, fPrecision);
                String e = p[2];
                int expDigits = fPadRight - 2 - fPrecision;
                String digits = e.substring(1);
                while (digits.length() < expDigits) {
                    digits = "0" + digits;
                }
                return pad(p[0], fPadLeft) + "." + p[1] + "e" + e.charAt(0) + digits;
            }
            String[] p = positional(dtype, v, PRECISION);
            StringBuilder sb = new StringBuilder(pad(p[0], fPadLeft)).append('.').append(p[1]);
            while (sb.length() < fPadLeft + 1 + fPadRight) {
                sb.append(' ');
            }
            return sb.toString();
        };
    }

    private static String pad(String s, int width) {
        return s.length() >= width ? s : " ".repeat(width - s.length()) + s;
    }

    /** The shortest decimal (fewest significant digits) that reads back as {@code v} in {@code dtype}. */
    static BigDecimal shortest(DType dtype, double v) {
        BigDecimal exact = new BigDecimal(v);
        for (int p = 1; p <= 17; p++) {
            BigDecimal r = exact.round(new MathContext(p, RoundingMode.HALF_EVEN));
            if (readsBack(dtype, r, v)) {
                return r;
            }
        }
        return exact.round(new MathContext(17, RoundingMode.HALF_EVEN));
    }

    private static boolean readsBack(DType dtype, BigDecimal r, double v) {
        switch (dtype) {
            case FLOAT32:
                return Float.parseFloat(r.toString()) == (float) v;
            case FLOAT16:
                return FloatFormats.roundToFloat16(r.doubleValue()) == v;
            case BFLOAT16:
                return FloatFormats.roundToBFloat16(r.doubleValue()) == v;
            case FLOAT8_E4M3FN:
            case FLOAT8_E5M2:
                return Float8.round(dtype, r.doubleValue(), false) == v;
            default:
                return r.doubleValue() == v;
        }
    }

    /**
     * Positional digits as numpy's dragon4 with {@code unique=True, trim='.'}: {integer part with sign, fraction
     * digits (possibly empty)}, at most {@code precision} fraction digits.
     */
    private static String[] positional(DType dtype, double v, int precision) {
        String sign = (v < 0 || (v == 0 && 1 / v < 0)) ? "-" : "";
        BigDecimal b = shortest(dtype, Math.abs(v));
        if (b.scale() > precision) {
            b = new BigDecimal(Math.abs(v)).setScale(precision, RoundingMode.HALF_EVEN);
        }
        b = b.stripTrailingZeros();
        String plain = b.toPlainString();
        int dot = plain.indexOf('.');
        String ip = dot < 0 ? plain : plain.substring(0, dot);
        String fp = dot < 0 ? "" : plain.substring(dot + 1);
        return new String[] {sign + ip, fp};
    }

    /**
     * Scientific digits as numpy's dragon4: {sign and leading digit, fraction digits, exponent as sign and at
     * least two digits}; the shortest unique digits, at most {@code precision} fraction digits; when fewer than
     * {@code minDigits}, further digits of the exact binary value are printed up to {@code minDigits}.
     */
    private static String[] scientific(DType dtype, double v, int precision, int minDigits) {
        String sign = (v < 0 || (v == 0 && 1 / v < 0)) ? "-" : "";
        double a = Math.abs(v);
        String digits;
        int exponent;
        if (a == 0) {
            digits = "0";
            exponent = 0;
        } else {
            BigDecimal b = shortest(dtype, a);
            b = b.stripTrailingZeros();
            if (b.precision() > precision + 1) {
                b = new BigDecimal(a).round(new MathContext(precision + 1, RoundingMode.HALF_EVEN))
                        .stripTrailingZeros();
            } else if (b.precision() < minDigits + 1) {
                // like dragon4's min_digits: further digits of the exact value, the last one rounded
                b = new BigDecimal(a).round(new MathContext(minDigits + 1, RoundingMode.HALF_EVEN));
            }
            digits = b.unscaledValue().toString();
            exponent = b.precision() - b.scale() - 1;
        }
        String frac = digits.substring(1);
        StringBuilder fb = new StringBuilder(frac);
        while (fb.length() < minDigits) {
            fb.append('0');
        }
        String e = Integer.toString(Math.abs(exponent));
        if (e.length() < 2) {
            e = "0" + e;
        }
        return new String[] {sign + digits.charAt(0), fb.toString(), (exponent < 0 ? "-" : "+") + e};
    }

    /** A 0-d tensor prints as a Python / numpy scalar: {@code 2.0}, {@code 1e-05}, {@code 3}, {@code True}. */
    private static String scalarString(Tensor t) {
        DType dtype = t.dtype();
        if (dtype == DType.BOOL) {
            return t.longAt(0) != 0 ? "True" : "False";
        }
        if (!dtype.isFloating()) {
            return Long.toString(t.longAt(0));
        }
        double v = t.doubleAt(0);
        if (Double.isNaN(v)) {
            return "nan";
        }
        if (Double.isInfinite(v)) {
            return v < 0 ? "-inf" : "inf";
        }
        double a = Math.abs(v);
        String sign = (v < 0 || (v == 0 && 1 / v < 0)) ? "-" : "";
        if (a == 0 || (a >= 1e-4 && a < 1e16)) {
            String plain = shortest(dtype, a).stripTrailingZeros().toPlainString();
            return sign + (plain.contains(".") ? plain : plain + ".0");
        }
        String[] p = scientific(dtype, a, 17, 0);
        return sign + p[0] + (p[1].isEmpty() ? "" : "." + p[1]) + "e" + p[2];
    }
}
