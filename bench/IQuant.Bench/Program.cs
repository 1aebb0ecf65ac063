using BenchmarkDotNet.Running;

// Micro-benchmarks (BenchmarkDotNet): dotnet run -c Release --project bench/IQuant.Bench -- --filter '*Quantize*'
// Inference speed table (llama-bench style): ... -- inference [models] [threads] [pp] [tg] [reps]
// Whole-model runs (one process each, peak working set): ... -- quantize-model <model|synthetic-f32|synthetic-f16> <FTYPE> [threads]
// All-threads wall-clock quantize/dequantize throughput: ... -- throughput IQ4_KS,IQ2_KS [rows] [threads]
// Per-thread CPU-time quantize/dequantize throughput: ... -- cputime IQ4_KS,IQ2_KS,iq2_ks-scalar [rows]
// Quick matmul timer (wall + CPU time, no BenchmarkDotNet): ... -- matvec-quick
if (args.Length > 0 && args[0] == "quantize-model") return IQuant.Bench.ModelQuantizeRun.Run(args);
if (args.Length > 0 && args[0] == "gen-calibration") return IQuant.Bench.GenCalibration.Run(args);
if (args.Length > 0 && args[0] == "inference") { IQuant.Bench.InferenceBench.Quick(args[1..]); return 0; }
if (args.Length > 0 && args[0] == "throughput") { IQuant.Bench.ThroughputReport.Run(args[1..]); return 0; }
if (args.Length > 0 && args[0] == "cputime") { IQuant.Bench.CpuTimeReport.Run(args[1..]); return 0; }
if (args.Length > 0 && args[0] == "matvec-quick") { IQuant.Bench.MatVecQuick.Run(args); return 0; }
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;

public partial class Program;
