package io.tessera.simulator.kernel;

import io.tessera.planner.op.Conv2D;
import io.tessera.simulator.array.NDArray;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static io.tessera.simulator.kernel.CentralDifference.add;
import static io.tessera.simulator.kernel.CentralDifference.array;
import static io.tessera.simulator.kernel.CentralDifference.assertClose;
import static io.tessera.simulator.kernel.CentralDifference.concat;
import static io.tessera.simulator.kernel.CentralDifference.flags;
import static io.tessera.simulator.kernel.CentralDifference.slice;
import static io.tessera.simulator.kernel.CentralDifference.uniform;
import static org.junit.jupiter.api.Assertions.assertEquals;

class Conv2DKernelTest {

    private static int[] v(int... values) {
        return values;
    }

    private static NDArray run(Conv2D op, NDArray x, NDArray w) {
        List<NDArray> in = List.of(x, w);
        return Conv2DKernel.forward(op, CentralDifference.single(in, List.of()), in).get(0);
    }

    private static NDArray counting(long... shape) {
        NDArray a = NDArray.zeros(shape);
        for (int i = 0; i < a.size(); i++) {
            a.set(i, i + 1);
        }
        return a;
    }

    @Test
    void slidesTheKernelWithoutPadding() {
        NDArray x = counting(1, 1, 3, 3);
        NDArray w = NDArray.full(1, 1, 1, 2, 2);
        assertEquals(array(new long[] {1, 1, 2, 2}, 12, 16, 24, 28), run(Conv2D.of(1, v(2), v(1), v(0)), x, w));
    }

    @Test
    void padsAndStrides() {
        // x = [[1 2 3] [4 5 6] [7 8 9]] padded by 1, 2 x 2 ones, stride 2: windows at rows/cols (-1, 1)
        NDArray x = counting(1, 1, 3, 3);
        NDArray w = NDArray.full(1, 1, 1, 2, 2);
        assertEquals(array(new long[] {1, 1, 2, 2}, 1, 5, 11, 28), run(Conv2D.of(1, v(2), v(2), v(1)), x, w));
    }

    @Test
    void dilatesAndSeparatesGroups() {
        // two groups, one channel each: out channel 0 reads x channel 0, out channel 1 reads x channel 1
        NDArray x = NDArray.zeros(1, 2, 3, 3);
        for (int i = 0; i < 9; i++) {
            x.set(i, i + 1);
            x.set(9 + i, 10 * (i + 1));
        }
        NDArray w = NDArray.full(1, 2, 1, 2, 2);
        w.set(4, 2);
        w.set(5, 2);
        w.set(6, 2);
        w.set(7, 2);
        // dilation 2 over a 3 x 3 input: the single window reads the four corners (1 + 3 + 7 + 9 = 20)
        NDArray y = run(new Conv2D(2, v(2), v(1), v(0), v(2), 2), x, w);
        assertEquals(array(new long[] {1, 2, 1, 1}, 20, 400), y);
    }

    @Test
    void splitInputChannelsGivePartialOutputsThatAddUp() {
        Random r = CentralDifference.random("Conv2D C-in split", 6200);
        Conv2D op = new Conv2D(3, v(3), v(2), v(1, 0), v(1), 1);
        NDArray x = uniform(r, 2, 4, 5, 6);
        NDArray w = uniform(r, 3, 4, 3, 3);
        NDArray y = run(op, x, w);
        NDArray dy = uniform(r, y.shape());
        List<NDArray> grads = Conv2DKernel.backward(op, null, List.of(x, w), List.of(y), List.of(dy),
                flags(2, 0, 1));
        NDArray sum = NDArray.zeros(y.shape());
        NDArray[] dx = new NDArray[2];
        NDArray[] dw = new NDArray[2];
        for (int h = 0; h < 2; h++) {
            NDArray xh = slice(x, 1, 2 * h, 2 * h + 2);
            NDArray wh = slice(w, 1, 2 * h, 2 * h + 2);
            NDArray part = run(op, xh, wh);
            sum = add(sum, part);
            List<NDArray> g = Conv2DKernel.backward(op, null, List.of(xh, wh), List.of(part), List.of(dy),
                    flags(2, 0, 1));
            dx[h] = g.get(0);
            dw[h] = g.get(1);
        }
        assertClose(y, sum, 1e-14, "partial outputs added");
        assertClose(grads.get(0), concat(1, dx), 1e-15, "dx halves");
        assertClose(grads.get(1), concat(1, dw), 1e-15, "dw halves");
    }

    @Test
    void splitOutputChannelsAndHeightWithKernelEqualToStrideAreLocal() {
        Random r = CentralDifference.random("Conv2D C-out and H split", 6300);
        Conv2D op = Conv2D.of(4, v(2), v(2), v(0));
        NDArray x = uniform(r, 1, 3, 8, 6);
        NDArray w = uniform(r, 4, 3, 2, 2);
        NDArray y = run(op, x, w);
        NDArray coHalves = concat(1, run(op, x, slice(w, 0, 0, 2)), run(op, x, slice(w, 0, 2, 4)));
        assertClose(y, coHalves, 0, "C-out halves");
        NDArray hHalves = concat(2, run(op, slice(x, 2, 0, 4), w), run(op, slice(x, 2, 4, 8), w));
        assertClose(y, hHalves, 0, "H halves");
    }
}
