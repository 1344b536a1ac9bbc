package io.tessera.layout.param;

import java.util.AbstractList;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.RandomAccess;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * An immutable tuple of {@link Parameter}s, as MindSpore's {@code ParameterTuple}: only parameters, and no two
 * distinct parameters with one name (the same parameter may appear more than once). A {@link List} that refuses
 * changes; equality is element-wise identity. Prints as a Python tuple of the parameters:
 * {@code (Parameter (name=x, ...), Parameter (name=y, ...))}.
 */
public final class ParameterTuple extends AbstractList<Parameter> implements RandomAccess {

    /** The pattern a clone prefix must match: MindSpore's {@code ^\w+[0-9a-zA-Z_.]*$}. */
    public static final Pattern PREFIX_PATTERN =
            Pattern.compile("^\\w+[0-9a-zA-Z_.]*$", Pattern.UNICODE_CHARACTER_CLASS);

    private final List<Parameter> items;

    private ParameterTuple(List<Parameter> items) {
        this.items = items;
    }

    /**
     * A tuple of the given parameters, in order.
     *
     * @throws IllegalArgumentException when one is null or two distinct parameters share a name
     */
    public static ParameterTuple of(Parameter... params) {
        if (params == null) {
            throw new IllegalArgumentException("ParameterTuple: found null; expected parameters");
        }
        return copyOf(Arrays.asList(params));
    }

    /**
     * A tuple of the elements of {@code params}, in order, as MindSpore's {@code ParameterTuple(iterable)}.
     *
     * @throws IllegalArgumentException when {@code params} is null, an element is not a {@link Parameter}, or two
     *                                  distinct parameters share a name
     */
    public static ParameterTuple copyOf(Iterable<?> params) {
        if (params == null) {
            throw new IllegalArgumentException("ParameterTuple: found null; expected a collection of parameters");
        }
        List<Parameter> list = new ArrayList<>();
        Set<Parameter> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        Map<String, Parameter> names = new HashMap<>();
        int index = 0;
        for (Object o : params) {
            if (!(o instanceof Parameter p)) {
                throw new IllegalArgumentException("ParameterTuple input should be 'Parameter' collection: element "
                        + index + " is " + (o == null ? "null" : "a " + o.getClass().getName() + " (" + o + ")")
                        + "; put only Parameters in a ParameterTuple");
            }
            if (seen.add(p)) {
                if (names.containsKey(p.name())) {
                    throw new IllegalArgumentException("The value " + p + " , its name '" + p.name()
                            + "' already exists. Please set a unique name for the parameter.");
                }
                names.put(p.name(), p);
            }
            list.add(p);
            index++;
        }
        return new ParameterTuple(Collections.unmodifiableList(list));
    }

    @Override
    public Parameter get(int index) {
        return items.get(index);
    }

    @Override
    public int size() {
        return items.size();
    }

    /** {@link #clone(String, Object)} with {@code "same"}: the same data, renamed {@code prefix + "." + name}. */
    public ParameterTuple clone(String prefix) {
        return clone(prefix, "same");
    }

    /**
     * Clones every parameter with {@link Parameter#clone(Object)} and renames each to {@code prefix + "." + name}.
     *
     * @param prefix the namespace; must match {@link #PREFIX_PATTERN} ({@code "12_sf.asdf_"} is valid,
     *               {@code ".12_sf.asdf"}, {@code "12_sf.a$sdf."} and {@code "12+sf.asdf"} are not)
     * @param init   as {@link Parameter#clone(Object)}: {@code "same"}, an initializer name or Initializer, a number
     *               or a Tensor
     * @throws IllegalArgumentException when the prefix does not match, a new name is too long, or {@code init} is
     *                                  refused
     */
    public ParameterTuple clone(String prefix, Object init) {
        if (prefix == null || !PREFIX_PATTERN.matcher(prefix).matches()) {
            throw new IllegalArgumentException("ParameterTuple clone prefix " + (prefix == null ? "null"
                    : "'" + prefix + "'") + " is illegal, it should match the regular expression '"
                    + PREFIX_PATTERN.pattern() + "': start with a word character and use only letters, digits, '_' "
                    + "and '.', e.g. \"params_copy\"");
        }
        List<Parameter> out = new ArrayList<>(items.size());
        Map<Parameter, Parameter> done = new IdentityHashMap<>();
        for (Parameter p : items) {
            Parameter c = done.get(p);
            if (c == null) {
                c = p.clone(init);
                c.setName(prefix + "." + c.name());
                done.put(p, c);
            }
            out.add(c);
        }
        return copyOf(out);
    }

    /** Prints as a Python tuple of the parameters: {@code ()}, {@code (p,)}, {@code (p, q)}. */
    @Override
    public String toString() {
        return PyFormat.tuple(items);
    }
}
