package io.tessera.layout;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * Invalid device matrices, tensor maps, layouts and strategies are rejected with {@link IllegalArgumentException}
 * whose message names the thing, the value found and what was expected.
 */
class LayoutValidationTest {

    private static void assertRejected(Executable invalid, String... parts) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, invalid);
        String message = e.getMessage();
        for (String part : parts) {
            assertTrue(message != null && message.contains(part),
                    "message should contain '" + part + "' but was: " + message);
        }
    }

    private static TensorMap.Entry list(int... axes) {
        return TensorMap.Entry.of(axes);
    }

    @Test
    void validNeighboursOfTheInvalidCasesAreAccepted() {
        // guards against the rejections below passing for an unrelated reason
        assertDoesNotThrow(() -> Layout.of(new int[] {2, 4}, new int[] {1, 0}, 8, 8));
        assertDoesNotThrow(() -> Layout.of(DeviceMatrix.of(2, 4), TensorMap.of(List.of(list(1, 0), TensorMap.notSplit())),
                8, 8));
        assertDoesNotThrow(() -> Layout.of(new int[] {8, 4}, new int[] {1, -1}, 512, 1024));
        assertDoesNotThrow(() -> Layout.fromStrategy(new long[] {8, 8}, new int[] {2, 1}, 8));
        assertDoesNotThrow(() -> DeviceMatrix.of(1));
    }

    @Test
    void mapValueBeyondTheDeviceMatrixIsRejected() {
        assertRejected(() -> Layout.of(new int[] {2, 4}, new int[] {2, -1}, 8, 8),
                "dim 0", "device dimension 2", "has 2 dims", "expected -1 or 0..1");
        assertRejected(() -> Layout.of(new int[] {2, 4}, new int[] {-1, 5}, 8, 8),
                "dim 1", "device dimension 5", "expected -1 or 0..1");
    }

    @Test
    void mapValueBeyondTheDeviceMatrixInsideAListEntryIsRejected() {
        TensorMap map = TensorMap.of(List.of(TensorMap.notSplit(), list(0, 3)));
        assertRejected(() -> Layout.of(DeviceMatrix.of(2, 4, 2), map, 8, 8),
                "dim 1", "device dimension 3", "has 3 dims", "expected -1 or 0..2");
    }

    @Test
    void deviceDimensionUsedTwiceIsRejected() {
        assertRejected(() -> TensorMap.of(1, 1), "device dimension 1", "used twice", "tensor dim 1",
                "at most one tensor dimension");
        assertRejected(() -> Layout.of(new int[] {2, 4}, new int[] {0, -1, 0}, 8, 8, 8), "device dimension 0",
                "used twice", "tensor dim 2");
    }

    @Test
    void deviceDimensionUsedByAListEntryAndAPlainEntryIsRejected() {
        assertRejected(() -> TensorMap.of(List.of(list(1, 0), TensorMap.Entry.of(0))), "device dimension 0",
                "used twice", "tensor dim 1", "at most one tensor dimension");
        assertRejected(() -> TensorMap.of(List.of(TensorMap.Entry.of(2), TensorMap.notSplit(), list(0, 2))),
                "device dimension 2", "used twice", "tensor dim 2");
    }

    @Test
    void deviceDimensionRepeatedWithinAListEntryIsRejected() {
        assertRejected(() -> TensorMap.of(List.of(TensorMap.notSplit(), list(1, 1))), "device dimension 1",
                "used twice", "tensor dim 1");
    }

    @Test
    void dimensionNotDivisibleIsRejected() {
        assertRejected(() -> Layout.of(new int[] {8, 4}, new int[] {1, -1}, 500, 1024),
                "dim 0", "size 500", "split 8 ways", "divide");
        assertRejected(() -> Layout.of(new int[] {8, 4}, new int[] {-1, 0}, 512, 6),
                "dim 1", "size 6", "split 4 ways", "divide");
    }

    @Test
    void dimensionNotDivisibleByAListEntryProductIsRejected() {
        // 2 * 3 = 6 ways; 9 is divisible by 3 but not by 6
        TensorMap map = TensorMap.of(List.of(list(1, 0)));
        assertRejected(() -> Layout.of(DeviceMatrix.of(2, 3), map, 9), "dim 0", "size 9", "split 6 ways", "divide");
    }

    @Test
    void tensorMapLengthDifferentFromShapeLengthIsRejected() {
        assertRejected(() -> Layout.of(new int[] {2, 4}, new int[] {1, 0}, 8, 8, 8),
                "tensor_map has 2 entries", "shape has 3 dims", "one tensor_map entry per tensor dimension");
        assertRejected(() -> Layout.of(new int[] {2, 4}, new int[] {1, 0, -1}, 8),
                "tensor_map has 3 entries", "shape has 1 dims");
    }

    @Test
    void nonPositiveShapeSizeIsRejected() {
        assertRejected(() -> Layout.of(new int[] {2}, new int[] {-1, -1}, 4, 0), "dim 1", "size 0", "positive");
        assertRejected(() -> Layout.of(new int[] {2}, new int[] {-1, 0}, -4, 8), "dim 0", "size -4", "positive");
    }

    @Test
    void nonPositiveDeviceDimensionIsRejected() {
        assertRejected(() -> DeviceMatrix.of(2, 0, 4), "device dim 1", "is 0", "positive size");
        assertRejected(() -> DeviceMatrix.of(-3), "device dim 0", "is -3", "positive size");
        assertRejected(() -> Layout.of(new int[] {4, -2}, new int[] {1}, 8), "device dim 1", "is -2", "positive size");
    }

    @Test
    void emptyDeviceMatrixIsRejected() {
        assertRejected(() -> DeviceMatrix.of(), "dev_matrix", "empty", "at least one positive device dimension");
        assertRejected(() -> DeviceMatrix.of(List.of()), "dev_matrix", "empty");
    }

    @Test
    void deviceMatrixOverTwoToTheThirtyOneDevicesIsRejected() {
        assertRejected(() -> DeviceMatrix.of(65536, 65536), "dev_matrix", "2^31-1");
    }

    @Test
    void negativeMapValueOtherThanMinusOneIsRejected() {
        assertRejected(() -> TensorMap.of(0, -2), "dim 1", "-2", "expected -1");
        assertRejected(() -> Layout.of(new int[] {2, 4}, new int[] {-3, 0}, 8, 8), "dim 0", "-3", "expected -1");
    }

    @Test
    void negativeValueInsideAListEntryIsRejected() {
        // a list entry is built before the map, so its message names the entry rather than a tensor dimension
        assertRejected(() -> list(1, -1), "list entry [1, -1]", "-1", ">= 0");
        assertRejected(() -> list(), "empty list entry", "-1");
    }

    @Test
    void strategyNotDividingTheDeviceCountIsRejected() {
        assertRejected(() -> Layout.fromStrategy(new long[] {12, 8}, new int[] {3, 1}, 8),
                "strategy [3, 1]", "uses 3 devices", "stage has 8", "must divide the device count");
        assertRejected(() -> Layout.fromStrategy(new long[] {8, 8}, new int[] {4, 4}, 8),
                "strategy [4, 4]", "uses 16 devices", "stage has 8");
    }

    @Test
    void strategyNotDividingATensorDimensionIsRejected() {
        assertRejected(() -> Layout.fromStrategy(new long[] {30, 8}, new int[] {4, 1}, 8),
                "dim 0", "size 30", "split 4 ways", "divide");
    }

    @Test
    void nonPositiveStrategyValueIsRejected() {
        assertRejected(() -> Layout.fromStrategy(new long[] {8, 8}, new int[] {2, 0}, 8),
                "dim 1", "is 0", "positive number of slices");
        assertRejected(() -> Layout.fromStrategy(new long[] {8, 8}, new int[] {-2, 1}, 8),
                "dim 0", "is -2", "positive number of slices");
    }

    @Test
    void strategyOfTheWrongLengthIsRejected() {
        assertRejected(() -> Layout.fromStrategy(new long[] {8, 8}, new int[] {2}, 8),
                "strategy [2]", "1 values", "2 dims", "one value per dimension");
    }

    @Test
    void rankAndCoordinateOutOfRangeAreRejected() {
        DeviceMatrix m = DeviceMatrix.of(2, 3);
        assertRejected(() -> m.coordinate(6), "rank 6", "expected 0..5");
        assertRejected(() -> m.coordinate(-1), "rank -1", "expected 0..5");
        assertRejected(() -> m.rankOf(new int[] {1, 3}), "coordinate 1", "is 3", "expected 0..2");
        assertRejected(() -> m.rankOf(new int[] {1}), "has 1 entries", "expected 2");
        assertRejected(() -> m.ranksAlong(2, 0), "device dim 2", "expected 0..1");
        assertRejected(() -> m.deviceGroupsAlongEachDim(List.of(0, 1, 2), 0), "arranges 6 devices",
                "device list has 3");
        assertRejected(() -> m.deviceGroupsAlongEachDim(List.of(0, 1, 2, 3, 4, 5), 9), "device 9",
                "not in the device list");
    }

    @Test
    void sliceCoordinatesAndReplicaOutOfRangeAreRejected() {
        Layout l = Layout.of(new int[] {2, 4}, new int[] {1, -1}, 8, 8);
        assertRejected(() -> l.rankOf(new long[] {2, 0}, 0), "slice coordinate 2", "dim 0", "expected 0..1");
        assertRejected(() -> l.rankOf(new long[] {0, 1}, 0), "slice coordinate 1", "dim 1", "expected 0..0");
        assertRejected(() -> l.rankOf(new long[] {0, 0}, 4), "replica 4", "expected 0..3");
        assertRejected(() -> l.rankOf(new long[] {0}, 0), "have 1 entries", "expected 2");
    }
}
