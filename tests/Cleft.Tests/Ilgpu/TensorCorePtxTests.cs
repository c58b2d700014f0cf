using System.Text.RegularExpressions;
using Cleft.Kernels;
using Cleft.Kernels.Ilgpu;

namespace Cleft.Tests.Ilgpu;

// The tensor-core GEMM really reaches the tensor cores: its PTX carries the mma.sync instructions, its sm_90 SASS
// main loop is HMMA-bound with no local memory, and that loop buys at least 4x the math per issued instruction of
// the fp32 kernel's (issue 8's "done when"). SASS checks need cuobjdump and nvdisasm next to ptxas.
public sealed partial class PtxTests
{
    const string MmaKernel = "gemm_bf16_mma", Fp32Kernel = "gemm";
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
    public void TensorCoreGemmSassMainLoopIsHmmaWithoutLocalMemory()
    {
        string tools = SassTools();
        var loop = Sass.MainLoop(Sass.Parse(Sass.Disassemble(tools, MmaKernel, out var report)));
        var fp32 = Sass.MainLoop(Sass.Parse(Sass.Disassemble(tools, Fp32Kernel, out _)));
        output.WriteLine($"{MmaKernel}: {report.Registers} registers, {report.SharedBytes} bytes shared; {loop}");
        output.WriteLine($"{Fp32Kernel}: {fp32}");
        Assert.NotNull(loop);
        Assert.NotNull(fp32);
        Assert.True(report.StackFrame == 0 && report.SpillStores == 0 && report.SpillLoads == 0,
            $"{MmaKernel} spills on sm_90: {report.StackFrame} bytes stack frame, {report.SpillStores}/{report.SpillLoads} bytes spill stores/loads");
        // ptxas may unroll the K loop, so a multiple of one slab's MMAs.
        Assert.True(loop["HMMA"] >= MmasPerStep && loop["HMMA"] % MmasPerStep == 0, $"main loop has {loop["HMMA"]} HMMA, expected a multiple of {MmasPerStep}");
        Assert.Equal(0, loop["STL/LDL"]);
        Assert.True(loop.WorkPerInstruction >= 4 * fp32.WorkPerInstruction,
            $"{MmaKernel} main loop: {loop.WorkPerInstruction:F1} FMAs per instruction, under 4x {Fp32Kernel}'s {fp32.WorkPerInstruction:F1}");
    }

    /// <summary>The loop finder on a hand-written listing: nested loops, a math-free loop and the trailing self-branch.</summary>
    [Fact]
    public void SassParserPicksTheInnermostLoopWithTheMostMath()
    {
        const string listing = """
                    /*0000*/                   LDC R1, c[0x0][0x28] ;        /* 0x00000a00ff017b82 */
                    /*0010*/                   LDG.E R2, desc[UR4][R2.64] ;  /* 0x0 */
                    /*0020*/              @!P0 BRA 0x10 ;                    /* 0x0 */
                    /*0030*/                   STS [R3], R2 ;                /* 0x0 */
                    /*0040*/                   BAR.SYNC 0x0 ;                /* 0x0 */
                    /*0050*/                   LDS R4, [R3] ;                /* 0x0 */
                    /*0060*/                   HMMA.16816.F32.BF16 R8, R4, R6, R8 ;  /* 0x0 */
                    /*0070*/                   FFMA R9, R4, R5, R9 ;         /* 0x0 */
                    /*0080*/               @P1 BRA 0x50 ;                    /* 0x0 */
                    /*0090*/                   STL [R1], R9 ;                /* 0x0 */
                    /*00a0*/               @P2 BRA 0x30 ;                    /* 0x0 */
                    /*00b0*/                   EXIT ;                        /* 0x0 */
                    /*00c0*/                   BRA 0xc0;                     /* 0x0 */
            """;
        var code = Sass.Parse(listing);
        Assert.Equal(13, code.Count);
        var loop = Sass.MainLoop(code);
        Assert.NotNull(loop);
        // 0x30-0xa0 has the same math but is longer: the inner 0x50-0x80 wins.
        Assert.Equal((0x50, 0x80, 4), (loop.Start, loop.End, loop.Instructions));
        Assert.Equal((1, 1, 1, 0, 1), (loop["HMMA"], loop["FFMA"], loop["LDS/LDSM"], loop["STL/LDL"], loop["other"]));
        Assert.Equal(2048 + 32, loop.Work);
        Assert.Equal(1024, Sass.Work("HMMA.1688.F32.TF32"));
        Assert.Null(Sass.MainLoop(code.Where(i => i.Opcode is not ("HMMA.16816.F32.BF16" or "FFMA")).ToList()));
    }

    static string SassTools()
    {
        string? tools = Sass.Tools(out string why);
        if (tools is null && Environment.GetEnvironmentVariable("CLEFT_REQUIRE_PTXAS") == "1") Assert.Fail(why + " (CLEFT_REQUIRE_PTXAS=1)");
        Skip.If(tools is null, why);
        return tools!;
    }
}
