using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Cleft.Tests.Ilgpu;

/// <summary>One SASS instruction: its address, opcode with modifiers (e.g. HMMA.16816.F32.BF16) and, for a branch, its target.</summary>
public sealed record SassInstruction(int Address, string Opcode, int? Target);

/// <summary>
/// The instruction mix of a kernel's main loop. Work counts multiply-adds per warp-instruction: FFMA 32, HMMA
/// m16n8k16 2,048, m16n8k8 1,024; <see cref="WorkPerInstruction"/> divides their sum over the loop by the loop's
/// instruction count, so it says how much math each issue slot of the loop buys.
/// </summary>
public sealed record SassLoopMix(int Start, int End, IReadOnlyDictionary<string, int> Counts, int Instructions, long Work)
{
    /// <summary>The columns of the mix, in table order; every instruction falls in exactly one.</summary>
    public static readonly string[] Classes = ["HMMA", "FFMA", "LDS/LDSM", "LDG/LDGSTS", "STS", "BAR", "STL/LDL", "other"];

    public double WorkPerInstruction => Instructions == 0 ? 0 : (double)Work / Instructions;
    public int this[string cls] => Counts.TryGetValue(cls, out int n) ? n : 0;

    public override string ToString() =>
        $"loop 0x{Start:x}-0x{End:x}: {Instructions} instructions, " +
        string.Join(", ", Classes.Select(c => $"{c} {this[c]}")) + $", {WorkPerInstruction:F1} FMAs per instruction";
}

/// <summary>
/// sm_90 SASS of catalogue kernels (ptxas + cuobjdump, found next to ptxas as scripts/install-ptxas.sh installs
/// them) and a reading of it: backward branches delimit loops, and the main loop is the one with the most FFMA
/// and HMMA instructions; among loops with as many (an outer loop contains its inner loops' instructions), the
/// shortest, i.e. the innermost.
/// </summary>
public sealed partial class PtxTests
{
    internal static partial class Sass
    {
        static readonly Dictionary<string, string> _cache = [];

        /// <summary>The directory holding ptxas, cuobjdump and nvdisasm, or null with the reason.</summary>
        public static string? Tools(out string why)
        {
            string? ptxas = Ptxas.Locate();
            string? dir = ptxas is null ? null : Path.GetDirectoryName(ptxas);
            why = "";
            if (dir is not null && File.Exists(Path.Combine(dir, "cuobjdump")) && File.Exists(Path.Combine(dir, "nvdisasm"))) return dir;
            why = "ptxas, cuobjdump and nvdisasm not found together (CLEFT_PTXAS, <repo>/.tools/cuda or PATH; scripts/install-ptxas.sh installs all three)";
            return null;
        }

        /// <summary>Assembles the kernel's sm_90 PTX (ptxas -v, so <paramref name="report"/> has registers and spills) and disassembles it.</summary>
        public static string Disassemble(string tools, string kernel, out PtxasResult report)
        {
            string dir = Directory.CreateTempSubdirectory("cleft-sass-").FullName;
            try
            {
                string file = Path.Combine(dir, $"{kernel}.sm_90.ptx");
                File.WriteAllText(file, PtxCache.Get("sm_90", kernel));
                report = Ptxas.Assemble(Path.Combine(tools, "ptxas"), "sm_90", file);
                Assert.True(report.ExitCode == 0, $"ptxas failed on {kernel} (sm_90):\n{report.Log}");
                lock (_cache)
                    if (_cache.TryGetValue(kernel, out string? cached)) return cached;
                var psi = new ProcessStartInfo(Path.Combine(tools, "cuobjdump")) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                // cuobjdump runs nvdisasm, which it looks up on PATH.
                psi.Environment["PATH"] = tools + Path.PathSeparator + Environment.GetEnvironmentVariable("PATH");
                psi.ArgumentList.Add("-sass");
                psi.ArgumentList.Add(Path.ChangeExtension(file, ".cubin"));
                using var p = Process.Start(psi)!;
                var err = p.StandardError.ReadToEndAsync();
                string sass = p.StandardOutput.ReadToEnd();
                p.WaitForExit();
                Assert.True(p.ExitCode == 0, $"cuobjdump -sass failed on {kernel} (exit {p.ExitCode}): {err.Result}");
                lock (_cache) _cache[kernel] = sass;
                return sass;
            }
            finally
            {
                Directory.Delete(dir, recursive: true);
            }
        }

        /// <summary>The instructions of cuobjdump -sass output, in address order.</summary>
        public static List<SassInstruction> Parse(string sass)
        {
            var list = new List<SassInstruction>();
            foreach (Match m in InstructionRegex().Matches(sass))
            {
                var target = BranchRegex().Match(m.Groups["rest"].Value);
                list.Add(new SassInstruction(Hex(m.Groups["addr"].Value), m.Groups["op"].Value,
                    m.Groups["op"].Value.StartsWith("BRA", StringComparison.Ordinal) && target.Success ? Hex(target.Groups[1].Value) : null));
            }
            return list;
        }

        /// <summary>The main loop's mix, or null when no loop has an FFMA or HMMA.</summary>
        public static SassLoopMix? MainLoop(IReadOnlyList<SassInstruction> code)
        {
            SassLoopMix? best = null;
            foreach (var branch in code)
            {
                // A backward branch closes a loop; a branch to itself is the trailing trap after EXIT.
                if (branch.Target is not int start || start >= branch.Address) continue;
                var mix = Mix(code.Where(i => i.Address >= start && i.Address <= branch.Address), start, branch.Address);
                int math = mix["FFMA"] + mix["HMMA"];
                if (math == 0) continue;
                int bestMath = best is null ? 0 : best["FFMA"] + best["HMMA"];
                if (best is null || math > bestMath || (math == bestMath && mix.Instructions < best.Instructions)) best = mix;
            }
            return best;
        }

        static SassLoopMix Mix(IEnumerable<SassInstruction> loop, int start, int end)
        {
            var counts = new Dictionary<string, int>();
            int n = 0;
            long work = 0;
            foreach (var i in loop)
            {
                string cls = Classify(i.Opcode);
                counts[cls] = counts.GetValueOrDefault(cls) + 1;
                work += Work(i.Opcode);
                n++;
            }
            return new SassLoopMix(start, end, counts, n, work);
        }

        public static string Classify(string op)
        {
            string head = op.Split('.')[0];
            return head switch
            {
                "HMMA" => "HMMA",
                "FFMA" => "FFMA",
                "LDS" or "LDSM" => "LDS/LDSM",
                "LDG" or "LDGSTS" => "LDG/LDGSTS",
                "STS" => "STS",
                "BAR" => "BAR",
                "STL" or "LDL" => "STL/LDL",
                _ => "other",
            };
        }

        /// <summary>Multiply-adds one warp-instruction performs: 32 lanes for FFMA, m n k for HMMA.mnk.</summary>
        public static long Work(string op)
        {
            if (op == "FFMA" || op.StartsWith("FFMA.", StringComparison.Ordinal)) return 32;
            var h = HmmaShapeRegex().Match(op);
            if (!h.Success) return 0;
            return 16L * 8 * int.Parse(h.Groups[1].Value, CultureInfo.InvariantCulture);
        }

        static int Hex(string s) => int.Parse(s, NumberStyles.HexNumber, CultureInfo.InvariantCulture);

        // "        /*0fb0*/               @P0 BRA 0x2a00 ;     /* 0x... */": address, optional predicate, opcode, operands.
        [GeneratedRegex(@"^\s*/\*(?<addr>[0-9a-f]{4,})\*/\s+(?:@!?U?P[T0-9]\s+)?(?<op>[A-Z][A-Z0-9_.]*)(?<rest>[^;\n]*);", RegexOptions.Multiline)]
        private static partial Regex InstructionRegex();

        [GeneratedRegex(@"0x([0-9a-f]+)")]
        private static partial Regex BranchRegex();

        /// <summary>The m16n8kK shapes: HMMA.16816 (k 16) and HMMA.1688 (k 8).</summary>
        [GeneratedRegex(@"^HMMA\.168(16|8)(?:\.|$)")]
        private static partial Regex HmmaShapeRegex();
    }
}
