using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;
using System.Reflection.Emit;
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
        string tools = SassTools();
        var clock = Stopwatch.StartNew();
        PtxCache.Get(SassArch, KernelCatalog.All[0].Name); // compiles every kernel once
        var compiled = clock.Elapsed;
        var rows = new ConcurrentDictionary<string, string>();
        var loops = new ConcurrentDictionary<string, string>();
        var errors = new ConcurrentBag<string>();
        // Two at a time: ptxas dominates and the machine is shared.
        Parallel.ForEach(KernelCatalog.All, new ParallelOptions { MaxDegreeOfParallelism = 2 }, k =>
        {
            var code = Sass.Parse(Sass.Disassemble(tools, k.Name, out var r));
            int local = code.Count(i => Sass.Classify(i.Opcode) == "STL/LDL");
            if (Sass.MainLoop(code) is { } loop)
                loops[k.Name] = $"| {k.Name} | {loop.Instructions} | " + string.Join(" | ", SassLoopMix.Classes.Select(c => loop[c])) +
                                $" | {local} | {loop.WorkPerInstruction:F1} |";
            bool asm = InlineAsm.Uses(k.Method);
            rows[k.Name] = $"{k.Name,-32} | {r.Registers,4} | {r.SpillStores}/{r.SpillLoads,-5} | {local,7} | {(asm ? "yes" : "no")}";
            if (r.SpillStores != 0 || r.SpillLoads != 0)
                errors.Add($"{k.Name}: {r.SpillStores} bytes spill stores, {r.SpillLoads} bytes spill loads ({SassArch})");
            if (!asm && local > 0)
                errors.Add($"{k.Name}: {local} STL/LDL in its {SassArch} SASS, and it has no inline asm: something it indexes dynamically lives in local memory");
        });
        output.WriteLine($"PTX {compiled.TotalSeconds:F1} s, ptxas + cuobjdump + IL scan {(clock.Elapsed - compiled).TotalSeconds:F1} s");
        output.WriteLine($"{"kernel",-32} | regs | spills | STL/LDL | inline asm ({SassArch})");
        foreach (var row in rows.OrderBy(kv => kv.Key, StringComparer.Ordinal)) output.WriteLine(row.Value);
        // The main-loop instruction mix of every kernel with an FFMA or HMMA loop: scripts/kernels-doc.sh sets
        // CLEFT_SASS_REPORT and puts the table in docs/KERNELS.md, so the doc and CI read SASS with the same code.
        string table = "| kernel | loop instructions | " + string.Join(" | ", SassLoopMix.Classes) + " | STL/LDL in kernel | FMAs per instruction |\n" +
                       "|---|" + string.Concat(Enumerable.Repeat("---:|", SassLoopMix.Classes.Length + 3)) + "\n" +
                       string.Concat(loops.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Value + "\n"));
        output.WriteLine(table);
        if (Environment.GetEnvironmentVariable("CLEFT_SASS_REPORT") is { Length: > 0 } report) File.WriteAllText(report, table);
        Assert.True(errors.IsEmpty, string.Join("\n", errors.Order()));
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
