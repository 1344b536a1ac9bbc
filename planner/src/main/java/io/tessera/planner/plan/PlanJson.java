package io.tessera.planner.plan;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.Layout;
import io.tessera.layout.TensorMap;
import io.tessera.planner.op.Strategy;

import java.util.List;

/**
 * The JSON form of a {@link Plan} (the {@code PLAN.json} of {@code tessera plan}): per operator its strategy, device
 * matrix, tensor maps and slice shapes, and the inputs that reuse an earlier consumer's redistribution
 * ({@code reuses}: input, operator, operator_input; present only when not empty); per communication its provenance
 * (kind, phase, origin, operator and input, tensor, parameter, reduction, source and target layouts, rank groups, bytes
 * received per rank, reason); per parameter its layout and slice bytes; and the parameter bytes per rank. Field order
 * is fixed, so the same plan gives the same text.
 */
public final class PlanJson {

    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    private PlanJson() {
    }

    /** The plan as a JSON tree. */
    public static ObjectNode toJson(Plan plan) {
        return toJson(plan, null);
    }

    /**
     * A pipeline plan as a JSON tree: without pipeline stages exactly {@link #toJson(Plan)}; else {@code devices} is
     * every device, a {@code pipeline} object gives the stages (global ranks, operators), the micro-batches and the
     * tensors sent between stages, operators, communications and buckets carry their {@code stage} (communication and
     * bucket groups are stage-local ranks), and memory is per global rank.
     */
    public static ObjectNode toJson(PipelinePlan pipe) {
        return toJson(pipe, 1);
    }

    /**
     * {@link #toJson(PipelinePlan)} with each rank's optimizer state and master copies split {@code optimizerShards}
     * ways in {@code memory} ({@link Plan#memory(int, int)}; Megatron's distributed optimizer, 1 for none),
     * which then also gives {@code optimizer_shards}.
     */
    public static ObjectNode toJson(PipelinePlan pipe, int optimizerShards) {
        return pipe.stages() == 1 ? toJson(pipe.plan(), null, optimizerShards)
                : toJson(pipe.plan(), pipe, optimizerShards);
    }

    private static ObjectNode toJson(Plan plan, PipelinePlan pipe) {
        return toJson(plan, pipe, 1);
    }

    private static ObjectNode toJson(Plan plan, PipelinePlan pipe, int optimizerShards) {
        ObjectNode root = F.objectNode();
        root.put("network", plan.network().name());
        root.put("devices", pipe == null ? plan.devices() : pipe.devices());
        if (pipe != null) {
            ObjectNode p = root.putObject("pipeline");
            p.put("stages", pipe.stages());
            p.put("stage_devices", pipe.stageDevices());
            p.put("micro_batches", pipe.microBatches());
            if (pipe.virtualStages() > 1) {
                p.put("virtual_stages", pipe.virtualStages());
            }
            ArrayNode st = p.putArray("stage_list");
            for (int s = 0; s < pipe.stages(); s++) {
                ObjectNode n = st.addObject();
                n.put("stage", s);
                n.put("first_rank", pipe.globalRank(s, 0));
                n.put("last_rank", pipe.globalRank(s, pipe.stageDevices() - 1));
                n.set("operators", strings(pipe.ops(s).stream().map(OpPlan::name).toList()));
            }
            ArrayNode bs = p.putArray("boundaries");
            for (PipelinePlan.Boundary b : pipe.boundaries()) {
                ObjectNode n = bs.addObject();
                n.put("tensor", b.tensor());
                n.put("producer", b.producer());
                n.put("from_stage", b.fromStage());
                n.put("to_stage", b.toStage());
                if (pipe.virtualStages() > 1) {
                    n.put("from_chunk", b.fromChunk());
                    n.put("to_chunk", b.toChunk());
                }
                n.set("layout", layout(b.layout()));
                n.put("bytes", b.bytes());
            }
        }
        root.put("parallel_mode", plan.config().mode().toString());
        root.put("gradients_mean", plan.config().gradientsMean());
        ArrayNode ops = root.putArray("operators");
        for (OpPlan o : plan.ops()) {
            ObjectNode n = ops.addObject();
            n.put("name", o.name());
            n.put("type", o.type());
            if (pipe != null) {
                n.put("stage", pipe.stageOf(o.name()));
                if (pipe.virtualStages() > 1) {
                    n.put("chunk", pipe.chunkOf(o.name()));
                }
            }
            n.set("in_strategy", strategy(o.inStrategy()));
            if (o.outStrategy() != null) {
                n.set("out_strategy", strategy(o.outStrategy()));
            }
            n.put("strategy_source", o.userStrategy() ? "user" : "data_parallel");
            n.set("dev_matrix", ints(o.sharding().devMatrix().dims()));
            n.put("repeated", o.sharding().repeated());
            n.set("inputs", tensors(o.inputLayouts()));
            n.set("outputs", tensors(o.outputLayouts()));
            if (!o.reuses().isEmpty()) {
                ArrayNode reuses = n.putArray("reuses");
                for (OpPlan.Reuse r : o.reuses()) {
                    ObjectNode u = reuses.addObject();
                    u.put("input", r.input());
                    u.put("operator", r.owner());
                    u.put("operator_input", r.ownerInput());
                }
            }
        }
        ArrayNode comms = root.putArray("communications");
        int id = 0;
        for (Communication c : plan.comms()) {
            ObjectNode n = comms.addObject();
            n.put("id", id++);
            n.put("kind", c.kind().jsonName());
            n.put("phase", c.phase().jsonName());
            if (pipe != null) {
                n.put("stage", pipe.commStage(c));
            }
            n.put("origin", c.origin().jsonName());
            if (c.operator() != null) {
                n.put("operator", c.operator());
            }
            if (c.input() >= 0) {
                n.put("input", c.input());
            }
            n.put("tensor", c.tensor());
            if (c.parameter() != null) {
                n.put("parameter", c.parameter());
            }
            if (c.reduce() != null) {
                n.put("reduce", c.reduce().jsonName());
            }
            if (c.from() != null) {
                n.set("from", layout(c.from()));
                n.set("to", layout(c.to()));
            }
            ArrayNode groups = n.putArray("groups");
            for (List<Integer> g : c.groups()) {
                ArrayNode a = groups.addArray();
                g.forEach(a::add);
            }
            n.set("recv_bytes", longs(c.recvBytes()));
            n.put("reason", c.reason());
        }
        ArrayNode params = root.putArray("parameters");
        for (ParamPlan p : plan.params()) {
            ObjectNode n = params.addObject();
            n.put("name", p.name());
            n.put("dtype", p.dtype().jsonName());
            n.set("shape", longs(p.layout().shape()));
            n.set("dev_matrix", ints(p.layout().devMatrix().dims()));
            n.set("tensor_map", map(p.layout().tensorMap()));
            n.set("slice_shape", longs(p.layout().sliceShape()));
            n.put("slice_bytes", p.sliceBytes());
            n.put("trainable", p.trainable());
            n.put("layerwise_parallel", p.layerwiseParallel());
            n.put("comm_fusion", p.commFusion());
            n.put("parallel_optimizer_comm_recompute", p.recompute());
            if (p.consumer() != null) {
                n.put("consumer", p.consumer());
            }
            ObjectNode shard = n.putObject("optimizer_shard");
            shard.put("sharded", p.shard().sharded());
            if (p.shard().sharded()) {
                shard.put("shards", p.shard().shards());
                shard.set("shard_shape", longs(OptimizerSharding.shardShape(p.layout(), p.shard())));
                shard.put("opt_weight_shard_step", p.shard().step());
                shard.put("opt_weight_shard_size", p.shard().checkpointSize());
                shard.set("groups", groups(p.shard().groups()));
                if (!p.shard().mirrorGroups().isEmpty()) {
                    shard.set("mirror_groups", groups(p.shard().mirrorGroups()));
                }
            } else {
                shard.put("reason", p.shard().reason());
            }
        }
        ArrayNode buckets = root.putArray("buckets");
        for (Bucket b : plan.buckets()) {
            ObjectNode n = buckets.addObject();
            n.put("id", b.id());
            if (pipe != null) {
                n.put("stage", pipe.bucketStage(b));
            }
            n.put("kind", b.kind().jsonName());
            n.put("phase", b.phase().jsonName());
            n.put("dtype", b.dtype().jsonName());
            n.put("comm_fusion", b.fusionId());
            n.set("members", strings(b.members()));
            ArrayNode ids = n.putArray("communications");
            b.comms().forEach(ids::add);
            n.put("bytes", b.bytes());
            n.put("issued_at", b.issuedAt());
            n.set("groups", groups(b.groups()));
        }
        ObjectNode memory = root.putObject("memory");
        memory.put("optimizer", plan.config().optimizer().jsonName());
        if (optimizerShards > 1) {
            memory.put("optimizer_shards", optimizerShards);
        }
        int ranks = pipe == null ? plan.devices() : pipe.devices();
        long[] paramBytes = new long[ranks];
        RankMemory[] memories = new RankMemory[ranks];
        for (int r = 0; r < ranks; r++) {
            memories[r] = pipe == null ? plan.memory(r, optimizerShards) : pipe.memory(r, optimizerShards);
            paramBytes[r] = memories[r].params();
        }
        memory.set("param_bytes_per_rank", longs(paramBytes));
        ArrayNode perRank = memory.putArray("per_rank");
        for (int r = 0; r < ranks; r++) {
            RankMemory m = memories[r];
            ObjectNode n = perRank.addObject();
            n.put("rank", r);
            n.put("params", m.params());
            n.put("gradients", m.gradients());
            n.put("optimizer_state", m.optimizerState());
            n.put("master_copies", m.masterCopies());
            n.put("gathered_weights", m.gatheredWeights());
            n.put("recompute_buffer", m.recomputeBuffer());
            n.put("fusion_buffer", m.fusionBuffer());
            if (m.fp8Weights() > 0) {
                n.put("fp8_weights", m.fp8Weights());
            }
            n.put("total", m.total());
        }
        root.set("notes", strings(plan.notes()));
        return root;
    }

    private static ArrayNode tensors(List<Layout> layouts) {
        ArrayNode a = F.arrayNode();
        for (Layout l : layouts) {
            ObjectNode n = a.addObject();
            n.set("tensor_map", map(l.tensorMap()));
            n.set("shape", longs(l.shape()));
            n.set("slice_shape", longs(l.sliceShape()));
        }
        return a;
    }

    /** A layout as {@code {"dev_matrix", "tensor_map", "shape"}}. */
    public static ObjectNode layout(Layout l) {
        ObjectNode n = F.objectNode();
        n.set("dev_matrix", ints(l.devMatrix().dims()));
        n.set("tensor_map", map(l.tensorMap()));
        n.set("shape", longs(l.shape()));
        return n;
    }

    /** A tensor map: ints, with a list for a multi-device entry. */
    public static ArrayNode map(TensorMap m) {
        ArrayNode a = F.arrayNode();
        for (TensorMap.Entry e : m.entries()) {
            if (e instanceof TensorMap.SplitMulti multi) {
                a.add(ints(multi.axes()));
            } else if (e instanceof TensorMap.Split s) {
                a.add(s.axis());
            } else {
                a.add(-1);
            }
        }
        return a;
    }

    private static ArrayNode groups(List<List<Integer>> groups) {
        ArrayNode a = F.arrayNode();
        for (List<Integer> g : groups) {
            ArrayNode x = a.addArray();
            g.forEach(x::add);
        }
        return a;
    }

    private static ArrayNode strings(List<String> values) {
        ArrayNode a = F.arrayNode();
        values.forEach(a::add);
        return a;
    }

    private static JsonNode strategy(Strategy s) {
        ArrayNode a = F.arrayNode();
        for (int[] t : s.tuples()) {
            a.add(ints(t));
        }
        return a;
    }

    private static ArrayNode ints(int[] v) {
        ArrayNode a = F.arrayNode();
        for (int x : v) {
            a.add(x);
        }
        return a;
    }

    private static ArrayNode longs(long[] v) {
        ArrayNode a = F.arrayNode();
        for (long x : v) {
            a.add(x);
        }
        return a;
    }
}
