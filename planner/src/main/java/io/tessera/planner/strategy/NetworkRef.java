package io.tessera.planner.strategy;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The network a strategy file plans: a built-in zoo model with its arguments ({@code {"zoo": "gpt", "args": {..}}}),
 * a network JSON file ({@code {"file": "nets/net.json"}}, relative to the strategy file's directory) or a Hugging Face
 * {@code config.json} with overriding arguments ({@code {"hf_config": "models/llama-3-8b.json", "args": {..}}},
 * relative to the strategy file's directory).
 */
public sealed interface NetworkRef permits NetworkRef.Zoo, NetworkRef.File, NetworkRef.HfConfig {

    /** A zoo model: {@code {"zoo": "gpt", "args": {"layers": 2}}}. */
    static Zoo zoo(String name, Map<String, ?> args) {
        return new Zoo(name, args == null ? Map.of() : new LinkedHashMap<>(args));
    }

    /** A network file: {@code {"file": "nets/net.json"}}. */
    static File file(String path) {
        return new File(path);
    }

    /** A Hugging Face config: {@code {"hf_config": "models/llama-3-8b.json", "args": {"seq": 8192}}}. */
    static HfConfig hfConfig(String path, Map<String, ?> args) {
        return new HfConfig(path, args == null ? Map.of() : new LinkedHashMap<>(args));
    }

    /**
     * The same network with argument {@code key} set to {@code value} (a zoo model or a Hugging Face config), e.g. a
     * different batch size.
     *
     * @throws IllegalArgumentException for a network file, which takes no arguments
     */
    default NetworkRef withArg(String key, Object value) {
        Map<String, Object> args;
        if (this instanceof Zoo z) {
            args = new LinkedHashMap<>(z.args());
            args.put(key, value);
            return new Zoo(z.name(), args);
        }
        if (this instanceof HfConfig h) {
            args = new LinkedHashMap<>(h.args());
            args.put(key, value);
            return new HfConfig(h.path(), args);
        }
        throw new IllegalArgumentException("network: found the network file '" + ((File) this).path() + "'; argument '"
                + key + "' needs a zoo model or an hf_config network (a network file has fixed shapes)");
    }

    /**
     * A built-in model of the zoo, named as the zoo names it ({@code mlp}, {@code gpt}, {@code resnet}), with its
     * arguments. Argument values are JSON scalars and containers as Java values: {@link Integer} (or {@link Long}
     * beyond the int range), {@link Double}, {@link Boolean}, {@link String}, unmodifiable {@link List}s and
     * {@link Map}s of those. The zoo itself checks the names and the values.
     *
     * @param name the zoo model's name, not blank
     * @param args the arguments by name, in file order; empty when the model's defaults are wanted
     */
    record Zoo(String name, Map<String, Object> args) implements NetworkRef {

        /** Validates and deep-copies the arguments. */
        public Zoo {
            if (name == null || name.isBlank()) {
                throw new IllegalArgumentException("network.zoo: found " + (name == null ? "null" : "'" + name + "'")
                        + "; expected the name of a zoo model, e.g. \"gpt\"");
            }
            args = args == null ? Map.of() : copyMap(args, "network.args");
        }

        static Map<String, Object> copyMap(Map<String, ?> m, String path) {
            Map<String, Object> out = new LinkedHashMap<>();
            for (Map.Entry<String, ?> e : m.entrySet()) {
                if (e.getKey() == null) {
                    throw new IllegalArgumentException(path + ": found a null key; expected argument names");
                }
                out.put(e.getKey(), copyValue(e.getValue(), path + "." + e.getKey()));
            }
            return Collections.unmodifiableMap(out);
        }

        private static Object copyValue(Object v, String path) {
            if (v instanceof Integer || v instanceof String || v instanceof Boolean) {
                return v;
            }
            if (v instanceof Long l) {
                return l >= Integer.MIN_VALUE && l <= Integer.MAX_VALUE ? (Object) l.intValue() : l;
            }
            if (v instanceof Short || v instanceof Byte) {
                return ((Number) v).intValue();
            }
            if (v instanceof Double || v instanceof Float) {
                double d = ((Number) v).doubleValue();
                if (!Double.isFinite(d)) {
                    throw new IllegalArgumentException(path + ": found " + d + "; expected a finite number");
                }
                return d;
            }
            if (v instanceof List<?> list) {
                List<Object> out = new ArrayList<>(list.size());
                for (int i = 0; i < list.size(); i++) {
                    out.add(copyValue(list.get(i), path + "[" + i + "]"));
                }
                return Collections.unmodifiableList(out);
            }
            if (v instanceof Map<?, ?> map) {
                Map<String, Object> out = new LinkedHashMap<>();
                for (Map.Entry<?, ?> e : map.entrySet()) {
                    if (!(e.getKey() instanceof String k)) {
                        throw new IllegalArgumentException(path + ": found the key " + e.getKey()
                                + "; expected string keys");
                    }
                    out.put(k, copyValue(e.getValue(), path + "." + k));
                }
                return Collections.unmodifiableMap(out);
            }
            throw new IllegalArgumentException(path + ": found " + (v == null ? "null" : v.getClass().getSimpleName()
                    + " " + v) + "; expected a number, string, boolean, list or map (omit the key for the default)");
        }
    }

    /**
     * A network JSON file.
     *
     * @param path the file's path as written: relative paths resolve against the strategy file's directory
     *             ({@link StrategyFile#networkFile()})
     */
    record File(String path) implements NetworkRef {

        /** Validates the path. */
        public File {
            if (path == null || path.isBlank()) {
                throw new IllegalArgumentException("network.file: found " + (path == null ? "null" : "'" + path + "'")
                        + "; expected the path of a network JSON file, e.g. \"nets/mlp.json\"");
            }
        }
    }

    /**
     * A Hugging Face {@code config.json} ({@code model_type} llama, mistral or qwen2) built by the zoo's
     * {@code fromHfConfig}, with arguments overriding some of its values ({@code seq}, {@code batch}, {@code layers},
     * {@code dtype}, {@code fused_attention}, {@code load_balance}; the zoo checks them). Argument values as
     * {@link Zoo}'s.
     *
     * @param path the config's path as written: relative paths resolve against the strategy file's directory
     *             ({@link StrategyFile#resolve})
     * @param args the arguments by name, in file order; empty for the config's own values
     */
    record HfConfig(String path, Map<String, Object> args) implements NetworkRef {

        /** Validates the path and deep-copies the arguments. */
        public HfConfig {
            if (path == null || path.isBlank()) {
                throw new IllegalArgumentException("network.hf_config: found " + (path == null ? "null" : "'" + path
                        + "'") + "; expected the path of a Hugging Face config.json, e.g. \"models/llama-3-8b.json\"");
            }
            args = args == null ? Map.of() : Zoo.copyMap(args, "network.args");
        }
    }
}
