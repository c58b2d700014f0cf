using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Cleft.Kernels;
using Cleft.Kernels.Ilgpu;
using Cleft.Train;
using Xunit.Abstractions;

namespace Cleft.Tests.Ilgpu;

/// <summary>
/// Offline CUDA checks, no GPU needed: every catalogue kernel compiles to PTX for sm_80 and sm_90, and ptxas
/// 11.8 assembles each with no errors, no stack frame and no register spills — every kernel, so a new one
/// that spills fails here without a test of its own. Without ptxas the assembly test is
/// skipped, unless CLEFT_REQUIRE_PTXAS=1 (CI), where a missing ptxas is a failure.
/// </summary>
[Collection(IlgpuCollection.Name)]
public sealed partial class PtxTests(ITestOutputHelper output)
{
    public static IEnumerable<object[]> KernelsByArch =>
        from a in PtxCompiler.Architectures from k in KernelCatalog.All select new object[] { k.Name, a };

    [Theory]
    [MemberData(nameof(KernelsByArch))]
    public void KernelCompilesToPtx(string kernel, string arch)
    {
        string ptx = PtxCache.Get(arch, kernel);
        Assert.Contains(".version 7.8", ptx);
        Assert.Contains(".visible .entry", ptx);
    }

    [SkippableFact]
    public void PtxasAssemblesEveryKernelWithoutSpills()
    {
        string? ptxas = Ptxas.Locate();
        if (ptxas is null)
        {
            const string why = "ptxas not found (CLEFT_PTXAS, <repo>/.tools/cuda/ptxas or PATH); run scripts/install-ptxas.sh";
            if (Environment.GetEnvironmentVariable("CLEFT_REQUIRE_PTXAS") == "1") Assert.Fail(why + " (CLEFT_REQUIRE_PTXAS=1)");
            Skip.If(true, why);
        }

        string dir = Directory.CreateTempSubdirectory("cleft-ptxas-").FullName;
        try
        {
            var errors = new List<string>();
            output.WriteLine($"{"kernel",-24} | arch  | registers | shared bytes | spill stores/loads");
            foreach (string arch in PtxCompiler.Architectures)
                foreach (var k in KernelCatalog.All)
                {
                    string file = Path.Combine(dir, $"{k.Name}.{arch}.ptx");
                    File.WriteAllText(file, PtxCache.Get(arch, k.Name));
                    var r = Ptxas.Assemble(ptxas!, arch, file);
                    output.WriteLine($"{k.Name,-24} | {arch} | {r.Registers,9} | {r.SharedBytes,12} | {r.SpillStores}/{r.SpillLoads}");
                    if (r.ExitCode != 0 || r.Log.Contains("error", StringComparison.OrdinalIgnoreCase))
                        errors.Add($"{k.Name} ({arch}): ptxas exit {r.ExitCode}\n{r.Log}");
                    else if (r.Registers is null)
                        errors.Add($"{k.Name} ({arch}): no register report in ptxas -v output\n{r.Log}");
                    else if (r.SpillStores != 0 || r.SpillLoads != 0 || r.StackFrame != 0)
                        errors.Add($"{k.Name} ({arch}) spills: {r.StackFrame} bytes stack frame, {r.SpillStores} bytes spill stores, {r.SpillLoads} bytes spill loads");
                }
            Assert.True(errors.Count == 0, string.Join("\n", errors));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void PtxCommandWritesOnePtxFilePerKernel()
    {
        string dir = Directory.CreateTempSubdirectory("cleft-ptx-").FullName;
        try
        {
            var stdout = new StringWriter(); var stderr = new StringWriter();
            int rc = PtxCommand.Run(["--arch", "sm_90", "--out", dir], stdout, stderr);
            Assert.True(rc == 0, stderr.ToString());
            foreach (var k in KernelCatalog.All)
                Assert.True(File.Exists(Path.Combine(dir, $"{k.Name}.sm_90.ptx")), $"missing {k.Name}.sm_90.ptx");
            Assert.Equal(KernelCatalog.All.Count, Directory.GetFiles(dir, "*.ptx").Length);
            Assert.Contains("gemm", stdout.ToString());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("--arch", "sm_75", "--out", "x")]
    [InlineData("--arch", "sm_80")]
    [InlineData("--out")]
    [InlineData("--frobnicate", "1", "--out", "x")]
    public void PtxCommandRejectsBadArgumentsWithExitCode2(params string[] args)
    {
        var stderr = new StringWriter();
        Assert.Equal(2, PtxCommand.Run(args, TextWriter.Null, stderr));
        Assert.StartsWith("cleft ptx: ", stderr.ToString());
    }

    /// <summary>PTX of every kernel, compiled once per architecture for the whole test run.</summary>
    static class PtxCache
    {
        static readonly Dictionary<string, Dictionary<string, string>> _byArch = [];

        public static string Get(string arch, string kernel)
        {
            Dictionary<string, string> all;
            lock (_byArch)
            {
                if (!_byArch.TryGetValue(arch, out all!))
                {
                    all = [];
                    using var compiler = new PtxCompiler(arch);
                    foreach (var k in KernelCatalog.All)
                    {
                        // A kernel that fails to compile fails its own theory case, not everyone's.
                        try { all[k.Name] = compiler.Compile(k); }
                        catch (InvalidOperationException e) { all[k.Name] = "!" + e.Message; }
                    }
                    _byArch[arch] = all;
                }
            }
            string ptx = all[kernel];
            if (ptx.StartsWith('!')) Assert.Fail(ptx[1..]);
            return ptx;
        }
    }

    public sealed record PtxasResult(int ExitCode, string Log, int? Registers, int SharedBytes, int StackFrame, int SpillStores, int SpillLoads);

    /// <summary>Finds and runs ptxas and reads its -v report.</summary>
    static partial class Ptxas
    {
        public static string? Locate()
        {
            string? env = Environment.GetEnvironmentVariable("CLEFT_PTXAS");
            if (!string.IsNullOrEmpty(env)) return File.Exists(env) ? env : null;
            string repoTool = Path.Combine(RepoRoot(), ".tools", "cuda", "ptxas");
            if (File.Exists(repoTool)) return repoTool;
            foreach (string d in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
                if (File.Exists(Path.Combine(d, "ptxas"))) return Path.Combine(d, "ptxas");
            return null;
        }

        // Builds may be relocated (CLEFT_BUILD_ROOT), so the repository is found from this source file's path.
        static string RepoRoot([CallerFilePath] string here = "") =>
            Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", ".."));

        public static PtxasResult Assemble(string ptxas, string arch, string ptxFile)
        {
            var psi = new ProcessStartInfo(ptxas) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (string a in new[] { $"-arch={arch}", "-v", ptxFile, "-o", Path.ChangeExtension(ptxFile, ".cubin") }) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            string log = p.StandardOutput.ReadToEnd() + stderr.Result;
            p.WaitForExit();
            var used = UsedRegex().Match(log);
            var spill = SpillRegex().Match(log);
            return new PtxasResult(p.ExitCode, log,
                used.Success ? int.Parse(used.Groups[1].Value) : null,
                used.Success && used.Groups[2].Success ? int.Parse(used.Groups[2].Value) : 0,
                spill.Success ? int.Parse(spill.Groups[1].Value) : -1,
                spill.Success ? int.Parse(spill.Groups[2].Value) : -1,
                spill.Success ? int.Parse(spill.Groups[3].Value) : -1);
        }

        [GeneratedRegex(@"Used (\d+) registers(?:, (\d+) bytes smem)?")]
        private static partial Regex UsedRegex();

        [GeneratedRegex(@"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")]
        private static partial Regex SpillRegex();
    }
}
