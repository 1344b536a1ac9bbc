package io.tessera.planner.api;

import io.tessera.layout.param.Parameter;
import io.tessera.planner.graph.Network;
import io.tessera.planner.graph.Node;
import io.tessera.planner.strategy.LayoutItem;
import io.tessera.planner.strategy.StrategyCheckpoint;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyItem;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

/**
 * Checks a strategy checkpoint loaded by {@code strategy_ckpt_config.load_file} against the network and devices it
 * pins, as strictly as a strategy file's {@code operators} are checked: every {@code parallel_strategy_item} must name
 * an operator ({@code <Prim>_<first param name>}), in a stage of the file, with one tuple per input whose splits use
 * a divisor of a stage's devices; every {@code parallel_layout_item} must name a parameter, with its full shape, a
 * {@code dev_matrix} over exactly a stage's devices and an {@code opt_weight_shard_size} of -1 or a divisor of them.
 */
final class LoadedCheckpoints {

    private LoadedCheckpoints() {
    }

    /**
     * Checks {@code ckpt}, read from {@code path}, against {@code network} and {@code file}'s devices and stages.
     *
     * @param keys the checkpoint keys of the network's operators ({@link StrategyPlans#checkpointKeys})
     * @throws IllegalArgumentException "{@code strategy_ckpt_config.load_file <path>: <item>: ...}" naming the item,
     *                                  the value found and what is allowed
     */
    static void check(Path path, StrategyCheckpoint ckpt, Network network, Map<String, String> keys,
                      StrategyFile file) {
        String where = "strategy_ckpt_config.load_file " + path + ": ";
        int devices = file.stageDeviceCount();
        int stages = file.pipelineStages();
        for (Map.Entry<String, StrategyItem> e : ckpt.strategies().entrySet()) {
            String item = where + "parallel_strategy_item." + e.getKey();
            String op = keys.get(e.getKey());
            if (op == null) {
                throw new IllegalArgumentException(item + ": matches no operator of network '" + network.name()
                        + "'; expected a key <Prim>_<first param name>" + (keys.isEmpty() ? ""
                        : " such as '" + keys.keySet().iterator().next() + "'"));
            }
            StrategyItem s = e.getValue();
            if (s.stage() >= stages) {
                throw new IllegalArgumentException(item + ".stage: found " + s.stage() + "; expected a stage in [0, "
                        + stages + ") (parallel.pipeline_stages is " + stages + ")");
            }
            Node node = network.node(op);
            String found = tuples(s);
            if (s.parallelStrategy().size() != node.inputs().size()) {
                throw new IllegalArgumentException(item + ".parallel_strategy: found " + found + "; expected one "
                        + "tuple per input of " + node.op().type() + " '" + op + "' (" + node.inputs().size() + ")");
            }
            for (int i = 0; i < node.inputs().size(); i++) {
                int[] t = s.parallelStrategy().get(i);
                long rank = network.tensor(node.input(i)).shape().length;
                long product = 1;
                for (int v : t) {
                    product = Math.min(product * v, Integer.MAX_VALUE + 1L);
                }
                if (t.length != rank || devices % product != 0) {
                    throw new IllegalArgumentException(item + ".parallel_strategy: found " + found + "; expected for "
                            + "input " + i + " one split per dim (" + rank + ") whose product divides the " + devices
                            + " devices of a stage");
                }
            }
        }
        for (Map.Entry<String, LayoutItem> e : ckpt.layouts().entrySet()) {
            String item = where + "parallel_layout_item." + e.getKey();
            Parameter p = network.parameter(e.getKey());
            if (p == null) {
                throw new IllegalArgumentException(item + ": matches no parameter of network '" + network.name()
                        + "'; expected a parameter name" + (network.parameters().isEmpty() ? ""
                        : " such as '" + network.parameters().get(0).name() + "'"));
            }
            LayoutItem l = e.getValue();
            if (!Arrays.equals(l.tensorShape(), p.shape())) {
                throw new IllegalArgumentException(item + ".tensor_shape: found " + Arrays.toString(l.tensorShape())
                        + "; expected the parameter's shape " + Arrays.toString(p.shape()));
            }
            long product = 1;
            for (int d : l.devMatrix()) {
                product = Math.min(product * d, Integer.MAX_VALUE + 1L);
            }
            if (product != devices) {
                throw new IllegalArgumentException(item + ".dev_matrix: found " + Arrays.toString(l.devMatrix())
                        + " (" + product + " devices); expected a device matrix over the " + devices
                        + " devices of a stage");
            }
            int k = l.optWeightShardSize();
            if (k != -1 && devices % k != 0) {
                throw new IllegalArgumentException(item + ".opt_weight_shard_size: found " + k + "; expected -1 (not "
                        + "configured) or a divisor of the " + devices + " devices of a stage");
            }
        }
    }

    private static String tuples(StrategyItem s) {
        StringBuilder sb = new StringBuilder("[");
        for (int[] t : s.parallelStrategy()) {
            sb.append(sb.length() > 1 ? ", " : "").append(Arrays.toString(t));
        }
        return sb.append(']').toString();
    }
}
