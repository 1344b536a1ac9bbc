package io.tessera.planner.graph;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;

/** Name checks and "did you mean" hints shared by the network classes. */
final class Names {

    private Names() {
    }

    /**
     * Checks a name: non-blank, without whitespace, without ':' (reserved for further outputs, {@code node:1}).
     *
     * @return the name
     */
    static String check(String what, String name) {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException(what + ": found '" + name + "'; expected a non-blank name");
        }
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (Character.isWhitespace(c) || c == ':') {
                throw new IllegalArgumentException(what + ": found '" + name + "', which contains '" + c
                        + "'; expected a name without blanks or ':' (':' names further outputs, as in 'node:1')");
            }
        }
        return name;
    }

    /** {@code "; close names: a, b"} for up to five candidates near {@code name}, or {@code ""} when none is. */
    static String closeHint(String name, Collection<String> candidates) {
        List<String> close = close(name, candidates);
        return close.isEmpty() ? "" : "; close names: " + String.join(", ", close);
    }

    /**
     * Up to five candidates near {@code name}: within an edit distance of a third of its length (at least 2), or
     * sharing its last dot-separated segment, nearest first.
     */
    static List<String> close(String name, Collection<String> candidates) {
        String last = name.substring(name.lastIndexOf('.') + 1);
        int limit = Math.max(2, name.length() / 3);
        List<String> out = new ArrayList<>();
        List<Integer> dist = new ArrayList<>();
        for (String c : candidates) {
            int d = distance(name, c);
            boolean sameLeaf = !last.isEmpty() && (c.equals(last) || c.endsWith("." + last));
            if (d <= limit || sameLeaf) {
                out.add(c);
                dist.add(sameLeaf ? Math.min(d, limit) : d);
            }
        }
        List<Integer> idx = new ArrayList<>();
        for (int i = 0; i < out.size(); i++) {
            idx.add(i);
        }
        idx.sort(Comparator.comparingInt((Integer i) -> dist.get(i)).thenComparing(out::get));
        List<String> res = new ArrayList<>();
        for (int i = 0; i < Math.min(5, idx.size()); i++) {
            res.add(out.get(idx.get(i)));
        }
        return res;
    }

    /** Levenshtein distance. */
    static int distance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }
}
