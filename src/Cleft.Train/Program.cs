using Cleft.Kernels;

namespace Cleft.Train;

public static class Program
{
    const string Usage = """
        cleft — CLEFT-style vision-language training on a from-scratch .NET engine

        usage: cleft <command> [options]

        commands:
          demo      train a small MLP on generated data and print the loss falling
                    --device auto|cuda|opencl|cpu|ilgpu-cpu (default auto: CUDA if present, else cpu)
                    --steps N (300)  --batch N (128)  --hidden N (64)  --lr X (0.2)  --seed N (42)
          ptx       compile every ILGPU kernel to PTX without a GPU
                    --arch sm_80|sm_90 (sm_80)  --out DIR (required)
          synth     write a synthetic CheXpert-style data set (grayscale PNGs + manifest.csv)
                    --out DIR (required)  --count N (1000)  --seed N (42)  --size N (64)
          params    the paper's trainable-parameter arithmetic from configs alone (nothing allocated)
          devices   list the devices this machine offers
          help      this text
        """;

    public static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "help" or "--help" or "-h")
        {
            Console.WriteLine(Usage);
            return args.Length == 0 ? 1 : 0;
        }
        try
        {
            var rest = args[1..];
            return args[0] switch
            {
                "demo" => RunDemo(new CliArgs(rest)),
                "ptx" => PtxCommand.Run(rest),
                "synth" => RunSynth(new CliArgs(rest)),
                "devices" => ListDevices(),
                "params" => PrintParameterReport(new CliArgs(rest)),
                _ => throw new CliException($"unknown command '{args[0]}'; run 'cleft help'"),
            };
        }
        catch (CliException e)
        {
            Console.Error.WriteLine($"cleft: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or NotSupportedException)
        {
            Console.Error.WriteLine($"cleft: {e.Message}");
            return 1;
        }
    }

    static int RunDemo(CliArgs a)
    {
        var o = new DemoOptions(
            Steps: a.Int("steps", 300, 1),
            Batch: a.Int("batch", 128, 1, 1 << 20),
            Hidden: a.Int("hidden", 64, 1, 1 << 16),
            LearningRate: a.Float("lr", 0.2f, 1e-8f, 10f),
            Seed: (ulong)a.Int("seed", 42, 0),
            LogEvery: a.Int("log-every", 25, 1));
        string deviceName = a.String("device", "auto");
        a.RejectUnknown("demo");
        using var device = Devices.Create(deviceName);
        Demo.Run(device, o, Console.Out);
        return 0;
    }

    static int RunSynth(CliArgs a)
    {
        string outDir = a.Optional("out") ?? throw new CliException("synth: --out DIR is required");
        int count = a.Int("count", 1000, 1, 10_000_000);
        ulong seed = (ulong)a.Int("seed", 42, 0);
        int size = a.Int("size", 64, 16, 1024);
        a.RejectUnknown("synth");
        Console.WriteLine($"synth: {Data.SyntheticChest.Describe(count, seed, size)} -> {outDir}");
        Data.SyntheticChest.Generate(outDir, count, seed, size, Console.Out);
        return 0;
    }

    static int PrintParameterReport(CliArgs a)
    {
        a.RejectUnknown("params");
        Console.WriteLine("CLEFT paper configuration: DINOv2-B/14 + 4 registers at 224 px, BioMedLM with LoRA r=8 on c_attn, 512-d joint space");
        Console.Write(Cleft.Models.Recipe.ParameterReport.Compute(Cleft.Models.Recipe.CleftConfig.Paper));
        return 0;
    }

    static int ListDevices()
    {
        foreach (var name in Devices.Names.Where(n => n != "auto"))
        {
            try
            {
                using var d = Devices.Create(name);
                Console.WriteLine($"{name,-10} available   {d.Description}");
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Console.WriteLine($"{name,-10} unavailable ({e.Message})");
            }
        }
        return 0;
    }
}
