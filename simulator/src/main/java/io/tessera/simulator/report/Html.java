package io.tessera.simulator.report;

import io.tessera.simulator.timeline.TimelineReport;

import java.util.Locale;

/** Text helpers of the HTML report: escaping for markup and JSON, and the number formats the page uses. */
final class Html {

    private Html() {
    }

    /** {@code text} escaped for element content and quoted attribute values ({@code & < > " '}). */
    static String esc(String text) {
        StringBuilder b = new StringBuilder(text.length() + 8);
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '&' -> b.append("&amp;");
                case '<' -> b.append("&lt;");
                case '>' -> b.append("&gt;");
                case '"' -> b.append("&quot;");
                case '\'' -> b.append("&#39;");
                default -> {
                    if (c < 0x20 && c != '\n' && c != '\t') {
                        b.append(' '); // control characters are not allowed in XML
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.toString();
    }

    /**
     * {@code text} as a JSON string literal that is safe inside a {@code <script>} element of an XHTML-compatible
     * page: {@code < > &} and control characters as {@code \}{@code uXXXX}.
     */
    static String json(String text) {
        StringBuilder b = new StringBuilder(text.length() + 2);
        b.append('"');
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                default -> {
                    if (c < 0x20 || c == '<' || c == '>' || c == '&' || c == '\u2028' || c == '\u2029') {
                        b.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"').toString();
    }

    /** Bytes with a binary unit, as every label of the page shows them ({@link TimelineReport#bytes}). */
    static String bytes(long b) {
        return TimelineReport.bytes(b);
    }

    /** Seconds with a unit ({@link TimelineReport#seconds}). */
    static String seconds(double s) {
        return TimelineReport.seconds(s);
    }

    /** A coordinate with at most two decimals, trailing zeros dropped. */
    static String num(double v) {
        String s = String.format(Locale.ROOT, "%.2f", v);
        if (s.indexOf('.') >= 0) {
            s = s.replaceAll("0+$", "");
            if (s.endsWith(".")) {
                s = s.substring(0, s.length() - 1);
            }
        }
        return s.equals("-0") ? "0" : s;
    }

    /** A double for a {@code data-} attribute: its shortest round-trip text ({@link Double#toString}). */
    static String exact(double v) {
        return Double.toString(v);
    }

    /** A percentage with one decimal. */
    static String percent(double fraction) {
        return String.format(Locale.ROOT, "%.1f%%", 100 * fraction);
    }

    /** {@code text} turned into a CSS class suffix: lower case, anything but letters, digits, - and _ as -. */
    static String cssName(String text) {
        return text.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9_-]", "-");
    }
}
