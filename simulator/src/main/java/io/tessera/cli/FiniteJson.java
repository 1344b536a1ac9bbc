package io.tessera.cli;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.Iterator;
import java.util.Map;

/**
 * The guard that keeps NaN and infinities out of every JSON output: a number that is not finite means the inputs lie
 * outside what the models can estimate, and is reported as a one-line error instead of printed.
 */
final class FiniteJson {

    private FiniteJson() {
    }

    /**
     * Checks that every number in {@code node} is finite.
     *
     * @throws InputException naming the first field (e.g. {@code chosen.step_seconds}) that is NaN or infinite
     */
    static void check(JsonNode node) {
        String bad = firstNonFinite(node, "");
        if (bad != null) {
            throw new InputException("the result's " + bad + "; the inputs are outside the range the estimates "
                    + "cover: check the cluster figures, sizes and options");
        }
    }

    /** The path and value of the first non-finite number under {@code node} ({@code a.b[2] is NaN}), or null. */
    static String firstNonFinite(JsonNode node, String path) {
        if (node == null) {
            return null;
        }
        if (node.isFloatingPointNumber() && !Double.isFinite(node.doubleValue())) {
            return (path.isEmpty() ? "value" : path) + " is " + node.doubleValue();
        }
        if (node.isObject()) {
            Iterator<Map.Entry<String, JsonNode>> it = node.fields();
            while (it.hasNext()) {
                Map.Entry<String, JsonNode> e = it.next();
                String bad = firstNonFinite(e.getValue(), path.isEmpty() ? e.getKey() : path + "." + e.getKey());
                if (bad != null) {
                    return bad;
                }
            }
        } else if (node.isArray()) {
            for (int i = 0; i < node.size(); i++) {
                String bad = firstNonFinite(node.get(i), path + "[" + i + "]");
                if (bad != null) {
                    return bad;
                }
            }
        }
        return null;
    }
}
