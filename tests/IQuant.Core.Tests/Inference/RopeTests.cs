using IQuant.Core.Inference;

namespace IQuant.Core.Tests.Inference;

/// <summary>RoPE against values computed by hand.</summary>
public sealed class RopeTests
{
    private static float[] Rotate(Rope r, float[] x, int pos, int heads, int hd)
    {
        var cache = new float[r.Dimensions];
        r.Fill(pos, cache);
        var y = (float[])x.Clone();
        r.Apply(y, heads, hd, cache);
        return y;
    }

    [Fact]
    public void NormalRotatesAdjacentPairs()
    {
        // n_rot 4, base 10000: pair 0 turns by pos·1, pair 1 by pos·10000^(-1/2) = pos·0.01.
        var r = new Rope(4, 10000f, RopeKind.Normal);
        var y = Rotate(r, [1, 0, 0, 1], 1, 1, 4);
        Assert.Equal(MathF.Cos(1), y[0], 6);
        Assert.Equal(MathF.Sin(1), y[1], 6);
        Assert.Equal(-MathF.Sin(0.01f), y[2], 6);
        Assert.Equal(MathF.Cos(0.01f), y[3], 6);
        var z = Rotate(r, [2, 3, 5, 7], 0, 1, 4);
        Assert.Equal([2f, 3f, 5f, 7f], z);
    }

    [Fact]
    public void NeoxRotatesHalves()
    {
        var r = new Rope(4, 10000f, RopeKind.Neox);
        // pairs (0,2) by pos·1 and (1,3) by pos·0.01
        var y = Rotate(r, [1, 0, 0, 1], 2, 1, 4);
        Assert.Equal(MathF.Cos(2), y[0], 6);
        Assert.Equal(-MathF.Sin(0.02f), y[1], 6);
        Assert.Equal(MathF.Sin(2), y[2], 6);
        Assert.Equal(MathF.Cos(0.02f), y[3], 6);
    }

    [Fact]
    public void OnlyTheFirstNRotDimensionsTurn()
    {
        var r = new Rope(2, 10000f, RopeKind.Normal);
        var y = Rotate(r, [1, 0, 9, 8, 0, 1, 6, 5], 3, 2, 4);
        Assert.Equal(MathF.Cos(3), y[0], 6);
        Assert.Equal(MathF.Sin(3), y[1], 6);
        Assert.Equal(9f, y[2]); Assert.Equal(8f, y[3]);
        Assert.Equal(-MathF.Sin(3), y[4], 6);
        Assert.Equal(MathF.Cos(3), y[5], 6);
        Assert.Equal(6f, y[6]); Assert.Equal(5f, y[7]);
    }

    [Fact]
    public void FrequencyFactorsAndLinearScalingDivideTheAngle()
    {
        // llama3 rope_freqs: theta_i / factor_i; linear scaling: theta · freq_scale.
        var r = new Rope(4, 10000f, RopeKind.Normal, [4f, 2f]);
        var y = Rotate(r, [1, 0, 1, 0], 8, 1, 4);
        Assert.Equal(MathF.Cos(2f), y[0], 6);       // 8·1/4
        Assert.Equal(MathF.Sin(2f), y[1], 6);
        Assert.Equal(MathF.Cos(0.04f), y[2], 6);    // 8·0.01/2
        var lin = new Rope(4, 10000f, RopeKind.Normal, freqScale: 0.25f);
        var z = Rotate(lin, [1, 0, 1, 0], 8, 1, 4);
        Assert.Equal(MathF.Cos(2f), z[0], 6);
        Assert.Equal(MathF.Sin(0.02f), z[3], 6);
    }

    [Fact]
    public void AnglesFollowGgmlsIncrementalTheta()
    {
        // ggml multiplies theta by theta_scale = base^(-2/n_rot) pair after pair, in binary32.
        var r = new Rope(128, 500000f, RopeKind.Normal);
        var cache = new float[128];
        r.Fill(4000, cache);
        float theta = 4000f, scale = MathF.Pow(500000f, -2f / 128);
        for (int i = 0; i < 64; i++)
        {
            Assert.Equal(MathF.Cos(theta), cache[2 * i]);
            Assert.Equal(MathF.Sin(theta), cache[2 * i + 1]);
            theta *= scale;
        }
    }
}
