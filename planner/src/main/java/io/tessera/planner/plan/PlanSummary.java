package io.tessera.planner.plan;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The human summary {@code tessera plan} prints: operators and their strategies, communications by phase and kind
 * with bytes, and parameter memory per rank.
 */
public final class PlanSummary {

    private PlanSummary() {
    }

    /** The summary text, ending with a newline. */
    public static String format(Plan plan) {
        return format(plan, null);
    }

    /**
     * The summary of a pipeline plan: as {@link #format(Plan)} with the stages (ranks, operators, parameter bytes),
     * the tensors sent between stages, each operator's stage and the memory of every global rank; without pipeline
     * stages exactly {@link #format(Plan)}.
     */
    public static String format(PipelinePlan pipe) {
        return format(pipe, pipe.plan().config().mode().toString());
    }

    /**
     * {@link #format(PipelinePlan)} naming the parallel mode {@code mode} in the first line, e.g.
     * {@code auto_parallel: searched strategies} for the plan of a strategy search.
     */
    public static String format(PipelinePlan pipe, String mode) {
        return format(pipe, mode, 1);
    }

    /**
     * {@link #format(PipelinePlan, String)} with each rank's optimizer state and master copies split
     * {@code optimizerShards} ways in the memory table ({@link Plan#memory(int, int)}: at most over each parameter's
     * replicas; Megatron's distributed optimizer over the data-parallel group, {@code >= 1}, 1 for none).
     */
    public static String format(PipelinePlan pipe, String mode, int optimizerShards) {
        return pipe.stages() == 1 ? format(pipe.plan(), null, mode, optimizerShards)
                : format(pipe.plan(), pipe, mode, optimizerShards);
    }

    private static String format(Plan plan, PipelinePlan pipe) {
        return format(plan, pipe, plan.config().mode().toString(), 1);
    }

    private static String format(Plan plan, PipelinePlan pipe, String mode, int optimizerShards) {
        StringBuilder sb = new StringBuilder();
        if (pipe == null) {
            sb.append(String.format(Locale.ROOT, "plan of '%s' on %d devices (%s)%n", plan.network().name(),
                    plan.devices(), mode));
        } else {
            sb.append(String.format(Locale.ROOT,
                    "plan of '%s' on %d devices: %d pipeline stages of %d devices, %d micro-batches (%s)%n",
                    plan.network().name(), pipe.devices(), pipe.stages(), pipe.stageDevices(), pipe.microBatches(),
                    mode));
            if (pipe.virtualStages() > 1) {
                sb.append(String.format(Locale.ROOT, "interleaved: %d model chunks per stage, chunk c*%d+d on stage d%n",
                        pipe.virtualStages(), pipe.stages()));
            }
            sb.append(String.format(Locale.ROOT, "%npipeline stages (%d):%n", pipe.stages()));
            for (int s = 0; s < pipe.stages(); s++) {
                List<OpPlan> ops = pipe.ops(s);
                long bytes = pipe.params(s).stream().mapToLong(ParamPlan::fullBytes).sum();
                sb.append(String.format(Locale.ROOT, "  stage %d  ranks %d-%d  %d operators (%s .. %s), "
                                + "parameters %s%n", s, pipe.globalRank(s, 0), pipe.globalRank(s, pipe.stageDevices() - 1),
                        ops.size(), ops.get(0).name(), ops.get(ops.size() - 1).name(), bytes(bytes)));
            }
            sb.append(String.format(Locale.ROOT, "%nsent between stages (%d; per rank and micro-batch, and its "
                    + "gradient back):%n", pipe.boundaries().size()));
            for (PipelinePlan.Boundary b : pipe.boundaries()) {
                sb.append(String.format(Locale.ROOT, "  %-32s stage %d -> %d  %s%s%n", b.tensor(), b.fromStage(),
                        b.toStage(), bytes(b.bytes()), pipe.virtualStages() > 1 ? String.format(Locale.ROOT,
                                "  (chunk %d -> %d)", b.fromChunk(), b.toChunk()) : ""));
            }
        }
        sb.append(String.format(Locale.ROOT, "%noperators (%d):%n", plan.ops().size()));
        int width = plan.ops().stream().mapToInt(o -> o.name().length()).max().orElse(4);
        for (OpPlan o : plan.ops()) {
            String stage = pipe == null ? "" : "s" + pipe.stageOf(o.name())
                    + (pipe.virtualStages() > 1 ? "c" + pipe.chunkOf(o.name()) : "") + "  ";
            sb.append(String.format(Locale.ROOT, "  %s%-" + width + "s  %-30s %s%s%n", stage, o.name(), o.type(),
                    o.inStrategy(), o.userStrategy() ? "" : "  (data parallel)"));
        }
        sb.append(String.format(Locale.ROOT, "%ncommunications (%d%s):%n", plan.comms().size(),
                pipe == null ? "" : ", inside stages; groups in stage-local ranks"));
        if (plan.comms().isEmpty()) {
            sb.append("  none\n");
        }
        for (Map.Entry<String, long[]> e : plan.commTotals().entrySet()) {
            sb.append(String.format(Locale.ROOT, "  %-32s %5d   %s received in all%n", e.getKey(), e.getValue()[0],
                    bytes(e.getValue()[1])));
        }
        int ranks = pipe == null ? plan.devices() : pipe.devices();
        java.util.function.IntFunction<RankMemory> memoryOf = r -> pipe == null ? plan.memory(r, optimizerShards)
                : pipe.memory(r, optimizerShards);
        long[] mem = new long[ranks];
        for (int r = 0; r < ranks; r++) {
            mem[r] = memoryOf.apply(r).params();
        }
        long min = Arrays.stream(mem).min().orElse(0);
        long max = Arrays.stream(mem).max().orElse(0);
        long full = plan.params().stream().mapToLong(ParamPlan::fullBytes).sum();
        sb.append(String.format(Locale.ROOT, "%nparameters (%d): %s in all; per rank %s%s%n", plan.params().size(),
                bytes(full), bytes(max), min == max ? "" : " (min " + bytes(min) + ")"));
        if (plan.config().parallelOptimizer()) {
            long sharded = plan.params().stream().filter(p -> p.shard().sharded()).count();
            sb.append(String.format(Locale.ROOT, "%noptimizer parallel: %d of %d parameters sharded%n", sharded,
                    plan.params().size()));
            Map<String, Long> reasons = new java.util.TreeMap<>();
            for (ParamPlan p : plan.params()) {
                if (!p.shard().sharded()) {
                    reasons.merge(p.shard().reason().replaceAll("[0-9.]+ KB is", "is"), 1L, Long::sum);
                }
            }
            reasons.forEach((r, n) -> sb.append(String.format(Locale.ROOT, "  not sharded (%d): %s%n", n, r)));
        }
        if (!plan.buckets().isEmpty()) {
            Map<String, long[]> byKind = new java.util.TreeMap<>();
            for (Bucket b : plan.buckets()) {
                long[] v = byKind.computeIfAbsent(b.phase().jsonName() + " " + b.kind(), k -> new long[3]);
                v[0]++;
                v[1] += b.members().size();
                v[2] = Math.max(v[2], b.bytes());
            }
            sb.append(String.format(Locale.ROOT, "%nfusion buckets (%d):%n", plan.buckets().size()));
            byKind.forEach((k, v) -> sb.append(String.format(Locale.ROOT,
                    "  %-32s %5d buckets of %d communications, largest %s%n", k, v[0], v[1], bytes(v[2]))));
        }
        sb.append(String.format(Locale.ROOT, "%nmemory per rank (%s optimizer%s; activations not counted):%n",
                plan.config().optimizer().jsonName(), optimizerShards > 1 ? ", its state and master copies "
                        + "sharded " + optimizerShards + " ways by the distributed optimizer" : ""));
        sb.append(String.format(Locale.ROOT, "  %-6s %11s %11s %11s %11s %11s %11s %11s %11s%n", "rank", "params",
                "gradients", "opt state", "master", "gathered", "recompute", "fusion", "total"));
        List<RankMemory> rows = new java.util.ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            rows.add(memoryOf.apply(r));
        }
        int shown = 0;
        for (int r = 0; r < rows.size(); r++) {
            RankMemory m = rows.get(r);
            boolean sameAsPrevious = r > 0 && sameFigures(m, rows.get(r - 1));
            if (sameAsPrevious) {
                continue;
            }
            int last = r;
            while (last + 1 < rows.size() && sameFigures(rows.get(last + 1), m)) {
                last++;
            }
            if (++shown > 16) {
                sb.append("  ...\n");
                break;
            }
            String label = last == r ? Integer.toString(r) : r + "-" + last;
            sb.append(String.format(Locale.ROOT, "  %-6s %11s %11s %11s %11s %11s %11s %11s %11s%n", label,
                    bytes(m.params()), bytes(m.gradients()), bytes(m.optimizerState()), bytes(m.masterCopies()),
                    bytes(m.gatheredWeights()), bytes(m.recomputeBuffer()), bytes(m.fusionBuffer()),
                    bytes(m.total())));
        }
        long fp8 = rows.stream().mapToLong(RankMemory::fp8Weights).max().orElse(0);
        if (fp8 > 0) {
            sb.append(String.format(Locale.ROOT, "  total includes the cached FP8 weight copies (row-wise and "
                    + "transposed), up to %s per rank%n", bytes(fp8)));
        }
        for (String note : plan.notes()) {
            sb.append("\nnote: ").append(note).append('\n');
        }
        return sb.toString();
    }

    private static boolean sameFigures(RankMemory a, RankMemory b) {
        return a.params() == b.params() && a.gradients() == b.gradients() && a.optimizerState() == b.optimizerState()
                && a.masterCopies() == b.masterCopies() && a.gatheredWeights() == b.gatheredWeights()
                && a.recomputeBuffer() == b.recomputeBuffer() && a.fusionBuffer() == b.fusionBuffer()
                && a.fp8Weights() == b.fp8Weights();
    }

    /** Bytes with a binary unit, e.g. {@code 1.5 MiB}. */
    public static String bytes(long b) {
        if (b < 1024) {
            return b + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double v = b;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }
}
