package io.tessera.simulator.numeric;

import io.tessera.planner.api.StrategyPlans;
import io.tessera.planner.checkpoint.CheckpointException;
import io.tessera.planner.checkpoint.CheckpointOptions;
import io.tessera.planner.checkpoint.Checkpoints;
import io.tessera.planner.checkpoint.Verification;
import io.tessera.planner.plan.ParamPlan;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.strategy.StrategyFiles;
import io.tessera.simulator.array.NDArray;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Checkpoint migrations checked by execution: a Llama trained for two steps under plan A (optimizer state sharded),
 * saved, resharded to plan B (other tensor, pipeline and data degrees), loaded and trained one more step equals three
 * steps on one device.
 */
class SimulationCheckpointTest {

    @TempDir
    Path tmp;

    private static PipelinePlan plan(String optimizer, String parallelism) {
        return StrategyPlans.pipelinePlan(StrategyFiles.parse(("{'network': {'zoo': 'llama', 'args': {'layers': 2, "
                + "'hidden': 64, 'heads': 4, 'kv_heads': 2, 'ffn': 128, 'seq': 16, 'vocab': 128}}, 'devices': "
                + "DEVICES, 'parallel': {'optimizer': '" + optimizer + "'}, 'parallelism': {" + parallelism
                + ", 'global_batch_size': 8}}").replace("DEVICES", String.valueOf(devices(parallelism)))
                .replace('\'', '"'), null), null);
    }

    private static int devices(String parallelism) {
        int n = 1;
        for (String key : new String[] {"tensor", "pipeline", "data"}) {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("'" + key + "': (\\d+)").matcher(parallelism);
            n *= m.find() ? Integer.parseInt(m.group(1)) : 1;
        }
        return n;
    }

    @ParameterizedTest(name = "{0}: {1} -> {2}")
    @CsvSource(delimiter = '|', value = {
        "momentum|'tensor': 2, 'data': 2, 'zero_stage': 3|'tensor': 2, 'pipeline': 2, 'data': 2",
        "adam|'tensor': 2, 'data': 2, 'zero_stage': 1|'tensor': 4, 'data': 2, 'sequence_parallel': true",
        "momentum|'tensor': 2, 'pipeline': 2, 'data': 2|'data': 2, 'zero_stage': 3"})
    void trainingContinuesUnderAnotherPlanAsOnOneDevice(String optimizer, String a, String b) {
        PipelinePlan planA = plan(optimizer, a);
        PipelinePlan planB = plan(optimizer, b);
        // float64 arithmetic: Adam amplifies float32 round-off of vanishing gradients beyond any fixed bound (see
        // Simulation#roundOffFloor); the checkpoint still holds float32 parameters and state
        SimulationOptions opts = SimulationOptions.defaults().withSteps(3)
                .withDtype(io.tessera.layout.DType.FLOAT64);

        Simulation runA = Simulation.of(planA, opts);
        runA.parallelStep(0);
        runA.parallelStep(1);
        Path saved = tmp.resolve("a");
        SimulationCheckpoints.save(runA, true, "llama A after 2 steps", saved, CheckpointOptions.DEFAULTS);
        Verification.of(saved, null);
        Path resharded = tmp.resolve("b");
        Checkpoints.reshard(saved, planB, resharded, CheckpointOptions.DEFAULTS);
        Verification.of(resharded, null);

        Simulation runB = Simulation.of(planB, opts);
        CheckpointException wrong = assertThrows(CheckpointException.class,
                () -> SimulationCheckpoints.load(runB, saved));
        assertTrue(wrong.getMessage().contains("reshard"), wrong.getMessage());
        SimulationCheckpoints.load(runB, resharded);
        runB.parallelStep(2);
        runB.referenceStep(2);

        Simulation oneDevice = Simulation.of(planA, opts);
        for (int k = 0; k < 3; k++) {
            oneDevice.referenceStep(k);
        }
        double worst = 0;
        double sameStart = 0;
        double state = 0;
        for (ParamPlan p : planA.plan().params()) {
            NDArray want = oneDevice.referenceParameter(p.name());
            worst = Math.max(worst, runB.gatheredParameter(p.name()).relativeError(want));
            // the loaded one-device reference took the same step from the checkpoint's whole tensors
            worst = Math.max(worst, runB.referenceParameter(p.name()).relativeError(want));
            sameStart = Math.max(sameStart, runB.gatheredParameter(p.name())
                    .relativeError(runB.referenceParameter(p.name())));
            NDArray v = runA.rank(planA.globalRank(planA.paramStage(p.name()), 0)).has("opt/" + p.name() + "/v")
                    ? runA.rank(planA.globalRank(planA.paramStage(p.name()), 0)).get("opt/" + p.name() + "/v")
                    : null;
            for (double x : v == null ? new double[0] : v.data()) {
                state = Math.max(state, Math.abs(x));
            }
        }
        // the same three steps without a checkpoint, under plan B, for scale
        SimulationReport direct = Simulation.run(planB, opts);
        System.out.printf(Locale.ROOT, "%s %s -> %s: after resume, max rel err %.3e against the loaded one-device "
                + "step, %.3e against 3 uninterrupted one-device steps (float32 storage; uninterrupted under B: "
                + "%.3e)%n", optimizer, a, b, sameStart, worst, direct.maxRelError());
        assertTrue(state > 0, "the optimizer state saved is not all zero");
        assertTrue(sameStart <= 1e-10, "B's step from the loaded checkpoint vs one device's: " + sameStart);
        assertTrue(worst <= 1e-5, "vs three uninterrupted steps: " + worst);
    }
}
