using IQuant.Core.Calibration;

namespace IQuant.Core.Tests.Calibration;

/// <summary>The multiple-choice knapsack of automatic mixes against brute force.</summary>
public sealed class MixSolverTests
{
    private static (double Cost, long Bytes) BruteForce(IReadOnlyList<MixOption[]> items, long budget)
    {
        double best = double.PositiveInfinity; long bestBytes = 0;
        var idx = new int[items.Count];
        while (true)
        {
            long b = 0; double c = 0;
            for (int i = 0; i < items.Count; i++) { b += items[i][idx[i]].Bytes; c += items[i][idx[i]].Cost; }
            if (b <= budget && c < best) { best = c; bestBytes = b; }
            int k = 0;
            while (k < items.Count && ++idx[k] == items[k].Length) idx[k++] = 0;
            if (k == items.Count) break;
        }
        return (best, bestBytes);
    }

    /// <summary>Random instances shaped like mixes: bigger options cost more bytes and mostly (not always) less loss.</summary>
    private static List<MixOption[]> Random(Random rng, int items, int options, int unit)
    {
        var list = new List<MixOption[]>();
        for (int i = 0; i < items; i++)
        {
            var o = new MixOption[options];
            long b = rng.Next(1, 20) * unit;
            double c = rng.NextDouble() * 10 + 1;
            for (int k = 0; k < options; k++)
            {
                o[k] = new MixOption(b, c);
                b += rng.Next(1, 15) * unit;
                c *= rng.NextDouble() < 0.15 ? 1.2 : rng.NextDouble() * 0.8 + 0.1;   // some dominated options
            }
            list.Add(o.OrderBy(_ => rng.Next()).ToArray());                         // options in any order
        }
        return list;
    }

    [Fact]
    public void MatchesBruteForceOnSmallInstances()
    {
        var rng = new Random(12345);
        for (int trial = 0; trial < 300; trial++)
        {
            var items = Random(rng, rng.Next(1, 6), rng.Next(1, 5), rng.Next(1, 4) * 32);
            long min = items.Sum(o => o.Min(x => x.Bytes)), max = items.Sum(o => o.Max(x => x.Bytes));
            long budget = min + (long)((max - min) * rng.NextDouble());
            var (best, _) = BruteForce(items, budget);
            var s = MixSolver.Solve(items, budget);
            Assert.True(s.Bytes <= budget, $"trial {trial}: {s.Bytes} > {budget}");
            Assert.Equal(s.Bytes, s.Choice.Select((k, i) => items[i][k].Bytes).Sum());
            Assert.Equal(best, s.Cost, 9);
        }
    }

    [Fact]
    public void CoarseUnitsStayWithinBudgetAndNearOptimal()
    {
        var rng = new Random(7);
        for (int trial = 0; trial < 100; trial++)
        {
            var items = Random(rng, 5, 4, 1);
            long min = items.Sum(o => o.Min(x => x.Bytes)), max = items.Sum(o => o.Max(x => x.Bytes));
            long budget = min + (max - min) / 2;
            var (best, _) = BruteForce(items, budget);
            var s = MixSolver.Solve(items, budget, maxStates: 8);   // forces a coarse DP unit
            Assert.True(s.Bytes <= budget);
            Assert.True(s.Cost >= best - 1e-9);
            Assert.True(s.Cost <= best * 1.5 + 1e-9, $"trial {trial}: {s.Cost} vs optimum {best}");
        }
    }

    [Fact]
    public void GreedyFillsAndPricesTheBudget()
    {
        // Two items; the best upgrade per byte does not fit, a smaller one does (the fill step).
        var items = new List<MixOption[]>
        {
            new[] { new MixOption(10, 10), new MixOption(30, 1) },     // saves 9 for 20 bytes (0.45/byte)
            new[] { new MixOption(10, 5), new MixOption(15, 3) },      // saves 2 for 5 bytes (0.4/byte)
        };
        var g = MixSolver.Greedy(items, 29);
        Assert.Equal([0, 1], g.Choice);
        Assert.Equal(25, g.Bytes);
        Assert.Equal(0.45, g.Lambda, 12);
        var s = MixSolver.Solve(items, 29);
        Assert.Equal(13, s.Cost);
        Assert.Equal(0.45, s.Lambda, 12);
        var all = MixSolver.Solve(items, 45);
        Assert.Equal([1, 1], all.Choice);
        Assert.Equal(0, all.Lambda);
    }

    [Fact]
    public void HullDropsDominatedAndNonConvexOptions()
    {
        var o = new[] { new MixOption(10, 10), new MixOption(20, 9), new MixOption(30, 2), new MixOption(25, 12), new MixOption(40, 1) };
        // (20,9) lies above the segment (10,10)–(30,2); (25,12) is dominated.
        Assert.Equal([0, 2, 4], MixSolver.Hull(o));
    }

    [Fact]
    public void RefusesABudgetBelowTheSmallestOptions()
    {
        var items = new List<MixOption[]> { new[] { new MixOption(10, 1) }, new[] { new MixOption(20, 1), new MixOption(30, 0) } };
        Assert.Throws<ArgumentException>(() => MixSolver.Solve(items, 29));
        var s = MixSolver.Solve(items, 30);
        Assert.Equal(30, s.Bytes);
    }

    [Fact]
    public void LargeInstanceIsFastAndFeasible()
    {
        var rng = new Random(3);
        var items = Random(rng, 400, 10, 4096);
        long min = items.Sum(o => o.Min(x => x.Bytes)), max = items.Sum(o => o.Max(x => x.Bytes));
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var s = MixSolver.Solve(items, (min + max) / 2);
        Assert.True(s.Bytes <= (min + max) / 2);
        var g = MixSolver.Greedy(items, (min + max) / 2);
        Assert.True(s.Cost <= g.Cost + 1e-9);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(20), sw.Elapsed.ToString());
    }
}
