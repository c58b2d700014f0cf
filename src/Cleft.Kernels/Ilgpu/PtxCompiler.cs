using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// Compiles catalogue kernels to PTX with no GPU present: ILGPU's PTX backend driven directly, with the same
/// context settings as the runtime backend (<see cref="IlgpuSetup"/>). The ISA is 7.8 so the PTX is accepted by
/// ptxas 11.8 (Debian's toolkit), which is what checks registers, shared memory and spills offline. ILGPU writes
/// <c>.target</c> as the lowest architecture the kernel needs (capped at sm_80); ptxas -arch picks the real target.
/// </summary>
public sealed class PtxCompiler : IDisposable
{
    /// <summary>Architectures `cleft ptx` and the tests compile for.</summary>
    public static readonly IReadOnlyList<string> Architectures = ["sm_80", "sm_90"];

    readonly Context _context;
    readonly PTXBackend _backend;

    public PtxCompiler(string arch)
    {
        Arch = arch;
        var architecture = ParseArch(arch);
        _context = Context.Create(b => b.CPU(IlgpuSetup.CpuDevice()).Configure());
        _backend = new PTXBackend(_context, new CudaCapabilityContext(architecture), architecture, CudaInstructionSet.ISA_78, nvvmAPI: null);
    }

    public string Arch { get; }

    /// <summary>Maps "sm_80" / "sm_90" to ILGPU's architecture; anything else is an error naming the choices.</summary>
    public static CudaArchitecture ParseArch(string arch) => arch switch
    {
        "sm_80" => CudaArchitecture.SM_80,
        "sm_90" => CudaArchitecture.SM_90,
        _ => throw new ArgumentException($"unsupported architecture '{arch}'; expected one of: {string.Join(", ", Architectures)}"),
    };

    /// <summary>The PTX assembly of one catalogue kernel.</summary>
    public string Compile(KernelInfo kernel)
    {
        var entry = kernel.Grouping == KernelGrouping.Explicit
            ? EntryPointDescription.FromExplicitlyGroupedKernel(kernel.Method)
            : EntryPointDescription.FromImplicitlyGroupedKernel(kernel.Method);
        try
        {
            var compiled = (PTXCompiledKernel)_backend.Compile(entry, new KernelSpecialization());
            return compiled.PTXAssembly;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidOperationException($"kernel '{kernel.Name}' ({kernel.Method.DeclaringType?.Name}.{kernel.Method.Name}) " +
                $"does not compile to PTX for {Arch}: {e.Message}", e);
        }
    }

    public void Dispose()
    {
        _backend.Dispose();
        _context.Dispose();
    }
}
