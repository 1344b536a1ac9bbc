package io.tessera.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.planner.checkpoint.Verification;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;

/**
 * {@code tessera checkpoint verify DIR [--json]}: checks every file, header and checksum of a sharded checkpoint and
 * that the slices tile every tensor exactly once per replica group.
 */
@Command(name = "verify", mixinStandardHelpOptions = true,
        description = {"Checks a sharded checkpoint: every file its index lists exists with the size and header the "
                + "index implies, every slice matches its CRC-32C, and the slices tile every tensor exactly once per "
                + "replica group. Exit code 2 with a one-line message at the first problem."})
public final class CheckpointVerifyCommand implements Callable<Integer> {

    @Spec
    private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "DIR", description = "The checkpoint directory.")
    private Path dir;

    @Option(names = "--json", description = "Print the result as JSON.")
    private boolean json;

    @Mixin
    private ProgressOption progress = new ProgressOption();

    @Override
    public Integer call() {
        Verification v;
        try (ProgressOption.Handle p = progress.open(spec.commandLine().getErr(), "tessera checkpoint verify")) {
            v = CheckpointCommand.run(() -> Verification.of(dir, p::advance));
        }
        PrintWriter stdout = spec.commandLine().getOut();
        Map<Integer, Integer> byCopies = new TreeMap<>();
        v.replicas().values().forEach(n -> byCopies.merge(n, 1, Integer::sum));
        if (json) {
            ObjectNode o = Json.object();
            o.put("ok", true);
            o.put("files", v.files());
            o.put("entries", v.entries());
            o.put("bytes", v.bytes());
            o.put("tensors", v.tensors());
            ObjectNode r = o.putObject("tensors_by_copies");
            byCopies.forEach((k, n) -> r.put(String.valueOf(k), n));
            stdout.print(Json.write(o));
        } else {
            StringBuilder copies = new StringBuilder();
            byCopies.forEach((k, n) -> copies.append(copies.length() == 0 ? "" : ", ").append(n)
                    .append(n == 1 ? " tensor" : " tensors").append(" held ").append(k).append(k == 1 ? " time"
                            : " times"));
            stdout.println("ok: " + dir + ": " + v.files() + " files, " + v.entries() + " slices, "
                    + CheckpointCommand.human(v.bytes()) + " checksummed; " + v.tensors() + " tensors tiled exactly ("
                    + copies + ")");
        }
        stdout.flush();
        return Tessera.EXIT_OK;
    }
}
