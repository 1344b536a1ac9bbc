package io.tessera.simulator.report;

import io.tessera.simulator.report.ReportData.CommRow;
import io.tessera.simulator.report.ReportData.Volume;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static io.tessera.simulator.report.Html.bytes;
import static io.tessera.simulator.report.Html.esc;
import static io.tessera.simulator.report.Html.num;
import static io.tessera.simulator.report.Html.seconds;

/** The report's communication, schedule, breakdown, search and explanation sections ({@link HtmlReport}). */
final class ReportSections {

    /** Most boxes of the schedule that carry a hover title (more would make the page large). */
    static final int TITLED_BOXES = 3000;

    private ReportSections() {
    }

    /** Volume by kind and by origin, the totals per phase and kind, and the top communications. */
    static void comm(StringBuilder s, ReportData data) {
        s.append("<section id=\"comm\">\n<h2>Communication</h2>\n<p class=\"note\">Bytes received by all ranks "
                + "together over one step's communications inside the stages (").append(sum(data.commByKind()))
                .append(" communications). The pipeline sends between stages are in the schedule.</p>\n");
        if (data.commByKind().isEmpty()) {
            s.append("<p>The plan inserts no communication.</p>\n");
        }
        s.append("<h3>By kind</h3>\n");
        volumes(s, "comm-by-kind", "data-kind", data.commByKind());
        s.append("<h3>By origin</h3>\n");
        volumes(s, "comm-by-origin", "data-origin", data.commByOrigin());
        s.append("<h3>By phase and kind</h3>\n<table id=\"comm-totals\"><thead><tr><th>phase and kind</th>"
                + "<th class=\"num\">count</th><th class=\"num\">bytes</th></tr></thead><tbody>\n");
        for (Map.Entry<String, long[]> e : data.commTotals().entrySet()) {
            s.append("<tr data-key=\"").append(esc(e.getKey())).append("\" data-count=\"").append(e.getValue()[0])
                    .append("\" data-bytes=\"").append(e.getValue()[1]).append("\"><td>").append(esc(e.getKey()))
                    .append("</td><td class=\"num\">").append(e.getValue()[0]).append("</td><td class=\"num\">")
                    .append(bytes(e.getValue()[1])).append("</td></tr>\n");
        }
        s.append("</tbody></table>\n<h3>Top ").append(data.topComms().size())
                .append(" communications by bytes</h3>\n<div class=\"scroll-x\"><table id=\"top-comms\"><thead><tr>"
                        + "<th class=\"num\">id</th><th>kind</th><th>phase</th><th>tensor</th><th>operator</th>"
                        + "<th class=\"num\">bytes</th><th>reason</th></tr></thead><tbody>\n");
        for (CommRow c : data.topComms()) {
            s.append("<tr id=\"comm-").append(c.id()).append("\" data-comm=\"").append(c.id())
                    .append("\" data-bytes=\"").append(c.bytes()).append("\"><td class=\"num\">").append(c.id())
                    .append("</td><td>").append(esc(c.kind())).append("</td><td>").append(esc(c.phase()))
                    .append("</td><td class=\"wrap\">").append(esc(c.tensor())).append("</td><td class=\"wrap\">")
                    .append(esc(c.operator())).append("</td><td class=\"num\">").append(bytes(c.bytes()))
                    .append("</td><td class=\"wrap\">").append(esc(c.reason())).append("</td></tr>\n");
        }
        s.append("</tbody></table></div>\n</section>\n");
    }

    private static long sum(List<Volume> v) {
        long n = 0;
        for (Volume x : v) {
            n += x.count();
        }
        return n;
    }

    /** A horizontal bar chart, one {@code g.comm-bar} per volume with {@code attribute} naming it. */
    private static void volumes(StringBuilder s, String id, String attribute, List<Volume> volumes) {
        long max = 1;
        for (Volume v : volumes) {
            max = Math.max(max, v.bytes());
        }
        int rowH = 22;
        double x0 = 150;
        double span = 640;
        s.append("<svg class=\"chart\" id=\"").append(id).append("\" viewBox=\"0 0 1000 ")
                .append(Math.max(1, volumes.size()) * rowH + 6).append("\" role=\"img\" aria-label=\"")
                .append(id.replace('-', ' ')).append("\">\n");
        for (int i = 0; i < volumes.size(); i++) {
            Volume v = volumes.get(i);
            int y = i * rowH + 3;
            double w = span * v.bytes() / max;
            s.append("<g class=\"comm-bar\" ").append(attribute).append("=\"").append(esc(v.name()))
                    .append("\" data-count=\"").append(v.count()).append("\" data-bytes=\"").append(v.bytes())
                    .append("\"><text x=\"").append(num(x0 - 6)).append("\" y=\"").append(y + 13)
                    .append("\" text-anchor=\"end\">").append(esc(v.name())).append("</text><rect class=\"bar\" x=\"")
                    .append(num(x0)).append("\" y=\"").append(y).append("\" width=\"").append(num(Math.max(w, 0.5)))
                    .append("\" height=\"").append(rowH - 6).append("\"/><text class=\"comm-label\" x=\"")
                    .append(num(x0 + w + 6)).append("\" y=\"").append(y + 13).append("\">").append(bytes(v.bytes()))
                    .append(" in ").append(v.count()).append(v.count() == 1 ? " communication" : " communications")
                    .append("</text></g>\n");
        }
        s.append("</svg>\n");
    }

    /** The Gantt chart of the simulated step: one row per stage (or the one rank), compute and communication. */
    static void schedule(StringBuilder s, ReportData data) {
        ReportData.Schedule sch = data.schedule();
        s.append("<section id=\"schedule\">\n<h2>Pipeline schedule</h2>\n<p class=\"note\">")
                .append(esc(data.header().simulation())).append(". One row per ").append(sch.rowLabel())
                .append(": compute (tall boxes) and communication (the thin strip below); step ")
                .append(seconds(sch.stepSeconds())).append(".</p>\n");
        Set<String> categories = new LinkedHashSet<>();
        for (ReportData.Event e : sch.events()) {
            categories.add(e.category());
        }
        s.append("<div class=\"legend\">");
        for (String c : categories) {
            s.append("<span class=\"c-").append(Html.cssName(c)).append("\">").append(esc(c)).append("</span>");
        }
        s.append("</div>\n");
        int rowH = 30;
        double x0 = 70;
        double span = 870;
        double step = sch.stepSeconds() > 0 ? sch.stepSeconds() : 1;
        int height = sch.rows() * rowH + 24;
        boolean titles = sch.events().size() <= TITLED_BOXES;
        s.append("<svg class=\"chart").append(titles ? " outlined" : "")
                .append("\" id=\"schedule-chart\" viewBox=\"0 0 1000 ").append(height)
                .append("\" role=\"img\" aria-label=\"pipeline schedule\" data-step-seconds=\"")
                .append(Html.exact(sch.stepSeconds())).append("\">\n");
        for (int t = 0; t <= 10; t++) {
            double x = x0 + span * t / 10;
            s.append("<line class=\"grid-line\" x1=\"").append(num(x)).append("\" y1=\"0\" x2=\"").append(num(x))
                    .append("\" y2=\"").append(sch.rows() * rowH).append("\"/><text x=\"").append(num(x))
                    .append("\" y=\"").append(sch.rows() * rowH + 14).append("\" text-anchor=\"middle\">")
                    .append(seconds(sch.stepSeconds() * t / 10)).append("</text>\n");
        }
        List<List<ReportData.Event>> rows = new ArrayList<>();
        for (int r = 0; r < sch.rows(); r++) {
            rows.add(new ArrayList<>());
        }
        for (ReportData.Event e : sch.events()) {
            rows.get(e.row()).add(e);
        }
        for (int r = 0; r < sch.rows(); r++) {
            int y = r * rowH;
            s.append("<g class=\"schedule-row\" data-row=\"").append(r).append("\"><text x=\"").append(num(x0 - 6))
                    .append("\" y=\"").append(y + 16).append("\" text-anchor=\"end\">").append(sch.rowLabel())
                    .append(' ').append(r).append("</text>\n");
            if (titles) {
                for (ReportData.Event e : rows.get(r)) {
                    double x = x0 + span * e.start() / step;
                    double w = Math.max(span * e.duration() / step, 0.3);
                    s.append("<rect class=\"c-").append(Html.cssName(e.category())).append("\" x=\"").append(num(x))
                            .append("\" y=\"").append(e.compute() ? y + 3 : y + 23).append("\" width=\"")
                            .append(num(w)).append("\" height=\"").append(e.compute() ? 18 : 5).append("\"><title>")
                            .append(esc(e.name())).append(": ").append(seconds(e.start())).append(" + ")
                            .append(seconds(e.duration())).append("</title></rect>\n");
                }
            } else {
                // many boxes: one path per stream and category, to keep the page small
                Map<String, StringBuilder> paths = new java.util.LinkedHashMap<>();
                for (ReportData.Event e : rows.get(r)) {
                    double x = x0 + span * e.start() / step;
                    double w = Math.max(span * e.duration() / step, 0.3);
                    int h = e.compute() ? 18 : 5;
                    paths.computeIfAbsent(Html.cssName(e.category()) + (e.compute() ? "" : " comm"),
                                    k -> new StringBuilder())
                            .append('M').append(num(x)).append(' ').append(e.compute() ? y + 3 : y + 23).append('h')
                            .append(num(w)).append('v').append(h).append('h').append(num(-w)).append('z');
                }
                for (Map.Entry<String, StringBuilder> p : paths.entrySet()) {
                    s.append("<path class=\"c-").append(p.getKey()).append("\" d=\"").append(p.getValue())
                            .append("\"/>\n");
                }
            }
            s.append("</g>\n");
        }
        s.append("</svg>\n</section>\n");
    }

    /** The step breakdown as a table and one stacked bar. */
    static void breakdown(StringBuilder s, ReportData data) {
        ReportData.Breakdown b = data.breakdown();
        double step = data.header().stepSeconds();
        s.append("<section id=\"breakdown\">\n<h2>Step breakdown</h2>\n<p class=\"note\">")
                .append(data.header().stages() > 1 ? "Compute per kind on the busiest stage; the rest of the step "
                        + "is communication the compute does not hide and the pipeline bubble."
                        : "As the simulator reports the step.").append("</p>\n");
        s.append("<table id=\"breakdown-table\"><thead><tr><th>part</th><th class=\"num\">time</th>"
                + "<th class=\"num\">share of the step</th></tr></thead><tbody>\n");
        for (ReportData.Breakdown.Item i : b.items()) {
            s.append("<tr data-seconds=\"").append(Html.exact(i.seconds())).append("\"><td>").append(esc(i.label()))
                    .append("</td><td class=\"num\">").append(seconds(i.seconds())).append("</td><td class=\"num\">")
                    .append(step > 0 ? Html.percent(i.seconds() / step) : "").append("</td></tr>\n");
        }
        s.append("<tr><td><strong>step</strong></td><td class=\"num\"><strong>").append(seconds(step))
                .append("</strong></td><td class=\"num\"></td></tr>\n");
        if (data.header().stages() > 1) {
            s.append("<tr id=\"bubble\" data-fraction=\"").append(Html.exact(b.bubbleFraction()))
                    .append("\"><td>pipeline bubble (idle share of the stages' compute)</td><td class=\"num\"></td>"
                            + "<td class=\"num\">").append(Html.percent(b.bubbleFraction())).append("</td></tr>\n");
        }
        b.mfu().ifPresent(m -> s.append("<tr id=\"mfu\" data-mfu=\"").append(Html.exact(m))
                .append("\"><td>MFU (model FLOP utilisation)</td><td class=\"num\"></td><td class=\"num\">")
                .append(Html.percent(m)).append("</td></tr>\n"));
        s.append("</tbody></table>\n");
        double total = 0;
        for (ReportData.Breakdown.Item i : b.items()) {
            total += i.seconds();
        }
        if (total > 0) {
            s.append("<svg class=\"chart\" id=\"breakdown-bar\" viewBox=\"0 0 1000 30\" role=\"img\" "
                    + "aria-label=\"step breakdown\">\n");
            double x = 0;
            String[] fills = {"#2d6cdf", "#9cc8f7", "#3aa17e", "#f0a030", "#e0555a", "#a779d9"};
            for (int k = 0; k < b.items().size(); k++) {
                ReportData.Breakdown.Item i = b.items().get(k);
                double w = 1000 * i.seconds() / total;
                s.append("<rect x=\"").append(num(x)).append("\" y=\"2\" width=\"").append(num(w))
                        .append("\" height=\"26\" style=\"fill:").append(fills[k % fills.length]).append("\"><title>")
                        .append(esc(i.label())).append(": ").append(seconds(i.seconds())).append("</title></rect>\n");
                x += w;
            }
            s.append("</svg>\n");
        }
        s.append("</section>\n");
    }

    /** The search's chosen plan and runners-up ({@code auto_parallel} files only). */
    static void search(StringBuilder s, ReportData data) {
        if (data.search().isEmpty()) {
            return;
        }
        ReportData.SearchSummary r = data.search().get();
        s.append("<section id=\"search\">\n<h2>Strategy search</h2>\n<p class=\"note\">The file is auto_parallel: "
                + "its strategies were searched (").append(esc(r.mode())).append("). The search's own estimates on "
                + "its cluster, best first; the step time above is the timeline's.</p>\n")
                .append("<table id=\"runners-up\"><thead><tr><th>plan</th><th class=\"num\">step (estimate)</th>"
                        + "<th class=\"num\">compute</th><th class=\"num\">communication</th>"
                        + "<th class=\"num\">rank 0 memory</th><th>fits</th></tr></thead><tbody>\n");
        for (ReportData.SearchSummary.Candidate c : r.candidates()) {
            s.append("<tr").append(c.chosen() ? " class=\"chosen\"" : "").append(" data-seconds=\"")
                    .append(Html.exact(c.seconds())).append("\"><td>").append(c.chosen() ? "<strong>chosen: " : "")
                    .append(esc(c.label())).append(c.chosen() ? "</strong>" : "").append("</td><td class=\"num\">")
                    .append(seconds(c.seconds())).append("</td><td class=\"num\">")
                    .append(seconds(c.computeSeconds())).append("</td><td class=\"num\">")
                    .append(seconds(c.commSeconds())).append("</td><td class=\"num\">")
                    .append(bytes(c.memoryBytes())).append("</td><td>").append(c.fits() ? "yes" : "no")
                    .append("</td></tr>\n");
        }
        s.append("</tbody></table>\n</section>\n");
    }

    /** The explanations given, or how to get them. */
    static void why(StringBuilder s, ReportData data) {
        s.append("<section id=\"why\">\n<h2>Why these communications</h2>\n");
        if (data.explanations().isEmpty()) {
            s.append("<p class=\"note\" id=\"no-explanations\">No explanations in this report: run "
                    + "<code>tessera explain ").append(esc(data.header().fileName())).append("</code> for each "
                    + "communication's provenance and the cheapest annotation change that removes it.</p>\n"
                    + "</section>\n");
            return;
        }
        s.append("<table id=\"explanations\"><thead><tr><th class=\"num\">id</th><th>communication</th>"
                + "<th class=\"num\">bytes</th><th>provenance</th><th>explanation</th></tr></thead><tbody>\n");
        for (ReportData.Explained e : data.explanations()) {
            CommRow c = e.comm();
            s.append("<tr data-comm=\"").append(c.id()).append("\"><td class=\"num\">").append(c.id())
                    .append("</td><td class=\"wrap\">").append(esc(c.phase() + " " + c.kind() + " of " + c.tensor()))
                    .append("</td><td class=\"num\">").append(bytes(c.bytes())).append("</td><td class=\"wrap\">")
                    .append(esc(e.explanation().provenance())).append("</td><td class=\"wrap\">")
                    .append(esc(e.explanation().text())).append("</td></tr>\n");
        }
        s.append("</tbody></table>\n</section>\n");
    }
}
