package io.tessera.simulator.report;

import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.simulator.report.ReportData.Header;
import io.tessera.simulator.report.ReportData.MemoryBar;
import io.tessera.simulator.report.ReportData.TensorEntry;
import io.tessera.simulator.report.ReportData.TensorLayout;

import java.util.List;

import static io.tessera.simulator.report.Html.bytes;
import static io.tessera.simulator.report.Html.esc;
import static io.tessera.simulator.report.Html.json;
import static io.tessera.simulator.report.Html.num;
import static io.tessera.simulator.report.Html.seconds;

/**
 * {@code tessera report}: one self-contained HTML page showing a planned strategy file (inline CSS, inline SVG drawn
 * here, a little inline script for the tensor list; no external resources). The page is deterministic (the same data
 * gives the same bytes; no timestamps) and XHTML-compatible markup (every element closed, attributes quoted, scripts in
 * CDATA sections), so it also parses as XML once the doctype is removed.
 *
 * <p>Sections, each a {@code <section>} with an id: {@code mesh} (the device mesh and the clickable tensor list:
 * {@code #tensor-list li[data-tensor]} in the order of {@link ReportData#tensors()}, class {@code k-parameter} or
 * {@code k-activation}, {@code #slice-view}, data in {@code script#tensor-data}), {@code memory}
 * (stacked bars: every bar a {@code <g class="mem-bar" data-rank="R" data-total-bytes="N">}, {@code R} a rank or
 * {@code R0-R1} for a run of ranks with identical memory, with a {@code <text class="mem-label">} showing {@code N}
 * as {@link io.tessera.simulator.timeline.TimelineReport#bytes}), {@code comm} ({@code g.comm-bar[data-kind]} in
 * {@code svg#comm-by-kind}, {@code g.comm-bar[data-origin]} in {@code svg#comm-by-origin}, {@code table#comm-totals}
 * and {@code table#top-comms}), {@code schedule} (the Gantt chart {@code svg#schedule}), {@code breakdown}
 * ({@code table#breakdown}), {@code search} (for a searched file, {@code table#runners-up}) and {@code why}
 * ({@code table#explanations}).
 */
public final class HtmlReport {

    private HtmlReport() {
    }

    /**
     * Collects the data ({@link ReportData#of(String, StrategyFile, PipelinePlan, ClusterSpec, List)}) and renders the
     * page.
     *
     * @return the page's text (UTF-8 when written)
     * @throws IllegalArgumentException as {@link ReportData#of(String, StrategyFile, PipelinePlan, ClusterSpec, List)}
     */
    public static String write(String fileName, StrategyFile file, PipelinePlan pipe, ClusterSpec cluster,
                               List<ReportExplanation> explanations) {
        return render(ReportData.of(fileName, file, pipe, cluster, explanations));
    }

    /** The page of {@code data}: an HTML5 document, the same bytes for the same data. */
    public static String render(ReportData data) {
        StringBuilder s = new StringBuilder(64 * 1024);
        Header h = data.header();
        s.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n")
                .append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n")
                .append("<title>Tessera report: ").append(esc(h.fileName())).append("</title>\n")
                .append("<style>/*<![CDATA[*/\n").append(ReportAssets.CSS).append("/*]]>*/</style>\n</head>\n<body>\n");
        header(s, data);
        s.append("<nav><a href=\"#mesh\">Mesh and slices</a><a href=\"#memory\">Memory</a>")
                .append("<a href=\"#comm\">Communication</a><a href=\"#schedule\">Schedule</a>")
                .append("<a href=\"#breakdown\">Step breakdown</a>");
        if (data.search().isPresent()) {
            s.append("<a href=\"#search\">Search</a>");
        }
        s.append("<a href=\"#why\">Why these communications</a></nav>\n<main>\n");
        mesh(s, data);
        memory(s, data);
        ReportSections.comm(s, data);
        ReportSections.schedule(s, data);
        ReportSections.breakdown(s, data);
        ReportSections.search(s, data);
        ReportSections.why(s, data);
        s.append("</main>\n");
        tensorData(s, data);
        s.append("<script>//<![CDATA[\n").append(ReportAssets.JS).append("//]]>\n</script>\n</body>\n</html>\n");
        return s.toString();
    }

    private static void header(StringBuilder s, ReportData data) {
        Header h = data.header();
        s.append("<header id=\"header\">\n<h1>Tessera report: ").append(esc(h.fileName())).append("</h1>\n")
                .append("<dl class=\"facts\">\n");
        fact(s, "network", "", esc(h.network()));
        fact(s, "devices", " id=\"devices\" data-devices=\"" + h.devices() + "\"", Integer.toString(h.devices()));
        fact(s, "mesh", "", esc(h.mesh()));
        fact(s, "micro-batches", "", Integer.toString(h.microBatches()));
        fact(s, "parallel mode", "", esc(h.parallelMode()));
        fact(s, "cluster", "", esc(h.cluster()));
        fact(s, "simulated", "", esc(h.simulation()));
        String band = h.band().map(b -> " (" + seconds(b.lowSeconds()) + " .. " + seconds(b.highSeconds())
                + "; error band " + esc(b.description()) + ")").orElse(" (no error band for this device)");
        fact(s, "step time", " id=\"step-time\" data-seconds=\"" + Html.exact(h.stepSeconds()) + "\""
                + h.band().map(b -> " data-low-seconds=\"" + Html.exact(b.lowSeconds()) + "\" data-high-seconds=\""
                + Html.exact(b.highSeconds()) + "\"").orElse(""), "<strong>" + seconds(h.stepSeconds())
                + "</strong>" + band);
        fact(s, "fullest rank", " id=\"fullest-rank\" data-rank=\"" + h.fullestRank() + "\" data-total-bytes=\""
                + h.fullestBytes() + "\"", "rank " + h.fullestRank() + ": " + bytes(h.fullestBytes())
                + " at its peak");
        s.append("</dl>\n</header>\n");
    }

    private static void fact(StringBuilder s, String name, String ddAttributes, String html) {
        s.append("<dt>").append(name).append("</dt><dd").append(ddAttributes).append('>').append(html)
                .append("</dd>\n");
    }

    /** The mesh: one bar per stage, then the tensor list and the slice view (drawn by the script). */
    private static void mesh(StringBuilder s, ReportData data) {
        Header h = data.header();
        s.append("<section id=\"mesh\">\n<h2>Device mesh and slices</h2>\n<p class=\"note\">")
                .append(esc(h.mesh())).append(". Global rank = stage x ").append(h.stageDevices())
                .append(" + stage-local rank.</p>\n");
        int stages = h.stages();
        int rowH = 18;
        int width = 1000;
        s.append("<svg class=\"chart\" id=\"mesh-stages\" viewBox=\"0 0 ").append(width).append(' ')
                .append(stages * rowH + 4).append("\" role=\"img\" aria-label=\"pipeline stages\">\n");
        for (int st = 0; st < stages; st++) {
            int y = st * rowH + 2;
            int first = st * h.stageDevices();
            s.append("<g class=\"mesh-stage\" data-stage=\"").append(st).append("\"><rect class=\"bar\" x=\"110\" y=\"")
                    .append(y).append("\" width=\"").append(width - 120).append("\" height=\"").append(rowH - 4)
                    .append("\" opacity=\"").append(st % 2 == 0 ? "0.85" : "0.65").append("\"/><text x=\"104\" y=\"")
                    .append(y + 11).append("\" text-anchor=\"end\">stage ").append(st).append("</text><text x=\"")
                    .append(118).append("\" y=\"").append(y + 11).append("\" style=\"fill:#fff\">ranks ").append(first)
                    .append(" .. ").append(first + h.stageDevices() - 1).append("</text></g>\n");
        }
        s.append("</svg>\n<div class=\"mesh-split\">\n<div>\n")
                .append("<input id=\"tensor-filter\" type=\"search\" placeholder=\"filter ")
                .append(data.tensors().size()).append(" tensors\" aria-label=\"filter tensors\"/>\n")
                .append("<div class=\"scroll\"><ul id=\"tensor-list\" role=\"listbox\" aria-label=\"tensors\">\n");
        List<TensorEntry> tensors = data.tensors();
        for (int i = 0; i < tensors.size(); i++) {
            TensorEntry t = tensors.get(i);
            s.append("<li class=\"k-").append(t.kind().label()).append("\" data-tensor=\"").append(i).append("\">")
                    .append(esc(t.name())).append("</li>\n");
        }
        s.append("</ul></div>\n</div>\n<div id=\"slice-view\"><p class=\"note\">Select a tensor to see which device "
                + "holds which slice (this view needs JavaScript).</p></div>\n</div>\n</section>\n");
    }

    /** {@code script#tensor-data}: the layouts and tensors the slice view draws. */
    private static void tensorData(StringBuilder s, ReportData data) {
        s.append("<script type=\"application/json\" id=\"tensor-data\">{\"stageDevices\":")
                .append(data.header().stageDevices()).append(",\"cellsUpTo\":")
                .append(ReportData.CELLS_PER_DEVICE_UP_TO).append(",\"layouts\":[");
        List<TensorLayout> layouts = data.layouts();
        for (int i = 0; i < layouts.size(); i++) {
            TensorLayout l = layouts.get(i);
            s.append(i == 0 ? "" : ",").append("{\"s\":").append(java.util.Arrays.toString(l.shape()).replace(" ", ""))
                    .append(",\"p\":").append(java.util.Arrays.toString(l.splits()).replace(" ", ""))
                    .append(",\"d\":").append(java.util.Arrays.toString(l.devMatrix()).replace(" ", ""))
                    .append(",\"i\":").append(java.util.Arrays.toString(l.sliceOfRank()).replace(" ", ""))
                    .append('}');
        }
        List<TensorEntry> tensors = data.tensors();
        java.util.Map<String, Integer> details = new java.util.LinkedHashMap<>();
        for (TensorEntry t : tensors) {
            details.putIfAbsent(t.kind().label() + ", " + t.detail(), details.size());
        }
        s.append("],\"details\":[");
        int k = 0;
        for (String d : details.keySet()) {
            s.append(k++ == 0 ? "" : ",").append(json(d));
        }
        s.append("],\"tensors\":[");
        for (int i = 0; i < tensors.size(); i++) {
            TensorEntry t = tensors.get(i);
            s.append(i == 0 ? "" : ",").append('[').append(details.get(t.kind().label() + ", " + t.detail()))
                    .append(',').append(t.stage()).append(',').append(t.layout()).append(']');
        }
        s.append("]}</script>\n");
    }

    /** Stacked bars, one per rank or run of ranks (the {@code mem-bar} contract in the class comment). */
    private static void memory(StringBuilder s, ReportData data) {
        List<MemoryBar> bars = data.memory();
        s.append("<section id=\"memory\">\n<h2>Memory per rank</h2>\n<p class=\"note\">At each rank's peak: "
                + "parameters, gradients, optimizer state (with float32 master copies), activations kept for the "
                + "backward, and buffers (gathered weights, recompute and fusion buffers, FP8 weight copies).");
        if (data.header().devices() > ReportData.GROUP_ABOVE) {
            s.append(" Consecutive ranks with identical memory share one bar.");
        }
        s.append("</p>\n<div class=\"legend\">");
        String[] parts = {"parameters", "gradients", "optimizer", "activations", "buffers"};
        String[] names = {"parameters", "gradients", "optimizer state", "activations", "buffers"};
        for (int i = 0; i < parts.length; i++) {
            s.append("<span class=\"sw-").append(parts[i]).append("\">").append(names[i]).append("</span>");
        }
        s.append("</div>\n");
        long max = 1;
        for (MemoryBar b : bars) {
            max = Math.max(max, b.total());
        }
        int rowH = 20;
        double x0 = 120;
        double span = 720;
        s.append("<svg class=\"chart\" id=\"memory-bars\" viewBox=\"0 0 1000 ").append(bars.size() * rowH + 6)
                .append("\" role=\"img\" aria-label=\"memory per rank\">\n");
        for (int i = 0; i < bars.size(); i++) {
            MemoryBar b = bars.get(i);
            int y = i * rowH + 3;
            s.append("<g class=\"mem-bar\" data-rank=\"").append(b.ranks()).append("\" data-total-bytes=\"")
                    .append(b.total()).append("\"><text x=\"").append(num(x0 - 6)).append("\" y=\"").append(y + 12)
                    .append("\" text-anchor=\"end\">rank").append(b.firstRank() == b.lastRank() ? " " : "s ")
                    .append(b.firstRank() == b.lastRank() ? b.ranks() : b.firstRank() + ".." + b.lastRank())
                    .append("</text>");
            long[] values = {b.parameters(), b.gradients(), b.optimizer(), b.activations(), b.buffers()};
            double x = x0;
            for (int p = 0; p < parts.length; p++) {
                if (values[p] == 0) {
                    continue;
                }
                double w = span * values[p] / max;
                s.append("<rect class=\"seg seg-").append(parts[p]).append("\" data-bytes=\"").append(values[p])
                        .append("\" x=\"").append(num(x)).append("\" y=\"").append(y).append("\" width=\"")
                        .append(num(Math.max(w, 0.5))).append("\" height=\"").append(rowH - 5).append("\"><title>")
                        .append(names[p]).append(": ").append(bytes(values[p])).append("</title></rect>");
                x += w;
            }
            s.append("<text class=\"mem-label\" x=\"").append(num(x0 + span + 8)).append("\" y=\"").append(y + 12)
                    .append("\">").append(bytes(b.total())).append("</text></g>\n");
        }
        s.append("</svg>\n</section>\n");
    }
}
