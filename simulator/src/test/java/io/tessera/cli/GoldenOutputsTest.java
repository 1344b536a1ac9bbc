package io.tessera.cli;

import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Byte-identical outputs of the CLI on every shipped strategy file (and two searched ones): PLAN.json, the strategy
 * checkpoint, the plan summary, the analytic {@code simulate --json} and its text and trace, the numeric
 * {@code simulate --numeric --json}, pipeline variants and {@code search --json}. The goldens in
 * {@code src/test/resources/golden/} were written by the code before the issue-11 restructuring; a change that moves
 * one byte of any of these outputs fails here. After a deliberate change of output, rewrite them with
 * {@code mvn -pl simulator test -Dtest=GoldenOutputsTest -Dtessera.golden.write=true} and review the diff.
 */
class GoldenOutputsTest {

    private static final Path STRATEGIES = Path.of("../strategies");
    private static final Path GOLDEN = Path.of("src/test/resources/golden");
    private static final boolean WRITE = Boolean.getBoolean("tessera.golden.write");

    @TempDir
    Path tmp;

    /** One CLI run: its name, arguments ({@code {out}} stands for a fresh output folder) and the files it writes. */
    private record Case(String name, List<String> args, List<String> files) {
    }

    private static List<Case> cases() throws IOException {
        List<Path> inputs = new ArrayList<>();
        try (var s = Files.list(STRATEGIES)) {
            s.filter(p -> p.toString().endsWith(".json")).sorted().forEach(inputs::add);
        }
        try (var s = Files.list(GOLDEN.resolve("inputs"))) {
            s.filter(p -> p.toString().endsWith(".json")).sorted().forEach(inputs::add);
        }
        List<Case> out = new ArrayList<>();
        for (Path f : inputs) {
            String b = f.getFileName().toString().replace(".json", "");
            String file = f.toString();
            out.add(new Case(b + ".plan", List.of("plan", file, "--progress=none", "--out", "{out}/plan.json",
                    "--ckpt", "{out}/ckpt.json"), List.of("plan.json", "ckpt.json")));
            out.add(new Case(b + ".analytic", List.of("simulate", file, "--progress=none", "--json"), List.of()));
            out.add(new Case(b + ".analytic-text", List.of("simulate", file, "--progress=none", "--trace",
                    "{out}/trace.json"), List.of("trace.json")));
            out.add(new Case(b + ".numeric", List.of("simulate", file, "--progress=none", "--numeric", "--json"),
                    List.of()));
        }
        String megatron = STRATEGIES.resolve("gpt-megatron-tp4-dp2.json").toString();
        String seqpar = STRATEGIES.resolve("gpt-megatron-sequence-parallel.json").toString();
        String opt = STRATEGIES.resolve("gpt-optimizer-parallel.json").toString();
        out.add(new Case("megatron.interleaved-selective", List.of("simulate", megatron, "--pipeline-stages", "2",
                "--schedule", "interleaved", "--recompute", "selective", "--json"), List.of()));
        out.add(new Case("megatron.gpipe-full-h100", List.of("simulate", megatron, "--pipeline-stages", "4",
                "--micro-batches", "8", "--schedule", "gpipe", "--recompute", "full", "--cluster", "h100-dgx",
                "--json"), List.of()));
        out.add(new Case("optimizer-parallel.no-overlap", List.of("simulate", opt, "--no-overlap", "--cluster",
                "ascend-910b", "--json"), List.of()));
        out.add(new Case("seqpar.numeric-float64", List.of("simulate", seqpar, "--numeric", "--dtype", "float64",
                "--steps", "3", "--json"), List.of()));
        out.add(new Case("megatron.search", List.of("search", megatron, "--progress=none", "--json", "--out",
                "{out}/best.json"), List.of("best.json")));
        out.add(new Case("mlp.search", List.of("search", STRATEGIES.resolve("mlp-data-parallel.json").toString(),
                "--progress=none", "--json"), List.of()));
        return out;
    }

    @TestFactory
    List<DynamicTest> outputsAreByteIdentical() throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        for (Case c : cases()) {
            tests.add(DynamicTest.dynamicTest(c.name(), () -> check(c)));
        }
        return tests;
    }

    /** "line N: expected ... found ...", the first line where two texts differ. */
    private static String firstDifference(String expected, String found) {
        String[] a = expected.split("\n", -1);
        String[] b = found.split("\n", -1);
        for (int i = 0; i < Math.max(a.length, b.length); i++) {
            String x = i < a.length ? a[i] : "<end>";
            String y = i < b.length ? b[i] : "<end>";
            if (!x.equals(y)) {
                return "line " + (i + 1) + ": expected <" + x + "> found <" + y + ">";
            }
        }
        return "nowhere";
    }

    private void check(Case c) throws IOException {
        Path out = Files.createDirectories(tmp.resolve(c.name()));
        List<String> args = new ArrayList<>();
        for (String a : c.args()) {
            args.add(a.replace("{out}", out.toString()));
        }
        StringWriter so = new StringWriter();
        StringWriter se = new StringWriter();
        var cl = Tessera.commandLine();
        cl.setOut(new PrintWriter(so, true));
        cl.setErr(new PrintWriter(se, true));
        int code = cl.execute(args.toArray(String[]::new));
        Map<String, String> produced = new LinkedHashMap<>();
        produced.put("stdout", "exit " + code + "\n" + so.toString().replace(out.toString(), "{out}"));
        for (String f : c.files()) {
            Path p = out.resolve(f);
            assertTrue(Files.exists(p), c.name() + ": " + f + " was not written; stderr: " + se);
            produced.put(f, Files.readString(p, StandardCharsets.UTF_8));
        }
        Path dir = GOLDEN.resolve(c.name());
        for (Map.Entry<String, String> e : produced.entrySet()) {
            Path golden = dir.resolve(e.getKey());
            if (WRITE) {
                Files.createDirectories(dir);
                Files.writeString(golden, e.getValue(), StandardCharsets.UTF_8);
                continue;
            }
            assertTrue(Files.exists(golden), "no golden " + golden + "; write it with -Dtessera.golden.write=true");
            String expected = Files.readString(golden, StandardCharsets.UTF_8);
            if (!expected.equals(e.getValue())) {
                assertEquals(expected, e.getValue(), c.name() + ": " + e.getKey() + " differs from " + golden
                        + " (args " + args + ") first at " + firstDifference(expected, e.getValue()));
            }
        }
    }
}
