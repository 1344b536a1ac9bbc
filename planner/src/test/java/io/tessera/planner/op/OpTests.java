package io.tessera.planner.op;

import org.junit.jupiter.api.function.Executable;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Assertion helpers shared by the operator rule tests. */
final class OpTests {

    private OpTests() {
    }

    /** Each communication printed up to its reason: {@code forward AllReduce(sum) of output 0 over device dims [1]}. */
    static List<String> summaries(List<OpComm> comms) {
        return comms.stream().map(c -> c.toString().substring(0, c.toString().indexOf(':'))).toList();
    }

    /** Asserts an IllegalArgumentException whose message starts with {@code label + ": "} and contains each part. */
    static String rejected(Executable call, String label, String... parts) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        String m = e.getMessage();
        assertTrue(m.startsWith(label + ": "), "expected the operator label first: " + m);
        assertTrue(!m.contains("\n"), "one line: " + m);
        for (String p : parts) {
            assertTrue(m.contains(p), "expected '" + p + "' in: " + m);
        }
        return m;
    }
}
