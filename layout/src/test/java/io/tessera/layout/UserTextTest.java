package io.tessera.layout;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

class UserTextTest {

    @Test
    void shortValuesAreShownWhole() {
        assertEquals("gtp", UserText.abbreviate("gtp"));
        assertEquals("'gtp'", UserText.quoted("gtp"));
        assertEquals("x".repeat(200), UserText.abbreviate("x".repeat(200)));
        assertEquals("null", UserText.quoted(null));
    }

    @Test
    void longValuesKeepTheirFirst200CharactersAndTheirLength() {
        assertEquals("y".repeat(200) + "... (100000 characters)", UserText.abbreviate("y".repeat(100_000)));
        assertEquals("'" + "y".repeat(200) + "... (201 characters)'", UserText.quoted("y".repeat(201)));
    }

    @Test
    void lineBreaksBecomeSpaces() {
        assertEquals("a b c", UserText.abbreviate("a\nb\r\nc"));
    }
}
