package io.tessera.simulator.report;

import io.tessera.planner.plan.Communication;
import io.tessera.simulator.timeline.StrategyStep;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.w3c.dom.Document;
import org.w3c.dom.Element;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The HTML report of every shipped strategy file (top level of {@code strategies/}): well-formed, self-contained,
 * deterministic, and showing the plan's numbers; plus a searched ({@code auto_parallel}) file and the explanations
 * section.
 */
class HtmlReportTest {

    private static final Path STRATEGIES = Path.of("../strategies");
    private static final Path AUTO = Path.of("../strategies/gpt-auto-dynamic-programming.json");

    static List<Path> shipped() throws IOException {
        try (Stream<Path> files = Files.list(STRATEGIES)) {
            return files.filter(f -> f.toString().endsWith(".json")).sorted().toList();
        }
    }

    @TestFactory
    List<DynamicTest> everyShippedStrategyFileHasAWellFormedSelfContainedDeterministicReport() throws IOException {
        List<Path> files = shipped();
        assertTrue(files.size() >= 10, "found only " + files);
        List<DynamicTest> tests = new ArrayList<>();
        for (Path f : files) {
            tests.add(DynamicTest.dynamicTest(f.getFileName().toString(), () -> {
                ReportPages.Planned p = ReportPages.Planned.of(f);
                ReportData data = p.data(List.of());
                String html = HtmlReport.render(data);
                Document doc = ReportPages.parse(html);
                ReportPages.assertSelfContained(p.name(), html);
                ReportPages.assertNumbers(p, data, doc);
                assertEquals(html, HtmlReport.render(p.data(List.of())),
                        p.name() + ": collecting and rendering again gives the same page");
                assertEquals(p.pipe().stages(), ReportPages.select(doc, "//g[@class='schedule-row']").size(),
                        p.name() + ": one schedule row per stage");
                assertTrue(html.length() < 2_000_000, p.name() + ": " + html.length() + " characters");
                assertTrue(html.contains("id=\"no-explanations\""), p.name() + ": says to run tessera explain");
                if (ReportStep.pipelined(p.file(), p.pipe())) {
                    // the header's step and fullest rank are what tessera simulate's pipeline step reports
                    var report = StrategyStep.run(p.file(), p.pipe(), p.cluster(), null, null, true);
                    assertEquals(report.stepSeconds(), data.header().stepSeconds(), p.name() + ": step seconds");
                    assertEquals(StrategyStep.fullestRank(p.file(), p.pipe(), report).totalBytes(),
                            data.header().fullestBytes(), p.name() + ": the fullest rank's bytes");
                }
            }));
        }
        return tests;
    }

    @Test
    void aSearchedFileShowsTheChosenPlanAndTheRunnersUp() throws Exception {
        ReportPages.Planned p = ReportPages.Planned.of(AUTO);
        ReportData data = p.data(List.of());
        assertTrue(data.search().isPresent(), "an auto_parallel file has a search section");
        ReportData.SearchSummary s = data.search().get();
        assertEquals("dynamic_programming", s.mode());
        assertTrue(s.candidates().get(0).chosen(), "the chosen plan comes first");
        assertTrue(s.candidates().size() > 1, "with runners-up: " + s.candidates());
        assertTrue(s.candidates().size() <= 1 + ReportCollector.RUNNERS_UP);
        for (int i = 1; i < s.candidates().size(); i++) {
            assertFalse(s.candidates().get(i).chosen());
        }
        String html = HtmlReport.render(data);
        Document doc = ReportPages.parse(html);
        ReportPages.assertSelfContained(p.name(), html);
        ReportPages.assertNumbers(p, data, doc);
        List<Element> rows = ReportPages.select(doc, "//table[@id='runners-up']/tbody/tr");
        assertEquals(s.candidates().size(), rows.size());
        for (int i = 0; i < rows.size(); i++) {
            assertEquals(Double.toString(s.candidates().get(i).seconds()), rows.get(i).getAttribute("data-seconds"));
        }
        assertEquals("chosen", rows.get(0).getAttribute("class"));
        assertTrue(html.contains("href=\"#search\""), "the navigation links the search section");
    }

    @Test
    void theSelfContainedCheckCatchesResources() {
        for (String page : List.of("<script src=\"a.js\"></script>", "<link rel=\"stylesheet\" href=\"a.css\"/>",
                "<img src='x.png'/>", "<style>b { background: url(x.png) }</style>", "<a href=\"https://x\">x</a>",
                "<svg><image xlink:href=\"x.png\"/></svg>")) {
            assertThrows(org.opentest4j.AssertionFailedError.class, () -> ReportPages.assertSelfContained("t", page),
                    page);
        }
        ReportPages.assertSelfContained("t", "<a href=\"#mesh\">mesh</a><script>var src = 1;</script>");
    }

    @Test
    void filesWithoutSearchHaveNoSearchSection() throws Exception {
        ReportPages.Planned p = ReportPages.Planned.of(STRATEGIES.resolve("gpt-pipeline-2stages.json"));
        String html = HtmlReport.render(p.data(List.of()));
        assertFalse(html.contains("id=\"search\""));
        assertFalse(html.contains("href=\"#search\""));
    }

    @Test
    void explanationsAreShownWithTheirCommunications() throws Exception {
        ReportPages.Planned p = ReportPages.Planned.of(STRATEGIES.resolve("gpt-megatron-tp4-dp2.json"));
        List<Communication> comms = p.pipe().plan().comms();
        assertTrue(comms.size() > 3);
        List<ReportExplanation> given = List.of(
                new ReportExplanation(2, "forward AllReduce of x <for> 'op' & co", "change \"in_strategy\" of 'op'"),
                new ReportExplanation(0, "first", "necessary: the loss needs the full batch on every rank"));
        ReportData data = p.data(given);
        assertEquals(2, data.explanations().size());
        assertEquals(comms.get(2).totalRecvBytes(), data.explanations().get(0).comm().bytes());
        String html = HtmlReport.render(data);
        Document doc = ReportPages.parse(html);
        List<Element> rows = ReportPages.select(doc, "//table[@id='explanations']/tbody/tr");
        assertEquals(2, rows.size());
        assertEquals("2", rows.get(0).getAttribute("data-comm"));
        assertTrue(rows.get(0).getTextContent().contains("forward AllReduce of x <for> 'op' & co"),
                "markup in explanations is escaped, not interpreted: " + rows.get(0).getTextContent());
        assertTrue(rows.get(0).getTextContent().contains("change \"in_strategy\" of 'op'"));
        assertFalse(html.contains("id=\"no-explanations\""));

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> p.data(List.of(new ReportExplanation(comms.size(), "p", "t"))));
        assertTrue(e.getMessage().startsWith("explanation of communication " + comms.size() + ": the plan has "
                + comms.size() + " communications"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new ReportExplanation(-1, "p", "t"));
    }

    @Test
    void topCommunicationsAreTheLargestInPlanOrderAmongEquals() throws Exception {
        ReportPages.Planned p = ReportPages.Planned.of(STRATEGIES.resolve("gpt-zero3.json"));
        ReportData data = p.data(List.of());
        List<Communication> comms = p.pipe().plan().comms();
        List<ReportData.CommRow> top = data.topComms();
        assertEquals(Math.min(ReportData.TOP_COMMS, comms.size()), top.size());
        long smallestShown = top.get(top.size() - 1).bytes();
        for (int i = 0; i < top.size(); i++) {
            ReportData.CommRow r = top.get(i);
            assertEquals(comms.get(r.id()).totalRecvBytes(), r.bytes());
            assertEquals(comms.get(r.id()).kind().jsonName(), r.kind());
            if (i > 0) {
                ReportData.CommRow prev = top.get(i - 1);
                assertTrue(prev.bytes() > r.bytes() || prev.bytes() == r.bytes() && prev.id() < r.id());
            }
        }
        long larger = comms.stream().filter(c -> c.totalRecvBytes() > smallestShown).count();
        assertTrue(larger <= top.size(), "no communication larger than the shown ones is left out");
        Document doc = ReportPages.parse(HtmlReport.render(data));
        List<Element> rows = ReportPages.select(doc, "//table[@id='top-comms']/tbody/tr");
        assertEquals(top.size(), rows.size());
        assertEquals(Integer.toString(top.get(0).id()), rows.get(0).getAttribute("data-comm"));
    }

    @Test
    void aOneStageFileShowsTheStepOfOneRankOnOneRow() throws Exception {
        ReportPages.Planned p = ReportPages.Planned.of(STRATEGIES.resolve("mlp-data-parallel.json"));
        assertFalse(ReportStep.pipelined(p.file(), p.pipe()), "simulate runs this file on the one-step timeline");
        ReportData data = p.data(List.of());
        assertEquals(1, data.schedule().rows());
        assertEquals("rank", data.schedule().rowLabel());
        assertFalse(data.schedule().events().isEmpty());
        for (ReportData.Event e : data.schedule().events()) {
            assertEquals(0, e.row());
            assertTrue(e.start() + e.duration() <= data.header().stepSeconds() * (1 + 1e-9), e.toString());
        }
        assertTrue(data.breakdown().mfu().isPresent(), "the one-step timeline reports MFU");
        var timeline = io.tessera.simulator.timeline.Timeline.run(p.pipe().plan(),
                StrategyStep.timelineOptions(p.file(), p.cluster(), true, 0));
        assertEquals(timeline.stepSeconds(), data.header().stepSeconds());
        long[] peak = timeline.peakMemoryBytes();
        for (ReportData.MemoryBar b : data.memory()) {
            assertEquals(peak[b.firstRank()], b.total(), "rank " + b.firstRank() + ": the timeline's peak memory");
        }
    }

    @Test
    void scheduleMergesOnlyNeighbouringEventsOfOneCategory() {
        var ev = List.of(
                new io.tessera.simulator.timeline.TimelineReport.Event(0, "compute", "forward 0", "forward", 0, 1),
                new io.tessera.simulator.timeline.TimelineReport.Event(0, "compute", "forward 1", "forward", 1, 1),
                new io.tessera.simulator.timeline.TimelineReport.Event(0, "compute", "backward 0", "backward", 2, 2),
                new io.tessera.simulator.timeline.TimelineReport.Event(0, "compute", "forward 2", "forward", 5, 1),
                new io.tessera.simulator.timeline.TimelineReport.Event(0, "comm", "send forward 0 to stage 1",
                        "gradient", 1, 0.5),
                new io.tessera.simulator.timeline.TimelineReport.Event(1, "compute", "backward 0", "backward", 3, 1));
        ReportData.Schedule s = ReportStep.schedule("stage", 2, 6, ev);
        assertEquals(List.of(
                new ReportData.Event(0, true, "forward", "forward 0 and 1 more", 0, 2),
                new ReportData.Event(0, true, "backward", "backward 0", 2, 2),
                new ReportData.Event(0, true, "forward", "forward 2", 5, 1),
                new ReportData.Event(0, false, "send", "send forward 0 to stage 1", 1, 0.5),
                new ReportData.Event(1, true, "backward", "backward 0", 3, 1)), s.events());
    }
}
