package io.tessera.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.util.concurrent.Callable;

/** {@code tessera bench}: benchmarks. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Benchmarks.",
        subcommands = {BenchLayoutCommand.class, BenchInitCommand.class, BenchPlanCommand.class,
                BenchSimulateCommand.class, BenchTimelineCommand.class, BenchSearchCommand.class,
                BenchLlamaCommand.class, BenchMoeCommand.class, BenchCheckpointCommand.class,
                BenchExplainCommand.class})
public final class BenchCommand implements Callable<Integer> {

    @Spec
    private CommandSpec spec;

    /** Without a subcommand: bad input naming the subcommands. */
    @Override
    public Integer call() {
        throw new ParameterException(spec.commandLine(), "missing a subcommand of 'tessera bench'; expected one of "
                + String.join(", ", spec.subcommands().keySet()));
    }
}
