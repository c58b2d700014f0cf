using Cleft.Kernels.Ilgpu;

namespace Cleft.Tests.Ilgpu;

public sealed partial class PtxTests
{
    static readonly string[] LoraKernels = ["gemm_half_b", "lora_down", "lora_grad_a", "lora_grad_x", "ia3_grad_l"];

    /// <summary>The LoRA / IA3 / fp16-weight kernels assemble for sm_80 and sm_90 with no stack frame and no spills.</summary>
    [SkippableFact]
    public void LoraKernelsAssembleWithoutSpills()
    {
        string? ptxas = Ptxas.Locate();
        if (ptxas is null)
        {
            const string why = "ptxas not found (CLEFT_PTXAS, <repo>/.tools/cuda/ptxas or PATH); run scripts/install-ptxas.sh";
            if (Environment.GetEnvironmentVariable("CLEFT_REQUIRE_PTXAS") == "1") Assert.Fail(why + " (CLEFT_REQUIRE_PTXAS=1)");
            Skip.If(true, why);
        }
        string dir = Directory.CreateTempSubdirectory("cleft-ptxas-lora-").FullName;
        try
        {
            var errors = new List<string>();
            foreach (string arch in PtxCompiler.Architectures)
                foreach (string name in LoraKernels)
                {
                    string file = Path.Combine(dir, $"{name}.{arch}.ptx");
                    File.WriteAllText(file, PtxCache.Get(arch, name));
                    var r = Ptxas.Assemble(ptxas!, arch, file);
                    output.WriteLine($"{name,-14} | {arch} | {r.Registers} registers | {r.SharedBytes} shared bytes | stack {r.StackFrame} | spills {r.SpillStores}/{r.SpillLoads}");
                    if (r.ExitCode != 0) errors.Add($"{name} ({arch}): ptxas exit {r.ExitCode}\n{r.Log}");
                    else if (r.StackFrame != 0 || r.SpillStores != 0 || r.SpillLoads != 0)
                        errors.Add($"{name} ({arch}) spills: {r.StackFrame} bytes stack frame, {r.SpillStores}/{r.SpillLoads} bytes spill stores/loads");
                }
            Assert.True(errors.Count == 0, string.Join("\n", errors));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
