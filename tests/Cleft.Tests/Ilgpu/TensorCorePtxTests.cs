using System.Diagnostics;
using System.Text.RegularExpressions;
using Cleft.Kernels;
using Cleft.Kernels.Ilgpu;

namespace Cleft.Tests.Ilgpu;

// The tensor-core GEMM really reaches the tensor cores: its PTX carries the mma.sync instructions and, where
// cuobjdump sits next to ptxas, the sm_90 SASS has the matching HMMA instructions.
public sealed partial class PtxTests
{
    const string MmaKernel = "gemm_bf16_mma";
    const string MmaPtx = "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32";
    /// <summary>The warp tile is 4 x 4 m16n8 fragments, two k steps of 16 per K slab, unrolled by hand: 32 MMAs per slab.</summary>
    const int MmasPerStep = 32;

    public static IEnumerable<object[]> Architectures => PtxCompiler.Architectures.Select(a => new object[] { a });

    [Theory]
    [MemberData(nameof(Architectures))]
    public void TensorCoreGemmEmitsBf16Mma(string arch)
    {
        string ptx = PtxCache.Get(arch, MmaKernel);
        Assert.Equal(MmasPerStep, Regex.Matches(ptx, Regex.Escape(MmaPtx)).Count);
    }

    [SkippableFact]
    public void TensorCoreGemmAssemblesToHmma()
    {
        string? ptxas = Ptxas.Locate();
        string? tools = ptxas is null ? null : Path.GetDirectoryName(ptxas)!;
        string? cuobjdump = tools is null ? null : Path.Combine(tools, "cuobjdump");
        Skip.If(tools is null || !File.Exists(cuobjdump) || !File.Exists(Path.Combine(tools, "nvdisasm")),
            "cuobjdump and nvdisasm not found next to ptxas (scripts/install-ptxas.sh installs all three)");

        string dir = Directory.CreateTempSubdirectory("cleft-hmma-").FullName;
        try
        {
            string file = Path.Combine(dir, $"{MmaKernel}.sm_90.ptx");
            File.WriteAllText(file, PtxCache.Get("sm_90", MmaKernel));
            var r = Ptxas.Assemble(ptxas!, "sm_90", file);
            Assert.True(r.ExitCode == 0, r.Log);
            var psi = new ProcessStartInfo(cuobjdump!) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            // cuobjdump runs nvdisasm, which it looks up on PATH.
            psi.Environment["PATH"] = tools + Path.PathSeparator + Environment.GetEnvironmentVariable("PATH");
            psi.ArgumentList.Add("-sass");
            psi.ArgumentList.Add(Path.ChangeExtension(file, ".cubin"));
            using var p = Process.Start(psi)!;
            var err = p.StandardError.ReadToEndAsync();
            string sass = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, $"cuobjdump exit {p.ExitCode}: {err.Result}");
            int hmma = Regex.Matches(sass, @"HMMA\.16816\.F32\.BF16").Count;
            // ptxas may unroll the k loop, so a multiple of one step's MMAs.
            Assert.True(hmma >= MmasPerStep && hmma % MmasPerStep == 0, $"{hmma} HMMA.16816.F32.BF16 in the sm_90 SASS, expected a multiple of {MmasPerStep}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
