using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Cleft.Models.PTUnifier;
using Cleft.Models.Recipe;
using Cleft.Train.Training;
using Spectre.Console;

namespace Cleft.Train.Cli;

/// <summary>
/// `cleft compare RUN...`: one table of the evaluation results already written into run folders (zeroshot-*.json,
/// probe-*.json, retrieve-*.json), each row naming the run's model (CLEFT with its text tower, a PTUnifier, a prompt
/// run), so systems trained on the same data are read side by side. Nothing is recomputed.
/// </summary>
public static class CompareCommand
{
    public static Command Create(TextWriter output)
    {
        var cmd = new Command("compare", "one table of the evaluation results written in run folders (zero-shot, probe, retrieval), model by model");
        var o = new CommandOptions(cmd);
        var name = o.OptionalString("name", "only results files whose name starts with this (e.g. zeroshot-test)");
        var runs = new Argument<string[]>("runs") { Description = "run folders (stage-1, prompt or PTUnifier runs)", Arity = ArgumentArity.OneOrMore };
        cmd.Arguments.Add(runs);
        cmd.SetAction(r =>
        {
            var table = new Table().AddColumn("run").AddColumn("model").AddColumn("results");
            foreach (var c in new[] { "accuracy", "macro AUC", "macro F1", "R@1 image→text", "R@1 text→image" }) table.AddColumn(new TableColumn(c).RightAligned());
            int rows = 0;
            foreach (string run in r.GetValue(runs)!)
            {
                if (!Directory.Exists(run)) throw new DirectoryNotFoundException($"{run}: no such run folder");
                string model = Describe(run);
                foreach (var file in Directory.GetFiles(run, "*.json").Order(StringComparer.Ordinal))
                {
                    string stem = Path.GetFileNameWithoutExtension(file);
                    if (!IsResult(stem) || (r.GetValue(name) is { } prefix && !stem.StartsWith(prefix, StringComparison.Ordinal))) continue;
                    JsonNode? json;
                    try { json = JsonNode.Parse(File.ReadAllText(file)); }
                    catch (System.Text.Json.JsonException e) { throw new InvalidDataException($"{file}: not a results file: {e.Message}", e); }
                    table.AddRow(Markup.Escape(Path.GetFileName(Path.GetFullPath(run).TrimEnd(Path.DirectorySeparatorChar))), Markup.Escape(model), Markup.Escape(stem),
                        Number(json?["accuracy"], "P1"), Number(json?["macro_auc"], "F3"), Number(json?["macro_f1"], "F3"),
                        Number(json?["image_to_text"]?["R@1"], "P1"), Number(json?["text_to_image"]?["R@1"], "P1"));
                    rows++;
                }
            }
            if (rows == 0) throw new ArgumentException("no results files (zeroshot-*, probe-*, retrieve-*) in the given run folders; run the evaluations first");
            WidgetWriter.Render(output, table);
            return 0;
        });
        return cmd;
    }

    static bool IsResult(string stem) => stem.StartsWith("zeroshot-", StringComparison.Ordinal) || stem.StartsWith("probe-", StringComparison.Ordinal)
        || stem.StartsWith("retrieve-", StringComparison.Ordinal);

    /// <summary>"PTUnifier (bert-tiny)", "CLEFT (tiny, LoRA)", "BERT-CLIP (bert-tiny, full)", "prompt run"; from the spec files the runs write.</summary>
    static string Describe(string run)
    {
        if (File.Exists(Path.Combine(run, PtunifierSpec.FileName)))
            return $"PTUnifier ({Path.GetFileName(PtunifierSpec.Read(Path.Combine(run, PtunifierSpec.FileName)).Text)})";
        if (File.Exists(Path.Combine(run, PromptSpec.FileName))) return "CLEFT prompt run";
        if (File.Exists(Path.Combine(run, CleftModelSpec.FileName)))
        {
            var spec = CleftModelSpec.Read(Path.Combine(run, CleftModelSpec.FileName)).Spec;
            string tuning = spec.Ia3 is not null ? "IA3" : spec.Lora is not null ? "LoRA" : spec.FreezeText ? "frozen" : "full";
            return $"{(spec.IsBert ? "BERT-CLIP" : "CLEFT")} ({Path.GetFileName(spec.Text)}, {tuning})";
        }
        return "unknown model";
    }

    static string Number(JsonNode? node, string format) =>
        node is JsonValue v && v.TryGetValue(out double d) ? d.ToString(format, CultureInfo.InvariantCulture) : "";
}
