using BenchmarkDotNet.Running;

// Run all or some benchmarks: dotnet run -c Release --project bench/IQuant.Bench -- --filter '*Quantize*'
// Quick matmul timer (wall + CPU time, no BenchmarkDotNet): dotnet run -c Release --project bench/IQuant.Bench -- matvec-quick
if (args.Length > 0 && args[0] == "matvec-quick") IQuant.Bench.MatVecQuick.Run(args);
else BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);

public partial class Program;
