package io.tessera.layout.param;

import io.tessera.layout.DType;
import io.tessera.layout.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ParameterTupleTest {

    private static Parameter param(String name) {
        return Parameter.of(Tensor.zeros(DType.FLOAT32, 2), name);
    }

    @Test
    void duplicateNamesOfDistinctParametersAreRejected() {
        Parameter a = param("x");
        Parameter b = param("x");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ParameterTuple.of(a, b));
        assertEquals("The value Parameter (name=x, shape=(2,), dtype=Float32, requires_grad=True) , its name 'x' "
                + "already exists. Please set a unique name for the parameter.", e.getMessage());
        assertTrue(e.getMessage().contains("its name 'x' already exists. Please set a unique name for the "
                + "parameter."));
        // default names collide too
        assertThrows(IllegalArgumentException.class,
                () -> ParameterTuple.of(Parameter.of(1.0), Parameter.of(2.0)));
    }

    @Test
    void theSameParameterTwiceIsAllowed() {
        Parameter a = param("a");
        ParameterTuple t = ParameterTuple.of(a, a, param("b"));
        assertEquals(3, t.size());
        assertSame(t.get(0), t.get(1));
        ParameterTuple c = t.clone("p");
        assertSame(c.get(0), c.get(1), "a parameter listed twice is cloned once");
        assertEquals("p.a", c.get(0).name());
        assertEquals("p.b", c.get(2).name());
    }

    @Test
    void onlyParameters() {
        List<Object> mixed = new ArrayList<>();
        mixed.add(param("a"));
        mixed.add(Tensor.zeros(DType.FLOAT32, 2));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ParameterTuple.copyOf(mixed));
        assertTrue(e.getMessage().startsWith("ParameterTuple input should be 'Parameter' collection: element 1 is a "
                + "io.tessera.layout.tensor.Tensor"), e.getMessage());
        List<Object> withNull = new ArrayList<>();
        withNull.add(null);
        IllegalArgumentException n = assertThrows(IllegalArgumentException.class,
                () -> ParameterTuple.copyOf(withNull));
        assertTrue(n.getMessage().contains("element 0 is null"), n.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ParameterTuple.copyOf(null));
        assertThrows(IllegalArgumentException.class, () -> ParameterTuple.of((Parameter[]) null));
    }

    @Test
    void immutable() {
        ParameterTuple t = ParameterTuple.of(param("a"));
        assertThrows(UnsupportedOperationException.class, () -> t.add(param("b")));
        assertThrows(UnsupportedOperationException.class, () -> t.set(0, param("b")));
        assertThrows(UnsupportedOperationException.class, () -> t.remove(0));
        List<Parameter> source = new ArrayList<>(List.of(param("a")));
        ParameterTuple c = ParameterTuple.copyOf(source);
        source.add(param("b"));
        assertEquals(1, c.size(), "the tuple copies its source");
    }

    @Test
    void printsAsPythonTuple() {
        assertEquals("()", ParameterTuple.of().toString());
        assertEquals("(Parameter (name=a, shape=(2,), dtype=Float32, requires_grad=True),)",
                ParameterTuple.of(param("a")).toString());
        assertEquals("(Parameter (name=a, shape=(2,), dtype=Float32, requires_grad=True), Parameter (name=b, "
                + "shape=(2,), dtype=Float32, requires_grad=True))", ParameterTuple.of(param("a"), param("b"))
                .toString());
    }

    /** Published (spec §4): "12_sf.asdf_" is a valid prefix. */
    @ParameterizedTest
    @ValueSource(strings = {"12_sf.asdf_", "params_copy", "a", "_x.y", "net.layer1.w"})
    void validPrefixes(String prefix) {
        ParameterTuple c = ParameterTuple.of(param("w")).clone(prefix);
        assertEquals(prefix + ".w", c.get(0).name());
    }

    /** Published (spec §4): ".12_sf.asdf", "12_sf.a$sdf.", "12+sf.asdf" are rejected. */
    @ParameterizedTest
    @ValueSource(strings = {".12_sf.asdf", "12_sf.a$sdf.", "12+sf.asdf", "", " p", "p q"})
    void invalidPrefixes(String prefix) {
        ParameterTuple t = ParameterTuple.of(param("w"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.clone(prefix));
        assertEquals("ParameterTuple clone prefix '" + prefix + "' is illegal, it should match the regular "
                + "expression '^\\w+[0-9a-zA-Z_.]*$': start with a word character and use only letters, digits, '_' "
                + "and '.', e.g. \"params_copy\"", e.getMessage());
    }

    @Test
    void nullPrefix() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ParameterTuple.of(param("w")).clone(null));
        assertTrue(e.getMessage().startsWith("ParameterTuple clone prefix null is illegal"), e.getMessage());
    }

    @Test
    void cloneWithInit() {
        Parameter a = Parameter.of(Tensor.arange(DType.FLOAT32, 4), "a");
        Parameter b = Parameter.of(Tensor.arange(DType.FLOAT32, 2), "b");
        ParameterTuple t = ParameterTuple.of(a, b);
        ParameterTuple z = t.clone("z", "zeros");
        assertEquals(Tensor.zeros(DType.FLOAT32, 4), z.get(0).initData().tensor());
        assertEquals(Tensor.zeros(DType.FLOAT32, 2), z.get(1).initData().tensor());
        ParameterTuple same = t.clone("s");
        assertNotSame(a, same.get(0));
        assertEquals(a.tensor(), same.get(0).tensor());
        ParameterTuple seven = t.clone("c", 7);
        assertEquals(Tensor.full(DType.FLOAT32, 7, 2), seven.get(1).initData().tensor());
    }

    @Test
    void clonedNamesStillRespectTheLengthLimit() {
        Parameter a = param("w".repeat(1020));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ParameterTuple.of(a).clone("prefix"));
        assertTrue(e.getMessage().contains("should be less than 1024"), e.getMessage());
    }
}
