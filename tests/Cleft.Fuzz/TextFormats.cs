using System.Text;
using Cleft.Autograd;
using Cleft.Autograd.Optim;
using Cleft.Kernels.Cpu;
using Cleft.Models.Layers;
using Cleft.Models.Peft;
using Cleft.Models.Recipe;
using Cleft.Train.Cli;
using Cleft.Train.Data;
using Cleft.Train.Training;

namespace Cleft.Fuzz;

/// <summary>The text formats: CSV manifests, the console's --config file, model.json and trainer.json.</summary>
public static class TextFormats
{
    const long MB = 1 << 20;

    /// <summary>
    /// Seeds 0-1 go through CsvManifest.Load (generic: path, caption, label), seed 2 through CsvTable.Parse +
    /// ChexpertManifest.FromTable. A table costs a few string copies of the text plus per-cell objects.
    /// </summary>
    public static FuzzFormat Csv(string scratch)
    {
        string generic = "Path,caption,label\nimg/a.png,a chest x ray,0\nimg/b.png,\"cardiomegaly, small effusion\",1\n" +
            "\"img/c d.png\",\"multi\nline \"\"quoted\"\" caption\",1\n";
        string named = "\uFEFFid,Path,caption,label\r\n1,x/1.png,normal,Normal\r\n2,x/2.png,enlarged heart,Cardiomegaly\r\n3,x/3.png,normal study,normal\r\n";
        string chexpert = "Path,Sex,Age,Frontal/Lateral,AP/PA," + string.Join(",", ChexpertManifest.Findings) + "\n" +
            "train/p1/s1/v1.jpg,Male,68,Frontal,AP,,1.0,0,-1.0,,1,,,,,1.0,,,\n" +
            "train/p2/s1/v1.jpg,Female,87,Lateral,,1.0,,,,,,,,,,,,,\n" +
            "train/p3/s2/v1.jpg,Female,41,Frontal,PA,,,1,,,,1,0,-1,,,,,1\n";
        string file = Path.Combine(scratch, "manifest.csv");
        return new FuzzFormat
        {
            Name = "csv", Text = true, Seeds = [Encoding.UTF8.GetBytes(generic), Encoding.UTF8.GetBytes(named), Encoding.UTF8.GetBytes(chexpert)],
            Documented = [typeof(ManifestException), typeof(CsvFormatException)],
            SizeMultiple = 64, ConstantBytes = MB,
            Run = (input, seed) =>
            {
                if (seed == 2)
                    ChexpertManifest.FromTable(CsvTable.Parse(Encoding.UTF8.GetString(input), file), scratch);
                else
                {
                    File.WriteAllBytes(file, input);
                    CsvManifest.Load(file, new ManifestColumns("Path", "caption", "label"), checkFiles: false);
                }
                return "ok";
            },
        };
    }

    /// <summary>
    /// `cleft pretrain --config FILE --help`: the config is read and every option validated, then help is printed
    /// instead of training. The console never throws: a bad config is exit code 2 (0 when it is valid). Building
    /// the command tree costs ~100 KB whatever the file.
    /// </summary>
    public static FuzzFormat CliConfig(string scratch)
    {
        string flat = """
            {"train": "data/train.csv", "val": "data/val.csv", "format": "chexpert", "vision": "tiny", "text": "tiny",
             "image-size": 64, "embed-dim": 32, "lora-r": 4, "lora-alpha": 8.5, "lora-dropout": 0.1, "no-lora": false,
             "half-text": true, "seed": 7, "lr": 0.0004, "warmup": 10, "steps": 100, "batch": 8, "clip": 1.0,
             "classes": ["Atelectasis", "Edema"], "workers": 2, "out": "runs/a", "tokenizer": null}
            """;
        string run = """
            {
              "command": "pretrain",
              "options": {"train": "/data/chexpert/train.csv", "val": null, "format": "generic", "image-col": "Path",
                "caption-col": "caption", "label-col": null, "classes": null, "image-root": null, "embed-task": "birads",
                "vision": "dinov2-vitb14-reg", "text": "biomedlm", "image-size": 224, "embed-dim": 512, "max-tokens": 64,
                "lora-r": 8, "lora-alpha": 32, "lora-dropout": 0.1, "lora-targets": "c_attn", "no-lora": false,
                "sum-loss": false, "no-clamp-scale": false, "seed": 42, "device": "cpu", "lr": 4E-05, "min-lr": 0,
                "weight-decay": 0.1, "warmup": 4000, "steps": 40000, "epochs": null, "batch": 72, "accumulate": 1,
                "keep-best": 2, "log-every": 10, "eval-every": 1000, "no-augment": false, "workers": 2, "out": "/runs/r1"},
              "device": "cpu", "engine": "1.0.0", "dotnet": "10.0.0", "created": "2026-11-29T04:00:00.0000000Z"
            }
            """;
        string file = Path.Combine(scratch, "config.json");
        return new FuzzFormat
        {
            Name = "config.json", Text = true, Seeds = [Encoding.UTF8.GetBytes(flat), Encoding.UTF8.GetBytes(run)], Documented = [],
            SizeMultiple = 64, ConstantBytes = MB,
            Run = (input, _) =>
            {
                File.WriteAllBytes(file, input);
                int code = CliApp.Run(["pretrain", "--config", file, "--help"], TextWriter.Null, TextWriter.Null);
                return code == 0 ? "ok" : code == 2 ? "exit 2" : throw new InvalidOperationException($"--config {file}: exit code {code}, expected 0 or 2");
            },
        };
    }

    public static FuzzFormat ModelJson(string scratch)
    {
        var seeds = new[]
        {
            new CleftModelSpec().ToJson("3f2a9c"),
            new CleftModelSpec { Vision = "/models/dinov2", Text = "gpt2", Tokenizer = "/tok", Lora = null, Seed = ulong.MaxValue, HalfTextBase = true }.ToJson(null),
        };
        string file = Path.Combine(scratch, CleftModelSpec.FileName);
        return new FuzzFormat
        {
            Name = "model.json", Text = true, Seeds = [.. seeds.Select(Encoding.UTF8.GetBytes)], Documented = [typeof(InvalidDataException)],
            SizeMultiple = 64, ConstantBytes = MB,
            Run = (input, _) => { File.WriteAllBytes(file, input); CleftModelSpec.Read(file); return "ok"; },
        };
    }

    /// <summary>
    /// trainer.json of a checkpoint of a real module with a random stream (LoRA dropout) and its AdamW state; the
    /// optimizer file stays valid, so every refusal is about the JSON.
    /// </summary>
    public static FuzzFormat TrainerJson(string scratch)
    {
        string dir = Directory.CreateDirectory(Path.Combine(scratch, "checkpoint")).FullName;
        var device = new CpuBackend();
        var model = new LoraLinear(new Linear(device, new Rng(1), 4, 3), new LoraConfig(2, 4f, 0.1f), new Rng(2));
        var optimizer = new AdamW(model.TrainableParameters(), 1e-3f);
        const string fingerprint = "sha256:5d41402abc4b2a76b9719d911017c592";
        var guard = new BadStepGuard(BadStepGuard.DefaultMaxBadSteps);
        TrainerState.Write(dir, optimizer, model, fingerprint, new DataPosition(3, 17), guard);
        var withPosition = File.ReadAllBytes(Path.Combine(dir, TrainerState.StateFile));
        TrainerState.Write(dir, optimizer, model, fingerprint, null, guard);
        var withoutPosition = File.ReadAllBytes(Path.Combine(dir, TrainerState.StateFile));
        string file = Path.Combine(dir, TrainerState.StateFile);
        return new FuzzFormat
        {
            Name = "trainer.json", Text = true, Seeds = [withPosition, withoutPosition], Documented = [typeof(InvalidDataException)],
            SizeMultiple = 64, ConstantBytes = MB,
            Run = (input, _) => { File.WriteAllBytes(file, input); TrainerState.Read(dir, optimizer, model, fingerprint, step: 5, guard); return "ok"; },
        };
    }
}
