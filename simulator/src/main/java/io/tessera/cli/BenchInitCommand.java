package io.tessera.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.bench.InitializerBenchmark;
import io.tessera.layout.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code tessera bench init}: generated elements per second of every built-in initializer, and the memory one rank
 * allocates while initialising its 1/64 slice of a 1 GiB float32 parameter.
 */
@Command(name = "init", mixinStandardHelpOptions = true,
        description = {"Benchmarks the initializers: float32 elements/s per initializer, and the bytes one rank "
                + "allocates while generating its 1/64 slice (256 x 16384, 16 MiB) of a 1 GiB [16384, 16384] "
                + "Normal parameter (exact sharded generation: near the slice size, not the full size).",
                "Prints a table, or JSON with --json."})
public final class BenchInitCommand implements Callable<Integer> {

    @Spec
    private CommandSpec spec;

    @Option(names = "--seconds", paramLabel = "S", defaultValue = "0.3",
            description = "Seconds of timed generation per initializer (default: ${DEFAULT-VALUE}).")
    private double seconds;

    @Option(names = "--json", description = "Print the figures as JSON.")
    private boolean json;

    /** Runs the benchmark and prints the figures. */
    @Override
    public Integer call() {
        if (!(seconds > 0 && seconds <= 60)) {
            throw new ParameterException(spec.commandLine(), "--seconds is " + seconds
                    + "; expected a duration in (0, 60], e.g. --seconds 0.3");
        }
        InitializerBenchmark.Figures f = new InitializerBenchmark.Figures(InitializerBenchmark.throughput(seconds),
                InitializerBenchmark.shardMemory());
        PrintWriter out = spec.commandLine().getOut();
        out.print(json ? Json.write(toJson(f)) : table(f));
        out.flush();
        return Tessera.EXIT_OK;
    }

    static ObjectNode toJson(InitializerBenchmark.Figures f) {
        ObjectNode o = Json.object();
        ArrayNode t = o.putArray("throughput");
        for (InitializerBenchmark.Throughput x : f.throughput()) {
            ObjectNode e = t.addObject();
            e.put("initializer", x.initializer());
            ArrayNode shape = e.putArray("shape");
            for (long d : x.shape()) {
                shape.add(d);
            }
            e.put("elements_per_second", x.elementsPerSecond());
        }
        InitializerBenchmark.ShardMemory m = f.shardMemory();
        ObjectNode s = o.putObject("shard_memory");
        s.put("initializer", m.initializer());
        s.put("full_bytes", m.fullBytes());
        s.put("slice_bytes", m.sliceBytes());
        s.put("allocated_bytes", m.allocatedBytes());
        s.put("peak_heap_growth_bytes", m.peakHeapGrowthBytes());
        s.put("allocated_per_slice_byte", m.allocatedPerSliceByte());
        s.put("seconds", m.seconds());
        return o;
    }

    static String table(InitializerBenchmark.Figures f) {
        StringBuilder sb = new StringBuilder("tessera bench init (float32)\n");
        for (InitializerBenchmark.Throughput t : f.throughput()) {
            sb.append(String.format(Locale.ROOT, "  %-16s %-18s %10.1f M elements/s\n", t.initializer(),
                    Tensor.shapeString(t.shape()), t.elementsPerSecond() / 1e6));
        }
        InitializerBenchmark.ShardMemory m = f.shardMemory();
        sb.append(String.format(Locale.ROOT, "  sharded init: %s %s (%.1f MiB), rank 0 slice %s (%.1f MiB) in %.3f s\n",
                m.initializer(), Tensor.shapeString(m.fullShape()), m.fullBytes() / 1048576.0,
                Tensor.shapeString(m.sliceShape()), m.sliceBytes() / 1048576.0, m.seconds()));
        sb.append(String.format(Locale.ROOT, "  allocated %.1f MiB (%.2f x the slice), peak heap growth %.1f MiB\n",
                m.allocatedBytes() / 1048576.0, m.allocatedPerSliceByte(), m.peakHeapGrowthBytes() / 1048576.0));
        return sb.toString();
    }
}
