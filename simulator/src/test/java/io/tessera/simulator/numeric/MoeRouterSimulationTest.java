package io.tessera.simulator.numeric;

import io.tessera.layout.DType;
import io.tessera.planner.graph.Network;
import io.tessera.planner.op.Binary;
import io.tessera.planner.op.MatMul;
import io.tessera.planner.op.MoeAuxLoss;
import io.tessera.planner.op.MoeRouter;
import io.tessera.planner.op.Reduce;
import io.tessera.planner.op.Strategy;
import io.tessera.planner.op.TensorType;
import io.tessera.planner.plan.Plan;
import io.tessera.planner.plan.PlanConfig;
import io.tessera.planner.plan.Planner;
import io.tessera.planner.strategy.DatasetStrategy;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A mixture-of-experts router trained on simulated ranks equals one device: tokens x [16, hidden 8], the gate
 * {@code logits = x W^T} (8 experts, Hugging Face's [experts, hidden] weight), the router, and the loss
 * {@code sum(weights * target)} (a renormalised router's weights sum to 1 per token, so a plain sum would have no
 * gradient), plus (mixtral+aux) the load-balancing loss on the router's choice; data parallel over 2 and 4 ranks,
 * float32 within 1e-5 and float64 within 1e-12.
 */
class MoeRouterSimulationTest {

    private static Network network(String variant) {
        Network.Builder b = Network.builder("moe_router");
        b.input("x", TensorType.of(DType.FLOAT32, 16, 8));
        b.input("target", TensorType.of(DType.FLOAT32, 16, 3));
        String gate = b.parameter("mlp.gate.weight", "normal", DType.FLOAT32, 8, 8);
        String logits = b.op("gate", MatMul.of(false, true), "x", gate);
        String router;
        if (variant.equals("deepseek")) {
            b.input("bias", TensorType.of(DType.FLOAT32, 8));
            router = b.op("router", MoeRouter.deepseek(3, 4, 2, 2.5), logits, "bias");
        } else {
            router = b.op("router", MoeRouter.softmax(3, variant.startsWith("mixtral")), logits);
        }
        String m = b.op("weighted", Binary.mul(), router, "target");
        String sum = b.op("loss", Reduce.sum(false), m);
        if (variant.equals("mixtral+aux")) {
            // the load-balancing loss on the router's choice (its second output), its logits gathered to every rank
            String aux = b.op("aux", new MoeAuxLoss(3, 0.5), logits, router + ":1");
            sum = b.op("total", Binary.add(), sum, aux);
        }
        b.loss(sum);
        return b.build();
    }

    @ParameterizedTest(name = "{0} router, data parallel {1}, {2}")
    @CsvSource({"mixtral, 2, float32", "mixtral, 4, float64", "qwen, 2, float32", "deepseek, 2, float32",
        "deepseek, 4, float32", "deepseek, 2, float64", "mixtral+aux, 2, float32", "mixtral+aux, 4, float64"})
    void dataParallelRouterEqualsOneDevice(String variant, int dp, String dtype) {
        boolean bias = variant.equals("deepseek");
        int[] rows = {dp, 1};
        PlanConfig.Builder config = PlanConfig.builder(dp)
                .dataset(new DatasetStrategy.Explicit(bias ? Strategy.of(rows, rows, new int[] {1})
                        : Strategy.of(rows, rows)))
                .strategy("gate", rows, new int[] {1, 1})
                .strategy("weighted", rows, rows)
                .strategy("loss", rows);
        if (variant.endsWith("+aux")) {
            config = config.strategy("aux", new int[] {1, 1}, new int[] {1, 1})
                    .strategy("total", new int[0], new int[0]);
        }
        config = bias ? config.strategy("router", rows, new int[] {1}) : config.strategy("router", rows);
        Plan plan = Planner.plan(network(variant), config.build());
        SimulationOptions options = SimulationOptions.defaults().withSteps(2).withDtype(DType.parse(dtype));
        SimulationReport r = Simulation.run(plan, options);
        assertTrue(r.passed(), r.summary());
        assertEquals(2, r.steps().size());
        assertTrue(r.maxRelError() <= (options.dtype() == DType.FLOAT64 ? 1e-12 : 1e-5), r.summary());
        assertTrue(r.paramErrors().containsKey("mlp.gate.weight"), r.paramErrors().toString());
    }
}
