package io.tessera.simulator.kernel;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tessera.layout.DType;
import io.tessera.layout.param.Parameter;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.NetworkJson;
import io.tessera.planner.op.OpAttrs;
import io.tessera.planner.op.OpSharding;
import io.tessera.planner.op.Operator;
import io.tessera.planner.op.OperatorKind;
import io.tessera.planner.op.SoftmaxCrossEntropyWithLogits;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.op.TensorRef;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.op.Binary;
import io.tessera.planner.op.Gather;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.strategy.DatasetStrategy;
import io.tessera.simulator.array.NDArray;
import io.tessera.simulator.numeric.Simulation;
import io.tessera.simulator.numeric.SimulationOptions;
import io.tessera.simulator.numeric.SimulationReport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The contract every operator of the catalogue keeps, run on each operator's samples ({@link OperatorSamples}):
 * <ul>
 *   <li>every record permitted by {@link Operator} has an {@link OperatorKind} constant and samples covering each of
 *       its MindSpore type names (adding an operator without samples fails here);</li>
 *   <li>for random valid strategies (seeded, the seed printed, {@code -Dtessera.seed=N} to replay): the sharded
 *       kernels on each rank's slices, with the plan's communication, equal the unsharded kernel on the whole
 *       tensors (a one-op network simulated on all ranks against one device, float64, relative error within
 *       1e-12 for the loss {@code sum(out * w)} and every updated input);</li>
 *   <li>the backward kernel against central finite differences, for every differentiable input, with the gradient
 *       rule's differentiable outputs; each input asked alone gets the same gradient and the others null; absent
 *       output gradients give zeros; the kernel's output shapes are the operator's;</li>
 *   <li>the JSON round trip: {@link Operator#encodeAttrs} writes exactly {@link OperatorKind#attrNames()} and
 *       decodes to an equal operator, directly and through a network file;</li>
 *   <li>FLOPs and bytes are non-negative and do not grow when the slices shrink (each strategy's slices against the
 *       whole tensors), and the gradient rule's references stay within the inputs and outputs.</li>
 * </ul>
 * A seeded sample runs by default: two strategies per core sample for the sharded simulation; {@code
 * -Dtessera.full=true} runs eight per sample, on the attribute and shape variants too, on up to 16 devices.
 */
class OperatorContractTest {

    private static final boolean FULL = Boolean.getBoolean("tessera.full");
    private static final long SEED = Long.getLong("tessera.seed", 20261202L);
    private static final int STRATEGIES = FULL ? 8 : 2;
    private static final int[] DEVICES = FULL ? new int[] {2, 4, 8, 16} : new int[] {2, 4, 8};
    private static final SimulationOptions F64 = new SimulationOptions(1, DType.FLOAT64, 1.0, 11, 2);

    static {
        System.out.println("OperatorContractTest: seed " + SEED + " (rerun with -Dtessera.seed=" + SEED + ")"
                + (FULL ? ", full sweep" : ", sample sweep (-Dtessera.full=true for the full one)"));
    }

    static Stream<OperatorSamples.Sample> samples() {
        return OperatorSamples.all().stream();
    }

    private static Random random(OperatorSamples.Sample s, String check) {
        return new Random(SEED * 31 + (s.label() + "/" + check).hashCode());
    }

    @Test
    void everyOperatorRecordHasAKindAndSamplesOfEachTypeName() {
        Class<?>[] records = Operator.class.getPermittedSubclasses();
        assertEquals(OperatorKind.values().length, records.length, "one OperatorKind constant per operator record: "
                + Arrays.toString(OperatorKind.values()) + " vs " + Arrays.toString(records));
        List<OperatorSamples.Sample> all = OperatorSamples.all();
        for (Class<?> record : records) {
            OperatorKind kind = OperatorKind.of(record);
            assertEquals(record, kind.recordClass());
            Set<String> covered = new LinkedHashSet<>();
            for (OperatorSamples.Sample s : all) {
                if (s.op().getClass() == record) {
                    assertEquals(kind, s.op().operatorKind(), s.label());
                    covered.add(s.op().type());
                }
            }
            assertFalse(covered.isEmpty(), "operator record " + record.getSimpleName() + " has no samples; add them"
                    + " to OperatorSamples (input shapes and attribute variants) so the contract runs on it");
            assertEquals(new LinkedHashSet<>(kind.types()), covered, record.getSimpleName()
                    + ": samples must cover every type name of " + kind);
        }
        assertEquals(OperatorKind.allTypes().size(), new LinkedHashSet<>(OperatorKind.allTypes()).size(),
                "type names are unique: " + OperatorKind.allTypes());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("samples")
    void jsonRoundTrip(OperatorSamples.Sample s) {
        Operator op = s.op();
        ObjectNode attrs = op.encodeAttrs();
        List<String> names = new ArrayList<>();
        Iterator<String> it = attrs.fieldNames();
        it.forEachRemaining(names::add);
        List<String> expected = new ArrayList<>(op.operatorKind().attrNames());
        if (op instanceof io.tessera.planner.op.MatMul m && m.gemmDtype() == null) {
            expected.remove("gemm_dtype"); // written only when set
        }
        if (op instanceof io.tessera.planner.op.FlashAttention f && f.loadBalance() == 1
                || op instanceof io.tessera.planner.op.Rope r && r.loadBalance() == 1) {
            expected.remove("load_balance"); // written only when not 1
        }
        if (op instanceof io.tessera.planner.op.Transpose t && !t.outputDeviceOrder()) {
            expected.remove("output_device_order"); // written only when true
        }
        if (op instanceof io.tessera.planner.op.Rope r && !r.interleaved()) {
            expected.remove("interleaved"); // written only when true
        }
        if (op instanceof io.tessera.planner.op.Split sp && sp.sizes().isEmpty()) {
            expected.remove("size_splits"); // written only when given
        }
        assertEquals(expected, names, s.label() + ": attributes written, in order");
        assertTrue(op.operatorKind().types().contains(op.type()), s.label());
        assertEquals(op, OperatorKind.forType(op.type()).decode(op.type(), new OpAttrs("contract", attrs)),
                s.label() + ": decode(encode(op))");
        Network net = OperatorSamples.network(s);
        String json = NetworkJson.write(net);
        Network back = NetworkJson.parse(json);
        assertEquals(op, back.node("op").op(), s.label() + ": through a network file");
        assertEquals(json, NetworkJson.write(back), s.label() + ": the file is written back unchanged");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("samples")
    void gradientRuleStaysWithinTheOperator(OperatorSamples.Sample s) {
        Operator op = s.op();
        List<TensorType> outs = op.outputs("op", s.types());
        assertEquals(s.inputs().size(), op.inputCount(), s.label());
        boolean any = false;
        for (int i = 0; i < s.inputs().size(); i++) {
            if (!op.differentiableInput(i)) {
                continue;
            }
            any = true;
            for (TensorRef r : op.gradientReads(i)) {
                int limit = r instanceof TensorRef.Input ? s.inputs().size() : outs.size();
                assertTrue(r.index() < limit, s.label() + ": gradient of input " + i + " reads " + r + " of "
                        + s.inputs().size() + " inputs and " + outs.size() + " outputs");
            }
        }
        assertTrue(any, s.label() + ": some input has a gradient");
        assertTrue(op.differentiableOutput(0), s.label() + ": output 0 carries the gradient");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("samples")
    void backwardMatchesCentralDifferences(OperatorSamples.Sample s) {
        if (!s.smooth()) {
            return; // a rounding forward (Cast to float32) has no float64 derivative; its float64 sample covers it
        }
        Random r = random(s, "backward");
        Operator op = s.op();
        List<NDArray> inputs = OperatorSamples.values(s, r);
        List<TensorType> outTypes = op.outputs("op", s.types());
        List<long[]> outShapes = new ArrayList<>();
        outTypes.forEach(t -> outShapes.add(t.shape()));
        KernelContext ctx = CentralDifference.single(inputs, outShapes);
        boolean[] needs = new boolean[inputs.size()];
        for (int i = 0; i < needs.length; i++) {
            needs[i] = op.differentiableInput(i) && s.types().get(i).dtype().isFloating();
        }
        boolean[] carries = new boolean[outTypes.size()];
        for (int o = 0; o < carries.length; o++) {
            carries[o] = op.differentiableOutput(o);
        }
        List<NDArray> outputs = Kernels.forward(op, ctx, inputs);
        assertEquals(CentralDifference.typeShapes(outTypes), CentralDifference.shapes(outputs),
                s.label() + ": the kernel's output shapes are the operator's");
        // the loss sums only the outputs whose gradient flows back; the others get no gradient (null)
        CentralDifference.check(s.label(), r, inputs, needs, x -> kept(Kernels.forward(op, ctx, x), carries),
                (x, y, g, n) -> Kernels.backward(op, ctx, x, Kernels.forward(op, ctx, x), spread(g, carries), n));
        List<NDArray> outGrads = new ArrayList<>();
        for (int o = 0; o < outputs.size(); o++) {
            outGrads.add(carries[o] ? CentralDifference.uniform(r, outputs.get(o).shape()) : null);
        }
        List<NDArray> all = Kernels.backward(op, ctx, inputs, outputs, outGrads, needs.clone());
        List<NDArray> absent = new ArrayList<>();
        outputs.forEach(y -> absent.add(null));
        for (int i = 0; i < needs.length; i++) {
            if (!needs[i]) {
                continue;
            }
            // asked alone: the same gradient, and null for every other input
            boolean[] only = new boolean[needs.length];
            only[i] = true;
            List<NDArray> alone = Kernels.backward(op, ctx, inputs, outputs, outGrads, only);
            for (int j = 0; j < needs.length; j++) {
                if (j == i) {
                    CentralDifference.assertClose(all.get(i), alone.get(i), 1e-12, s.label() + ": gradient " + i
                            + " asked alone");
                } else {
                    assertNull(alone.get(j), s.label() + ": gradient " + j + " not asked for");
                }
            }
            // absent output gradients: zeros
            assertEquals(NDArray.zeros(inputs.get(i).shape()),
                    Kernels.backward(op, ctx, inputs, outputs, absent, only).get(i),
                    s.label() + ": no output gradient gives a zero gradient " + i);
        }
        boolean[] none = new boolean[needs.length];
        for (NDArray g : Kernels.backward(op, ctx, inputs, outputs, outGrads, none)) {
            assertNull(g, s.label() + ": no gradient asked for");
        }
    }

    private static List<NDArray> kept(List<NDArray> outputs, boolean[] carries) {
        List<NDArray> out = new ArrayList<>();
        for (int o = 0; o < outputs.size(); o++) {
            if (carries[o]) {
                out.add(outputs.get(o));
            }
        }
        return out;
    }

    private static List<NDArray> spread(List<NDArray> grads, boolean[] carries) {
        List<NDArray> out = new ArrayList<>();
        int k = 0;
        for (boolean c : carries) {
            out.add(c ? grads.get(k++) : null);
        }
        return out;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("samples")
    void shardedKernelsEqualTheUnshardedKernel(OperatorSamples.Sample s) {
        if (!s.core() && !FULL) {
            return; // variants: in the full sweep
        }
        Random r = random(s, "sharded");
        List<OperatorSamples.Sharded> strategies = OperatorSamples.strategies(s, r, STRATEGIES, DEVICES);
        assertFalse(strategies.isEmpty(), s.label() + ": no valid strategy found");
        for (OperatorSamples.Sharded st : strategies) {
            SimulationReport report;
            try {
                report = Simulation.run(Planner.plan(OperatorSamples.network(s), config(s, st)), F64);
            } catch (RuntimeException e) {
                throw new AssertionError(s.label() + " on " + st + ": " + e.getMessage(), e);
            }
            assertTrue(report.passed(), s.label() + " on " + st + "\n" + report.summary());
        }
        System.out.println(s.label() + ": sharded simulation equals one device on " + strategies);
    }

    /** The op's strategy, data inputs laid out as the op wants them, the loss ops replicated. */
    private static PlanConfig config(OperatorSamples.Sample s, OperatorSamples.Sharded st) {
        List<int[]> dataset = new ArrayList<>();
        for (int i = 0; i < s.inputs().size(); i++) {
            if (s.inputs().get(i).role() == OperatorSamples.Role.DATA) {
                dataset.add(st.strategy().tuple(i));
            }
        }
        TensorType out = s.op().outputs("op", s.types()).get(0);
        int[] ones = new int[out.rank()];
        Arrays.fill(ones, 1);
        dataset.add(ones);
        PlanConfig.Builder b = PlanConfig.builder(st.devices())
                .dataset(new DatasetStrategy.Explicit(Strategy.of(dataset.toArray(new int[0][]))));
        return b.strategy("op", st.strategy())
                .strategy("weighted", ones, ones)
                .strategy("loss", ones)
                .build();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("samples")
    void flopsAndBytesAreNonNegativeAndMonotoneInTheSliceSize(OperatorSamples.Sample s) {
        Operator op = s.op();
        List<TensorType> ins = s.types();
        List<TensorType> outs = op.outputs("op", ins);
        List<long[]> inFull = new ArrayList<>();
        List<DType> inTypes = new ArrayList<>();
        ins.forEach(t -> {
            inFull.add(t.shape());
            inTypes.add(t.dtype());
        });
        List<long[]> outFull = new ArrayList<>();
        List<DType> outTypes = new ArrayList<>();
        outs.forEach(t -> {
            outFull.add(t.shape());
            outTypes.add(t.dtype());
        });
        long flops = op.forwardFlops(inFull, outFull);
        long bytes = op.forwardBytes(inFull, inTypes, outFull, outTypes);
        assertTrue(flops >= 0, s.label() + ": FLOPs " + flops);
        assertTrue(bytes > 0, s.label() + ": bytes " + bytes);
        for (OperatorSamples.Sharded st : OperatorSamples.strategies(s, random(s, "costs"), STRATEGIES, DEVICES)) {
            OpSharding sh = st.sharding();
            List<long[]> inSlice = new ArrayList<>();
            for (int i = 0; i < ins.size(); i++) {
                inSlice.add(sh.inputLayout(i, ins.get(i)).sliceShape());
            }
            List<long[]> outSlice = new ArrayList<>();
            for (int o = 0; o < outs.size(); o++) {
                outSlice.add(sh.outputLayout(o, outs.get(o)).sliceShape());
            }
            long f = op.forwardFlops(inSlice, outSlice);
            long b = op.forwardBytes(inSlice, inTypes, outSlice, outTypes);
            assertTrue(f >= 0 && f <= flops, s.label() + " on " + st + ": slice FLOPs " + f + ", whole " + flops);
            assertTrue(b > 0 && b <= bytes, s.label() + " on " + st + ": slice bytes " + b + ", whole " + bytes);
        }
    }

    @Test
    void samplesMakeWellFormedInputs() {
        // the value generator respects the operators' input domains (the other checks rely on it)
        for (OperatorSamples.Sample s : OperatorSamples.all()) {
            List<NDArray> v = OperatorSamples.values(s, random(s, "values"));
            for (int i = 0; i < v.size(); i++) {
                assertArrayEquals(s.types().get(i).shape(), v.get(i).shape(), s.label() + " input " + i);
                if (s.op() instanceof Gather && i == 1) {
                    assertFalse(s.types().get(i).dtype().isFloating(), s.label());
                }
                if (s.op() instanceof SoftmaxCrossEntropyWithLogits && i == 1) {
                    assertEquals(v.get(i).size() / v.get(i).dim(1), sum(v.get(i)), 1e-12, s.label() + " one-hot");
                }
                if (s.op() instanceof Binary b && b.kind() == Binary.Kind.DIV && i == 1) {
                    for (int k = 0; k < v.get(i).size(); k++) {
                        assertTrue(Math.abs(v.get(i).get(k)) >= 0.5, s.label() + " denominator");
                    }
                }
            }
            assertNotNull(OperatorSamples.network(s).backward(), s.label());
        }
    }

    private static double sum(NDArray a) {
        double t = 0;
        for (int k = 0; k < a.size(); k++) {
            t += a.get(k);
        }
        return t;
    }
}
