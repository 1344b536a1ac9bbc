package io.tessera.layout;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link Limits}: defaults, the system property, {@code --allow-large}, messages and checked arithmetic. */
class LimitsTest {

    @AfterEach
    void clear() {
        System.clearProperty(Limits.Limit.LAYERS.property());
    }

    @Test
    void defaultsAreTheDocumentedValues() {
        assertEquals(10_000, Limits.Limit.LAYERS.value());
        assertEquals(10_000, Limits.Limit.BLOCKS.value());
        assertEquals(1_000_000, Limits.Limit.OPERATORS.value());
        assertEquals(1_048_576, Limits.Limit.DEVICES.value());
        assertEquals(4_096, Limits.Limit.NUMERIC_RANKS.value());
        assertEquals(1L << 40, Limits.Limit.TENSOR_ELEMENTS.value());
        assertEquals(1L << 28, Limits.Limit.SLICE_ELEMENTS.value());
        assertEquals(1_000, Limits.Limit.VIRTUAL_STAGES.value());
        assertEquals(10_000_000, Limits.Limit.PIPELINE_SLOTS.value());
        assertEquals(1L << 22, Limits.Limit.REDISTRIBUTION_TRANSFERS.value());
        assertEquals(1_048_576, Limits.Limit.SEARCH_DEVICES.value());
        assertEquals("tessera.limits.layers", Limits.Limit.LAYERS.property());
    }

    @Test
    void aViolationIsOneLineNamingTheValueTheLimitAndHowToRaiseIt() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Limits.Limit.LAYERS.check("zoo model 'gpt': layers", 1_000_000));
        assertEquals("zoo model 'gpt': layers is 1000000; the limit is 10000 (layers); raise it with "
                + "-Dtessera.limits.layers=N or --allow-large", e.getMessage());
        Limits.Limit.LAYERS.check("layers", 10_000);
    }

    @Test
    void theSystemPropertyRaisesALimitUpToItsCeiling() {
        System.setProperty(Limits.Limit.LAYERS.property(), "20_000");
        assertEquals(20_000, Limits.Limit.LAYERS.value());
        Limits.Limit.LAYERS.check("layers", 20_000);
        System.setProperty(Limits.Limit.LAYERS.property(), "1" + Long.MAX_VALUE / 10);
        assertEquals(Limits.Limit.LAYERS.ceiling(), Limits.Limit.LAYERS.value());
        System.setProperty(Limits.Limit.LAYERS.property(), "lots");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, Limits.Limit.LAYERS::value);
        assertEquals("system property tessera.limits.layers is 'lots'; expected a positive integer", e.getMessage());
    }

    @Test
    void allowLargeLiftsEveryLimitToItsCeilingInsideTheRunOnly() {
        long inside = Limits.run(true, () -> Limits.Limit.NUMERIC_RANKS.value());
        assertEquals(Limits.Limit.NUMERIC_RANKS.ceiling(), inside);
        assertEquals(4_096, Limits.Limit.NUMERIC_RANKS.value());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Limits.run(true, () -> {
            Limits.Limit.SLICE_ELEMENTS.check("slice", Integer.MAX_VALUE);
            return null;
        }));
        assertTrue(e.getMessage().endsWith("; this is the hard ceiling"), e.getMessage());
    }

    @Test
    void elementsAreCheckedAgainstOverflowAndTheLimit() {
        assertEquals(1L << 40, Limits.elements("t", 1 << 20, 1 << 20));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Limits.elements("tensor type Float32", 1_000_000_000L, 1_000_000_000L));
        assertEquals("tensor type Float32[1000000000, 1000000000] has more than 1099511627776 elements, the limit "
                + "(tensor_elements); raise it with -Dtessera.limits.tensor_elements=N or --allow-large",
                e.getMessage());
        // 2^32 x 2^32 wraps to 0 in unchecked arithmetic
        assertThrows(IllegalArgumentException.class, () -> Limits.elements("t", 1L << 32, 1L << 32));
        assertThrows(IllegalArgumentException.class, () -> Limits.multiply("bytes", Long.MAX_VALUE / 2, 3));
        assertThrows(IllegalArgumentException.class, () -> Limits.add("sum", Long.MAX_VALUE, 1));
        assertEquals(6, Limits.multiply("bytes", 2, 3));
    }
}
