namespace IQuant.Core.Calibration;

/// <summary>One way to store one tensor: its size and the loss it is predicted to add.</summary>
public readonly record struct MixOption(long Bytes, double Cost);

/// <summary>A solution of <see cref="MixSolver.Solve"/>.</summary>
public sealed record MixSolution
{
    /// <summary>The chosen option index per item.</summary>
    public required int[] Choice { get; init; }
    /// <summary>Total bytes of the chosen options.</summary>
    public required long Bytes { get; init; }
    /// <summary>Total cost of the chosen options.</summary>
    public required double Cost { get; init; }
    /// <summary>
    /// The marginal rate at the budget: cost saved per byte by the next upgrade the greedy pass could not afford
    /// (the Lagrange multiplier of the budget constraint); 0 when every item got its best option.
    /// </summary>
    public required double Lambda { get; init; }
    /// <summary>"dp" or "greedy": which pass produced the solution.</summary>
    public required string Method { get; init; }
    /// <summary>Bytes per DP unit (1 = the DP was exact at byte resolution).</summary>
    public required long Unit { get; init; }
}

/// <summary>
/// The allocation problem of automatic mixes, a multiple-choice knapsack: pick one option per item so that the
/// total bytes stay within the budget and the total cost is minimal. Two passes, the better one wins:
/// (1) Lagrangian greedy on each item's lower convex hull (start every item at its smallest option, repeatedly take
/// the upgrade with the largest cost reduction per byte that still fits; upgrades that do not fit are skipped, which
/// fills the remaining budget with smaller steps); (2) an exact dynamic programme over the budget, in units of the
/// greatest common divisor of the option sizes — or, when that would need more than <c>maxStates</c> states, of a
/// coarser unit with every size rounded up (still never over budget, then near-optimal).
/// </summary>
public static class MixSolver
{
    /// <summary>Solves the allocation. Throws <see cref="ArgumentException"/> when even the smallest options exceed the budget.</summary>
    public static MixSolution Solve(IReadOnlyList<MixOption[]> items, long budget, int maxStates = 1 << 16)
    {
        ArgumentNullException.ThrowIfNull(items);
        int n = items.Count;
        long minTotal = 0;
        for (int i = 0; i < n; i++)
        {
            if (items[i] is null || items[i].Length == 0) throw new ArgumentException($"Item {i} has no options.", nameof(items));
            if (items[i].Length > 255) throw new ArgumentException($"Item {i} has more than 255 options.", nameof(items));
            foreach (var o in items[i])
                if (o.Bytes < 0 || double.IsNaN(o.Cost)) throw new ArgumentException($"Item {i} has an invalid option {o}.", nameof(items));
            minTotal += items[i].Min(o => o.Bytes);
        }
        if (minTotal > budget)
            throw new ArgumentException($"The smallest options already need {minTotal} bytes; the budget is {budget}.", nameof(budget));

        var greedy = Greedy(items, budget);
        var dp = Dp(items, budget, maxStates);
        var best = dp is not null && dp.Cost <= greedy.Cost ? dp : greedy;
        return best with { Lambda = greedy.Lambda };
    }

    /// <summary>Convex-hull greedy with fill (the Lagrangian relaxation's rounding).</summary>
    internal static MixSolution Greedy(IReadOnlyList<MixOption[]> items, long budget)
    {
        int n = items.Count;
        var hulls = new int[n][];
        var pos = new int[n];
        long bytes = 0;
        double cost = 0;
        for (int i = 0; i < n; i++)
        {
            hulls[i] = Hull(items[i]);
            var o = items[i][hulls[i][0]];
            bytes += o.Bytes; cost += o.Cost;
        }
        // Upgrades ordered by saving per byte (largest first); ties by item for determinism.
        var queue = new PriorityQueue<int, (double, int)>();
        for (int i = 0; i < n; i++) if (hulls[i].Length > 1) queue.Enqueue(i, (-Slope(items[i], hulls[i], 0), i));
        double lambda = 0;
        bool blocked = false;
        while (queue.TryDequeue(out int i, out var key))
        {
            var h = hulls[i];
            var cur = items[i][h[pos[i]]];
            var next = items[i][h[pos[i] + 1]];
            long extra = next.Bytes - cur.Bytes;
            if (bytes + extra > budget)
            {
                // Does not fit: the first such upgrade prices the budget; keep filling with the others.
                if (!blocked) { lambda = -key.Item1; blocked = true; }
                continue;
            }
            bytes += extra; cost += next.Cost - cur.Cost;
            pos[i]++;
            if (pos[i] + 1 < h.Length) queue.Enqueue(i, (-Slope(items[i], h, pos[i]), i));
        }
        var choice = new int[n];
        for (int i = 0; i < n; i++) choice[i] = hulls[i][pos[i]];
        return new MixSolution { Choice = choice, Bytes = bytes, Cost = cost, Lambda = lambda, Method = "greedy", Unit = 0 };
    }

    private static double Slope(MixOption[] opts, int[] hull, int k)
    {
        var a = opts[hull[k]]; var b = opts[hull[k + 1]];
        return (a.Cost - b.Cost) / Math.Max(1, b.Bytes - a.Bytes);
    }

    /// <summary>
    /// Indices of the lower convex hull of an item's options, by increasing bytes and strictly decreasing cost
    /// (dominated options — not cheaper in cost than a smaller one — are dropped).
    /// </summary>
    internal static int[] Hull(MixOption[] opts)
    {
        var idx = Enumerable.Range(0, opts.Length).OrderBy(k => opts[k].Bytes).ThenBy(k => opts[k].Cost).ThenBy(k => k).ToList();
        var pareto = new List<int>();
        foreach (int k in idx)
        {
            if (pareto.Count > 0 && opts[pareto[^1]].Bytes == opts[k].Bytes) continue;        // same size, higher cost
            if (pareto.Count > 0 && opts[k].Cost >= opts[pareto[^1]].Cost) continue;           // bigger and not better
            pareto.Add(k);
        }
        var hull = new List<int>();
        foreach (int k in pareto)
        {
            while (hull.Count >= 2)
            {
                var a = opts[hull[^2]]; var b = opts[hull[^1]]; var c = opts[k];
                // b is above the segment a–c (or on it): drop it.
                double cross = (double)(b.Bytes - a.Bytes) * (c.Cost - a.Cost) - (b.Cost - a.Cost) * (double)(c.Bytes - a.Bytes);
                if (cross <= 0) hull.RemoveAt(hull.Count - 1); else break;
            }
            hull.Add(k);
        }
        return [.. hull];
    }

    /// <summary>Dynamic programme over the extra bytes above every item's smallest option; null when it cannot run.</summary>
    internal static MixSolution? Dp(IReadOnlyList<MixOption[]> items, long budget, int maxStates)
    {
        int n = items.Count;
        var minB = new long[n];
        long minTotal = 0, g = 0;
        for (int i = 0; i < n; i++)
        {
            minB[i] = items[i].Min(o => o.Bytes);
            minTotal += minB[i];
            foreach (var o in items[i]) g = Gcd(g, o.Bytes - minB[i]);
        }
        long free = budget - minTotal;
        if (free < 0) return null;
        long unit = Math.Max(1, g);
        if (free / unit > maxStates) unit = Math.Max(unit, (free + maxStates - 1) / maxStates);
        int cap = (int)Math.Min(free / unit, maxStates);
        if ((long)n * (cap + 1) > 256L << 20) return null;
        var w = new int[n][];
        for (int i = 0; i < n; i++)
        {
            w[i] = new int[items[i].Length];
            for (int k = 0; k < items[i].Length; k++)
            {
                long ex = items[i][k].Bytes - minB[i];
                long units = (ex + unit - 1) / unit;
                w[i][k] = units > cap ? -1 : (int)units;
            }
        }
        var dp = new double[cap + 1];
        var nd = new double[cap + 1];
        var pick = new byte[n, cap + 1];
        // dp[c] = least cost of the items so far using at most c units.
        Array.Fill(dp, 0.0);
        for (int i = 0; i < n; i++)
        {
            Array.Fill(nd, double.PositiveInfinity);
            var opts = items[i];
            for (int k = 0; k < opts.Length; k++)
            {
                int wk = w[i][k];
                if (wk < 0) continue;
                double ck = opts[k].Cost;
                for (int c = wk; c <= cap; c++)
                {
                    double v = dp[c - wk] + ck;
                    if (v < nd[c]) { nd[c] = v; pick[i, c] = (byte)k; }
                }
            }
            (dp, nd) = (nd, dp);
        }
        if (double.IsPositiveInfinity(dp[cap])) return null;
        var choice = new int[n];
        int cc = cap;
        for (int i = n - 1; i >= 0; i--)
        {
            int k = pick[i, cc];
            choice[i] = k;
            cc -= w[i][k];
        }
        long bytes = 0; double cost = 0;
        for (int i = 0; i < n; i++) { bytes += items[i][choice[i]].Bytes; cost += items[i][choice[i]].Cost; }
        return new MixSolution { Choice = choice, Bytes = bytes, Cost = cost, Lambda = 0, Method = "dp", Unit = unit };
    }

    private static long Gcd(long a, long b)
    {
        while (b != 0) (a, b) = (b, a % b);
        return Math.Abs(a);
    }
}
