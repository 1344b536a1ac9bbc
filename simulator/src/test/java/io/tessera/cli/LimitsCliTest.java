package io.tessera.cli;

import io.tessera.layout.Limits;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Bounded work through the CLI: absurd sizes are refused by a cheap check before anything big is built or planned
 * ({@link Limits}), sizes whose arithmetic overflows a long are a one-line error naming the tensor or operator, and
 * {@code --time-limit} stops a search. Each refusal is exit code 2 with one line on stderr naming the key, the value,
 * the limit and how to raise it, without a stack trace. The 30 s timeouts are hang guards, not measurements.
 */
class LimitsCliTest {

    private static final Duration HANG_GUARD = Duration.ofSeconds(30);
    private static final Path STRATEGIES = Path.of("..", "strategies").toAbsolutePath().normalize();

    @TempDir
    Path dir;

    private Path strategy(String zoo, String args, String devices) throws IOException {
        Path f = dir.resolve(zoo + ".json");
        Files.writeString(f, "{\"network\": {\"zoo\": \"" + zoo + "\", \"args\": " + args + "}, \"devices\": "
                + devices + ", \"parallel\": {\"parallel_mode\": \"data_parallel\"}}");
        return f;
    }

    /** Runs the command under the hang guard and checks exit code 2, one line naming {@code expected}. */
    private static String refused(String expected, String... args) {
        CliRun r = assertTimeoutPreemptively(HANG_GUARD, () -> CliRun.of(args));
        assertEquals(Tessera.EXIT_BAD_INPUT, r.code(), r.err());
        String err = r.err().strip();
        assertFalse(err.contains("\n"), "one line expected: " + err);
        assertFalse(err.contains("Exception") || err.contains("\tat "), err);
        assertFalse(err.contains("internal error"), err);
        assertTrue(err.startsWith("tessera: "), err);
        assertTrue(err.contains(expected), "expected '" + expected + "' in: " + err);
        return err;
    }

    private static void namesLimit(String err, Limits.Limit limit) {
        assertTrue(err.contains("the limit is " + limit.value() + " (" + limit.key() + ")")
                || err.contains("the limit (" + limit.key() + ")"), err);
        assertTrue(err.contains("-D" + limit.property() + "=N") && err.contains("--allow-large"), err);
    }

    @Test
    void gptWithAMillionLayersIsRefusedBeforeItIsBuilt() throws IOException {
        Path f = strategy("gpt", "{\"layers\": 1000000}", "8");
        for (String command : new String[] {"plan", "simulate"}) {
            String err = refused("layers is 1000000", command, f.toString());
            namesLimit(err, Limits.Limit.LAYERS);
        }
        namesLimit(refused("layers is 1000000", "simulate", "--numeric", f.toString()), Limits.Limit.LAYERS);
    }

    @Test
    void llamaMlpAndResnetLayerCountsAreBounded() throws IOException {
        namesLimit(refused("layers is 100000", "plan", strategy("llama", "{\"layers\": 100000}", "8").toString()),
                Limits.Limit.LAYERS);
        namesLimit(refused("layers is 100000", "plan", strategy("mlp", "{\"layers\": 100000}", "8").toString()),
                Limits.Limit.LAYERS);
        namesLimit(refused("blocks is 1000000", "plan", strategy("resnet", "{\"blocks\": 1000000}", "8")
                .toString()), Limits.Limit.BLOCKS);
    }

    @Test
    void aBillionDevicesAreRefusedByPlanSimulateAndSearch() throws IOException {
        Path f = strategy("gpt", "{}", "1000000000");
        for (String command : new String[] {"plan", "simulate", "search"}) {
            namesLimit(refused("devices is 1000000000", command, f.toString()), Limits.Limit.DEVICES);
        }
        Path m = strategy("mlp", "{}", "{\"dev_matrix\": [1024, 2048]}");
        namesLimit(refused("devices.dev_matrix [1024, 2048]: devices is 2097152", "plan", m.toString()),
                Limits.Limit.DEVICES);
    }

    @Test
    void numericSimulationRunsAtMostItsRankLimitInProcess() throws IOException {
        Path f = strategy("gpt", "{\"batch\": 8192}", "8192");
        namesLimit(refused("devices (a numeric simulation runs every rank in this process) is 8192", "simulate",
                "--numeric", f.toString()), Limits.Limit.NUMERIC_RANKS);
    }

    @Test
    void numericSimulationRefusesTensorsThatDoNotFitAJavaArray() throws IOException {
        Path f = strategy("mlp", "{\"widths\": [65536, 65536], \"batch\": 8}", "8");
        namesLimit(refused("tensor 'layers.0.weight'", "simulate", "--numeric", f.toString()),
                Limits.Limit.SLICE_ELEMENTS);
    }

    @Test
    void tensorsOfMoreThanTheElementLimitAreOneLineErrorsNamingTheTensor() throws IOException {
        // attention scores of batch 4 x 4 heads x 2^30 x 2^30 elements: 2^64, beyond a long
        String err = refused("op 'layers.0.attention.scores' (BatchMatMul) output tensor type Float32",
                "simulate", strategy("gpt", "{\"seq\": 1073741824}", "8").toString());
        namesLimit(err, Limits.Limit.TENSOR_ELEMENTS);
        // hidden 10^6: the first FFN weight has 4 x 10^12 elements
        namesLimit(refused("network 'gpt': parameter 'layers.0.ffn.w1' tensor type Float32[1000000, "
                + "4000000] has more than", "plan", strategy("gpt", "{\"hidden\": 1000000}", "8").toString()),
                Limits.Limit.TENSOR_ELEMENTS);
        // a network file with an input of 10^9 x 10^9 elements
        Path net = dir.resolve("net.json");
        Files.writeString(net, "{\"name\": \"big\", \"inputs\": [{\"name\": \"x\", \"shape\": [1000000000, "
                + "1000000000], \"dtype\": \"float32\"}], \"parameters\": [], \"ops\": [], \"loss\": \"x\"}");
        Path f = dir.resolve("file.json");
        Files.writeString(f, "{\"network\": {\"file\": \"net.json\"}, \"devices\": 8, \"parallel\": "
                + "{\"parallel_mode\": \"data_parallel\"}}");
        namesLimit(refused("[1000000000, 1000000000] has more than", "plan", f.toString()),
                Limits.Limit.TENSOR_ELEMENTS);
    }

    @Test
    void flopsThatOverflowALongAreAnErrorNamingTheOperatorNotAWrappedFigure() throws IOException {
        // fused attention at sequence 2^30: every tensor is within the element limit, its FLOPs are not within a long
        Path f = strategy("gpt", "{\"seq\": 1073741824, \"batch\": 1, \"fused_attention\": true}", "1");
        refused("operator 'layers.0.attention.flash' (FlashAttentionScore): FLOPs", "simulate", f.toString());
        refused("overflow a 64-bit integer", "simulate", "--json", f.toString());
    }

    @Test
    void redistributionsWithTooManyTransfersAreRefusedBeforePlanning() throws IOException {
        Path cases = dir.resolve("cases.json");
        Files.writeString(cases, "[{\"dev_matrix\": [4096, 16], \"shape\": [65536, 65536], \"from\": [1, 0], "
                + "\"to\": [0, 1]}]");
        namesLimit(refused("transfers (an upper bound) is 16777216", "layout", "redistribute", "--input",
                cases.toString()), Limits.Limit.REDISTRIBUTION_TRANSFERS);
        Files.writeString(cases, "[{\"from_dev_matrix\": [16384], \"to_dev_matrix\": [128, 128], \"shape\": [16384, "
                + "16384], \"from\": [0, -1], \"to\": [-1, 0]}]");
        namesLimit(refused("transfers (an upper bound) is 268435456", "layout", "redistribute", "--input",
                cases.toString()), Limits.Limit.REDISTRIBUTION_TRANSFERS);
    }

    @Test
    void aSmallRedistributionIsWithinTheBoundAndItsBoundIsAnUpperBound() throws IOException {
        Path cases = dir.resolve("cases.json");
        Files.writeString(cases, "[{\"dev_matrix\": [64], \"shape\": [64, 64], \"from\": [0, -1], \"to\": [-1, 0]}]");
        CliRun r = CliRun.of("layout", "redistribute", "--input", cases.toString());
        assertEquals(Tessera.EXIT_OK, r.code(), r.err());
    }

    @Test
    void theTransferBoundIsAnUpperBoundOfThePlannedTransfers() {
        long seed = 15;
        System.out.println("LimitsCliTest transfer bound seed " + seed);
        io.tessera.layout.RandomLayouts random = io.tessera.layout.RandomLayouts.seeded(seed);
        for (int i = 0; i < 300; i++) {
            io.tessera.layout.RandomLayouts.Case c = random.nextCase();
            io.tessera.layout.redistribution.RedistributionPlan plan =
                    io.tessera.layout.redistribution.Redistribution.plan(c.from(), c.to(), c.dtype());
            long transfers = 0;
            for (io.tessera.layout.redistribution.Step s : plan.steps()) {
                if (s instanceof io.tessera.layout.redistribution.Step.Exchange e) {
                    for (io.tessera.layout.redistribution.Transfer t : e.transfers()) {
                        transfers++;
                    }
                }
            }
            long bound = RedistributeCommand.transferBound(c.from(), c.to());
            assertTrue(transfers <= bound, "case " + i + " " + c + ": " + transfers + " transfers > bound " + bound);
        }
    }

    @Test
    void virtualStagesAreBounded() {
        Path f = STRATEGIES.resolve("gpt-megatron-tp4-dp2.json");
        namesLimit(refused("virtual stages is 1000000", "simulate", f.toString(), "--schedule", "interleaved",
                "--pipeline-stages", "2", "--virtual-stages", "1000000"), Limits.Limit.VIRTUAL_STAGES);
        namesLimit(refused("pipeline stages x micro-batches x virtual stages", "simulate", f.toString(),
                "--pipeline-stages", "100000", "--micro-batches", "100000"), Limits.Limit.PIPELINE_SLOTS);
    }

    @Test
    void timeLimitStopsTheParallelismSearch() {
        String err = refused("search: --time-limit of 0.000001 s reached during 'parallelism search",
                "search", STRATEGIES.resolve("gpt-megatron-tp4-dp2.json").toString(), "--progress=none",
                "--time-limit", "0.000001");
        assertTrue(err.endsWith("raise --time-limit or narrow the search"), err);
    }

    @Test
    void timeLimitStopsTheDegreeSearch() throws IOException {
        Path f = dir.resolve("small.json");
        Files.writeString(f, "{\"network\": {\"zoo\": \"llama\", \"args\": {\"layers\": 8, \"hidden\": 256, "
                + "\"heads\": 8, \"kv_heads\": 4, \"ffn\": 512, \"seq\": 1024, \"vocab\": 1024}}, \"devices\": 64, "
                + "\"cluster\": \"h100-dgx\", \"parallelism\": {\"global_batch_size\": 64, \"micro_batch_size\": 1}}");
        Path out = dir.resolve("best.json");
        refused("search: --time-limit of 0.000001 s reached during 'degree search", "search", f.toString(),
                "--progress=none", "--time-limit", "0.000001", "--out", out.toString());
        assertFalse(Files.exists(out), "no output after a time limit");
    }

    @Test
    void timeLimitStopsTheStrategySearchOfAnAutoParallelPlan() throws IOException {
        Path f = dir.resolve("auto.json");
        Files.writeString(f, "{\"network\": {\"zoo\": \"gpt\", \"args\": {\"batch\": 8}}, \"devices\": 8, "
                + "\"parallel\": {\"parallel_mode\": \"auto_parallel\"}}");
        refused("plan: --time-limit of 0.000001 s reached during 'search", "plan", f.toString(), "--progress=none",
                "--time-limit", "0.000001");
    }

    @Test
    void timeLimitStopsANumericSimulationBetweenSteps() {
        String err = refused("simulate: --time-limit of 0.000001 s reached during 'numeric step 1 of 2'", "simulate",
                "--numeric", STRATEGIES.resolve("mlp-data-parallel.json").toString(), "--progress=none",
                "--time-limit", "0.000001");
        assertTrue(err.endsWith("raise --time-limit or run fewer --steps"), err);
    }

    @Test
    void aBadTimeLimitIsBadInput() {
        for (String bad : new String[] {"0", "-1", "NaN", "Infinity"}) {
            refused("--time-limit is", "search", STRATEGIES.resolve("gpt-megatron-tp4-dp2.json").toString(),
                    "--progress=none", "--time-limit", bad);
        }
    }

    @Test
    void allowLargeLiftsTheLimitsForTheCommandOnly() throws IOException {
        // one input of 2^42 elements, reduced to the loss: refused by default, planned with --allow-large
        Path net = dir.resolve("net.json");
        Files.writeString(net, "{\"name\": \"big\", \"inputs\": [{\"name\": \"x\", \"shape\": [2097152, 2097152], "
                + "\"dtype\": \"float32\"}], \"parameters\": [], \"ops\": [{\"name\": \"loss\", \"type\": "
                + "\"ReduceMean\", \"inputs\": [\"x\"]}], \"loss\": \"loss\"}");
        Path f = dir.resolve("file.json");
        Files.writeString(f, "{\"network\": {\"file\": \"net.json\"}, \"devices\": 8, \"parallel\": "
                + "{\"parallel_mode\": \"data_parallel\"}}");
        namesLimit(refused("network JSON: inputs[0] ('x'): tensor type Float32[2097152, 2097152] has more than",
                "plan", f.toString()), Limits.Limit.TENSOR_ELEMENTS);
        CliRun large = assertTimeoutPreemptively(HANG_GUARD, () -> CliRun.of("plan", "--allow-large", f.toString()));
        assertEquals(Tessera.EXIT_OK, large.code(), large.err());
        assertEquals(Limits.Limit.TENSOR_ELEMENTS.defaultValue(), Limits.Limit.TENSOR_ELEMENTS.value(),
                "the flag does not outlive its command");
        refused("has more than", "plan", f.toString());
    }
}
