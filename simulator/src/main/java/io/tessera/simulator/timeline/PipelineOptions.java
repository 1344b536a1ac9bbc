package io.tessera.simulator.timeline;

import io.tessera.layout.Limits;
import java.util.Objects;

/**
 * The pipeline-parallel split of a training step. Immutable.
 *
 * @param stages        pipeline stages {@code p} (devices along the pipeline), at least 1
 * @param microBatches  micro-batches {@code m} the step's batch is split into, at least 1; at least {@code stages}
 *                      for 1F1B, a multiple of {@code stages} for interleaved 1F1B
 * @param schedule      the order of forwards and backwards on each stage
 * @param virtualStages model chunks per device {@code v}: 1 for GPipe and 1F1B, at least 2 for interleaved 1F1B
 * @param scatterGatherSends Megatron-LM's scatter/gather optimisation of the sends between stages: a boundary tensor
 *                      replicated over {@code r} ranks of a stage is sent as {@code 1/r} by each of them and
 *                      AllGathered over those {@code r} ranks of the receiving stage (default false: every rank sends
 *                      its whole slice)
 */
public record PipelineOptions(int stages, int microBatches, PipelineSchedule schedule, int virtualStages,
                              boolean scatterGatherSends) {

    /** Validates the values. */
    public PipelineOptions {
        Objects.requireNonNull(schedule, "schedule");
        if (stages < 1) {
            throw new IllegalArgumentException("pipeline stages: found " + stages + "; expected at least 1");
        }
        if (microBatches < 1) {
            throw new IllegalArgumentException("micro-batches: found " + microBatches + "; expected at least 1");
        }
        Limits.Limit.VIRTUAL_STAGES.check("virtual stages", virtualStages);
        Limits.Limit.PIPELINE_SLOTS.check("pipeline stages x micro-batches x virtual stages (" + stages + " x "
                + microBatches + " x " + virtualStages + ")", (long) stages * microBatches * virtualStages);
        if (virtualStages < 1) {
            throw new IllegalArgumentException("virtual stages: found " + virtualStages + "; expected at least 1");
        }
        if (schedule != PipelineSchedule.INTERLEAVED_1F1B && virtualStages != 1) {
            throw new IllegalArgumentException("virtual stages: found " + virtualStages + " with schedule "
                    + schedule.cliName() + "; expected 1 (only the interleaved schedule has several chunks per device)");
        }
        if (schedule == PipelineSchedule.ONE_F_ONE_B && microBatches < stages) {
            throw new IllegalArgumentException("1F1B with " + stages + " stages needs at least " + stages
                    + " micro-batches; found " + microBatches);
        }
        if (schedule == PipelineSchedule.INTERLEAVED_1F1B) {
            if (virtualStages < 2) {
                throw new IllegalArgumentException("interleaved 1F1B: found " + virtualStages
                        + " virtual stages; expected at least 2 (use 1f1b for one chunk per device)");
            }
            if (microBatches % stages != 0) {
                throw new IllegalArgumentException("interleaved 1F1B: " + microBatches
                        + " micro-batches is not a multiple of the " + stages + " stages; use a multiple of "
                        + stages + " micro-batches (Megatron-LM's rule)");
            }
        }
    }

    /** Without the scatter/gather send optimisation. */
    public PipelineOptions(int stages, int microBatches, PipelineSchedule schedule, int virtualStages) {
        this(stages, microBatches, schedule, virtualStages, false);
    }

    /** A copy with the scatter/gather send optimisation on or off. */
    public PipelineOptions withScatterGatherSends(boolean on) {
        return new PipelineOptions(stages, microBatches, schedule, virtualStages, on);
    }

    /** GPipe or 1F1B: one chunk per device. */
    public PipelineOptions(int stages, int microBatches, PipelineSchedule schedule) {
        this(stages, microBatches, schedule, 1);
    }

    /** Model chunks in the whole pipeline: {@code stages * virtualStages}. */
    public int chunks() {
        return stages * virtualStages;
    }

    /**
     * Checks that a network of {@code layers} identical layers splits evenly into the pipeline's chunks.
     *
     * @throws IllegalArgumentException when {@code layers} is not a positive multiple of {@link #chunks()}
     */
    public void checkLayers(int layers) {
        if (layers < 1 || layers % chunks() != 0) {
            throw new IllegalArgumentException(layers + " layers do not split evenly into " + stages + " stages x "
                    + virtualStages + " chunks; expected a positive multiple of " + chunks());
        }
    }
}
