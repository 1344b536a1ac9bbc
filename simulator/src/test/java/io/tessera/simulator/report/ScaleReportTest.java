package io.tessera.simulator.report;

import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.w3c.dom.Document;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The reports of the largest shipped strategy files ({@code strategies/scale/}: 16,384 and 2,048 devices, 16
 * pipeline stages, thousands of tensors) stay small enough to open quickly: under {@link #MAX_BYTES}, with grouped
 * memory bars, and still well-formed, self-contained and showing the plan's numbers.
 */
class ScaleReportTest {

    /** The largest page allowed: 2 MB. */
    static final int MAX_BYTES = 2_000_000;

    private static final Path SCALE = Path.of("../strategies/scale");

    @TestFactory
    List<DynamicTest> theLargestShippedFilesGiveSmallReports() {
        List<DynamicTest> tests = new ArrayList<>();
        for (String name : List.of("llama-3.1-405b-tp8-pp16-dp128.json", "deepseek-v3-ep64-pp16-dp128.json")) {
            tests.add(DynamicTest.dynamicTest(name, () -> {
                ReportPages.Planned p = ReportPages.Planned.of(SCALE.resolve(name));
                assertTrue(p.pipe().devices() >= 2048, name + ": " + p.pipe().devices() + " devices");
                ReportData data = p.data(List.of());
                String html = HtmlReport.render(data);
                int bytes = html.getBytes(StandardCharsets.UTF_8).length;
                System.out.println(name + ": report " + bytes + " bytes, " + data.tensors().size() + " tensors, "
                        + data.layouts().size() + " layouts, " + data.memory().size() + " memory bars, "
                        + data.schedule().events().size() + " schedule boxes");
                assertTrue(bytes < MAX_BYTES, name + ": " + bytes + " bytes");
                assertTrue(data.memory().size() < p.pipe().devices(), name + ": ranks with identical memory grouped");
                assertTrue(data.tensors().size() > 1000, name + ": every parameter and activation listed");
                Document doc = ReportPages.parse(html);
                ReportPages.assertSelfContained(name, html);
                ReportPages.assertNumbers(p, data, doc);
                assertEquals(16, ReportPages.select(doc, "//g[@class='schedule-row']").size());
            }));
        }
        return tests;
    }
}
