using System.Diagnostics;
using Cleft.Kernels;
using Cleft.Kernels.Ilgpu;

namespace Cleft.Train;

/// <summary>
/// `cleft ptx --arch sm_80|sm_90 --out DIR`: compiles every catalogue kernel to PTX without a GPU and writes
/// DIR/&lt;kernel&gt;.&lt;arch&gt;.ptx, one progress line per kernel. scripts/ptxas-check.sh assembles the output.
/// Exit codes: 0 success, 1 a kernel failed to compile or a file could not be written, 2 bad arguments.
/// </summary>
public static class PtxCommand
{
    public static int Run(string[] args) => Run(args, Console.Out, Console.Error);

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        string arch = "sm_80";
        string? outDir = null;
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (a is "--help" or "-h")
            {
                output.WriteLine($"usage: cleft ptx [--arch {string.Join("|", PtxCompiler.Architectures)}] --out DIR");
                return 0;
            }
            if (a is not ("--arch" or "--out"))
                return Fail(error, $"unknown option '{a}'; usage: cleft ptx [--arch {string.Join("|", PtxCompiler.Architectures)}] --out DIR");
            if (i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                return Fail(error, $"{a} needs a value");
            string v = args[++i];
            if (a == "--arch") arch = v; else outDir = v;
        }
        if (!PtxCompiler.Architectures.Contains(arch))
            return Fail(error, $"unsupported architecture '{arch}'; expected one of: {string.Join(", ", PtxCompiler.Architectures)}");
        if (string.IsNullOrWhiteSpace(outDir)) return Fail(error, "--out DIR is required");

        try
        {
            Directory.CreateDirectory(outDir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            error.WriteLine($"cleft ptx: cannot create output directory '{outDir}': {e.Message}");
            return 1;
        }

        var kernels = KernelCatalog.All;
        output.WriteLine($"ptx: compiling {kernels.Count} kernels for {arch} (PTX ISA 7.8) into {Path.GetFullPath(outDir)}");
        var total = Stopwatch.StartNew();
        int failed = 0;
        using var compiler = new PtxCompiler(arch);
        foreach (var k in kernels)
        {
            var sw = Stopwatch.StartNew();
            string file = Path.Combine(outDir, $"{k.Name}.{arch}.ptx");
            try
            {
                string ptx = compiler.Compile(k);
                File.WriteAllText(file, ptx);
                output.WriteLine($"ptx: {k.Name,-24} -> {Path.GetFileName(file)} ({ptx.Length:N0} chars, {sw.ElapsedMilliseconds} ms)");
            }
            catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException)
            {
                failed++;
                error.WriteLine($"cleft ptx: {k.Name}: {e.Message}");
            }
        }
        if (failed > 0)
        {
            error.WriteLine($"cleft ptx: {failed} of {kernels.Count} kernels failed for {arch}");
            return 1;
        }
        output.WriteLine($"ptx: {kernels.Count} kernels written for {arch} in {total.ElapsedMilliseconds} ms");
        return 0;
    }

    static int Fail(TextWriter error, string message)
    {
        error.WriteLine($"cleft ptx: {message}");
        return 2;
    }
}
