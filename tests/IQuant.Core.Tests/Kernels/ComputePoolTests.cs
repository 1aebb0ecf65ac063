using IQuant.Core.Kernels;

namespace IQuant.Core.Tests.Kernels;

public class ComputePoolTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void For_CoversEveryItemOnce(int threads)
    {
        using var pool = new ComputePool(threads);
        Assert.Equal(threads, pool.Threads);
        foreach (int count in new[] { 0, 1, 2, 7, 64, 1000, 4097 })
            foreach (int grain in new[] { 1, 4, 16 })
                for (int rep = 0; rep < 3; rep++)
                {
                    var hits = new int[count];
                    pool.For(count, (s, e) => { for (int i = s; i < e; i++) Interlocked.Increment(ref hits[i]); }, grain);
                    Assert.All(hits, h => Assert.Equal(1, h));
                }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void Run_ManySmallJobs_EveryItemOnce(int threads)
    {
        using var pool = new ComputePool(threads) { SpinMicroseconds = 50 };
        var job = new CountJob();
        for (int rep = 0; rep < 20000; rep++)
        {
            int count = 2 + rep % 13;
            job.Reset(count);
            pool.Run(job, count, 1);
            for (int i = 0; i < count; i++)
                if (job.Hits[i] != 1) Assert.Fail($"rep {rep}: item {i} hit {job.Hits[i]} times");
        }
    }

    private sealed class CountJob : ComputeJob
    {
        public int[] Hits = new int[16];
        public void Reset(int count) => Array.Clear(Hits, 0, count);
        public override void Execute(int start, int end, int worker)
        {
            for (int i = start; i < end; i++) Interlocked.Increment(ref Hits[i]);
        }
    }

    [Fact]
    public void For_AfterParking_StillRuns()
    {
        using var pool = new ComputePool(2) { SpinMicroseconds = 10 };
        for (int rep = 0; rep < 5; rep++)
        {
            Thread.Sleep(20);
            long sum = 0;
            pool.For(100, (s, e) => { for (int i = s; i < e; i++) Interlocked.Add(ref sum, i); });
            Assert.Equal(4950, sum);
        }
    }

    [Fact]
    public void For_PropagatesExceptions()
    {
        using var pool = new ComputePool(2);
        Assert.Throws<InvalidOperationException>(() => pool.For(100, (s, e) => { if (s <= 50 && 50 < e) throw new InvalidOperationException(); }));
        long sum = 0;
        pool.For(10, (s, e) => { for (int i = s; i < e; i++) Interlocked.Add(ref sum, i); });
        Assert.Equal(45, sum);
    }

    [Fact]
    public void For_NestedCallRunsInline()
    {
        using var pool = new ComputePool(2);
        long sum = 0;
        pool.For(8, (s, e) =>
        {
            for (int i = s; i < e; i++) pool.For(10, (a, b) => { for (int j = a; j < b; j++) Interlocked.Add(ref sum, j); });
        });
        Assert.Equal(8 * 45, sum);
    }
}
