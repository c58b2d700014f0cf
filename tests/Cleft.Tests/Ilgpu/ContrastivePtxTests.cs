using System.Diagnostics;
using System.Text.RegularExpressions;
using Cleft.Kernels;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using Xunit.Abstractions;

namespace Cleft.Tests.Ilgpu;

/// <summary>
/// The similarity-loss, L2-normalise and optimizer kernels compile to PTX (ISA 7.8, which ptxas 11.8
/// accepts) and, where ptxas is available (CLEFT_PTXAS, or .tools/cuda/ptxas above the working directory),
/// assemble for sm_80 and sm_90 without spills; registers and shared memory go to the test log.
/// </summary>
public sealed class ContrastivePtxTests(ITestOutputHelper output)
{
    public static TheoryData<string> Names() => new(ContrastiveKernelCases.Cases.Keys);

    [Theory]
    [MemberData(nameof(Names))]
    public void CompilesAndAssemblesWithoutSpills(string name)
    {
        var info = KernelCatalog.Get(name);
        string ptx = Compile(info);
        Assert.Contains(".entry", ptx);
        string? ptxas = FindPtxas();
        if (ptxas is null) { output.WriteLine("ptxas not found: PTX compiled, assembly not checked"); return; }
        string file = Path.Combine(Path.GetTempPath(), $"cleft-{name}-{Environment.ProcessId}.ptx");
        File.WriteAllText(file, ptx);
        try
        {
            foreach (var arch in new[] { "sm_80", "sm_90" })
            {
                var psi = new ProcessStartInfo(ptxas) { RedirectStandardError = true, RedirectStandardOutput = true };
                foreach (var a in new[] { $"-arch={arch}", "-v", file, "-o", file + ".cubin" }) psi.ArgumentList.Add(a);
                using var p = Process.Start(psi)!;
                string log = p.StandardError.ReadToEnd() + p.StandardOutput.ReadToEnd();
                p.WaitForExit();
                Assert.True(p.ExitCode == 0, $"ptxas {arch} failed for {name}: {log}");
                foreach (var line in log.Split('\n').Where(l => l.Contains("Used") || l.Contains("spill")))
                    output.WriteLine($"{name} {arch}: {line.Trim()}");
                foreach (Match m in Regex.Matches(log, @"(\d+) bytes spill stores, (\d+) bytes spill loads"))
                    Assert.True(m.Groups[1].Value == "0" && m.Groups[2].Value == "0", $"{name} spills on {arch}: {m.Value}");
            }
        }
        finally { File.Delete(file); File.Delete(file + ".cubin"); }
    }

    static string Compile(Cleft.Kernels.KernelInfo info)
    {
        using var context = Context.Create(b => b.CPU().EnableAlgorithms().Optimize(OptimizationLevel.O2));
        var arch = CudaArchitecture.SM_80;
        using var backend = new PTXBackend(context, new CudaCapabilityContext(arch), arch, CudaInstructionSet.ISA_78, nvvmAPI: null);
        var entry = info.Grouping == KernelGrouping.Explicit
            ? EntryPointDescription.FromExplicitlyGroupedKernel(info.Method)
            : EntryPointDescription.FromImplicitlyGroupedKernel(info.Method);
        return ((PTXCompiledKernel)backend.Compile(entry, new KernelSpecialization())).PTXAssembly;
    }

    static string? FindPtxas()
    {
        string? env = Environment.GetEnvironmentVariable("CLEFT_PTXAS");
        if (!string.IsNullOrEmpty(env) && File.Exists(env)) return env;
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir != null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, ".tools", "cuda", "ptxas");
                if (File.Exists(candidate)) return candidate;
            }
        return null;
    }
}
