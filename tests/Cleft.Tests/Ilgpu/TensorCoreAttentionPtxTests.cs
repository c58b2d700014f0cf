using Cleft.Kernels.Ilgpu;

namespace Cleft.Tests.Ilgpu;

// The tensor-core attention kernels reach the tensor cores with nothing in local memory: ptxas 11.8 for sm_90 reports
// no spills and no stack frame, the main loop of each kernel's SASS has HMMA.16816.F32.BF16, and no STL/LDL appears
// anywhere in the kernel. Prints registers, shared bytes and the main loop's mix (the shared Sass reader, Sass.cs).
public sealed partial class PtxTests
{
    public static TheoryData<string> TensorCoreAttentionKernels => new()
    {
        TensorCoreAttentionLaunch.ForwardKernel, TensorCoreAttentionLaunch.KeyValueKernel, TensorCoreAttentionLaunch.QueryKernel,
    };

    [SkippableTheory]
    [MemberData(nameof(TensorCoreAttentionKernels))]
    public void TensorCoreAttentionRunsHmmaWithoutLocalMemory(string kernel)
    {
        string tools = SassTools();
        var code = Sass.Parse(Sass.Disassemble(tools, kernel, out var report));
        var loop = Sass.MainLoop(code);
        output.WriteLine($"{kernel} sm_90: {report.Registers} registers, {report.SharedBytes} bytes shared; {loop}");
        Assert.True(report.StackFrame == 0 && report.SpillStores == 0 && report.SpillLoads == 0,
            $"{kernel} spills on sm_90: {report.StackFrame} bytes stack frame, {report.SpillStores}/{report.SpillLoads} bytes spill stores/loads");
        Assert.NotNull(loop);
        Assert.True(loop["HMMA"] > 0, $"{kernel}: no HMMA in the main loop ({loop})");
        int local = code.Count(i => Sass.Classify(i.Opcode) == "STL/LDL");
        Assert.True(local == 0, $"{kernel}: {local} STL/LDL in the SASS");
    }
}
