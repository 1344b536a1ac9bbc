package io.tessera.layout;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The published values of spec layouts.md sections 1 and 2, read as data from
 * {@code published/layout-published.json} on the test class path, checked against {@link Layout} and
 * {@link DeviceMatrix}.
 */
class PublishedLayoutValuesTest {

    private static final String RESOURCE = "/published/layout-published.json";

    private static JsonNode root;

    private static synchronized JsonNode root() {
        if (root == null) {
            try (InputStream in = PublishedLayoutValuesTest.class.getResourceAsStream(RESOURCE)) {
                assertNotNull(in, "test resource " + RESOURCE + " is missing from the test class path");
                root = new ObjectMapper().readTree(in);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return root;
    }

    private static Stream<Named<JsonNode>> cases(String table) {
        JsonNode array = root().get(table);
        assertNotNull(array, "table '" + table + "' is missing from " + RESOURCE);
        assertTrue(array.isArray() && array.size() > 0, "table '" + table + "' must be a non-empty array");
        return StreamSupport.stream(array.spliterator(), false).map(n -> Named.of(n.get("name").asText(), n));
    }

    static Stream<Named<JsonNode>> sliceHolders() {
        return cases("sliceHolders");
    }

    static Stream<Named<JsonNode>> sliceShapes() {
        return cases("sliceShapes");
    }

    static Stream<Named<JsonNode>> normalisation() {
        return cases("normalisation");
    }

    static Stream<Named<JsonNode>> ranksAlongDeviceDims() {
        return cases("ranksAlongDeviceDims");
    }

    static Stream<Named<JsonNode>> fromStrategy() {
        return cases("fromStrategy");
    }

    static Stream<Named<JsonNode>> axisNaming() {
        return cases("axisNaming");
    }

    @Test
    void everyTableIsPresentWithTheExpectedNumberOfCases() {
        assertEquals(1, root().get("sliceHolders").size());
        assertEquals(2, root().get("sliceHolders").get(0).get("holds").size());
        assertEquals(1, root().get("sliceShapes").size());
        assertEquals(4, root().get("normalisation").size());
        assertEquals(4, root().get("ranksAlongDeviceDims").size());
        assertEquals(1, root().get("fromStrategy").size());
        assertEquals(1, root().get("axisNaming").size());
    }

    @ParameterizedTest
    @MethodSource("sliceHolders")
    void rankHoldsThePublishedValues(JsonNode c) {
        long[][] tensor = longMatrix(c.get("tensor"));
        long[] shape = {tensor.length, tensor[0].length};
        Layout layout = Layout.of(ints(c.get("devMatrix")), ints(c.get("tensorMap")), shape);
        for (JsonNode h : c.get("holds")) {
            int rank = h.get("rank").asInt();
            long[][] expected = longMatrix(h.get("values"));
            long[][] actual = extract(tensor, layout.sliceBox(rank));
            assertEquals(expected.length, actual.length, "rows held by rank " + rank);
            for (int i = 0; i < expected.length; i++) {
                assertArrayEquals(expected[i], actual[i], "row " + i + " held by rank " + rank);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("sliceShapes")
    void sliceShapeMatchesPublished(JsonNode c) {
        Layout layout = Layout.of(ints(c.get("devMatrix")), ints(c.get("tensorMap")), longs(c.get("shape")));
        assertArrayEquals(longs(c.get("sliceShape")), layout.sliceShape());
        for (int r = 0; r < layout.deviceCount(); r++) {
            assertArrayEquals(longs(c.get("sliceShape")), layout.sliceBox(r).shape(), "slice box shape of rank " + r);
        }
    }

    @ParameterizedTest
    @MethodSource("normalisation")
    void normalisationMatchesPublished(JsonNode c) {
        int[] dev = ints(c.get("devMatrix"));
        int[] map = ints(c.get("tensorMap"));
        long[] shape = c.has("shape") ? longs(c.get("shape")) : longs(c.get("testShape"));
        Layout original = Layout.of(dev, map, shape);
        Layout normalized = original.normalized();

        assertArrayEquals(ints(c.get("normalizedDevMatrix")), normalized.devMatrix().dims());
        assertArrayEquals(ints(c.get("normalizedTensorMap")), normalized.tensorMap().values());
        assertArrayEquals(shape, normalized.shape());
        // the original is kept
        assertArrayEquals(dev, original.devMatrix().dims());
        assertArrayEquals(map, original.tensorMap().values());
        if (c.has("sliceShape")) {
            assertArrayEquals(longs(c.get("sliceShape")), original.sliceShape());
            assertArrayEquals(longs(c.get("sliceShape")), normalized.sliceShape());
        }
        assertEquals(original.deviceCount(), normalized.deviceCount());
        for (int r = 0; r < original.deviceCount(); r++) {
            assertEquals(original.sliceBox(r), normalized.sliceBox(r), "slice of rank " + r);
        }
    }

    @ParameterizedTest
    @MethodSource("ranksAlongDeviceDims")
    void ranksAlongEachDeviceDimMatchPublished(JsonNode c) {
        List<Integer> devices = IntStream.range(0, c.get("deviceCount").asInt()).boxed().toList();
        DeviceMatrix m = DeviceMatrix.of(ints(c.get("devMatrix")));
        int[][] expected = intMatrix(c.get("groups"));
        int[][] actual = m.deviceGroupsAlongEachDim(devices, c.get("device").asInt());
        assertEquals(expected.length, actual.length, "one group per device dimension");
        for (int d = 0; d < expected.length; d++) {
            assertArrayEquals(expected[d], actual[d], "group along device dim " + d);
        }
    }

    @ParameterizedTest
    @MethodSource("ranksAlongDeviceDims")
    void deviceGroupsFollowAPermutedDeviceList(JsonNode c) {
        // the same published matrix over the device ids listed in reverse: position p holds id n-1-p
        int n = c.get("deviceCount").asInt();
        List<Integer> devices = IntStream.range(0, n).map(p -> n - 1 - p).boxed().toList();
        DeviceMatrix m = DeviceMatrix.of(ints(c.get("devMatrix")));
        int device = c.get("device").asInt();
        int[][] expected = intMatrix(c.get("groups"));
        // the group through id n-1-device is the published group with every rank p replaced by id n-1-p
        int[][] actual = m.deviceGroupsAlongEachDim(devices, n - 1 - device);
        // (as sets: the order of ids within a group over a permuted list is not specified)
        assertEquals(expected.length, actual.length, "one group per device dimension");
        for (int d = 0; d < expected.length; d++) {
            int[] want = Arrays.stream(expected[d]).map(p -> n - 1 - p).sorted().toArray();
            assertArrayEquals(want, Arrays.stream(actual[d]).sorted().toArray(), "group along device dim " + d);
        }
    }

    @ParameterizedTest
    @MethodSource("fromStrategy")
    void fromStrategyMatchesPublished(JsonNode c) {
        Layout layout = Layout.fromStrategy(longs(c.get("shape")), ints(c.get("strategy")),
                c.get("stageDevices").asInt());
        assertArrayEquals(ints(c.get("devMatrix")), layout.devMatrix().dims());
        assertArrayEquals(ints(c.get("tensorMap")), layout.tensorMap().values());
        assertArrayEquals(longs(c.get("sliceShape")), layout.sliceShape());
        assertArrayEquals(longs(c.get("shape")), layout.shape());
        assertEquals(c.get("stageDevices").asInt(), layout.deviceCount());
    }

    @ParameterizedTest
    @MethodSource("axisNaming")
    void namedAxesCountFromTheRight(JsonNode c) {
        int[] dev = ints(c.get("devMatrix"));
        List<String> names = new ArrayList<>();
        c.get("axisNames").forEach(n -> names.add(n.asText()));
        int[] expectedMap = ints(c.get("tensorMap"));
        JsonNode layoutNames = c.get("layout");
        assertEquals(expectedMap.length, layoutNames.size());

        Layout layout = Layout.of(dev, expectedMap, longs(c.get("testShape")));
        for (int i = 0; i < expectedMap.length; i++) {
            String name = layoutNames.get(i).asText();
            int named = names.indexOf(name);
            assertTrue(named >= 0, "axis name " + name + " is one of " + names);
            // the map value of tensor dim i names the device dim carrying axis 'name'
            assertEquals(named, layout.deviceDimOf(expectedMap[i]), "device dim of tensor dim " + i + " (" + name + ")");
            assertEquals(dev[named], layout.splits(i), "splits of tensor dim " + i + " (" + name + ")");
        }
        // every rank's slice coordinate in dim i is its coordinate along the named device dim
        for (int r = 0; r < layout.deviceCount(); r++) {
            int[] coord = layout.devMatrix().coordinate(r);
            long[] sc = layout.sliceCoordinates(r);
            for (int i = 0; i < expectedMap.length; i++) {
                assertEquals(coord[names.indexOf(layoutNames.get(i).asText())], sc[i], "rank " + r + " dim " + i);
            }
        }
    }

    private static long[][] extract(long[][] tensor, Box box) {
        long[][] out = new long[(int) box.extent(0)][(int) box.extent(1)];
        for (int i = 0; i < out.length; i++) {
            for (int j = 0; j < out[i].length; j++) {
                out[i][j] = tensor[(int) box.start(0) + i][(int) box.start(1) + j];
            }
        }
        return out;
    }

    private static int[] ints(JsonNode n) {
        int[] out = new int[n.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = n.get(i).asInt();
        }
        return out;
    }

    private static long[] longs(JsonNode n) {
        long[] out = new long[n.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = n.get(i).asLong();
        }
        return out;
    }

    private static int[][] intMatrix(JsonNode n) {
        int[][] out = new int[n.size()][];
        for (int i = 0; i < out.length; i++) {
            out[i] = ints(n.get(i));
        }
        return out;
    }

    private static long[][] longMatrix(JsonNode n) {
        long[][] out = new long[n.size()][];
        for (int i = 0; i < out.length; i++) {
            out[i] = longs(n.get(i));
        }
        return out;
    }
}
