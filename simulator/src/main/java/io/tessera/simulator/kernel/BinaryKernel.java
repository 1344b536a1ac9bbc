package io.tessera.simulator.kernel;

import io.tessera.planner.op.Binary;
import io.tessera.simulator.array.NDArray;

import java.util.List;

/**
 * {@code Add}, {@code Sub}, {@code Mul}, {@code Div} with numpy broadcasting (shapes right-aligned, a missing or
 * size-1 dimension broadcast). The gradient of a broadcast input is summed over the dimensions it was broadcast along.
 */
public final class BinaryKernel {

    private static final String NAME = "BinaryKernel";

    private BinaryKernel() {
    }

    /** {@code x op y} with the broadcast shape of the two inputs. */
    public static List<NDArray> forward(Binary op, KernelContext ctx, List<NDArray> inputs) {
        Shapes.checkInputs(NAME, inputs, 2);
        NDArray a = inputs.get(0);
        NDArray b = inputs.get(1);
        long[] shape = Shapes.broadcast(NAME, a.shape(), b.shape());
        NDArray out = NDArray.zeros(shape);
        apply(op.kind(), a, b, out);
        return List.of(out);
    }

    /**
     * Gradients of x and y (null where {@code needsGrad[i]} is false), each summed back to its input's shape; a
     * missing output gradient counts as zeros.
     */
    public static List<NDArray> backward(Binary op, KernelContext ctx, List<NDArray> inputs, List<NDArray> outputs,
                                         List<NDArray> outputGrads, boolean[] needsGrad) {
        Shapes.checkBackward(NAME, inputs, 2, outputGrads, 1, needsGrad);
        NDArray a = inputs.get(0);
        NDArray b = inputs.get(1);
        long[] shape = Shapes.broadcast(NAME, a.shape(), b.shape());
        NDArray g = Shapes.outputGrad(NAME, outputGrads, 0, shape);
        NDArray[] grads = Shapes.gradients(2);
        if (g == null) {
            for (int i = 0; i < 2; i++) {
                if (needsGrad[i]) {
                    grads[i] = NDArray.zeros(inputs.get(i).shape());
                }
            }
            return Shapes.list(grads);
        }
        Binary.Kind kind = op.kind();
        if (needsGrad[0]) {
            NDArray ga;
            switch (kind) {
                case ADD:
                case SUB:
                    ga = g.copy();
                    break;
                case MUL:
                    ga = NDArray.zeros(shape);
                    apply(Binary.Kind.MUL, g, b, ga);
                    break;
                default:
                    ga = NDArray.zeros(shape);
                    apply(Binary.Kind.DIV, g, b, ga);
                    break;
            }
            grads[0] = Shapes.sumTo(ga, a.shape());
        }
        if (needsGrad[1]) {
            NDArray gb;
            switch (kind) {
                case ADD:
                    gb = g.copy();
                    break;
                case SUB:
                    gb = g.copy();
                    negate(gb);
                    break;
                case MUL:
                    gb = NDArray.zeros(shape);
                    apply(Binary.Kind.MUL, g, a, gb);
                    break;
                default:
                    // d(a / b) / db = -a / b^2, computed as ((g * a) / b) / b
                    gb = NDArray.zeros(shape);
                    apply(Binary.Kind.MUL, g, a, gb);
                    apply(Binary.Kind.DIV, gb, b, gb);
                    apply(Binary.Kind.DIV, gb, b, gb);
                    negate(gb);
                    break;
            }
            grads[1] = Shapes.sumTo(gb, b.shape());
        }
        return Shapes.list(grads);
    }

    private static void negate(NDArray x) {
        double[] d = x.data();
        for (int i = 0; i < d.length; i++) {
            d[i] = -d[i];
        }
    }

    /** Writes {@code a kind b} into {@code out}, whose shape is the broadcast of the two. */
    static void apply(Binary.Kind kind, NDArray a, NDArray b, NDArray out) {
        double[] x = a.data();
        double[] y = b.data();
        double[] z = out.data();
        if (z.length == 0) {
            return;
        }
        long[] shape = out.shape();
        if (x.length == z.length && y.length == z.length) {
            row(kind, x, 0, 1, y, 0, 1, z, 0, z.length);
            return;
        }
        Shapes.Cursor c = new Shapes.Cursor(shape, Shapes.broadcastStrides(a.shape(), shape),
                Shapes.broadcastStrides(b.shape(), shape), Shapes.strides(shape));
        int len = c.rowLength();
        int sa = c.innerStride(0);
        int sb = c.innerStride(1);
        do {
            row(kind, x, c.offset(0), sa, y, c.offset(1), sb, z, c.offset(2), len);
        } while (c.next());
    }

    private static void row(Binary.Kind kind, double[] x, int xo, int sx, double[] y, int yo, int sy, double[] z,
                            int zo, int len) {
        switch (kind) {
            case ADD:
                for (int j = 0; j < len; j++) {
                    z[zo + j] = x[xo + j * sx] + y[yo + j * sy];
                }
                break;
            case SUB:
                for (int j = 0; j < len; j++) {
                    z[zo + j] = x[xo + j * sx] - y[yo + j * sy];
                }
                break;
            case MUL:
                for (int j = 0; j < len; j++) {
                    z[zo + j] = x[xo + j * sx] * y[yo + j * sy];
                }
                break;
            default:
                for (int j = 0; j < len; j++) {
                    z[zo + j] = x[xo + j * sx] / y[yo + j * sy];
                }
                break;
        }
    }
}
