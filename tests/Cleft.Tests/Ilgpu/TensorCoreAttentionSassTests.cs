using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Cleft.Kernels;
using Cleft.Kernels.Ilgpu;
using Xunit.Abstractions;

namespace Cleft.Tests.Ilgpu;

/// <summary>
/// The tensor-core attention kernels reach the tensor cores with nothing in local memory: ptxas 11.8 for sm_90
/// reports no spills and no stack frame, and the SASS (cuobjdump) of each kernel's main loop — the outermost
/// backward branch that encloses HMMA — has HMMA.16816.F32.BF16 and no STL/LDL anywhere in the kernel. Prints
/// registers, shared bytes and the main loop's static instruction mix. Skipped without ptxas, cuobjdump and nvdisasm
/// (CLEFT_PTXAS or &lt;repo&gt;/.tools/cuda, which scripts/install-ptxas.sh fills).
/// </summary>
public sealed partial class TensorCoreAttentionSassTests(ITestOutputHelper output)
{
    public static TheoryData<string> Kernels => new()
    {
        TensorCoreAttentionLaunch.ForwardKernel, TensorCoreAttentionLaunch.KeyValueKernel, TensorCoreAttentionLaunch.QueryKernel,
    };

    [SkippableTheory]
    [MemberData(nameof(Kernels))]
    public void MainLoopRunsHmmaWithoutLocalMemory(string kernel)
    {
        string? tools = Tools();
        Skip.If(tools is null, "ptxas, cuobjdump and nvdisasm not found (CLEFT_PTXAS or <repo>/.tools/cuda; scripts/install-ptxas.sh)");
        string dir = Directory.CreateTempSubdirectory("cleft-tc-attn-").FullName;
        try
        {
            string ptx = Path.Combine(dir, kernel + ".ptx"), cubin = Path.ChangeExtension(ptx, ".cubin");
            using (var compiler = new PtxCompiler("sm_90")) File.WriteAllText(ptx, compiler.Compile(KernelCatalog.Get(kernel)));
            string log = Tool(tools!, "ptxas", "-arch=sm_90", "-v", ptx, "-o", cubin);
            string sass = Tool(tools!, "cuobjdump", "-sass", cubin);

            var used = Regex.Match(log, @"Used (\d+) registers(?:, (\d+) bytes smem)?");
            var spill = Regex.Match(log, @"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads");
            Assert.True(used.Success && spill.Success, $"no register / spill report from ptxas:\n{log}");
            var code = Instructions(sass);
            var loop = MainLoop(code);
            var mix = loop.GroupBy(Category).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key} {g.Count()}");
            output.WriteLine($"{kernel} sm_90: {used.Groups[1].Value} registers, {(used.Groups[2].Success ? used.Groups[2].Value : "0")} bytes shared, " +
                $"stack/spill {spill.Groups[1].Value}/{spill.Groups[2].Value}/{spill.Groups[3].Value}; kernel {code.Count} instructions, " +
                $"main loop {loop.Count}: {string.Join(", ", mix)}");

            Assert.True(spill.Groups[1].Value == "0" && spill.Groups[2].Value == "0" && spill.Groups[3].Value == "0", $"{kernel} spills:\n{log}");
            Assert.True(loop.Count(i => i.Op.StartsWith("HMMA.16816.F32.BF16", StringComparison.Ordinal)) > 0, $"{kernel}: no HMMA.16816.F32.BF16 in the main loop");
            int local = code.Count(i => i.Op.StartsWith("STL", StringComparison.Ordinal) || i.Op.StartsWith("LDL", StringComparison.Ordinal));
            Assert.True(local == 0, $"{kernel}: {local} STL/LDL in the SASS");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    sealed record Instruction(int Address, string Op, int? BranchTarget);

    /// <summary>SASS lines "/*0a30*/  @!P0 BRA 0x3f0 ;" as (address, opcode, branch target).</summary>
    static List<Instruction> Instructions(string sass)
    {
        var list = new List<Instruction>();
        foreach (Match m in SassLine().Matches(sass))
        {
            string op = m.Groups[2].Value;
            var target = op == "BRA" ? BranchTarget().Match(m.Groups[3].Value) : Match.Empty;
            list.Add(new Instruction(int.Parse(m.Groups[1].Value, NumberStyles.HexNumber), op,
                target.Success ? int.Parse(target.Groups[1].Value, NumberStyles.HexNumber) : null));
        }
        return list;
    }

    /// <summary>The instructions of the widest loop (backward branch) that contains an HMMA; empty when there is none.</summary>
    static List<Instruction> MainLoop(List<Instruction> code)
    {
        List<Instruction> best = [];
        foreach (var branch in code.Where(i => i.BranchTarget is { } t && t < i.Address))
        {
            var body = code.Where(i => i.Address >= branch.BranchTarget && i.Address <= branch.Address).ToList();
            if (body.Any(i => i.Op.StartsWith("HMMA", StringComparison.Ordinal)) && body.Count > best.Count) best = body;
        }
        return best;
    }

    static string Category(Instruction i)
    {
        string op = i.Op.Split('.')[0];
        return op switch
        {
            "HMMA" or "FFMA" or "FADD" or "FMUL" or "FMNMX" or "MUFU" or "LDS" or "STS" or "LDG" or "STG" or "LDL" or "STL" or "BAR" or "SHFL" or "F2FP" => op,
            _ => "other",
        };
    }

    [GeneratedRegex(@"/\*([0-9a-f]{4,})\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]*)([^;]*);")]
    private static partial Regex SassLine();

    [GeneratedRegex(@"0x([0-9a-f]+)")]
    private static partial Regex BranchTarget();

    /// <summary>The folder holding ptxas, cuobjdump and nvdisasm, or null.</summary>
    static string? Tools([CallerFilePath] string here = "")
    {
        string? env = Environment.GetEnvironmentVariable("CLEFT_PTXAS");
        string dir = !string.IsNullOrEmpty(env) ? Path.GetDirectoryName(env)! : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", "..", ".tools", "cuda"));
        return new[] { "ptxas", "cuobjdump", "nvdisasm" }.All(t => File.Exists(Path.Combine(dir, t))) ? dir : null;
    }

    /// <summary>Runs a tool from <paramref name="tools"/> (on PATH too: cuobjdump calls nvdisasm) and returns stdout + stderr.</summary>
    static string Tool(string tools, string name, params string[] args)
    {
        var psi = new ProcessStartInfo(Path.Combine(tools, name)) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.Environment["PATH"] = tools + Path.PathSeparator + Environment.GetEnvironmentVariable("PATH");
        foreach (string a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string text = p.StandardOutput.ReadToEnd() + err.Result;
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{name} exit {p.ExitCode}:\n{text}");
        return text;
    }
}
