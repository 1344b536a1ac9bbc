package io.tessera.layout.param;

/** Test helpers reproducing Python's {@code print(...)} so seed outputs can be compared. */
final class Py {

    private Py() {
    }

    /** What Python's {@code print(a, b, ...)} writes: {@code str()} of each, space separated, then a newline. */
    static String print(Object... args) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < args.length; i++) {
            if (i > 0) {
                sb.append(' ');
            }
            sb.append(str(args[i]));
        }
        return sb.append('\n').toString();
    }

    /** Python's {@code str()}: None, True/False, else {@code toString()}. */
    static String str(Object o) {
        if (o == null) {
            return "None";
        }
        if (o instanceof Boolean b) {
            return b ? "True" : "False";
        }
        return o.toString();
    }

    /**
     * The seed documents were rendered with their blanks altered (runs collapsed, lines joined or indented), so
     * printed outputs are compared with every run of whitespace made one space and the ends trimmed.
     */
    static String blanks(String s) {
        return s.strip().replaceAll("\\s+", " ");
    }
}
