package io.tessera.cli;

import io.tessera.planner.json.InputFiles;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.planner.cost.ClusterSpec;
import io.tessera.planner.strategy.ClusterRef;
import io.tessera.planner.strategy.NetworkRef;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import io.tessera.simulator.search.DegreeSearch;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Optional;

/**
 * {@code tessera search FILE} for a strategy file with a {@code parallelism} section on a Llama-family network: the
 * {@link DegreeSearch}. Prints the top candidates and the proposal (or JSON), writes the proposal as a strategy file
 * with {@code --out}. When no candidate fits, the table (or JSON, with {@code "proposal": null}) is printed, nothing
 * is written, and the command fails with a one-line message and {@link Tessera#EXIT_BAD_INPUT}.
 */
final class DegreeSearchRun {

    private final Path strategy;
    private final StrategyFile file;
    private final DegreeSearch.Options options;
    private final String cluster;
    private final int top;

    /**
     * @param cluster {@code --cluster} when given on the command line, else null (the file's {@code cluster} key, else
     *                the default preset)
     * @param top     the candidates shown in the table
     */
    DegreeSearchRun(Path strategy, StrategyFile file, DegreeSearch.Options options, String cluster, int top) {
        this.strategy = strategy;
        this.file = file;
        this.options = options;
        this.cluster = cluster;
        this.top = top;
    }

    /** Searches, prints and writes {@code out} (when not null); returns the exit code. */
    int run(PrintWriter stdout, PrintWriter stderr, ProgressOption progress, boolean json, boolean verbose, Path out) {
        ClusterSpec spec = clusterSpec();
        DegreeSearch.Result result;
        try (ProgressOption.Handle p = progress.open(stderr, "tessera search")) {
            result = DegreeSearch.search(file, spec, options, p);
            p.phase(String.format(Locale.ROOT, "degree search: %d candidates from %d plans in %.1f s",
                    result.evaluated().size(), result.plans(), result.seconds()));
        } catch (IllegalArgumentException e) {
            throw InputException.inFile(strategy, e);
        }
        Optional<DegreeSearch.Candidate> best = result.best();
        if (best.isPresent() && out != null) {
            Json.writeAtomically("--out", out, StrategyFiles.write(proposal(best.get(), out)));
        }
        if (json) {
            stdout.print(Json.write(toJson(result)));
        } else {
            print(stdout, result, verbose);
        }
        stdout.flush();
        if (best.isEmpty()) {
            throw new InputException(strategy + ": " + nothingFits(result));
        }
        return Tessera.EXIT_OK;
    }

    /** The cluster: {@code --cluster}, else the file's {@code cluster}, else the default preset, for its devices. */
    private ClusterSpec clusterSpec() {
        int devices = file.deviceCount();
        if (cluster == null) {
            try {
                Optional<ClusterSpec> own = io.tessera.planner.api.StrategyPlans.cluster(file, devices);
                if (own.isPresent()) {
                    return own.get();
                }
            } catch (IllegalArgumentException e) {
                throw InputException.inFile(strategy, e);
            }
        }
        return new AnalyticSimulation(strategy, cluster == null ? AnalyticSimulation.DEFAULT_CLUSTER : cluster, null,
                true, false).cluster(devices);
    }

    /**
     * The input file with the proposal's {@code parallelism} section; {@code --cluster} (when given) as its
     * {@code cluster}; a relative {@code hf_config} path rewritten for {@code out}'s directory.
     */
    StrategyFile proposal(DegreeSearch.Candidate best, Path out) {
        StrategyFile f = file.withParallelism(best.parallelism());
        if (cluster != null) {
            f = f.withCluster(ClusterSpec.presets().contains(cluster) ? ClusterRef.preset(cluster)
                    : ClusterRef.spec(readCluster()));
        }
        if (f.network() instanceof NetworkRef.HfConfig h && !Path.of(h.path()).isAbsolute()) {
            Path dir = out.toAbsolutePath().normalize().getParent();
            Path config = file.resolve(h.path()).toAbsolutePath().normalize();
            String rel = dir.relativize(config).toString().replace('\\', '/');
            f = f.withNetwork(NetworkRef.hfConfig(rel, h.args())).withBaseDir(dir);
        }
        return f;
    }

    private String readCluster() {
        try {
            return InputFiles.readText(Path.of(cluster), "cluster spec");
        } catch (InputFiles.InputFileException e) {
            throw new InputException("--cluster " + e.getMessage(), e);
        }
    }

    private void print(PrintWriter o, DegreeSearch.Result r, boolean verbose) {
        var p = file.parallelism().orElseThrow();
        o.printf(Locale.ROOT, "degree search for %s: %s parameters, global batch %d x micro-batch %d on %d devices "
                        + "of %s (%s per device)%n", label(), billions(r.parameters()), p.globalBatchSize(),
                p.microBatchSize(), file.deviceCount(), r.cluster().name(), DegreeSearch.gib(r.deviceMemoryBytes()));
        long fit = r.evaluated().stream().filter(DegreeSearch.Candidate::fits).count();
        o.printf(Locale.ROOT, "%d plans, %d candidates (%d fit), %d settings skipped%s%n%n", r.plans(),
                r.evaluated().size(), fit, r.skipped().size(),
                r.skipped().isEmpty() || verbose ? "" : " (--verbose or --json lists them)");
        boolean experts = r.evaluated().stream().anyMatch(c -> c.setting().expert() > 1);
        o.printf(Locale.ROOT, "%6s %7s %8s %5s%s %9s %12s %12s %12s %4s%n", "tensor", "context", "pipeline", "data",
                experts ? String.format(Locale.ROOT, " %6s", "expert") : "", "recompute", "step", "tokens/s",
                "memory/rank", "fits");
        int shown = 0;
        for (DegreeSearch.Candidate c : r.evaluated()) {
            if (shown++ == top) {
                o.printf(Locale.ROOT, "... %d more (--top N, --json)%n", r.evaluated().size() - top);
                break;
            }
            DegreeSearch.Setting s = c.setting();
            o.printf(Locale.ROOT, "%6d %7d %8d %5d%s %9s %12s %12s %12s %4s%n", s.tensor(), s.context(),
                    s.pipeline(), s.data(), experts ? String.format(Locale.ROOT, " %6d", s.expert()) : "",
                    s.recompute().jsonName(), seconds(c.stepSeconds()), tokens(c.tokensPerSecond()),
                    DegreeSearch.gib(c.memoryBytes()), c.fits() ? "yes" : "no");
        }
        if (verbose && !r.skipped().isEmpty()) {
            o.println();
            o.println("skipped:");
            for (DegreeSearch.Skipped s : r.skipped()) {
                o.println("  " + s.setting().describe() + ": " + s.reason());
            }
        }
        o.println();
        r.best().ifPresentOrElse(b -> o.printf(Locale.ROOT, "proposed: %s: step %s, %s tokens/s, %s of %s per "
                        + "rank%n", b.setting().describe(), seconds(b.stepSeconds()), tokens(b.tokensPerSecond()),
                DegreeSearch.gib(b.memoryBytes()), DegreeSearch.gib(r.deviceMemoryBytes())),
                () -> o.println("proposed: none (" + nothingFits(r) + ")"));
    }

    /** One line: why nothing is proposed. */
    static String nothingFits(DegreeSearch.Result r) {
        String advice = "; use more devices, a smaller global_batch_size or micro_batch_size, or a shorter seq";
        Optional<DegreeSearch.Skipped> leastBound = r.skipped().stream()
                .filter(s -> s.why() == DegreeSearch.Why.MEMORY)
                .min(java.util.Comparator.comparingLong(DegreeSearch.Skipped::bytes));
        if (r.evaluated().isEmpty() && leastBound.isPresent()) {
            DegreeSearch.Skipped s = leastBound.get();
            return "no setting fits the device memory: the model state alone needs at least "
                    + DegreeSearch.gib(s.bytes()) + " per rank with the most sharding (" + s.setting().describe()
                    + ") but a " + r.cluster().device().name() + " has " + DegreeSearch.gib(r.deviceMemoryBytes())
                    + advice;
        }
        if (r.evaluated().isEmpty()) {
            String first = r.skipped().isEmpty() ? "no degree setting divides the devices"
                    : r.skipped().get(0).setting().describe() + ": " + r.skipped().get(0).reason();
            return "no setting could be evaluated (" + r.skipped().size() + " skipped; first " + first
                    + "); use more devices or check the parallelism section";
        }
        DegreeSearch.Candidate least = r.evaluated().stream()
                .min(java.util.Comparator.comparingLong(DegreeSearch.Candidate::memoryBytes)).orElseThrow();
        return "no setting fits the device memory: the smallest needs " + DegreeSearch.gib(least.memoryBytes())
                + " per rank (" + least.setting().describe() + ") but a " + r.cluster().device().name() + " has "
                + DegreeSearch.gib(r.deviceMemoryBytes()) + advice;
    }

    private ObjectNode toJson(DegreeSearch.Result r) {
        ObjectNode root = Json.object();
        root.put("search", "degrees");
        root.put("cluster", r.cluster().name());
        root.put("devices", file.deviceCount());
        root.put("device_memory_bytes", r.deviceMemoryBytes());
        root.put("parameters", r.parameters());
        root.put("plans", r.plans());
        Optional<DegreeSearch.Candidate> best = r.best();
        if (best.isPresent()) {
            root.set("proposal", candidate(best.get()));
        } else {
            root.putNull("proposal");
            root.put("reason", nothingFits(r));
        }
        ArrayNode all = root.putArray("candidates");
        r.evaluated().forEach(c -> all.add(candidate(c)));
        ArrayNode skipped = root.putArray("skipped");
        for (DegreeSearch.Skipped s : r.skipped()) {
            ObjectNode n = setting(s.setting());
            n.put("why", s.why().name().toLowerCase(Locale.ROOT));
            n.put("reason", s.reason());
            skipped.add(n);
        }
        return root;
    }

    private static ObjectNode candidate(DegreeSearch.Candidate c) {
        ObjectNode n = setting(c.setting());
        n.put("step_seconds", c.stepSeconds());
        n.put("tokens_per_second", c.tokensPerSecond());
        n.put("memory_bytes", c.memoryBytes());
        n.put("fits", c.fits());
        return n;
    }

    private static ObjectNode setting(DegreeSearch.Setting s) {
        ObjectNode n = Json.object();
        n.put("tensor", s.tensor());
        n.put("context", s.context());
        n.put("pipeline", s.pipeline());
        n.put("data", s.data());
        n.put("expert", s.expert());
        if (s.recompute() != null) {
            n.put("recompute", s.recompute().jsonName());
        }
        return n;
    }

    private String label() {
        return file.network() instanceof NetworkRef.HfConfig h ? "'" + h.path() + "'" : "the zoo llama";
    }

    private static String billions(long n) {
        return n >= 1_000_000_000L ? String.format(Locale.ROOT, "%.2f B", n / 1e9)
                : String.format(Locale.ROOT, "%.2f M", n / 1e6);
    }

    private static String tokens(double perSecond) {
        return String.format(Locale.ROOT, "%,.0f", perSecond);
    }

    private static String seconds(double s) {
        return s >= 1 ? String.format(Locale.ROOT, "%.3f s", s) : String.format(Locale.ROOT, "%.3f ms", s * 1e3);
    }
}
