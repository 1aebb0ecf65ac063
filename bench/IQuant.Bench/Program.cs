using BenchmarkDotNet.Running;

// Run all or some benchmarks: dotnet run -c Release --project bench/IQuant.Bench -- --filter '*Quantize*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);

public partial class Program;
