package io.tessera.planner.json;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonStreamContext;
import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;

import java.io.IOException;
import java.util.function.Predicate;

/**
 * The project's deterministic JSON layout: objects one field per line ({@code "key": value}, two-space indentation,
 * {@code \n} line ends on every platform); arrays on one line ({@code [1, 2]}, {@code [[0, 4], [0, 8]]}) except those
 * a rule picks, which get one element per line. Used by every file Tessera writes, so the same content always gives
 * the same bytes.
 */
public final class CompactJsonPrinter extends DefaultPrettyPrinter {

    private static final long serialVersionUID = 1L;
    private static final DefaultIndenter INDENTER = new DefaultIndenter("  ", "\n");

    /** Picks the arrays written one element per line, from the array's own output context. */
    public interface MultilineRule extends Predicate<JsonStreamContext>, java.io.Serializable {
    }

    private final MultilineRule multiline;
    private final boolean tightEmptyObjects;

    /**
     * A printer.
     *
     * @param multiline         which arrays get one element per line (tested on the array's output context)
     * @param tightEmptyObjects whether an empty object prints as {@code {}} (else Jackson's {@code { }})
     */
    public CompactJsonPrinter(MultilineRule multiline, boolean tightEmptyObjects) {
        super(tightEmptyObjects ? Separators.createDefaultInstance()
                .withObjectFieldValueSpacing(Separators.Spacing.AFTER)
                .withArrayValueSpacing(Separators.Spacing.AFTER)
                .withObjectEmptySeparator("")
                .withArrayEmptySeparator("")
                : Separators.createDefaultInstance()
                .withObjectFieldValueSpacing(Separators.Spacing.AFTER)
                .withArrayValueSpacing(Separators.Spacing.NONE));
        this.multiline = multiline;
        this.tightEmptyObjects = tightEmptyObjects;
        indentObjectsWith(INDENTER);
        indentArraysWith(INDENTER);
    }

    /** Arrays that are the value of a field of the top-level object go one element per line. */
    public static CompactJsonPrinter topLevelFieldArrays() {
        return new CompactJsonPrinter(ctx -> {
            JsonStreamContext parent = ctx.getParent();
            return parent != null && parent.inObject() && parent.getParent() != null && parent.getParent().inRoot();
        }, true);
    }

    @Override
    public DefaultPrettyPrinter createInstance() {
        return new CompactJsonPrinter(multiline, tightEmptyObjects);
    }

    private boolean multiline(JsonGenerator g) {
        return multiline.test(g.getOutputContext());
    }

    @Override
    public void writeStartArray(JsonGenerator g) throws IOException {
        _nesting++;
        g.writeRaw('[');
    }

    @Override
    public void beforeArrayValues(JsonGenerator g) throws IOException {
        if (multiline(g)) {
            INDENTER.writeIndentation(g, _nesting);
        }
    }

    @Override
    public void writeArrayValueSeparator(JsonGenerator g) throws IOException {
        g.writeRaw(',');
        if (multiline(g)) {
            INDENTER.writeIndentation(g, _nesting);
        } else {
            g.writeRaw(' ');
        }
    }

    @Override
    public void writeEndArray(JsonGenerator g, int nrOfValues) throws IOException {
        _nesting--;
        if (nrOfValues > 0 && multiline(g)) {
            INDENTER.writeIndentation(g, _nesting);
        }
        g.writeRaw(']');
    }
}
