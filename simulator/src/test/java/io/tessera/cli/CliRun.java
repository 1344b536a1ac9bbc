package io.tessera.cli;

import java.io.PrintWriter;
import java.io.StringWriter;

/**
 * One in-process run of the {@code tessera} command line, for CLI tests: its exit code and what it printed on stdout
 * and stderr (line ends normalised to {@code \n}).
 *
 * @param code the exit code
 * @param out  stdout
 * @param err  stderr
 */
record CliRun(int code, String out, String err) {

    /** Runs {@code tessera args...} in this JVM. */
    static CliRun of(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        var cl = Tessera.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new CliRun(code, out.toString().replace("\r\n", "\n"), err.toString().replace("\r\n", "\n"));
    }
}
