package io.tessera.simulator.numeric;

import io.tessera.layout.Box;
import io.tessera.layout.Layout;
import io.tessera.layout.param.Parameter;
import io.tessera.planner.plan.OpPlan;
import io.tessera.planner.plan.ParamPlan;
import io.tessera.planner.plan.PipelinePlan;
import io.tessera.planner.plan.Plan;
import io.tessera.simulator.array.NDArray;
import io.tessera.simulator.cluster.Cluster;
import io.tessera.simulator.cluster.Instruction;
import io.tessera.simulator.cluster.RankState;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Runs a plan's training steps on its ranks: each rank holds only its parameter slices (or optimizer shards, from
 * {@code init_data}), its activations and gradients, and runs a per-rank program of kernels and the plan's
 * collectives on the lockstep {@link Cluster}. Nothing is planned again: each operator's plan carries what executing
 * it needs ({@link OpPlan#execution()}): a redistribution runs the steps of the plan's byte-minimal redistribution
 * plan as one collective over the ranks (or a local slice when its steps are all local); operator and gradient
 * reductions, AllGathers and ReduceScatters of optimizer parallel run over the groups of the communications the
 * operator lists. A consumer that reuses an earlier consumer's redistribution ({@link OpPlan#reuses()}) reads its
 * copy, and in backward hands its gradient to that owner, which sums them and returns the sum once: by the plan's
 * backward ReduceScatter into the producer's layout when it has one (sequence parallelism), else by the reduction and
 * the transposed redistribution the plan carries. A one-device plan of the same network is run the same way as the reference.
 *
 * <p>Pipeline stages: global rank {@code stage * n + local} runs only its stage's operators, parameters and
 * communications (groups mapped to global ranks), on local rank {@code local}'s slices. A tensor crossing stages is
 * sent after its producer's forward by each producer rank to the consumer-stage rank of the same local rank (a
 * two-rank SendRecv collective); its gradient returns the same way once the consumer stage has finished it (after the
 * backward of its earliest consumer there) and is added to the producer's gradient. A step runs its micro-batches
 * one after the other, each forward then backward (numerically the same as GPipe's all-forwards-then-all-backwards;
 * the per-rank programs are one sequential schedule, so the lockstep cluster never waits on a later collective). The
 * loss gradient is seeded with {@code 1 / microBatches}, so the parameter gradients sum to their mean over the
 * micro-batches; operator reductions and redistributions run per micro-batch, while the parameters' gradient
 * reductions (AllReduce, optimizer-parallel ReduceScatter and mirror AllReduce, fused buckets) run once, in the last
 * micro-batch, on the accumulated gradients, as real pipelines do. Then one optimizer update.
 *
 * <p>This class holds the ranks and runs the steps; the programs are built by {@link RankPrograms} from
 * {@link ForwardEmitter}, {@link BackwardEmitter} (with {@link GradientRouter}), {@link OptimizerEmitter},
 * {@link ParameterCollectives} and {@link PipelineRouting}, naming rank memory by {@link Slot}.
 */
final class Execution {

    private final ExecutionContext cx;
    private final PipelineRouting routing;
    private final ForwardEmitter forward;
    private final BackwardEmitter backward;
    private final OptimizerEmitter optimizer;
    private final ParameterCollectives params;
    private final Cluster cluster;
    /** Test hook: sees (and may alter) every rank's program before it runs. */
    private Consumer<List<List<Instruction>>> programHook;

    Execution(Plan plan, SimulationOptions options) {
        this(PipelinePlan.single(plan), options);
    }

    Execution(PipelinePlan pipe, SimulationOptions options) {
        this(pipe, options, Map.of());
    }

    /**
     * A run whose parameter gradient contributions are scaled by {@code gradientScales} before they are accumulated
     * (the one-device reference of a plan with mean gradient reductions: see {@link GradientScales}).
     */
    Execution(PipelinePlan pipe, SimulationOptions options, Map<String, Double> gradientScales) {
        this.cx = new ExecutionContext(pipe, options, gradientScales);
        this.cluster = new Cluster(pipe.devices(), options.threads());
        this.routing = new PipelineRouting(cx);
        this.params = new ParameterCollectives(cx);
        this.forward = new ForwardEmitter(cx, params, routing);
        this.backward = new BackwardEmitter(cx, params, routing);
        this.optimizer = new OptimizerEmitter(cx);
        // each stage's ranks hold only that stage's parameters, as the plan's local ranks
        for (int r = 0; r < cx.n; r++) {
            Map<String, Parameter> slices = cx.plan.materialize(r);
            for (ParamPlan p : cx.plan.params()) {
                RankState s = cluster.state(pipe.globalRank(pipe.paramStage(p.name()), r));
                Slot.param(p.name()).put(s, toArray(slices.get(p.name())));
            }
        }
    }

    private NDArray toArray(Parameter p) {
        io.tessera.layout.tensor.Tensor t = p.tensor();
        return cx.round(NDArray.of(t.shape(), t.toDoubleArray()));
    }

    /** Installs a hook that sees (and may alter) the per-rank programs before each step runs (fault injection). */
    void programHook(Consumer<List<List<Instruction>>> hook) {
        this.programHook = hook;
    }

    /** The cluster the ranks run on (its states hold every rank's tensors). */
    Cluster cluster() {
        return cluster;
    }

    /**
     * Runs training step {@code step} (its micro-batches, then the update) and returns the loss of each local rank
     * of the stage computing the loss: the mean of its micro-batch losses.
     */
    double[] step(int step) {
        RankPrograms p = new RankPrograms(cx.pipe);
        p.computeAll("clear", s -> {
            for (String k : new ArrayList<>(s.names())) {
                if (!Slot.persistent(k)) {
                    s.remove(k);
                }
            }
        });
        int microBatches = cx.microBatches;
        Slot lossSum = Slot.lossSum();
        Slot loss = Slot.activation(cx.net.loss());
        for (int k = 0; k < microBatches; k++) {
            boolean lastMicroBatch = k == microBatches - 1;
            params.startMicroBatch();
            cx.startMicroBatch(step, k);
            if (k > 0) {
                // a micro-batch's activations and activation gradients go; the parameters' gradient sums stay
                p.computeAll("clear micro-batch " + k, s -> {
                    for (String slot : new ArrayList<>(s.names())) {
                        if (!Slot.accumulated(slot, cx.net::isParameter)) {
                            s.remove(slot);
                        }
                    }
                });
            }
            Map<String, NDArray> batch = Batches.microBatch(cx.net, cx.options.seed(), step, microBatches, k);
            for (String input : cx.net.inputs()) {
                Layout l = cx.plan.layouts().get(input);
                NDArray full = batch.get(input);
                Slot slot = Slot.activation(input);
                for (int st : routing.inputStages(input)) {
                    p.stage(st);
                    p.compute("load " + input, s -> slot.put(s, ExecutionContext.region(full,
                            Box.full(full.shape()), l.sliceBox(cx.local(s)))));
                }
            }
            forward.emit(p);
            backward.emit(p, lastMicroBatch);
            p.stage(routing.lossStage());
            p.compute("accumulate loss", s -> lossSum.add(s, loss.get(s)));
        }
        optimizer.emit(p, step);
        if (programHook != null) {
            programHook.accept(p.programs());
        }
        cluster.run(p.programs());
        double[] out = new double[cx.n];
        for (int r = 0; r < cx.n; r++) {
            out[r] = lossSum.get(cluster.state(cx.pipe.globalRank(routing.lossStage(), r))).get(0) / microBatches;
        }
        return out;
    }

    /** The whole parameter {@code name} assembled from the ranks' slices or shards. */
    NDArray gatherParam(String name) {
        ParamPlan p = cx.plan.param(name);
        NDArray full = NDArray.zeros(p.layout().shape());
        int at = cx.pipe.paramStage(name);
        for (int r = 0; r < cx.n; r++) {
            NDArray local = Slot.param(name).get(cluster.state(cx.pipe.globalRank(at, r)));
            Box box = p.layout().sliceBox(r);
            if (p.shard().sharded()) {
                List<Integer> g = p.shard().groupOf(r);
                int j = g.indexOf(r);
                long[] start = box.start();
                long[] end = box.end();
                long len = (end[0] - start[0]) / g.size();
                start[0] += j * len;
                end[0] = start[0] + len;
                box = Box.of(start, end);
            }
            ExecutionContext.paste(full, local, box);
        }
        return full;
    }
}
