package io.tessera.simulator.numeric;

import io.tessera.layout.DType;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.op.Gather;
import io.tessera.planner.op.MoeCombine;
import io.tessera.planner.op.MoeDispatch;
import io.tessera.planner.op.SoftmaxCrossEntropyWithLogits;
import io.tessera.simulator.array.NDArray;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Deterministic input batches for a network: for each data input a whole tensor, the same for the one-device
 * reference and every rank (which takes its slice); with pipeline micro-batches, one such batch per micro-batch
 * ({@link #microBatch}). Labels of a softmax cross-entropy are one-hot rows; indices of a
 * Gather are uniform in the table's range; expert ids of a MoeDispatch or MoeCombine are k distinct experts per
 * token, uniform; other inputs are standard normal.
 */
public final class Batches {

    private Batches() {
    }

    /** The batch of training step {@code step}, by input name. */
    public static Map<String, NDArray> batch(Network network, long seed, int step) {
        Map<String, NDArray> out = new LinkedHashMap<>();
        int k = 0;
        for (String name : network.inputs()) {
            long[] shape = network.tensor(name).shape();
            SplittableRandom rnd = new SplittableRandom(seed * 1_000_003L + step * 7919L + k++);
            NDArray a = NDArray.zeros(shape);
            double[] d = a.data();
            Node consumer = network.consumers(name).isEmpty() ? null : network.consumers(name).get(0);
            if (consumer != null && consumer.op() instanceof SoftmaxCrossEntropyWithLogits
                    && consumer.inputs().indexOf(name) == 1) {
                long classes = shape[shape.length - 1];
                for (int row = 0; row < d.length / classes; row++) {
                    d[(int) (row * classes + rnd.nextLong(classes))] = 1;
                }
            } else if (consumer != null && consumer.op() instanceof Gather g
                    && consumer.inputs().indexOf(name) == 1) {
                long[] table = network.tensor(consumer.inputs().get(0)).shape();
                int axis = g.axis() < 0 ? g.axis() + table.length : g.axis();
                for (int i = 0; i < d.length; i++) {
                    d[i] = rnd.nextLong(table[axis]);
                }
            } else if (consumer != null && consumer.inputs().indexOf(name) == 1
                    && (consumer.op() instanceof MoeDispatch || consumer.op() instanceof MoeCombine)) {
                expertIds(d, (int) shape[1], consumer.op() instanceof MoeDispatch m ? m.experts()
                        : ((MoeCombine) consumer.op()).experts(), rnd);
            } else {
                for (int i = 0; i < d.length; i++) {
                    d[i] = gaussian(rnd);
                }
                if (network.tensor(name).dtype() == DType.FLOAT32) {
                    a.roundToFloat();
                }
            }
            out.put(name, a);
        }
        return out;
    }

    /**
     * Micro-batch {@code k} (from 0) of training step {@code step} when every step runs {@code microBatches}
     * micro-batches: the batch {@link #batch} draws for step {@code step * microBatches + k}, so the micro-batches of
     * all steps are distinct, one micro-batch per step is exactly {@link #batch}, and a step of {@code m}
     * micro-batches sees the batches of {@code m} consecutive one-micro-batch steps.
     *
     * @throws IllegalArgumentException when {@code microBatches < 1} or {@code k} is outside {@code [0, microBatches)}
     */
    public static Map<String, NDArray> microBatch(Network network, long seed, int step, int microBatches, int k) {
        if (microBatches < 1 || k < 0 || k >= microBatches) {
            throw new IllegalArgumentException("micro-batch: found index " + k + " of " + microBatches
                    + " micro-batches; expected 0 <= index < micro-batches and micro-batches >= 1");
        }
        return batch(network, seed, Math.toIntExact((long) step * microBatches + k));
    }

    /** Per row of {@code k} slots, {@code k} distinct expert ids uniform in [0, experts) (a partial shuffle). */
    private static void expertIds(double[] d, int k, int experts, SplittableRandom rnd) {
        int[] ids = new int[experts];
        for (int row = 0; row < d.length / k; row++) {
            for (int e = 0; e < experts; e++) {
                ids[e] = e;
            }
            for (int j = 0; j < k; j++) {
                int pick = j + rnd.nextInt(experts - j);
                int id = ids[pick];
                ids[pick] = ids[j];
                ids[j] = id;
                d[row * k + j] = id;
            }
        }
    }

    private static double gaussian(SplittableRandom rnd) {
        double u = 1 - rnd.nextDouble();
        double v = rnd.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    }
}
