using System.CommandLine;
using Cleft.Kernels;
using Cleft.Kernels.Ilgpu;
using Cleft.Models.Recipe;
using Cleft.Train.Data;

namespace Cleft.Train.Cli;

/// <summary>The console's utilities: synthetic data, the parameter report, devices, the MLP engine check, PTX.</summary>
public static class ToolCommands
{
    public static Command Synth(TextWriter output)
    {
        var cmd = new Command("synth", "write a synthetic CheXpert-style chest set: grayscale PNGs, manifest.csv and seeded train/val/test CSVs");
        var o = new CommandOptions(cmd);
        var outDir = o.OptionalString("out", "output folder", required: true);
        var count = o.Add("count", 1000, "number of images", v => v is > 0 and <= 10_000_000 ? null : "must be in [1, 10000000]");
        var seed = o.Add("seed", 42, "random seed", CommandOptions.NonNegative);
        var size = o.Add("size", 64, "image side in pixels", v => v is >= 16 and <= 1024 ? null : "must be in [16, 1024]");
        cmd.SetAction(r =>
        {
            int n = r.GetValue(count), s = r.GetValue(size);
            ulong sd = (ulong)r.GetValue(seed);
            output.WriteLine($"synth: {SyntheticChest.Describe(n, sd, s)} -> {r.GetValue(outDir)}");
            SyntheticChest.Generate(r.GetValue(outDir)!, n, sd, s, output);
            return 0;
        });
        return cmd;
    }

    public static Command Params(TextWriter output)
    {
        var cmd = new Command("params", "the paper's trainable-parameter arithmetic from configs alone (nothing allocated)");
        cmd.SetAction(_ =>
        {
            output.WriteLine("CLEFT paper configuration: DINOv2-B/14 + 4 registers at 224 px, BioMedLM with LoRA r=8 on c_attn, 512-d joint space");
            output.Write(ParameterReport.Compute(CleftConfig.Paper));
            return 0;
        });
        return cmd;
    }

    public static Command Devices(TextWriter output)
    {
        var cmd = new Command("devices", "list the devices this machine offers");
        var o = new CommandOptions(cmd);
        var check = o.OptionalString("dist-check", "instead of listing: check every collective and gather-with-grad on a communicator (mpi or nccl; " +
            "under mpirun -np N, or alone as one rank) and exit 1 on a failure");
        var tensorCores = o.Flag("tensor-core-check", "instead of listing: run the bf16 tensor-core GEMM and attention on --device (cuda, or ilgpu-cpu " +
            "for the emulation; --precision auto means bf16 here) against the managed backend and exit 1 on a failure");
        var device = new DeviceOptions(o);
        var dist = new DistOptions(o, chooseKind: false);
        cmd.SetAction(r =>
        {
            if (r.GetValue(check) is { } kind)
                return DistOptions.Check(r, kind, device, dist, output);
            if (r.GetValue(tensorCores))
            {
                using var dev = device.Create(r, whenAuto: Kernels.Precision.Bf16);
                return TensorCoreCheck.Run(dev, output);
            }
            foreach (var name in Kernels.Devices.Names.Where(n => n != "auto"))
            {
                try
                {
                    using var d = Kernels.Devices.Create(name);
                    output.WriteLine($"{name,-10} available   {d.Description}");
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    output.WriteLine($"{name,-10} unavailable ({e.Message})");
                }
            }
            return 0;
        });
        return cmd;
    }

    public static Command Mlp(TextWriter output)
    {
        var cmd = new Command("mlp", "a quick engine check on any device: a small MLP on generated spirals, loss falling and held-out accuracy");
        var o = new CommandOptions(cmd);
        var steps = o.Add("steps", 300, "training steps", CommandOptions.Positive);
        var batch = o.Add("batch", 128, "batch size", v => v is > 0 and <= 1 << 20 ? null : "must be in [1, 1048576]");
        var hidden = o.Add("hidden", 64, "hidden width", v => v is > 0 and <= 1 << 16 ? null : "must be in [1, 65536]");
        var lr = o.Add("lr", 0.2f, "SGD learning rate", v => v is >= 1e-8f and <= 10f ? null : "must be in [1e-8, 10]");
        var seed = o.Add("seed", 42, "random seed", CommandOptions.NonNegative);
        var logEvery = o.Add("log-every", 25, "steps between log lines", CommandOptions.Positive);
        var device = new DeviceOptions(o);
        cmd.SetAction(r =>
        {
            using var dev = device.Create(r);
            MlpDemo.Run(dev, new MlpDemoOptions(Steps: r.GetValue(steps), Batch: r.GetValue(batch), Hidden: r.GetValue(hidden),
                LearningRate: r.GetValue(lr), Seed: (ulong)r.GetValue(seed), LogEvery: r.GetValue(logEvery)), output);
            return 0;
        });
        return cmd;
    }

    public static Command Ptx(TextWriter output)
    {
        var cmd = new Command("ptx", "compile every ILGPU kernel to PTX without a GPU (scripts/ptxas-check.sh assembles them)");
        var o = new CommandOptions(cmd);
        var arch = o.Add("arch", "sm_80", $"target architecture: {string.Join(", ", PtxCompiler.Architectures)}",
            v => PtxCompiler.Architectures.Contains(v) ? null : $"one of {string.Join(", ", PtxCompiler.Architectures)}");
        var outDir = o.OptionalString("out", "output folder", required: true);
        cmd.SetAction(r => PtxCommand.Run(["--arch", r.GetValue(arch)!, "--out", r.GetValue(outDir)!], output, Console.Error));
        return cmd;
    }
}
