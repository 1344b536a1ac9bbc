package io.tessera.simulator.cluster;

import io.tessera.simulator.array.NDArray;

import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * One simulated rank's local memory: named {@link NDArray} slots and named slots for other values (for example the
 * {@code List<Block>} a redistribution works on). Not thread-safe: only the rank's own program (and the collectives
 * it takes part in, run by the scheduler while the rank is blocked) touches it.
 */
public final class RankState {

    private final int rank;
    private final Map<String, NDArray> arrays = new HashMap<>();
    private final Map<String, Object> objects = new HashMap<>();

    /** An empty memory for {@code rank}. */
    public RankState(int rank) {
        if (rank < 0) {
            throw new IllegalArgumentException("RankState: rank " + rank + " is negative");
        }
        this.rank = rank;
    }

    /** The rank this memory belongs to. */
    public int rank() {
        return rank;
    }

    /**
     * The array in slot {@code name}.
     *
     * @throws IllegalStateException naming the rank and the slot when it is empty
     */
    public NDArray get(String name) {
        NDArray a = arrays.get(name);
        if (a == null) {
            throw new IllegalStateException("rank " + rank + " has no array '" + name + "' (it holds "
                    + new TreeSet<>(arrays.keySet()) + ")");
        }
        return a;
    }

    /** Stores {@code array} (not copied) in slot {@code name}, replacing what was there. */
    public void put(String name, NDArray array) {
        if (name == null || array == null) {
            throw new IllegalArgumentException("rank " + rank + ": slot name and array are required");
        }
        arrays.put(name, array);
    }

    /** Removes and returns the array in slot {@code name} (null when empty). */
    public NDArray remove(String name) {
        return arrays.remove(name);
    }

    /** Whether slot {@code name} holds an array. */
    public boolean has(String name) {
        return arrays.containsKey(name);
    }

    /** The names of the array slots, sorted. */
    public Set<String> names() {
        return new TreeSet<>(arrays.keySet());
    }

    /**
     * The value in object slot {@code name}.
     *
     * @throws IllegalStateException naming the rank and the slot when it is empty
     */
    public Object getObject(String name) {
        Object o = objects.get(name);
        if (o == null) {
            throw new IllegalStateException("rank " + rank + " has no value '" + name + "' (it holds "
                    + new TreeSet<>(objects.keySet()) + ")");
        }
        return o;
    }

    /** Stores {@code value} in object slot {@code name}, replacing what was there. */
    public void putObject(String name, Object value) {
        if (name == null || value == null) {
            throw new IllegalArgumentException("rank " + rank + ": slot name and value are required");
        }
        objects.put(name, value);
    }

    /** Removes and returns the value in object slot {@code name} (null when empty). */
    public Object removeObject(String name) {
        return objects.remove(name);
    }

    /** Whether object slot {@code name} holds a value. */
    public boolean hasObject(String name) {
        return objects.containsKey(name);
    }

    @Override
    public String toString() {
        return "RankState[rank " + rank + ", arrays " + names() + ", values " + new TreeSet<>(objects.keySet()) + "]";
    }
}
