package io.tessera.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.util.concurrent.Callable;

/** {@code tessera layout}: the layout algebra and redistribution planner on JSON case files. */
@Command(name = "layout", mixinStandardHelpOptions = true,
        description = "Tensor layouts: slices per rank and redistribution plans, on JSON case files.",
        subcommands = {SlicesCommand.class, RedistributeCommand.class})
public final class LayoutCommand implements Callable<Integer> {

    @Spec
    private CommandSpec spec;

    /** Without a subcommand: bad input naming the subcommands. */
    @Override
    public Integer call() {
        throw new ParameterException(spec.commandLine(), "missing a subcommand of 'tessera layout'; expected one of "
                + String.join(", ", spec.subcommands().keySet()));
    }
}
