package io.tessera.simulator.numeric;

import io.tessera.planner.plan.ParamPlan;
import io.tessera.planner.strategy.OptimizerKind;
import io.tessera.simulator.array.NDArray;

/**
 * Emits a step's optimizer update: each trainable parameter's slice (or optimizer shard) updated on its stage's ranks
 * from its gradient (or reduce-scattered gradient shard) by SGD, momentum or Adam, rounded to the simulated dtype.
 */
final class OptimizerEmitter {

    private final ExecutionContext cx;

    OptimizerEmitter(ExecutionContext cx) {
        this.cx = cx;
    }

    /** Emits the update of training step {@code step} (0-based; Adam's bias correction uses {@code step + 1}). */
    void emit(RankPrograms p, int step) {
        OptimizerKind kind = cx.plan.config().optimizer();
        double lr = cx.options.learningRate();
        for (ParamPlan pp : cx.plan.params()) {
            if (!pp.trainable()) {
                continue;
            }
            String name = pp.name();
            Slot weight = Slot.param(name);
            Slot gradSlot = pp.shard().sharded() ? Slot.shardGradient(name) : Slot.gradient(name);
            Slot velocity = Slot.optimizerState(name, "v");
            Slot moment = Slot.optimizerState(name, "m");
            p.stage(cx.pipe.paramStage(name));
            p.compute("update " + name, s -> {
                NDArray w = weight.get(s);
                NDArray g = gradSlot.getOrNull(s);
                if (g == null) {
                    return;
                }
                double[] wd = w.data();
                double[] gd = g.data();
                if (wd.length != gd.length) {
                    throw new IllegalStateException("rank " + s.rank() + ": parameter '" + name + "' holds "
                            + wd.length + " values but its gradient " + gd.length);
                }
                switch (kind) {
                    case SGD -> {
                        for (int i = 0; i < wd.length; i++) {
                            wd[i] -= lr * gd[i];
                        }
                    }
                    case MOMENTUM -> {
                        double[] v = velocity.getOrZeros(s, w).data();
                        for (int i = 0; i < wd.length; i++) {
                            v[i] = 0.9 * v[i] + gd[i];
                            wd[i] -= lr * v[i];
                        }
                    }
                    case ADAM -> {
                        double[] m = moment.getOrZeros(s, w).data();
                        double[] v = velocity.getOrZeros(s, w).data();
                        int t = step + 1;
                        double c1 = 1 - Math.pow(0.9, t);
                        double c2 = 1 - Math.pow(0.999, t);
                        for (int i = 0; i < wd.length; i++) {
                            m[i] = 0.9 * m[i] + 0.1 * gd[i];
                            v[i] = 0.999 * v[i] + 0.001 * gd[i] * gd[i];
                            wd[i] -= lr * (m[i] / c1) / (Math.sqrt(v[i] / c2) + 1e-8);
                        }
                    }
                    default -> throw new IllegalStateException("optimizer " + kind);
                }
                cx.round(w);
            });
        }
    }
}
