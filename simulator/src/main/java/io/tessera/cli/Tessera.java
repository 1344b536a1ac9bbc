package io.tessera.cli;

import io.tessera.layout.UserText;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.IExecutionExceptionHandler;
import picocli.CommandLine.IParameterExceptionHandler;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.util.Properties;
import java.util.concurrent.Callable;

/**
 * The {@code tessera} command line. Exit codes: {@link #EXIT_OK} 0, {@link #EXIT_INTERNAL} 1 for an internal error,
 * {@link #EXIT_BAD_INPUT} 2 for bad input (a one-line {@code tessera: <message>} on stderr, with the stack trace
 * only under {@code --verbose}).
 */
@Command(name = "tessera", mixinStandardHelpOptions = true, versionProvider = Tessera.Version.class,
        description = "Plans how neural-network tensors are split across a device mesh (MindSpore conventions).",
        subcommands = {PlanCommand.class, SimulateCommand.class, SearchCommand.class, ValidateCommand.class,
                LayoutCommand.class, BenchCommand.class, CheckpointCommand.class,
                CompareCommand.class, ReportCommand.class, ExplainCommand.class})
public final class Tessera implements Callable<Integer> {

    /** Success. */
    public static final int EXIT_OK = 0;
    /** An internal error (a bug, or a plan that failed verification). */
    public static final int EXIT_INTERNAL = 1;
    /** Bad input: unknown options, missing or malformed files, invalid cases. */
    public static final int EXIT_BAD_INPUT = 2;

    /** Name of the global option that turns on stack traces. */
    static final String VERBOSE = "--verbose";

    @Spec
    private CommandSpec spec;

    @Option(names = VERBOSE, scope = ScopeType.INHERIT,
            description = "Print stack traces with error messages.")
    private boolean verbose;

    @Option(names = io.tessera.layout.Limits.ALLOW_LARGE, scope = ScopeType.INHERIT,
            description = "Lift the size limits (layers, operators, devices, tensor elements, ...; see the README's "
                    + "Limits) to their hard ceilings; one limit is raised with -Dtessera.limits.<key>=N.")
    private boolean allowLarge;

    /** Runs the command line and exits the JVM with its exit code. */
    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /**
     * A configured command line: the {@code tessera} command with its subcommands and the exception handlers that map
     * failures to exit codes. Tests call {@code execute} on it after {@code setOut}/{@code setErr}.
     */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Tessera());
        cl.setParameterExceptionHandler(new ParameterErrors());
        cl.setExecutionExceptionHandler(new ExecutionErrors());
        CommandLine.IExecutionStrategy run = new CommandLine.RunLast();
        cl.setExecutionStrategy(parsed -> io.tessera.layout.Limits.run(matches(parsed,
                io.tessera.layout.Limits.ALLOW_LARGE), () -> run.execute(parsed)));
        return cl;
    }

    /** {@code tessera} without a command is bad input: it names the commands. */
    @Override
    public Integer call() {
        throw new ParameterException(spec.commandLine(), "missing a command; expected one of "
                + String.join(", ", spec.subcommands().keySet()));
    }

    /** Whether {@code option} was given anywhere on the parsed command line. */
    private static boolean matches(ParseResult parsed, String option) {
        for (ParseResult pr = parsed; pr != null; pr = pr.subcommand()) {
            if (pr.hasMatchedOption(option)) {
                return true;
            }
        }
        return false;
    }

    /** Whether {@code --verbose} was given anywhere on the command line that {@code cl} belongs to. */
    static boolean isVerbose(CommandLine cl) {
        CommandLine root = cl;
        while (root.getParent() != null) {
            root = root.getParent();
        }
        ParseResult pr = root.getParseResult();
        while (pr != null) {
            if (pr.hasMatchedOption(VERBOSE)) {
                return true;
            }
            pr = pr.subcommand();
        }
        return false;
    }

    /**
     * {@code message} with every run of more than twice {@link UserText#LIMIT} non-blank characters abbreviated, so user text
     * a message echoes (an unknown option, a name, a path) never makes it unbounded.
     */
    static String bounded(String message) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("\\S{" + (2 * UserText.LIMIT + 1) + ",}")
                .matcher(message);
        StringBuilder sb = new StringBuilder();
        while (m.find()) {
            m.appendReplacement(sb, java.util.regex.Matcher.quoteReplacement(UserText.abbreviate(m.group())));
        }
        m.appendTail(sb);
        return sb.toString();
    }

    /** Prints a parse error as one line (no usage dump) and returns {@link #EXIT_BAD_INPUT}. */
    private static final class ParameterErrors implements IParameterExceptionHandler {
        @Override
        public int handleParseException(ParameterException ex, String[] args) {
            CommandLine cl = ex.getCommandLine();
            PrintWriter err = cl.getErr();
            String where = cl.getCommandSpec().qualifiedName();
            String hint = " (see '" + where + " --help')";
            err.println("tessera: " + bounded(Json.oneLine(ex.getMessage())) + hint);
            for (String a : args) {
                if (VERBOSE.equals(a)) {
                    ex.printStackTrace(err);
                    break;
                }
            }
            err.flush();
            return EXIT_BAD_INPUT;
        }
    }

    /**
     * Maps exceptions thrown by commands to exit codes: {@link InputException} is bad input, anything else is an
     * internal error. Prints one line, plus the stack trace under {@code --verbose}.
     */
    private static final class ExecutionErrors implements IExecutionExceptionHandler {
        @Override
        public int handleExecutionException(Exception ex, CommandLine cl, ParseResult parseResult) {
            PrintWriter err = cl.getErr();
            boolean verbose = isVerbose(cl);
            int code;
            if (ex instanceof InputException) {
                err.println("tessera: " + bounded(Json.oneLine(ex.getMessage())));
                code = EXIT_BAD_INPUT;
            } else {
                err.println("tessera: internal error: " + bounded(Json.oneLine(String.valueOf(ex)))
                        + (verbose ? "" : " (rerun with --verbose for the stack trace)"));
                code = EXIT_INTERNAL;
            }
            if (verbose) {
                ex.printStackTrace(err);
            }
            err.flush();
            return code;
        }
    }

    /** The version from the build ({@code version.properties}, filtered by Maven). */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            Properties p = new Properties();
            try (InputStream in = Tessera.class.getResourceAsStream("version.properties")) {
                if (in != null) {
                    p.load(in);
                }
            } catch (IOException e) {
                // fall through to the unknown version
            }
            return new String[] {"tessera " + p.getProperty("version", "(unknown version)")};
        }
    }
}
