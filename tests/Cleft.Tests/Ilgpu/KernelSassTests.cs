using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;
using System.Reflection.Emit;
using System.Text.RegularExpressions;
using Cleft.Kernels;

namespace Cleft.Tests.Ilgpu;

// Static speed checks on the machine code: every catalogue kernel's sm_90 SASS (ptxas 11.8 + cuobjdump) has no
// spills and, unless the kernel emits inline PTX (CudaAsm, whose operands ILGPU passes through local memory), no
// local-memory instructions (STL/LDL) at all. Inline-asm kernels report their count. Like the ptxas test, a missing
// toolchain skips, except under CLEFT_REQUIRE_PTXAS=1 (CI), where it fails.
public sealed partial class PtxTests
{
    const string SassArch = "sm_90";

    [SkippableFact]
    public void KernelSassHasNoSpillsAndNoLocalMemory()
    {
        string? ptxas = Ptxas.Locate();
        string? cuobjdump = ptxas is null ? null : Path.Combine(Path.GetDirectoryName(ptxas)!, "cuobjdump");
        if (cuobjdump is null || !File.Exists(cuobjdump) || !File.Exists(Path.Combine(Path.GetDirectoryName(cuobjdump)!, "nvdisasm")))
        {
            const string why = "ptxas, cuobjdump and nvdisasm not found together (CLEFT_PTXAS, <repo>/.tools/cuda or PATH); run scripts/install-ptxas.sh";
            if (Environment.GetEnvironmentVariable("CLEFT_REQUIRE_PTXAS") == "1") Assert.Fail(why + " (CLEFT_REQUIRE_PTXAS=1)");
            Skip.If(true, why);
        }

        string dir = Directory.CreateTempSubdirectory("cleft-sass-").FullName;
        try
        {
            var clock = Stopwatch.StartNew();
            PtxCache.Get(SassArch, KernelCatalog.All[0].Name); // compiles every kernel once
            var compiled = clock.Elapsed;
            var rows = new ConcurrentDictionary<string, string>();
            var errors = new ConcurrentBag<string>();
            long scanTicks = 0;
            // Two at a time: ptxas dominates and the machine is shared.
            Parallel.ForEach(KernelCatalog.All, new ParallelOptions { MaxDegreeOfParallelism = 2 }, k =>
            {
                string file = Path.Combine(dir, $"{k.Name}.{SassArch}.ptx");
                File.WriteAllText(file, PtxCache.Get(SassArch, k.Name));
                var r = Ptxas.Assemble(ptxas!, SassArch, file);
                if (r.ExitCode != 0) { errors.Add($"{k.Name}: ptxas exit {r.ExitCode}\n{r.Log}"); return; }
                string sass = Sass(cuobjdump, Path.ChangeExtension(file, ".cubin"));
                int stl = Regex.Matches(sass, @"\bSTL(\.\w+)*\s").Count, ldl = Regex.Matches(sass, @"\bLDL(\.\w+)*\s").Count;
                var scan = Stopwatch.StartNew();
                bool asm = InlineAsm.Uses(k.Method);
                Interlocked.Add(ref scanTicks, scan.ElapsedTicks);
                rows[k.Name] = $"{k.Name,-26} | {r.Registers,4} | {r.SpillStores}/{r.SpillLoads,-5} | {stl,4} | {ldl,4} | {(asm ? "yes" : "no")}";
                if (r.SpillStores != 0 || r.SpillLoads != 0)
                    errors.Add($"{k.Name}: {r.SpillStores} bytes spill stores, {r.SpillLoads} bytes spill loads ({SassArch})");
                if (!asm && stl + ldl > 0)
                    errors.Add($"{k.Name}: {stl} STL and {ldl} LDL in its {SassArch} SASS, and it has no inline asm: something it indexes dynamically lives in local memory");
            });
            output.WriteLine($"PTX {compiled.TotalSeconds:F1} s, ptxas + cuobjdump + IL scan {(clock.Elapsed - compiled).TotalSeconds:F1} s (IL scan {TimeSpan.FromTicks(scanTicks).TotalSeconds:F1} s)");
            output.WriteLine($"{"kernel",-26} | regs | spills | STL  | LDL  | inline asm ({SassArch})");
            foreach (var row in rows.OrderBy(kv => kv.Key, StringComparer.Ordinal)) output.WriteLine(row.Value);
            Assert.True(errors.IsEmpty, string.Join("\n", errors.Order()));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>The SASS of one cubin, as cuobjdump prints it (cuobjdump finds nvdisasm on PATH).</summary>
    static string Sass(string cuobjdump, string cubin)
    {
        var psi = new ProcessStartInfo(cuobjdump) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.Environment["PATH"] = Path.GetDirectoryName(cuobjdump) + Path.PathSeparator + Environment.GetEnvironmentVariable("PATH");
        psi.ArgumentList.Add("-sass");
        psi.ArgumentList.Add(cubin);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string sass = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"cuobjdump -sass {Path.GetFileName(cubin)}: exit {p.ExitCode}: {err.Result}");
        return sass;
    }

    /// <summary>
    /// Whether a kernel reaches ILGPU's CudaAsm (inline PTX): a walk of the IL of the kernel and of every method of
    /// the kernels assembly it calls, interface calls included (they may land in any implementation there).
    /// </summary>
    static class InlineAsm
    {
        static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Select(f => (OpCode)f.GetValue(null)!).GroupBy(o => o.Value).ToDictionary(g => g.Key, g => g.First());

        public static bool Uses(MethodInfo kernel)
        {
            var seen = new HashSet<MethodBase>();
            var todo = new Stack<MethodBase>([kernel]);
            var assembly = kernel.Module.Assembly;
            while (todo.Count > 0)
            {
                var m = todo.Pop();
                if (!seen.Add(m)) continue;
                foreach (var callee in Callees(m))
                {
                    if (callee.DeclaringType is not { } type) continue;
                    if (type.Name == "CudaAsm") return true;
                    if (type.Assembly != assembly) continue;
                    if (type.IsInterface)
                        foreach (var im in Implementations(type))
                            if (im.Name == callee.Name || im.Name.EndsWith("." + callee.Name, StringComparison.Ordinal)) todo.Push(im);
                    todo.Push(callee);
                }
            }
            return false;
        }

        static readonly ConcurrentDictionary<Type, MethodInfo[]> ImplementationsOf = new();

        /// <summary>Every method of every type in the interface's assembly that implements it.</summary>
        static MethodInfo[] Implementations(Type iface) => ImplementationsOf.GetOrAdd(iface, i =>
            i.Assembly.GetTypes().Where(t => !t.IsInterface && i.IsAssignableFrom(t))
                .SelectMany(t => t.GetMethods(BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
                .ToArray());

        /// <summary>Methods named by the call, callvirt, newobj and ldftn instructions of <paramref name="m"/>'s body.</summary>
        static IEnumerable<MethodBase> Callees(MethodBase m)
        {
            byte[]? il = m.GetMethodBody()?.GetILAsByteArray();
            if (il is null) yield break;
            Type[]? typeArgs = m.DeclaringType is { IsGenericType: true } dt ? dt.GetGenericArguments() : null;
            Type[]? methodArgs = m.IsGenericMethod ? m.GetGenericArguments() : null;
            for (int at = 0; at < il.Length;)
            {
                short value = il[at] == 0xFE ? unchecked((short)(0xFE00 | il[at + 1])) : il[at];
                var op = OpCodesByValue[value];
                at += op.Size;
                if (op.OperandType == OperandType.InlineMethod)
                {
                    MethodBase? callee = null;
                    try { callee = m.Module.ResolveMethod(BitConverter.ToInt32(il, at), typeArgs, methodArgs); }
                    catch (ArgumentException) { } // an open generic context it cannot close: not a kernel-assembly call
                    if (callee is not null) yield return callee;
                }
                at += OperandBytes(op, il, at);
            }
        }

        static int OperandBytes(OpCode op, byte[] il, int at) => op.OperandType switch
        {
            OperandType.InlineNone => 0,
            OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
            OperandType.InlineVar => 2,
            OperandType.InlineI8 or OperandType.InlineR => 8,
            OperandType.InlineSwitch => 4 + 4 * BitConverter.ToInt32(il, at),
            _ => 4,
        };
    }
}
