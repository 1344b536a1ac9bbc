package io.tessera.layout.param;

import io.tessera.layout.DType;
import io.tessera.layout.init.Initializers;
import io.tessera.layout.init.Normal;
import io.tessera.layout.tensor.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Parameter, ParameterTuple and initializer examples of the seed documents, in Java, with the printed outputs the
 * seeds show (001 and 003 print MindSpore r1.6's form; 000, r1.1, printed only the names and is checked for the same
 * values). {@code np.arange(2*3)} is Int64 as in 003 (001 ran where numpy's default integer is Int32, and is
 * reproduced with an Int32 arange).
 */
class SeedExamplesTest {

    @AfterEach
    void resetContext() {
        ParallelContext.reset();
    }

    private static Tensor arange23(DType dtype) {
        return Tensor.arange(dtype, 6).reshape(2, 3);
    }

    // ------------------------------------------------------------ 003 / 001 / 000: "Initialization"

    /** 003: three parameters from a Tensor, an initializer and a float. */
    @Test
    void seed003ConstructFromThreeKindsOfData() {
        Parameter x = Parameter.of(arange23(DType.INT64), "x");
        Parameter y = Parameter.of(Initializers.initializer("ones", new long[] {1, 2, 3}, DType.FLOAT32), "y");
        Parameter z = Parameter.of(2.0, "z");
        String expected = " Parameter (name=x, shape=(2, 3), dtype=Int64, requires_grad=True) \n"
                + "\n"
                + " Parameter (name=y, shape=(1, 2, 3), dtype=Float32, requires_grad=True) \n"
                + "\n"
                + " Parameter (name=z, shape=(), dtype=Float32, requires_grad=True)\n";
        assertEquals(Py.blanks(expected), Py.blanks(Py.print(x, "\n\n", y, "\n\n", z)));
        assertEquals("Parameter (name=x, shape=(2, 3), dtype=Int64, requires_grad=True)", x.toString());
        assertEquals("Parameter (name=y, shape=(1, 2, 3), dtype=Float32, requires_grad=True)", y.toString());
        assertEquals("Parameter (name=z, shape=(), dtype=Float32, requires_grad=True)", z.toString());
        // 002 note: only in semi_auto_parallel/auto_parallel does an initializer-backed parameter hold just shape
        // and dtype; in stand_alone (this example) MindSpore fills the values in at once.
        assertFalse(y.hasInit(), "stand_alone: an initializer-backed parameter holds its values at once");
        assertEquals(Tensor.ones(DType.FLOAT32, 1, 2, 3), y.tensor());
        assertFalse(x.hasInit());
        assertFalse(x.layerwiseParallel());
        assertFalse(y.layerwiseParallel());
        assertFalse(z.layerwiseParallel());
        assertEquals(2.0, z.tensor().getDouble());
    }

    /** 001: the same example, printed where numpy's default integer is Int32. */
    @Test
    void seed001ConstructFromThreeKindsOfData() {
        Parameter x = Parameter.of(arange23(DType.INT32), "x");
        Parameter y = Parameter.of(Initializers.initializer("ones", new long[] {1, 2, 3}, DType.FLOAT32), "y");
        Parameter z = Parameter.of(2.0, "z");
        String expected = "Parameter (name=x, shape=(2, 3), dtype=Int32, requires_grad=True) Parameter (name=y, "
                + "shape=(1, 2, 3), dtype=Float32, requires_grad=True) Parameter (name=z, shape=(), dtype=Float32, "
                + "requires_grad=True)";
        assertEquals(expected, Py.blanks(Py.print(x, "\n\n", y, "\n\n", z)));
    }

    // ------------------------------------------------------------ "Attributes"

    /** 003: the attributes of a Tensor-backed parameter named x. */
    @Test
    void seed003Attributes() {
        Parameter x = Parameter.of(arange23(DType.INT64), "x");
        String out = Py.print("name: ", x.name(), "\n",
                "sliced: ", x.sliced(), "\n",
                "is_init: ", x.isInit(), "\n",
                "inited_param: ", x.initedParam(), "\n",
                "requires_grad: ", x.requiresGrad(), "\n",
                "layerwise_parallel: ", x.layerwiseParallel(), "\n",
                "data: ", x.data());
        String expected = " name: x \n"
                + " sliced: False \n"
                + " is_init: False \n"
                + " inited_param: None \n"
                + " requires_grad: True \n"
                + " layerwise_parallel: False \n"
                + " data: Parameter (name=x, shape=(2, 3), dtype=Int64, requires_grad=True)\n";
        assertEquals(Py.blanks(expected), Py.blanks(out));
        assertSame(x, x.data());
    }

    /** 001 (and 000, r1.1): the attributes of an unnamed Tensor-backed parameter. */
    @Test
    void seed001And000AttributesOfUnnamedParameter() {
        Parameter x = Parameter.of(arange23(DType.INT64));
        String out = Py.print("name: ", x.name(), "\n",
                "sliced: ", x.sliced(), "\n",
                "is_init: ", x.isInit(), "\n",
                "inited_param: ", x.initedParam(), "\n",
                "requires_grad: ", x.requiresGrad(), "\n",
                "layerwise_parallel: ", x.layerwiseParallel(), "\n",
                "data: ", x.data());
        String expected = "name: Parameter sliced: False is_init: False inited_param: None requires_grad: True "
                + "layerwise_parallel: False data: Parameter (name=Parameter, shape=(2, 3), dtype=Int64, "
                + "requires_grad=True)";
        assertEquals(expected, Py.blanks(out));
        // 000 (r1.1) printed: name: Parameter sliced: False is_init: False inited_param: None requires_grad: True
        // layerwise_parallel: False data: Parameter (name=Parameter)
        assertEquals("Parameter", x.name());
        assertNull(x.initedParam());
    }

    // ------------------------------------------------------------ "Methods"

    /** 003 / 001 / 000: clone, rename the clone, init_data, set_data with an Int64 tensor into a Float32 parameter. */
    @Test
    void seed003Methods() {
        Parameter x = Parameter.of(Initializers.initializer("ones", new long[] {1, 2, 3}, DType.FLOAT32));
        StringBuilder out = new StringBuilder();
        out.append(Py.print(x));
        Parameter xClone = x.clone();
        xClone.setName("x_clone");
        out.append(Py.print(xClone));
        Parameter inited = x.initData();
        out.append(Py.print(inited));
        // stand_alone: x holds its values already (002 note), so init_data returns x itself, holding ones
        assertSame(x, inited);
        assertEquals(Tensor.ones(DType.FLOAT32, 1, 2, 3), inited.tensor());
        Parameter afterSet = x.setData(Tensor.arange(DType.INT64, 6).reshape(1, 2, 3));
        out.append(Py.print(afterSet));
        String expected = "Parameter (name=Parameter, shape=(1, 2, 3), dtype=Float32, requires_grad=True)\n"
                + "Parameter (name=x_clone, shape=(1, 2, 3), dtype=Float32, requires_grad=True)\n"
                + "Parameter (name=Parameter, shape=(1, 2, 3), dtype=Float32, requires_grad=True)\n"
                + "Parameter (name=Parameter, shape=(1, 2, 3), dtype=Float32, requires_grad=True)\n";
        assertEquals(expected, out.toString());

        assertEquals("Parameter", x.name(), "renaming the clone leaves the original");
        assertSame(x, afterSet, "set_data returns the parameter itself");
        assertEquals(Tensor.arange(DType.FLOAT32, 6).reshape(1, 2, 3), x.tensor(),
                "Int64 data is converted to the parameter's Float32");
    }

    // ------------------------------------------------------------ ParameterTuple

    /** 003 / 001 / 000 / 004: build a ParameterTuple and clone it with a prefix. */
    @Test
    void seed003ParameterTuple() {
        Parameter x = Parameter.of(arange23(DType.INT64), "x");
        Parameter y = Parameter.of(Initializers.initializer("ones", new long[] {1, 2, 3}, DType.FLOAT32), "y");
        Parameter z = Parameter.of(2.0, "z");
        ParameterTuple params = ParameterTuple.of(x, y, z);
        ParameterTuple paramsCopy = params.clone("params_copy");
        String out = Py.print(params, "\n") + Py.print(paramsCopy);
        String expected = "(Parameter (name=x, shape=(2, 3), dtype=Int64, requires_grad=True), Parameter (name=y, "
                + "shape=(1, 2, 3), dtype=Float32, requires_grad=True), Parameter (name=z, shape=(), dtype=Float32, "
                + "requires_grad=True)) \n"
                + "\n"
                + "(Parameter (name=params_copy.x, shape=(2, 3), dtype=Int64, requires_grad=True), Parameter "
                + "(name=params_copy.y, shape=(1, 2, 3), dtype=Float32, requires_grad=True), Parameter "
                + "(name=params_copy.z, shape=(), dtype=Float32, requires_grad=True))\n";
        assertEquals(expected, out);
        for (int i = 0; i < 3; i++) {
            assertNotSame(params.get(i), paramsCopy.get(i));
        }
        assertEquals(List.of("x", "y", "z"), params.stream().map(Parameter::name).toList(),
                "cloning the tuple leaves the originals' names");
    }

    /** 001: the same tuple printed where numpy's default integer is Int32. */
    @Test
    void seed001ParameterTuple() {
        Parameter x = Parameter.of(arange23(DType.INT32), "x");
        Parameter y = Parameter.of(Initializers.initializer("ones", new long[] {1, 2, 3}, DType.FLOAT32), "y");
        Parameter z = Parameter.of(2.0, "z");
        ParameterTuple params = ParameterTuple.of(x, y, z);
        String out = Py.print(params, "\n") + Py.print(params.clone("params_copy"));
        String expected = "(Parameter (name=x, shape=(2, 3), dtype=Int32, requires_grad=True), Parameter (name=y, "
                + "shape=(1, 2, 3), dtype=Float32, requires_grad=True), Parameter (name=z, shape=(), dtype=Float32, "
                + "requires_grad=True)) (Parameter (name=params_copy.x, shape=(2, 3), dtype=Int32, "
                + "requires_grad=True), Parameter (name=params_copy.y, shape=(1, 2, 3), dtype=Float32, "
                + "requires_grad=True), Parameter (name=params_copy.z, shape=(), dtype=Float32, requires_grad=True))";
        assertEquals(expected, Py.blanks(out));
    }

    // ------------------------------------------------------------ 004: parameters of a layer, set_data, assign

    /** 004: a dense layer's w (5, 3) and b (3,), trainable by default; b overwritten with [7, 8, 9]. */
    @Test
    void seed004DenseLayerParameters() {
        double[] randn = new double[15];
        for (int i = 0; i < randn.length; i++) {
            randn[i] = Math.sin(i + 1.0);
        }
        Parameter w = Parameter.of(Tensor.of(DType.FLOAT32, new long[] {5, 3}, randn), "w");
        Parameter b = Parameter.of(Tensor.of(DType.FLOAT32, new long[] {3}, new double[] {0.1, 0.2, 0.3}), "b");
        assertTrue(w.requiresGrad(), "Parameter defaults to requires_grad=True");
        assertEquals("Parameter (name=b, shape=(3,), dtype=Float32, requires_grad=True)", b.toString());
        assertEquals("(Parameter (name=w, shape=(5, 3), dtype=Float32, requires_grad=True), Parameter (name=b, "
                + "shape=(3,), dtype=Float32, requires_grad=True))", ParameterTuple.of(w, b).toString());

        // b_hat = ms.Tensor([7, 8, 9]) (Int64) assigned into the Float32 bias
        b.setData(Tensor.fromNested(List.of(7, 8, 9), null));
        assertEquals(Tensor.of(DType.FLOAT32, new long[] {3}, new double[] {7, 8, 9}), b.tensor());
        assertEquals("[7. 8. 9.]\n", Py.print(b.tensor()), "print(net.b.asnumpy())");
        assertEquals(DType.FLOAT32, b.dtype());
    }

    // ------------------------------------------------------------ 002: Net with weight w, set_data zeros

    /** 002: weight = Parameter(ones((1, 2)), name="w"); weight @ ones((2, 1)) is [[2.]], then [[0.]] after set_data. */
    @Test
    void seed002SetDataChangesTheForwardResult() {
        Parameter weight = Parameter.of(Tensor.ones(DType.FLOAT32, 1, 2), "w", true);
        Tensor x = Tensor.ones(DType.FLOAT32, 2, 1);
        assertEquals("[[2.]]\n", Py.print(matmul1x2by2x1(weight.tensor(), x)));
        weight.setData(Tensor.zeros(DType.FLOAT32, 1, 2));
        assertEquals("[[0.]]\n", Py.print(matmul1x2by2x1(weight.tensor(), x)));
        assertEquals("Parameter (name=w, shape=(1, 2), dtype=Float32, requires_grad=True)", weight.toString());
    }

    private static Tensor matmul1x2by2x1(Tensor a, Tensor b) {
        double v = a.getDouble(0, 0) * b.getDouble(0, 0) + a.getDouble(0, 1) * b.getDouble(1, 0);
        return Tensor.of(DType.FLOAT32, new long[] {1, 1}, new double[] {v});
    }

    // ------------------------------------------------------------ 001 / 003: Conv2d weight initialisation

    /**
     * 001 / 003, "Character String": {@code nn.Conv2d(3, 64, 3, weight_init='Normal')} after {@code set_seed(1)}: the
     * weight (64, 3, 3, 3) is initialised by the initializer named case-insensitively, reproducibly for one seed.
     * (MindSpore's printed convolution values come from its own generator and are not reproduced.)
     */
    @Test
    void seed001ConvWeightFromInitializerName() {
        long[] shape = {64, 3, 3, 3};
        Initializers.setSeed(1);
        Parameter a = Parameter.fromInitializer("Normal", shape, DType.FLOAT32, "weight");
        Initializers.setSeed(1);
        Parameter b = Parameter.fromInitializer("normal", shape, DType.FLOAT32, "weight");
        assertEquals("Parameter (name=weight, shape=(64, 3, 3, 3), dtype=Float32, requires_grad=True)", a.toString());
        Tensor va = a.initData().tensor();
        assertEquals(va, b.initData().tensor(), "set_seed(1) makes the weight reproducible");
        assertArrayEquals(shape, va.shape());
    }

    /**
     * 001 / 003, "Initializer Subclass": {@code nn.Conv2d(3, 64, 3, weight_init=Normal(0.2))} after
     * {@code set_seed(1)}. The seeds' outputs are exactly 20 times those of the default {@code Normal()} (sigma 0.01),
     * e.g. 6.2076533e-01 = 20 x 3.10382620e-02: the same draws scaled by sigma. The same holds here.
     */
    @Test
    void seed001ConvWeightFromInitializerSubclass() {
        long[] shape = {64, 3, 3, 3};
        Initializers.setSeed(1);
        Parameter byName = Parameter.fromInitializer("Normal", shape, DType.FLOAT32, "weight");
        Initializers.setSeed(1);
        Parameter scaled = Parameter.fromInitializer(new Normal(0.2), shape, DType.FLOAT32, "weight");
        assertEquals("Parameter (name=weight, shape=(64, 3, 3, 3), dtype=Float32, requires_grad=True)",
                scaled.toString());
        double[] a = byName.initData().tensor().toDoubleArray();
        double[] b = scaled.initData().tensor().toDoubleArray();
        for (int i = 0; i < a.length; i++) {
            assertEquals(20 * a[i], b[i], 1e-6 * Math.abs(20 * a[i]) + 1e-12, "element " + i);
        }
        assertEquals(20 * 3.10382620e-02, 6.2076533e-01, 1e-7, "the seeds' own first printed values");
    }

    /**
     * 001 / 003, "The Custom of the Tensor": a ones weight (64, 3, 3, 3) on a ones input (1, 3, 16, 50) with
     * Conv2d's default pad_mode "same" gives 12 at corners, 18 on edges, 27 inside. The seeds print the first and the
     * last output channel of numpy's summary (the channels between are elided in the document).
     */
    @Test
    void seed001ConvWeightFromCustomTensor() {
        Parameter weight = Parameter.of(Tensor.ones(DType.FLOAT32, 64, 3, 3, 3), "weight");
        Tensor w = weight.tensor();
        Tensor input = Tensor.ones(DType.FLOAT32, 1, 3, 16, 50);
        int h = 16;
        int wd = 50;
        double[] out = new double[64 * h * wd];
        for (int o = 0; o < 64; o++) {
            for (int i = 0; i < h; i++) {
                for (int j = 0; j < wd; j++) {
                    double s = 0;
                    for (int c = 0; c < 3; c++) {
                        for (int ki = 0; ki < 3; ki++) {
                            for (int kj = 0; kj < 3; kj++) {
                                int ii = i + ki - 1;
                                int jj = j + kj - 1;
                                if (ii >= 0 && ii < h && jj >= 0 && jj < wd) {
                                    s += w.getDouble(o, c, ki, kj) * input.getDouble(0, c, ii, jj);
                                }
                            }
                        }
                    }
                    out[(o * h + i) * wd + j] = s;
                }
            }
        }
        String printed = Py.blanks(Py.print(Tensor.of(DType.FLOAT32, new long[] {1, 64, h, wd}, out)));
        String firstChannel = "[[[[12. 18. 18. ... 18. 18. 12.]\n"
                + " [18. 27. 27. ... 27. 27. 18.]\n"
                + " [18. 27. 27. ... 27. 27. 18.]\n"
                + " ...\n"
                + " [18. 27. 27. ... 27. 27. 18.]\n"
                + " [18. 27. 27. ... 27. 27. 18.]\n"
                + " [12. 18. 18. ... 18. 18. 12.]]\n";
        String lastChannel = " [[12. 18. 18. ... 18. 18. 12.]\n"
                + " [18. 27. 27. ... 27. 27. 18.]\n"
                + " [18. 27. 27. ... 27. 27. 18.]\n"
                + " ...\n"
                + " [18. 27. 27. ... 27. 27. 18.]\n"
                + " [18. 27. 27. ... 27. 27. 18.]\n"
                + " [12. 18. 18. ... 18. 18. 12.]]]]\n";
        assertTrue(printed.startsWith(Py.blanks(firstChannel) + " "), printed);
        assertTrue(printed.endsWith(" " + Py.blanks(lastChannel)), printed);
        assertTrue(printed.contains("]] ... [["), "channels are summarised");
    }
}
