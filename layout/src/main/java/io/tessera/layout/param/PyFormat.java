package io.tessera.layout.param;

import java.util.List;

/** Python's printed forms of the values Parameter and ParameterTuple print. */
final class PyFormat {

    private PyFormat() {
    }

    /** A shape as Python prints a tuple: {@code ()}, {@code (3,)}, {@code (2, 3)}. */
    static String tuple(long[] values) {
        StringBuilder sb = new StringBuilder("(");
        for (int i = 0; i < values.length; i++) {
            if (i > 0) {
                sb.append(", ");
            }
            sb.append(values[i]);
        }
        if (values.length == 1) {
            sb.append(',');
        }
        return sb.append(')').toString();
    }

    /** Items as Python prints a tuple of them, each by its {@code toString()}: {@code ()}, {@code (a,)}, {@code (a, b)}. */
    static String tuple(List<?> items) {
        StringBuilder sb = new StringBuilder("(");
        for (int i = 0; i < items.size(); i++) {
            if (i > 0) {
                sb.append(", ");
            }
            sb.append(items.get(i));
        }
        if (items.size() == 1) {
            sb.append(',');
        }
        return sb.append(')').toString();
    }

    /** A boolean as Python prints it: {@code True} or {@code False}. */
    static String bool(boolean b) {
        return b ? "True" : "False";
    }
}
