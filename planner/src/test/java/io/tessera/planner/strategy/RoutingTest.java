package io.tessera.planner.strategy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The {@code routing} section: parsing, one-line errors, the normalised shares and the round trip. */
class RoutingTest {

    private static Routing parse(String json) {
        return Routing.parse(Json.parse(json, "routing", "an object"), "routing");
    }

    @Test
    void sharesAreNormalised() {
        assertArrayEquals(new double[] {0.25, 0.25, 0.25, 0.25}, parse("{\"distribution\": \"uniform\"}").weights(4),
                1e-15);
        double h = 1 + 0.5 + 1 / 3.0 + 0.25;
        assertArrayEquals(new double[] {1 / h, 0.5 / h, 1 / 3.0 / h, 0.25 / h},
                parse("{\"distribution\": \"skew\", \"skew\": 1}").weights(4), 1e-15);
        assertArrayEquals(new double[] {0.25, 0.25, 0.25, 0.25},
                parse("{\"distribution\": \"skew\", \"skew\": 0}").weights(4), 1e-15);
        assertArrayEquals(new double[] {0.5, 0.3, 0.2, 0},
                parse("{\"distribution\": \"histogram\", \"tokens\": [50, 30, 20, 0]}").weights(4), 1e-15);
        assertEquals("skew 1.5", Routing.skew(1.5).describe());
        assertEquals("histogram of 2 experts", Routing.histogram(1, 2).describe());
    }

    @Test
    void roundTripsThroughJson() {
        for (Routing r : new Routing[] {Routing.uniform(), Routing.skew(1.25), Routing.histogram(3, 0, 7)}) {
            assertEquals(r, Routing.parse(r.toJson(), "routing"));
        }
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "{\"distribution\": \"zipf\"}|routing.distribution: found the string \"zipf\"; expected one of uniform, skew, histogram",
        "{\"distribution\": \"skew\", \"skew\": -0.5}|routing.skew: found the number -0.5; expected a number >= 0",
        "{\"distribution\": \"skew\"}|routing.skew: found",
        "{\"distribution\": \"histogram\", \"tokens\": [4, -1]}|routing.tokens[1]: found the number -1; expected a token count >= 0",
        "{\"distribution\": \"histogram\", \"tokens\": [0, 0]}|routing.tokens: found all 2 counts 0",
        "{\"distribution\": \"histogram\", \"tokens\": []}|routing.tokens: found",
        "{\"distribution\": \"uniform\", \"skew\": 1}|routing.skew: given for distribution 'uniform'",
        "{\"skew\": 1}|routing: missing key 'distribution'",
        "{\"distribution\": \"uniform\", \"bias\": 1}|routing: unknown key 'bias'"})
    void badSectionsAreOneLineErrors(String json, String message) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> parse(json));
        assertTrue(e.getMessage().startsWith(message), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    @Test
    void strategyFilesReadAndWriteTheSection() throws java.io.IOException {
        StrategyFile skew = StrategyFiles.read(StrategyFilesTest.resource("routing-skew.json"));
        assertEquals(java.util.Optional.of(Routing.skew(1)), skew.routing());
        StrategyFile hist = StrategyFiles.read(StrategyFilesTest.resource("routing-histogram.json"));
        assertEquals(Routing.histogram(120, 80, 64, 40, 30, 20, 10, 4), hist.routingOrUniform());
        assertEquals(Routing.uniform(), skew.withRouting(null).routingOrUniform());
        assertTrue(StrategyFiles.write(hist).contains("\"routing\": {"), StrategyFiles.write(hist));
    }

    @Test
    void histogramLengthMustMatchTheExperts() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Routing.histogram(1, 2, 3).weights(8));
        assertEquals("routing.tokens: found 3 counts; expected one per expert, 8 (the network's experts)",
                e.getMessage());
    }
}
