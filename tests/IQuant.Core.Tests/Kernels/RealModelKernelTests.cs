using IQuant.Core.Gguf;
using IQuant.Core.Kernels;
using IQuant.Core.Quants;
using IQuant.Core.Types;

namespace IQuant.Core.Tests.Kernels;

/// <summary>
/// The kernels on real ik_llama.cpp-quantized tensors (the demo model's reference quantizations): every 2-D weight
/// of each file, all SIMD levels bit-identical to the scalar path (float types: 1e-6 of Σ|w·x|), and equal to
/// dequantize-then-dot within the activation-rounding bound.
/// </summary>
public unsafe class RealModelKernelTests
{
    [Theory]
    [InlineData("iquant-demo-IQ2_K.gguf")]
    [InlineData("iquant-demo-IQ2_KS.gguf")]
    [InlineData("iquant-demo-IQ3_K.gguf")]
    [InlineData("iquant-demo-IQ3_KS.gguf")]
    [InlineData("iquant-demo-IQ4_K.gguf")]
    [InlineData("iquant-demo-IQ4_KS-im.gguf")]
    [InlineData("iquant-demo-f16.gguf")]
    public void AllWeights_MatchScalarAndDequantized(string file)
    {
        var path = TestPaths.RequireShared("models", file);
        using var g = GgufFile.Open(path);
        var rng = new Random(11);
        int checkedTensors = 0;
        using var pool = new ComputePool(2);
        foreach (var t in g.Tensors)
        {
            if (t.Dimensions != 2 || t.Rows < 2 || !MatMul.Supports(t.Type)) continue;
            int cols = checked((int)t.RowLength), rows = checked((int)t.Rows);
            var w = new WeightMatrix(t.Type, cols, rows, g.GetTensorPointer(t));
            const int nVec = 3;
            var x = MatMulTests.RandomValues(rng, nVec * cols, 0.02f);
            float[] Run(SimdLevel level, ComputePool? p)
            {
                using var _ = SimdPolicy.Override(level);
                var y = new float[nVec * rows];
                MatMul.Multiply(w, x, nVec, y, p);
                return y;
            }
            var scalar = Run(SimdLevel.Scalar, null);
            var row = new float[cols];
            var absSums = new double[nVec * rows];
            bool isFloat = t.Type is GgmlType.F16 or GgmlType.F32;
            for (int r = 0; r < rows; r++)
            {
                MatMul.DequantizeRow(w, r, row);
                for (int v = 0; v < nVec; v++)
                {
                    double exact = 0, bound = 0, abs = 0;
                    for (int c = 0; c < cols; c++)
                    {
                        exact += (double)row[c] * x[v * cols + c];
                        abs += Math.Abs((double)row[c] * x[v * cols + c]);
                        bound += Math.Abs(row[c]);
                    }
                    // Activation rounding: |x - dA·q| ≤ amax_block/254 ≤ max|x|/254 (conservative: row-wide max).
                    double amax = 0;
                    for (int c = 0; c < cols; c++) amax = Math.Max(amax, Math.Abs(x[v * cols + c]));
                    absSums[v * rows + r] = abs;
                    double tol = (isFloat ? 0 : bound * amax / 254) + 1e-5 * abs + (t.Type == GgmlType.IQ6_K ? 0.01 * abs : 0) + 1e-30;
                    Assert.True(Math.Abs(scalar[v * rows + r] - exact) <= tol, $"{file} {t.Name} r={r} v={v}: {scalar[v * rows + r]} vs {exact}");
                }
            }
            foreach (var level in Enum.GetValues<SimdLevel>().Where(l => l > SimdLevel.Scalar && l <= SimdPolicy.Hardware))
            {
                var y = Run(level, pool);
                for (int i = 0; i < y.Length; i++)
                {
                    if (isFloat) Assert.True(Math.Abs(y[i] - scalar[i]) <= 1e-6 * absSums[i], $"{t.Name} {level} {i}: {y[i]} vs {scalar[i]}");
                    else if (BitConverter.SingleToInt32Bits(y[i]) != BitConverter.SingleToInt32Bits(scalar[i]))
                        Assert.Fail($"{file} {t.Name} ({t.Type}) {level} i={i}: {y[i]} != scalar {scalar[i]}");
                }
            }
            checkedTensors++;
        }
        Assert.True(checkedTensors >= 7, $"only {checkedTensors} tensors checked");
    }
}
