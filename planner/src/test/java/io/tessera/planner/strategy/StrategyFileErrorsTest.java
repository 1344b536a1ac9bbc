package io.tessera.planner.strategy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every strategy-file error: the JSON path, the value found and what is expected, on one line. */
class StrategyFileErrorsTest {

    private static final String NET = "'network': {'zoo': 'mlp'}, 'devices': 8";

    private static String top(String rest) {
        return "{" + NET + ", " + rest + "}";
    }

    private static String par(String parallel) {
        return top("'parallel': {" + parallel + "}");
    }

    private static String fusion(String commFusion) {
        return par("'comm_fusion': {" + commFusion + "}");
    }

    private static String op(String body) {
        return top("'operators': {'mm': " + body + "}");
    }

    private static String param(String key, String body) {
        return top("'parameters': {'" + key + "': " + body + "}");
    }

    static Stream<Arguments> cases() {
        String parallelKeys = "valid keys are parallel_mode, search_mode, enable_parallel_optimizer, "
                + "parallel_optimizer_config, comm_fusion, dataset_strategy, gradients_mean, pipeline_stages, "
                + "micro_batches, optimizer, strategy_ckpt_config";
        return Stream.of(
                // top level and network
                Arguments.of(top("'device': 8"), "top level: unknown key 'device'; valid keys are network, devices, "
                        + "cluster, parallel, parallelism, operators, parameters, stages, routing"),
                Arguments.of("{'devices': 8}", "top level: missing key 'network'; add it (valid keys are network, "
                        + "devices, cluster, parallel, parallelism, operators, parameters, stages, routing)"),
                Arguments.of("{'network': {'zoo': 'mlp'}}", "top level: missing key 'devices'"),
                Arguments.of("[1]", "top level: found the array [1]; expected an object with keys network, "),
                Arguments.of("", "strategy file: found empty text; expected a JSON object with keys network, "),
                Arguments.of("{'network': {'zoo': 'mlp'}, 'devices': 8, 'devices': 4}",
                        "strategy file: malformed JSON at line 1, column 52: Duplicate field 'devices'; fix the text "
                                + "so that it is valid JSON"),
                Arguments.of("{'network': {'zoo': 'mlp'}, 'devices': 8,}", "strategy file: malformed JSON at line 1"),
                Arguments.of("{'network': {'zoo': 'mlp'}, 'devices': 8} {}", "strategy file: malformed JSON"),
                Arguments.of("{'network': {'zoo': 'mlp', 'file': 'n.json'}, 'devices': 8}",
                        "network: found both 'zoo' and 'file'; expected exactly one: {\"zoo\": \"gpt\", \"args\": "
                                + "{..}}, {\"file\": \"net.json\"} or {\"hf_config\": \"models/llama-3-8b.json\", "
                                + "\"args\": {..}}"),
                Arguments.of("{'network': {'hf_config': 'c.json', 'file': 'n.json'}, 'devices': 8}",
                        "network: found both 'file' and 'hf_config'; expected exactly one"),
                Arguments.of("{'network': {'hf_config': ''}, 'devices': 8}",
                        "network.hf_config: found the string \"\"; expected the path of a Hugging Face config.json"),
                Arguments.of("{'network': {}, 'devices': 8}",
                        "network: found none of 'zoo', 'file' and 'hf_config'"),
                Arguments.of("{'network': {'arg': {}}, 'devices': 8}",
                        "network: unknown key 'arg'; valid keys are zoo, args, file"),
                Arguments.of("{'network': 'gpt', 'devices': 8}",
                        "network: found the string \"gpt\"; expected an object with keys zoo, args, file"),
                Arguments.of("{'network': {'file': 'n.json', 'args': {}}, 'devices': 8}",
                        "network.args: found args with a network file; expected args only with 'zoo'"),
                Arguments.of("{'network': {'zoo': ''}, 'devices': 8}",
                        "network.zoo: found the string \"\"; expected the name of a zoo model, e.g. \"gpt\""),
                Arguments.of("{'network': {'file': 3}, 'devices': 8}",
                        "network.file: found the number 3; expected the path of a network JSON file"),
                Arguments.of("{'network': {'zoo': 'mlp', 'args': [1]}, 'devices': 8}",
                        "network.args: found the array [1]; expected an object of model arguments"),
                Arguments.of("{'network': {'zoo': 'mlp', 'args': {'layers': null}}, 'devices': 8}",
                        "network.args.layers: found null; expected a number, string, boolean, array or object"),
                // devices
                Arguments.of("{'network': {'zoo': 'mlp'}, 'devices': 0}",
                        "devices: found the number 0; expected a device count >= 1 or {\"dev_matrix\": [..]}"),
                Arguments.of("{'network': {'zoo': 'mlp'}, 'devices': '8'}", "devices: found the string \"8\"; "),
                Arguments.of("{'network': {'zoo': 'mlp'}, 'devices': 8.0}", "devices: found the number 8.0; "),
                Arguments.of("{'network': {'zoo': 'mlp'}, 'devices': 3000000000}",
                        "devices: found the number 3000000000; expected a device count >= 1"),
                Arguments.of("{'network': {'zoo': 'mlp'}, 'devices': {'dev': [2]}}",
                        "devices: unknown key 'dev'; valid keys are dev_matrix"),
                Arguments.of("{'network': {'zoo': 'mlp'}, 'devices': {'dev_matrix': []}}",
                        "devices.dev_matrix: found the array []; expected a non-empty list of positive ints"),
                Arguments.of("{'network': {'zoo': 'mlp'}, 'devices': {'dev_matrix': [2, 0]}}",
                        "devices.dev_matrix[1]: found the number 0; expected an integer >= 1"),
                Arguments.of("{'network': {'zoo': 'mlp'}, 'devices': {'dev_matrix': [65536, 65536]}}",
                        "devices.dev_matrix: found [65536, 65536]; expected at most 2147483647 devices in all"),
                // parallel scalars
                Arguments.of(top("'parallel': []"), "parallel: found the array []; expected an object with keys "
                        + "parallel_mode, "),
                Arguments.of(par("'parallel_mod': 'x'"), "parallel: unknown key 'parallel_mod'; " + parallelKeys),
                Arguments.of(par("'parallel_mode': 'semi_auto'"), "parallel.parallel_mode: found the string "
                        + "\"semi_auto\"; expected one of stand_alone, data_parallel, semi_auto_parallel, "
                        + "auto_parallel"),
                Arguments.of(par("'parallel_mode': 'hybrid_parallel'"),
                        "parallel.parallel_mode: found the string \"hybrid_parallel\"; expected one of stand_alone"),
                Arguments.of(par("'parallel_mode': 'SEMI_AUTO_PARALLEL'"),
                        "parallel.parallel_mode: found the string \"SEMI_AUTO_PARALLEL\"; expected one of "),
                Arguments.of(par("'search_mode': 'dp'"), "parallel.search_mode: found the string \"dp\"; expected "
                        + "one of dynamic_programming, recursive_programming, sharding_propagation"),
                Arguments.of(par("'enable_parallel_optimizer': 'true'"),
                        "parallel.enable_parallel_optimizer: found the string \"true\"; expected true or false"),
                Arguments.of(par("'gradients_mean': 1"),
                        "parallel.gradients_mean: found the number 1; expected true or false"),
                Arguments.of(par("'pipeline_stages': 0"), "parallel.pipeline_stages: found the number 0; expected "
                        + "a number of pipeline stages >= 1 (default 1)"),
                Arguments.of(par("'pipeline_stages': 3"), "parallel.pipeline_stages: found 3; expected a divisor of "
                        + "the device count 8 (every stage gets the same number of devices)"),
                Arguments.of(par("'optimizer': 'lamb'"),
                        "parallel.optimizer: found the string \"lamb\"; expected one of sgd, momentum, adam"),
                // optimizer parallel config
                Arguments.of(par("'parallel_optimizer_config': {'threshold': 1}"),
                        "parallel.parallel_optimizer_config: unknown key 'threshold'; valid keys are "
                                + "parallel_optimizer_threshold, optimizer_weight_shard_size"),
                Arguments.of(par("'parallel_optimizer_config': {'parallel_optimizer_threshold': -1}"),
                        "parallel.parallel_optimizer_config.parallel_optimizer_threshold: found the number -1; "
                                + "expected a size in KB >= 0 (default 64)"),
                Arguments.of(par("'parallel_optimizer_config': {'parallel_optimizer_threshold': 1.5}"),
                        "parallel.parallel_optimizer_config.parallel_optimizer_threshold: found the number 1.5; "),
                Arguments.of(par("'parallel_optimizer_config': {'optimizer_weight_shard_size': 0}"),
                        "parallel.parallel_optimizer_config.optimizer_weight_shard_size: found the number 0; "
                                + "expected -1 (the whole repeated group, the default) or a group size >= 1"),
                Arguments.of(par("'parallel_optimizer_config': {'optimizer_weight_shard_size': -2}"),
                        "parallel.parallel_optimizer_config.optimizer_weight_shard_size: found the number -2; "),
                // comm_fusion
                Arguments.of(fusion("'all_reduce': {'mode': 'auto'}"), "parallel.comm_fusion: unknown key "
                        + "'all_reduce'; valid keys are allreduce, allgather, reducescatter"),
                Arguments.of(fusion("'allreduce': {'mod': 'auto'}"),
                        "parallel.comm_fusion.allreduce: unknown key 'mod'; valid keys are mode, config"),
                Arguments.of(fusion("'allreduce': {}"),
                        "parallel.comm_fusion.allreduce: missing key 'mode'; add it (valid keys are mode, config)"),
                Arguments.of(fusion("'allreduce': 'auto'"), "parallel.comm_fusion.allreduce: found the string "
                        + "\"auto\"; expected an object with keys mode, config"),
                Arguments.of(fusion("'allreduce': {'mode': 'fast'}"), "parallel.comm_fusion.allreduce.mode: found "
                        + "the string \"fast\"; expected one of auto, size, index"),
                Arguments.of(fusion("'allgather': {'mode': 'index', 'config': [1]}"),
                        "parallel.comm_fusion.allgather.mode: found the string \"index\"; expected one of auto, size"),
                Arguments.of(fusion("'reducescatter': {'mode': 'index', 'config': [1]}"),
                        "parallel.comm_fusion.reducescatter.mode: found the string \"index\"; expected one of auto, "
                                + "size"),
                Arguments.of(fusion("'allreduce': {'mode': 'auto', 'config': 64}"),
                        "parallel.comm_fusion.allreduce.config: found the number 64; expected no config in auto mode "
                                + "(64 MB buckets); remove the key, or use mode size to set the bucket size"),
                Arguments.of(fusion("'reducescatter': {'mode': 'size'}"), "parallel.comm_fusion.reducescatter: "
                        + "missing key 'config'; size mode needs the bucket size in MB"),
                Arguments.of(fusion("'allreduce': {'mode': 'size', 'config': 0}"),
                        "parallel.comm_fusion.allreduce.config: found the number 0; expected a bucket size in MB > 0"),
                Arguments.of(fusion("'allgather': {'mode': 'size', 'config': '32'}"),
                        "parallel.comm_fusion.allgather.config: found the string \"32\"; expected a bucket size"),
                Arguments.of(fusion("'allreduce': {'mode': 'index'}"), "parallel.comm_fusion.allreduce: missing "
                        + "key 'config'; index mode needs the ascending parameter indices"),
                Arguments.of(fusion("'allreduce': {'mode': 'index', 'config': [5, 3]}"),
                        "parallel.comm_fusion.allreduce.config: found the array [5,3]; expected a non-empty, "
                                + "strictly ascending list of parameter indices >= 0, e.g. [20, 35]"),
                Arguments.of(fusion("'allreduce': {'mode': 'index', 'config': []}"),
                        "parallel.comm_fusion.allreduce.config: found the array []; expected a non-empty"),
                Arguments.of(fusion("'allreduce': {'mode': 'index', 'config': [-1]}"),
                        "parallel.comm_fusion.allreduce.config[0]: found the number -1; expected an integer >= 0"),
                Arguments.of(fusion("'allreduce': {'mode': 'index', 'config': 4}"),
                        "parallel.comm_fusion.allreduce.config: found the number 4; expected a non-empty"),
                // dataset strategy
                Arguments.of(par("'dataset_strategy': 'model_parallel'"), "parallel.dataset_strategy: found the "
                        + "string \"model_parallel\"; expected \"data_parallel\", \"full_batch\" or one tuple per "
                        + "dataset column, e.g. [[8, 1], [8]]"),
                Arguments.of(par("'dataset_strategy': []"),
                        "parallel.dataset_strategy: found the array []; expected a non-empty array of tuples"),
                Arguments.of(par("'dataset_strategy': [[8, 0]]"),
                        "parallel.dataset_strategy[0][1]: found the number 0; expected an integer >= 1"),
                // strategy checkpoint config
                Arguments.of(par("'strategy_ckpt_config': {'load': 'a.json'}"), "parallel.strategy_ckpt_config: "
                        + "unknown key 'load'; valid keys are load_file, save_file"),
                Arguments.of(par("'strategy_ckpt_config': {'load_file': ''}"),
                        "parallel.strategy_ckpt_config.load_file: found the string \"\"; expected the path of a "
                                + "strategy checkpoint JSON file"),
                Arguments.of(par("'strategy_ckpt_config': {'save_file': null}"),
                        "parallel.strategy_ckpt_config.save_file: found null; expected the path to write"),
                // operators
                Arguments.of(top("'operators': []"), "operators: found the array []; expected an object of operator "
                        + "strategies by operator name"),
                Arguments.of(top("'operators': {'': {'in_strategy': [[1]]}}"),
                        "operators: found the key \"\"; expected a non-blank name"),
                Arguments.of(op("{'strategy': [[1]]}"), "operators.mm: unknown key 'strategy'; valid keys are "
                        + "in_strategy, out_strategy"),
                Arguments.of(op("{'out_strategy': [[1]]}"), "operators.mm: missing key 'in_strategy'"),
                Arguments.of(op("[[1]]"), "operators.mm: found the array [[1]]; expected an object with keys "
                        + "in_strategy, out_strategy"),
                Arguments.of(op("{'in_strategy': []}"), "operators.mm.in_strategy: found the array []; expected a "
                        + "non-empty array of tuples of positive integers, e.g. [[2, 4], [4, 1]]"),
                Arguments.of(op("{'in_strategy': [2, 1]}"), "operators.mm.in_strategy[0]: found the number 2; "
                        + "expected a tuple of positive integers (one number of slices per tensor dimension)"),
                Arguments.of(op("{'in_strategy': [[2, 0]]}"), "operators.mm.in_strategy[0][1]: found the number 0; "
                        + "expected an integer >= 1"),
                Arguments.of(op("{'in_strategy': [[2, 1.5]]}"),
                        "operators.mm.in_strategy[0][1]: found the number 1.5; expected an integer >= 1"),
                Arguments.of(op("{'in_strategy': [[1]], 'out_strategy': 'x'}"),
                        "operators.mm.out_strategy: found the string \"x\"; expected a non-empty array of tuples"),
                Arguments.of(top("'operators': {'layers.0.mm': {'in_strategy': [[-2]]}}"),
                        "operators[\"layers.0.mm\"].in_strategy[0][0]: found the number -2; expected an integer >= 1"),
                // parameters
                Arguments.of(top("'parameters': 3"), "parameters: found the number 3; expected an object of "
                        + "parameter settings by parameter name or 'prefix.*'"),
                Arguments.of(param("w", "{'fusion': 1}"), "parameters.w: unknown key 'fusion'; valid keys are "
                        + "comm_fusion, parallel_optimizer, parallel_optimizer_comm_recompute, layerwise_parallel, "
                        + "requires_grad"),
                Arguments.of(param("w", "{'comm_fusion': -1}"),
                        "parameters.w.comm_fusion: found the number -1; expected a fusion id >= 0 (0 = never fused)"),
                Arguments.of(param("w", "{'comm_fusion': true}"), "parameters.w.comm_fusion: found the boolean true"),
                Arguments.of(param("layers.0.w", "{'requires_grad': 'yes'}"),
                        "parameters[\"layers.0.w\"].requires_grad: found the string \"yes\"; expected true or false"),
                Arguments.of(param("w", "{'parallel_optimizer': null}"),
                        "parameters.w.parallel_optimizer: found null; expected true or false"),
                Arguments.of(param("w", "{'parallel_optimizer_comm_recompute': 0}"),
                        "parameters.w.parallel_optimizer_comm_recompute: found the number 0; expected true or false"),
                Arguments.of(param("w", "{'layerwise_parallel': []}"),
                        "parameters.w.layerwise_parallel: found the array []; expected true or false"),
                Arguments.of(param("layers*", "{}"), "parameters: found the key 'layers*'; expected a parameter "
                        + "name or a prefix pattern ending in '.*' with '*' nowhere else, e.g. 'layers.0.*'"),
                Arguments.of(param("a.*.b", "{}"), "parameters: found the key 'a.*.b'; expected a parameter name"),
                Arguments.of(param(".*", "{}"), "parameters: found the key '.*'; expected a parameter name"),
                Arguments.of(param("*", "{}"), "parameters: found the key '*'; expected a parameter name"));
    }

    @Test
    void theSharedPrefixOfTheCasesIsValid() {
        assertEquals(8, StrategyFiles.parse(StrategyFilesTest.j("{" + NET + "}"), null).deviceCount());
    }

    @ParameterizedTest(name = "{1}")
    @MethodSource("cases")
    void rejectedWithAPreciseMessage(String singleQuotedJson, String expectedStart) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> StrategyFiles.parse(StrategyFilesTest.j(singleQuotedJson), Path.of("")));
        assertTrue(e.getMessage().startsWith(expectedStart), () -> "message was: " + e.getMessage());
        assertFalse(e.getMessage().contains("\n"), () -> "multi-line message: " + e.getMessage());
    }
}
