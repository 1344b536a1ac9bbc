package io.tessera.simulator.report;

import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.plan.RankMemory;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import io.tessera.simulator.timeline.StrategyStep;
import io.tessera.simulator.timeline.TimelineReport;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;
import org.xml.sax.InputSource;

import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.xpath.XPathConstants;
import javax.xml.xpath.XPathFactory;
import java.io.StringReader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Shared checks of report pages: plan a file, render it, and compare the page with the data and the plan. */
final class ReportPages {

    /** Attributes that load a resource, and CSS {@code url(...)}. */
    private static final Pattern RESOURCE = Pattern.compile(
            "(?i)(?:\\ssrc\\s*=\\s*[\"']|\\shref\\s*=\\s*[\"'](?!#)|\\sxlink:href|url\\s*\\(|@import|<link\\b|<img\\b|"
                    + "<iframe\\b|<object\\b|<embed\\b|\\bimportScripts\\b|\\bfetch\\s*\\()");

    private ReportPages() {
    }

    /** A planned strategy file with its cluster (the file's {@code cluster} key, else the simulate default). */
    record Planned(String name, StrategyFile file, PipelinePlan pipe, ClusterSpec cluster) {

        static Planned of(Path path) {
            StrategyFile file = StrategyFiles.read(path);
            PipelinePlan pipe = StrategyPlans.pipelinePlan(file, null);
            ClusterSpec cluster = StrategyPlans.cluster(file, pipe.devices())
                    .orElseGet(() -> ClusterSpec.preset("a100-80gb-dgx").withNodesFor(pipe.devices()));
            return new Planned(path.getFileName().toString(), file, pipe, cluster);
        }

        ReportData data(List<ReportExplanation> explanations) {
            return ReportData.of(name, file, pipe, cluster, explanations);
        }
    }

    /** The page parsed as XML (the doctype removed): it must be well-formed. */
    static Document parse(String html) throws Exception {
        assertTrue(html.startsWith("<!DOCTYPE html>\n"), "the page starts with the HTML5 doctype");
        DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
        f.setNamespaceAware(false);
        f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        return f.newDocumentBuilder().parse(new InputSource(new StringReader(
                html.substring("<!DOCTYPE html>\n".length()))));
    }

    static List<Element> select(Document doc, String xpath) throws Exception {
        NodeList nodes = (NodeList) XPathFactory.newInstance().newXPath().evaluate(xpath, doc, XPathConstants.NODESET);
        List<Element> out = new ArrayList<>();
        for (int i = 0; i < nodes.getLength(); i++) {
            out.add((Element) nodes.item(i));
        }
        return out;
    }

    /** Nothing on the page loads a resource or names a web address. */
    static void assertSelfContained(String name, String html) {
        Matcher m = RESOURCE.matcher(html);
        assertFalse(m.find(), () -> name + ": the page loads a resource at " + html.substring(Math.max(0,
                m.start() - 60), Math.min(html.length(), m.end() + 60)));
        assertFalse(html.contains("http://") || html.contains("https://"), name + ": the page names a web address");
    }

    /**
     * The page shows the data's numbers and the data the plan's: every memory bar (the {@code mem-bar} contract) and
     * its label, the ranks' memory against {@code PipelinePlan.memory(rank, shards)}, the fullest rank, and the
     * communication volume by kind and by phase and kind against {@code Plan.commTotals()}.
     */
    static void assertNumbers(Planned p, ReportData data, Document doc) throws Exception {
        String name = p.name();
        // memory bars: the page against the data
        List<Element> bars = select(doc, "//g[@class='mem-bar']");
        assertEquals(data.memory().size(), bars.size(), name + ": one mem-bar per bar of the data");
        int shards = StrategyStep.optimizerShards(p.file());
        int nextRank = 0;
        long fullest = 0;
        for (int i = 0; i < bars.size(); i++) {
            Element g = bars.get(i);
            ReportData.MemoryBar b = data.memory().get(i);
            String ranks = g.getAttribute("data-rank");
            assertTrue(ranks.matches("\\d+(-\\d+)?"), name + ": data-rank '" + ranks + "'");
            String[] r = ranks.split("-");
            int first = Integer.parseInt(r[0]);
            int last = Integer.parseInt(r[r.length - 1]);
            assertEquals(nextRank, first, name + ": bars cover the ranks in order");
            assertTrue(r.length == 1 || p.pipe().devices() > ReportData.GROUP_ABOVE,
                    name + ": ranks grouped only above " + ReportData.GROUP_ABOVE + " ranks");
            nextRank = last + 1;
            long total = Long.parseLong(g.getAttribute("data-total-bytes"));
            assertEquals(b.total(), total, name + " rank " + ranks + ": data-total-bytes");
            List<Element> labels = select(doc, "//g[@class='mem-bar'][" + (i + 1) + "]/text[@class='mem-label']");
            assertEquals(1, labels.size(), name + " rank " + ranks + ": one mem-label");
            assertEquals(TimelineReport.bytes(total), labels.get(0).getTextContent(),
                    name + " rank " + ranks + ": the label shows data-total-bytes");
            long segments = 0;
            for (Element seg : select(doc, "//g[@class='mem-bar'][" + (i + 1) + "]/rect")) {
                segments += Long.parseLong(seg.getAttribute("data-bytes"));
            }
            assertEquals(total, segments, name + " rank " + ranks + ": the segments add up to the bar");
            // the data against the plan, for the first and last rank of the bar
            for (int rank : new int[] {first, last}) {
                RankMemory m = p.pipe().memory(rank, shards);
                assertEquals(m.total(), total - b.activations(), name + " rank " + rank
                        + ": the bar without activations is PipelinePlan.memory(rank, " + shards + ")");
                assertEquals(m.params(), b.parameters(), name + " rank " + rank + ": parameters");
                assertEquals(m.gradients(), b.gradients(), name + " rank " + rank + ": gradients");
            }
            fullest = Math.max(fullest, total);
        }
        assertEquals(p.pipe().devices(), nextRank, name + ": the bars cover every rank");
        assertEquals(fullest, data.header().fullestBytes(), name + ": the fullest rank's bytes");
        Element fr = select(doc, "//dd[@id='fullest-rank']").get(0);
        assertEquals(Long.toString(fullest), fr.getAttribute("data-total-bytes"), name + ": #fullest-rank");

        // communication by kind and by phase and kind against Plan.commTotals()
        Map<String, long[]> byKind = new TreeMap<>();
        for (Map.Entry<String, long[]> e : p.pipe().plan().commTotals().entrySet()) {
            String kind = e.getKey().substring(e.getKey().indexOf(' ') + 1);
            long[] v = byKind.computeIfAbsent(kind, k -> new long[2]);
            v[0] += e.getValue()[0];
            v[1] += e.getValue()[1];
        }
        Map<String, long[]> shown = new TreeMap<>();
        for (Element g : select(doc, "//svg[@id='comm-by-kind']/g[@class='comm-bar']")) {
            shown.put(g.getAttribute("data-kind"), new long[] {Long.parseLong(g.getAttribute("data-count")),
                    Long.parseLong(g.getAttribute("data-bytes"))});
        }
        assertEquals(render(byKind), render(shown), name + ": communication by kind = Plan.commTotals() by kind");
        Map<String, long[]> totals = new TreeMap<>();
        for (Element tr : select(doc, "//table[@id='comm-totals']/tbody/tr")) {
            totals.put(tr.getAttribute("data-key"), new long[] {Long.parseLong(tr.getAttribute("data-count")),
                    Long.parseLong(tr.getAttribute("data-bytes"))});
        }
        assertEquals(render(p.pipe().plan().commTotals()), render(totals), name + ": #comm-totals");
        long originBytes = 0;
        for (Element g : select(doc, "//svg[@id='comm-by-origin']/g[@class='comm-bar']")) {
            originBytes += Long.parseLong(g.getAttribute("data-bytes"));
        }
        long all = byKind.values().stream().mapToLong(v -> v[1]).sum();
        assertEquals(all, originBytes, name + ": communication by origin adds up to all communication");
        // the tensor list: one item per tensor of the data
        assertEquals(data.tensors().size(), select(doc, "//ul[@id='tensor-list']/li").size(), name + ": tensor list");
    }

    private static String render(Map<String, long[]> m) {
        StringBuilder s = new StringBuilder();
        m.forEach((k, v) -> s.append(k).append('=').append(v[0]).append('/').append(v[1]).append('\n'));
        return s.toString();
    }
}
