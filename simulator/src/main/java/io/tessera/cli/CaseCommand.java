package io.tessera.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * A command that reads a JSON array of cases from {@code --input}, answers each case independently, and writes a
 * JSON array of the answers in the same order to {@code --output} (or stdout). A bad case becomes
 * {@code {"error": "..."}} in its place, the other cases still run, and the exit code is then
 * {@link Tessera#EXIT_BAD_INPUT}.
 */
public abstract class CaseCommand implements Callable<Integer> {

    /** The most devices a case may arrange: every rank is listed or planned, so the work grows with it. */
    public static final int MAX_DEVICES = 65_536;

    /** This command's model, injected by picocli. */
    @Spec
    protected CommandSpec spec;

    /** The input file: a JSON array of cases. */
    @Option(names = "--input", required = true, paramLabel = "CASES.json",
            description = "JSON array of cases (see strategies/layout/README.md).")
    protected Path input;

    /** The output file, or null for stdout. */
    @Option(names = "--output", paramLabel = "OUT.json",
            description = "Write the JSON result here (atomically) instead of to stdout.")
    protected Path output;

    /**
     * Answers one case.
     *
     * @param c     the case as read
     * @param index its position in the input array
     * @return the answer object
     * @throws IllegalArgumentException when the case is invalid; its message becomes the case's {@code error}
     */
    protected abstract ObjectNode answer(JsonNode c, int index);

    /**
     * The exit code for internal failures found while answering (e.g. a failed verification), or
     * {@link Tessera#EXIT_OK}; called after all cases ran and the output was written.
     */
    protected int internalStatus() {
        return Tessera.EXIT_OK;
    }

    /** Reads the cases, answers each, writes the answers, and returns the exit code. */
    @Override
    public Integer call() {
        ArrayNode cases = Json.readArray("--input", input);
        PrintWriter err = spec.commandLine().getErr();
        boolean verbose = Tessera.isVerbose(spec.commandLine());
        ArrayNode answers = Json.array();
        int bad = 0;
        for (int i = 0; i < cases.size(); i++) {
            try {
                answers.add(answer(cases.get(i), i));
            } catch (IllegalArgumentException e) {
                bad++;
                String message = Json.oneLine(e.getMessage());
                ObjectNode error = Json.object();
                error.put("error", message);
                answers.add(error);
                err.println("tessera: case " + i + ": " + message);
                if (verbose) {
                    e.printStackTrace(err);
                }
            }
        }
        Json.emit(answers, output, spec.commandLine().getOut());
        err.flush();
        int internal = internalStatus();
        if (internal != Tessera.EXIT_OK) {
            return internal;
        }
        return bad > 0 ? Tessera.EXIT_BAD_INPUT : Tessera.EXIT_OK;
    }

    /** Rejects device matrices too large to list or plan every rank. */
    protected static void checkDeviceCount(String what, int devices) {
        if (devices > MAX_DEVICES) {
            throw new IllegalArgumentException(what + " arranges " + devices + " devices; at most " + MAX_DEVICES
                    + " are supported because every rank is listed; use a smaller device matrix");
        }
    }
}
