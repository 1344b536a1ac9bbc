package io.tessera.simulator.numeric;

import io.tessera.layout.DType;

/**
 * Options of a numeric simulation. Immutable.
 *
 * @param steps        training steps (default 2)
 * @param dtype        arithmetic precision: float32 (values rounded to float after every kernel and collective) or
 *                     float64 (default float32)
 * @param learningRate optimizer learning rate, finite, in (0, {@link #MAX_LEARNING_RATE}] (default 0.01)
 * @param seed         seed of the input batches and Dropout masks (each Dropout mixes it with its name, the step and
 *                     the micro-batch; default 1)
 * @param threads      worker threads of the simulated cluster (default: available processors)
 */
public record SimulationOptions(int steps, DType dtype, double learningRate, long seed, int threads) {

    /** The largest learning rate accepted: above it one SGD step overflows float32 on the zoo models. */
    public static final double MAX_LEARNING_RATE = 10;

    /** Validates the values. */
    public SimulationOptions {
        if (steps < 1) {
            throw new IllegalArgumentException("--steps: found " + steps + "; expected at least 1");
        }
        if (dtype != DType.FLOAT32 && dtype != DType.FLOAT64) {
            throw new IllegalArgumentException("--dtype: found " + dtype + "; expected float32 or float64");
        }
        String bad = checkLearningRate(learningRate);
        if (bad != null) {
            throw new IllegalArgumentException("learning rate: " + bad);
        }
        if (threads < 1) {
            throw new IllegalArgumentException("threads: found " + threads + "; expected at least 1");
        }
    }

    /**
     * Why a learning rate is refused ({@code found X; expected ...}), or null when it is a finite rate in
     * (0, {@link #MAX_LEARNING_RATE}].
     */
    public static String checkLearningRate(double rate) {
        if (rate > 0 && rate <= MAX_LEARNING_RATE) {
            return null;
        }
        return "found " + rate + "; expected a finite learning rate in (0, " + (int) MAX_LEARNING_RATE
                + "], e.g. 0.01";
    }

    /** The defaults: 2 steps, float32, learning rate 0.01, seed 1, all processors. */
    public static SimulationOptions defaults() {
        return new SimulationOptions(2, DType.FLOAT32, 0.01, 1, Runtime.getRuntime().availableProcessors());
    }

    /** A copy with {@code steps} steps. */
    public SimulationOptions withSteps(int n) {
        return new SimulationOptions(n, dtype, learningRate, seed, threads);
    }

    /** A copy with another precision. */
    public SimulationOptions withDtype(DType d) {
        return new SimulationOptions(steps, d, learningRate, seed, threads);
    }

    /** The tolerance of the comparison with one device: 1e-5 for float32, 1e-12 for float64. */
    public double tolerance() {
        return dtype == DType.FLOAT32 ? 1e-5 : 1e-12;
    }
}
