package io.tessera.cli;

import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.plan.PlanJson;
import io.tessera.planner.plan.PlanSummary;
import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.strategy.StrategyCheckpoints;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code tessera plan STRATEGY.json [--out PLAN.json] [--ckpt CKPT.json] [--json]}: plans a strategy file and prints
 * the plan's human summary (or, with {@code --json}, the PLAN.json content). {@code --out} writes PLAN.json;
 * {@code --ckpt} writes MindSpore's strategy checkpoint, which otherwise goes to the strategy file's
 * {@code strategy_ckpt_config.save_file} when set. The files are written all or none ({@link OutputFiles}), only after
 * the plan and all outputs were computed and every target checked, so a failure writes nothing.
 */
@Command(name = "plan", mixinStandardHelpOptions = true,
        description = {"Plans a strategy file: operator layouts, communications, parameter memory per rank.",
                "Prints a human summary (or PLAN.json with --json); --out writes PLAN.json, --ckpt (or the file's "
                        + "strategy_ckpt_config.save_file) MindSpore's strategy checkpoint JSON."})
public final class PlanCommand implements Callable<Integer> {

    /** How the save_file of a strategy file is named in messages. */
    static final String SAVE_FILE = "strategy_ckpt_config.save_file";

    @Spec
    private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "STRATEGY.json",
            description = "The strategy file (format: strategies/README.md).")
    private Path strategy;

    @Option(names = "--out", paramLabel = "PLAN.json",
            description = "Write the plan as JSON here (atomically).")
    private Path out;

    @Option(names = "--ckpt", paramLabel = "CKPT.json",
            description = "Write MindSpore's strategy checkpoint JSON here (atomically); overrides the strategy "
                    + "file's " + SAVE_FILE + ".")
    private Path ckpt;

    @Option(names = "--json",
            description = "Print the PLAN.json content to stdout instead of the summary.")
    private boolean json;

    @Mixin
    private ProgressOption progress = new ProgressOption();

    /** One file to write: the option naming it, where, and the text. */
    private record Output(String option, Path target, String text) {
    }

    /** Plans the strategy file, then writes the outputs and prints the summary or the plan JSON. */
    @Override
    public Integer call() {
        PipelinePlan pipe;
        String mode;
        int shards;
        String planJson;
        String checkpointText = null;
        Path checkpointTarget = ckpt;
        String checkpointOption = "--ckpt";
        try {
            StrategyFile file = StrategyFiles.read(strategy);
            mode = file.parallel().parallelMode() == io.tessera.layout.param.ParallelMode.AUTO_PARALLEL
                    ? "auto_parallel: strategies searched by " + file.parallel().searchMode().jsonName()
                    : file.parallel().parallelMode().toString();
            if (checkpointTarget == null && file.saveFile().isPresent()) {
                checkpointTarget = file.saveFile().get();
                checkpointOption = SAVE_FILE;
            }
            try (ProgressOption.Handle p = progress.open(spec.commandLine().getErr(), "tessera plan")) {
                pipe = StrategyPlans.pipelinePlan(file, p);
            }
            shards = io.tessera.simulator.timeline.StrategyStep.optimizerShards(file);
            planJson = Json.write(PlanJson.toJson(pipe, shards));
            if (checkpointTarget != null) {
                checkpointText = StrategyCheckpoints.write(StrategyPlans.checkpoint(pipe));
            }
        } catch (IllegalArgumentException e) {
            throw InputException.inFile(strategy, e);
        }

        List<Output> outputs = new ArrayList<>();
        if (out != null) {
            outputs.add(new Output("--out", out, planJson));
        }
        if (checkpointText != null) {
            outputs.add(new Output(checkpointOption, checkpointTarget, checkpointText));
        }
        checkTargets(outputs);
        OutputFiles files = new OutputFiles();
        for (Output o : outputs) {
            files.add(o.option(), o.target(), o.text());
        }
        files.commit();

        PrintWriter stdout = spec.commandLine().getOut();
        stdout.print(json ? planJson : PlanSummary.format(pipe, mode, shards));
        stdout.flush();
        return Tessera.EXIT_OK;
    }

    /**
     * Checks every target before anything is written: no two outputs and no output and the strategy file share a
     * path, and each directory exists. The directory of a {@code save_file} is created when missing (MindSpore
     * creates it too), an explicit option's is not.
     */
    private void checkTargets(List<Output> outputs) {
        for (Output o : outputs) {
            if (o.target().toString().isEmpty()) {
                throw new InputException(o.option() + ": empty path; give a file name");
            }
        }
        Path input = canonical(strategy);
        for (int i = 0; i < outputs.size(); i++) {
            Output o = outputs.get(i);
            Path p = canonical(o.target());
            if (p.equals(input)) {
                throw new InputException(o.option() + " " + o.target() + " is the strategy file itself; "
                        + "choose another path");
            }
            for (int j = 0; j < i; j++) {
                if (p.equals(canonical(outputs.get(j).target()))) {
                    throw new InputException(o.option() + " " + o.target() + " is also the path of "
                            + outputs.get(j).option() + "; give each output its own path");
                }
            }
        }
        for (Output o : outputs) {
            if (SAVE_FILE.equals(o.option())) {
                if (Files.isDirectory(o.target())) {
                    throw new InputException(SAVE_FILE + " " + o.target() + " is a directory; expected a file path");
                }
            } else {
                Json.checkWritable(o.option(), o.target());
            }
        }
        for (Output o : outputs) {
            Path dir = o.target().toAbsolutePath().getParent();
            if (SAVE_FILE.equals(o.option()) && dir != null) {
                try {
                    Files.createDirectories(dir);
                } catch (IOException e) {
                    throw new InputException(SAVE_FILE + " " + o.target() + ": directory " + dir
                            + " cannot be created: " + Json.oneLine(String.valueOf(e)), e);
                }
            }
        }
    }

    private static Path canonical(Path p) {
        Path abs = p.toAbsolutePath().normalize();
        try {
            return abs.toRealPath();
        } catch (IOException e) {
            return abs;
        }
    }
}
