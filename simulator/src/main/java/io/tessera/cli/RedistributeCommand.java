package io.tessera.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.layout.DeviceMatrix;
import io.tessera.layout.Layout;
import io.tessera.layout.Limits;
import io.tessera.layout.redistribution.Redistribution;
import io.tessera.layout.redistribution.RedistributionExecutor;
import io.tessera.layout.redistribution.RedistributionPlan;
import io.tessera.layout.redistribution.Step;
import io.tessera.layout.redistribution.Transfer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.List;

/**
 * {@code tessera layout redistribute}: for each case {@code {"dev_matrix", "shape", "dtype", "from", "to"}} (with
 * optional {@code from_dev_matrix}/{@code to_dev_matrix}), the byte-minimal redistribution plan: its steps with their
 * groups and bytes, the bytes each rank receives and sends, and with {@code --verify} whether executing the plan on
 * distinct real values gave every rank exactly its target slice.
 */
@Command(name = "redistribute", mixinStandardHelpOptions = true,
        description = {"Byte-minimal redistribution plans between two layouts of a tensor.",
                "Input: a JSON array of {\"dev_matrix\": [..], \"shape\": [..], \"dtype\": \"float32\", \"from\": [..],"
                        + " \"to\": [..]}; \"from_dev_matrix\"/\"to_dev_matrix\" replace dev_matrix when the device "
                        + "matrices differ; dtype defaults to float32.",
                "Output: a JSON array, same order, of {\"steps\": [{\"op\", \"groups\", \"bytes\", ...}], "
                        + "\"recv_bytes\": [..per rank], \"send_bytes\": [..], \"step_count\", "
                        + "\"communication_steps\", \"byte_minimal\", \"verified\" (with --verify)}, or "
                        + "{\"error\": \"...\"} for a bad case (exit code 2). A failed verification exits with 1."})
public final class RedistributeCommand extends CaseCommand {

    /** The keys of a redistribute case. */
    public static final List<String> KEYS =
            List.of("dev_matrix", "from_dev_matrix", "to_dev_matrix", "shape", "dtype", "from", "to");

    /** The most elements {@code --verify} materialises over all ranks (source plus target slices). */
    public static final long MAX_VERIFY_ELEMENTS = 1L << 24;

    @Option(names = "--verify",
            description = "Execute each plan on distinct real values and report whether every rank ended with "
                    + "exactly its target slice (\"verified\").")
    private boolean verify;

    private final List<Integer> failedVerifications = new ArrayList<>();

    @Override
    protected ObjectNode answer(JsonNode c, int index) {
        CaseFields f = new CaseFields(c, KEYS);
        DeviceMatrix fromDm = deviceMatrix(f, "from_dev_matrix");
        DeviceMatrix toDm = deviceMatrix(f, "to_dev_matrix");
        if (f.has("dev_matrix") && f.has("from_dev_matrix") && f.has("to_dev_matrix")) {
            throw new IllegalArgumentException("dev_matrix is given together with from_dev_matrix and to_dev_matrix, "
                    + "so it would be unused; remove dev_matrix or one of the other two");
        }
        long[] shape = f.longs("shape");
        DType dtype = DType.parse(f.string("dtype", "float32"));
        Layout from = Layout.of(fromDm, f.tensorMap("from"), shape);
        Layout to = Layout.of(toDm, f.tensorMap("to"), shape);
        checkDeviceCount("dev_matrix " + fromDm, from.deviceCount());
        Limits.Limit.REDISTRIBUTION_TRANSFERS.check("the redistribution's device-to-device "
                + "transfers (an upper bound)", transferBound(from, to));
        RedistributionPlan plan = Redistribution.plan(from, to, dtype);
        ObjectNode out = Json.object();
        ArrayNode steps = out.putArray("steps");
        for (Step s : plan.steps()) {
            steps.add(step(s, dtype));
        }
        out.set("recv_bytes", Json.array(plan.recvBytes()));
        out.set("send_bytes", Json.array(plan.sendBytes()));
        out.put("step_count", plan.stepCount());
        out.put("communication_steps", plan.communicationStepCount());
        out.put("byte_minimal", plan.isByteMinimal());
        if (verify) {
            long elements = from.sliceVolume() * from.deviceCount() + to.sliceVolume() * to.deviceCount();
            if (elements > MAX_VERIFY_ELEMENTS) {
                throw new IllegalArgumentException("--verify executes the plan on real values, which needs " + elements
                        + " elements over all ranks; at most " + MAX_VERIFY_ELEMENTS + " are supported, so verify "
                        + "a smaller shape or drop --verify");
            }
            boolean ok = RedistributionExecutor.verify(plan);
            out.put("verified", ok);
            if (!ok) {
                failedVerifications.add(index);
            }
        }
        return out;
    }

    @Override
    protected int internalStatus() {
        if (failedVerifications.isEmpty()) {
            return Tessera.EXIT_OK;
        }
        spec.commandLine().getErr().println("tessera: internal error: the plans of "
                + "cases " + failedVerifications + " did not give every rank exactly its target slice "
                + "(\"verified\": false); please report this with the input file");
        spec.commandLine().getErr().flush();
        return Tessera.EXIT_INTERNAL;
    }

    /**
     * A cheap upper bound on the transfers the plan lists: each target rank times the source slices its slice
     * overlaps, the product over the dimensions of {@code a / b} when the source splits a dimension {@code a} ways
     * and the target {@code b} ways with {@code b} dividing {@code a}, 1 when {@code a} divides {@code b}, else
     * {@code min(a, a / b + 2)}; saturating.
     */
    static long transferBound(Layout from, Layout to) {
        long bound = to.deviceCount();
        for (int d = 0; d < from.rank(); d++) {
            long a = from.splits(d);
            long b = to.splits(d);
            long overlaps = a % b == 0 ? a / b : b % a == 0 ? 1 : Math.min(a, a / b + 2);
            bound = bound > Long.MAX_VALUE / overlaps ? Long.MAX_VALUE : bound * overlaps;
        }
        return bound;
    }

    private static DeviceMatrix deviceMatrix(CaseFields f, String specificKey) {
        if (f.has(specificKey)) {
            return DeviceMatrix.of(f.ints(specificKey));
        }
        if (!f.has("dev_matrix")) {
            throw new IllegalArgumentException("missing key 'dev_matrix'; give dev_matrix, or from_dev_matrix and "
                    + "to_dev_matrix when the device matrices differ (valid keys are " + f.keyList() + ")");
        }
        return DeviceMatrix.of(f.ints("dev_matrix"));
    }

    /** One step as JSON: op, groups, bytes moved in all (0 for local steps), and its dims or reduction. */
    static ObjectNode step(Step s, DType dtype) {
        ObjectNode o = Json.object();
        o.put("op", s.op());
        ArrayNode groups = o.putArray("groups");
        for (List<Integer> g : s.groups()) {
            ArrayNode a = groups.addArray();
            g.forEach(a::add);
        }
        o.put("bytes", stepBytes(s, dtype));
        if (s instanceof Step.AllGather) {
            o.set("concat_dims", Json.array(((Step.AllGather) s).concatDims()));
        } else if (s instanceof Step.AllToAll) {
            Step.AllToAll a = (Step.AllToAll) s;
            o.set("split_dims", Json.array(a.splitDims()));
            o.set("concat_dims", Json.array(a.concatDims()));
        } else if (s instanceof Step.AllReduce) {
            o.put("reduce", ((Step.AllReduce) s).reduce().jsonName());
        } else if (s instanceof Step.ReduceScatter) {
            o.put("reduce", ((Step.ReduceScatter) s).reduce().jsonName());
        }
        return o;
    }

    /**
     * Total bytes a step moves: the sum over its receiving ranks, counted as {@link RedistributionPlan} counts them
     * (transfers for exchanges, ring algorithms for reductions); 0 for local steps.
     */
    static long stepBytes(Step s, DType dtype) {
        long b = dtype.bytes();
        long total = 0;
        if (s instanceof Step.Exchange) {
            for (Transfer t : ((Step.Exchange) s).transfers()) {
                total += t.elements() * b;
            }
        } else if (s instanceof Step.AllReduce) {
            Step.AllReduce a = (Step.AllReduce) s;
            for (List<Integer> g : a.groups()) {
                total += 2 * a.elements() * (g.size() - 1) / g.size() * b * g.size();
            }
        } else if (s instanceof Step.ReduceScatter) {
            Step.ReduceScatter rs = (Step.ReduceScatter) s;
            for (List<Integer> g : rs.groups()) {
                total += rs.elements() * (g.size() - 1) / g.size() * b * g.size();
            }
        }
        return total;
    }
}
