using BenchmarkDotNet.Running;

// Run all or some benchmarks: dotnet run -c Release --project bench/IQuant.Bench -- --filter '*Quantize*'
if (args.Length > 0 && args[0] == "--baseline-cputime") { IQuant.Bench.BaselineCpuTimeReport.Run(args[1..]); return; }
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);

public partial class Program;
