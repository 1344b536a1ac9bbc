package io.tessera.simulator.explain;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.List;
import java.util.Locale;

/**
 * The text and JSON forms of an {@link Explanation}, as {@code tessera explain} prints them: the provenance line,
 * then the suggestion (the JSON snippet for the strategy file, the communications removed and added, step time and
 * peak memory per rank before and after) or the reason the communication is necessary.
 */
public final class Explanations {

    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    private static final ObjectMapper MAPPER = new ObjectMapper();
    /** Removed or added communications listed in the text form; the rest are counted. */
    private static final int LISTED = 6;

    private Explanations() {
    }

    /** The text block of one explanation, lines ending in {@code \n}. */
    public static String text(Explanation e) {
        StringBuilder sb = new StringBuilder(e.provenance().line()).append('\n');
        if (e.outcome() instanceof Explanation.Suggestion s) {
            sb.append("  change: ").append(s.change().snippet()).append('\n');
            if (s.change().expandedFirst()) {
                sb.append("    (not accepted alongside the parallelism section: put it in the file with the "
                        + "section expanded into operator strategies)\n");
            }
            String note = note(s);
            if (note != null) {
                sb.append("  why: ").append(note).append('\n');
            }
            list(sb, "removes", s.removed());
            list(sb, "adds", s.added());
            sb.append("  step: ").append(seconds(s.stepSecondsBefore())).append(" -> ")
                    .append(seconds(s.stepSecondsAfter())).append(change(s.stepSecondsBefore(), s.stepSecondsAfter()))
                    .append("; peak memory per rank: ")
                    .append(s.peakBytesBefore()).append(" -> ").append(s.peakBytesAfter()).append(" bytes\n");
        } else if (e.outcome() instanceof Explanation.Necessary n) {
            sb.append("  necessary: ").append(n.reason()).append('\n');
        }
        return sb.toString();
    }

    private static void list(StringBuilder sb, String what, List<Provenance> comms) {
        sb.append("  ").append(what).append(": ");
        if (comms.isEmpty()) {
            sb.append("nothing\n");
            return;
        }
        long bytes = comms.stream().mapToLong(Provenance::bytesPerRank).sum();
        sb.append(comms.size()).append(comms.size() == 1 ? " communication, " : " communications, ").append(bytes)
                .append(" bytes per rank\n");
        for (int i = 0; i < Math.min(LISTED, comms.size()); i++) {
            Provenance p = comms.get(i);
            sb.append("    ").append(p.shortLine()).append(", ").append(p.bytesPerRank()).append(" bytes\n");
        }
        if (comms.size() > LISTED) {
            sb.append("    ... and ").append(comms.size() - LISTED).append(" more\n");
        }
    }

    /** The JSON object of one explanation: id, provenance fields, then {@code suggestion} or {@code necessary}. */
    public static ObjectNode json(Explanation e) {
        ObjectNode o = provenance(e.provenance());
        o.put("reason", e.provenance().reason());
        if (e.outcome() instanceof Explanation.Suggestion s) {
            ObjectNode n = o.putObject("suggestion");
            n.set("change", change(s.change()));
            n.put("expanded_first", s.change().expandedFirst());
            String note = note(s);
            if (note != null) {
                n.put("note", note);
            }
            ArrayNode removed = n.putArray("removed");
            s.removed().forEach(p -> removed.add(provenance(p)));
            ArrayNode added = n.putArray("added");
            s.added().forEach(p -> added.add(provenance(p)));
            n.put("step_seconds_before", s.stepSecondsBefore());
            n.put("step_seconds_after", s.stepSecondsAfter());
            n.put("peak_bytes_before", s.peakBytesBefore());
            n.put("peak_bytes_after", s.peakBytesAfter());
        } else if (e.outcome() instanceof Explanation.Necessary n) {
            o.put("necessary", n.reason());
        }
        ObjectNode search = o.putObject("search");
        search.put("tried", e.search().tried());
        search.put("candidates", e.search().candidates());
        search.put("failed", e.search().failed());
        search.put("time_limit_reached", e.search().timeLimitReached());
        return o;
    }

    /**
     * What a suggestion trades, when the change is a parameter setting: {@code the parameter is sharded by the optimizer
     * (parallel_optimizer): set parallel_optimizer false on it to keep it whole, at +N bytes per rank} (N: the peak
     * memory's growth); null for other changes.
     */
    public static String note(Explanation.Suggestion s) {
        if (s.change() instanceof Change.KeepParameterWhole k) {
            long more = s.peakBytesAfter() - s.peakBytesBefore();
            return "parameter '" + k.parameter() + "' is sharded by the optimizer (parallel_optimizer): set "
                    + "parallel_optimizer false on it to keep it whole, at " + (more >= 0 ? "+" : "") + more
                    + " bytes per rank";
        }
        return null;
    }

    /** A change's snippet as a JSON object, e.g. {@code {"operators": {"dense1": {"in_strategy": [[2, 1]]}}}}. */
    public static ObjectNode change(Change c) {
        try {
            return (ObjectNode) MAPPER.readTree("{" + c.snippet() + "}");
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("change snippet is not JSON: " + c.snippet(), e);
        }
    }

    private static ObjectNode provenance(Provenance p) {
        ObjectNode o = F.objectNode();
        o.put("id", p.id());
        o.put("kind", p.kind().jsonName());
        o.put("phase", p.phase().jsonName());
        o.put("origin", p.origin().jsonName());
        if (p.operator() != null) {
            o.put("operator", p.operator());
        }
        if (p.input() >= 0) {
            o.put("input", p.input());
        }
        o.put("tensor", p.tensor());
        if (p.parameter() != null) {
            o.put("parameter", p.parameter());
        }
        ArrayNode groups = o.putArray("groups");
        for (List<Integer> g : p.groups()) {
            ArrayNode a = groups.addArray();
            g.forEach(a::add);
        }
        o.put("bytes_per_rank", p.bytesPerRank());
        return o;
    }

    /**
     * The change from {@code before} to {@code after} seconds, which three significant digits may hide:
     * {@code " (-12.3 ms, -0.09%)"}, or {@code " (unchanged)"}.
     */
    static String change(double before, double after) {
        double d = after - before;
        if (d == 0) {
            return " (unchanged)";
        }
        String percent = before > 0 ? String.format(Locale.ROOT, ", %+.2f%%", 100 * d / before) : "";
        return " (" + (d < 0 ? "-" : "+") + seconds(Math.abs(d)) + percent + ")";
    }

    /** {@code 1.234 ms}, {@code 12.5 us} or {@code 1.20 s}: three significant digits. */
    public static String seconds(double s) {
        if (s >= 1) {
            return String.format(Locale.ROOT, "%.3g s", s);
        }
        if (s >= 1e-3) {
            return String.format(Locale.ROOT, "%.3g ms", s * 1e3);
        }
        return String.format(Locale.ROOT, "%.3g us", s * 1e6);
    }

    /** {@code s} as a JSON string literal. */
    static String quote(String s) {
        return F.textNode(s).toString();
    }
}
