package io.tessera.planner.api;

import io.tessera.planner.plan.Plan;
import io.tessera.planner.strategy.NetworkRef;
import io.tessera.planner.strategy.StrategyFile;
import io.tessera.planner.strategy.StrategyFiles;
import io.tessera.planner.zoo.LlamaConfig;
import io.tessera.planner.zoo.Zoo;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A strategy file whose network is {@code {"hf_config": PATH, "args": {..}}}: parsed, written back, resolved against
 * the strategy file's directory and built by the zoo, then planned.
 */
class HfConfigNetworkTest {

    private static Path resource(String name) {
        try {
            return Path.of(HfConfigNetworkTest.class.getResource("/strategy/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void hfConfigNetworkParsesRoundTripsAndBuildsRelativeToTheFile() {
        Path path = resource("hf-config.json");
        StrategyFile f = StrategyFiles.read(path);
        assertEquals(NetworkRef.hfConfig("models/llama-tiny.json", Map.of("seq", 16, "batch", 4)), f.network());
        assertEquals(f, StrategyFiles.parse(StrategyFiles.write(f), f.baseDir()));
        assertTrue(StrategyFiles.write(f).contains("\"hf_config\": \"models/llama-tiny.json\""),
                StrategyFiles.write(f));
        assertEquals(Zoo.llama(LlamaConfig.defaults().withSeq(16).withBatch(4)), StrategyPlans.network(f));
        Plan plan = StrategyPlans.plan(f);
        assertEquals(2, plan.devices());
        assertEquals("llama", plan.network().name());
    }

    @Test
    void withArgChangesTheBatchOfZooAndHfConfigNetworks() {
        NetworkRef hf = NetworkRef.hfConfig("models/llama-tiny.json", Map.of("seq", 16));
        assertEquals(NetworkRef.hfConfig("models/llama-tiny.json", Map.of("seq", 16, "batch", 2)),
                hf.withArg("batch", 2));
        assertEquals(NetworkRef.zoo("gpt", Map.of("batch", 8)), NetworkRef.zoo("gpt", Map.of()).withArg("batch", 8));
        String m = assertThrows(IllegalArgumentException.class, () -> NetworkRef.file("n.json").withArg("batch", 2))
                .getMessage();
        assertTrue(m.startsWith("network: found the network file 'n.json'; argument 'batch' needs a zoo model"), m);
        m = assertThrows(IllegalArgumentException.class, () -> NetworkRef.hfConfig(" ", Map.of())).getMessage();
        assertTrue(m.startsWith("network.hf_config: found ' '; expected the path of a Hugging Face config.json"), m);
    }

    @Test
    void aBadConfigNamesTheResolvedFile() {
        StrategyFile f = StrategyFiles.parse("{\"network\": {\"hf_config\": \"models/none.json\"}, \"devices\": 1}",
                Path.of("/base"));
        String m = assertThrows(IllegalArgumentException.class, () -> StrategyPlans.network(f)).getMessage();
        assertTrue(m.startsWith("hf_config " + Path.of("/base/models/none.json") + ": cannot read the file"), m);
        StrategyFile unknown = StrategyFiles.parse("{\"network\": {\"hf_config\": \"models/llama-tiny.json\", "
                + "\"args\": {\"heads\": 8}}, \"devices\": 1}", resource("hf-config.json").getParent());
        m = assertThrows(IllegalArgumentException.class, () -> StrategyPlans.network(unknown)).getMessage();
        assertTrue(m.contains(": unknown argument 'heads'; valid arguments (with defaults): seq=32, batch=1, "), m);
    }

    /** The test resource is a copy of the shipped {@code strategies/models/llama-tiny.json}. */
    @Test
    void theTinyConfigIsTheShippedOne() throws IOException {
        assertEquals(Files.readString(Path.of("..", "strategies", "models", "llama-tiny.json")),
                Files.readString(resource("models/llama-tiny.json")));
    }
}
