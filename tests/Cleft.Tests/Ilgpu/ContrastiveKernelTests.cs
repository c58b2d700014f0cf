using Cleft.Kernels;
using ILGPU;
using ILGPU.Runtime.CPU;

namespace Cleft.Tests.Ilgpu;

/// <summary>
/// Runs <see cref="ContrastiveKernelCases"/> on ILGPU's CPU accelerator (Nvidia-like: 32-wide warps, groups up
/// to 1024 threads), and checks that every catalogue kernel of these families has a case.
/// </summary>
public sealed class ContrastiveKernelTests : IDisposable
{
    static readonly string[] Families = ["similarity_", "l2_normalize", "adamw_", "sgd_", "clamp", "sum_squares", "clip_"];

    readonly Context _context = Context.Create(b => b.CPU(CPUDeviceKind.Nvidia).EnableAlgorithms());
    readonly ILGPU.Runtime.Accelerator _acc;

    public ContrastiveKernelTests() => _acc = _context.CreateCPUAccelerator(0);

    public static TheoryData<string> Names() => new(ContrastiveKernelCases.Cases.Keys);

    [Theory]
    [MemberData(nameof(Names))]
    public void IlgpuCpuAcceleratorMatchesManaged(string kernel)
    {
        KernelCatalog.Get(kernel); // the case must name a real catalogue kernel
        ContrastiveKernelCases.Cases[kernel](_acc);
    }

    [Fact]
    public void EveryKernelOfTheseFamiliesHasACase()
    {
        var missing = KernelCatalog.All.Where(k => Families.Any(f => k.Name.StartsWith(f, StringComparison.Ordinal)))
            .Select(k => k.Name).Where(n => !ContrastiveKernelCases.Cases.ContainsKey(n)).ToList();
        Assert.True(missing.Count == 0, $"kernels without an ILGPU-vs-managed case: {string.Join(", ", missing)}");
    }

    public void Dispose()
    {
        _acc.Dispose();
        _context.Dispose();
    }
}
