using System.Text.Json;
using Cleft.Train.Metrics;
using Cleft.Train.Reports;

namespace Cleft.Tests.Metrics;

public sealed class ResultsWriterTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("cleft-results-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void WritesIndentedJsonAndMarkdownAndReplaces()
    {
        double[] p = [0.7, 0.2, 0.1, 0.2, 0.7, 0.1, 0.6, 0.3, 0.1, 0.3, 0.6, 0.1];
        var report = ClassificationReport.Compute(p, [0, 1, 0, 1], ["x", "y", "Pleural Effusion"]);
        string run = Path.Combine(_dir, "run-1");
        ResultsWriter.Write(run, "zeroshot-stage1", report.ToJson(), report.ToMarkdown("Zero-shot"));
        string json = File.ReadAllText(Path.Combine(run, "zeroshot-stage1.json"));
        Assert.Contains("\n  \"accuracy\": 1,", json); // indented
        using (var doc = JsonDocument.Parse(json))
        {
            Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("per_class")[2].GetProperty("auc").ValueKind);
            Assert.Equal("Pleural Effusion", doc.RootElement.GetProperty("classes")[2].GetString());
        }
        Assert.StartsWith("## Zero-shot", File.ReadAllText(Path.Combine(run, "zeroshot-stage1.md")));

        var retrieval = Retrieval.Evaluate([1, 0, 0, 1], [1, 0, 0, 1], 2);
        ResultsWriter.Write(run, "zeroshot-stage1", retrieval.ToJson(), retrieval.ToMarkdown("Retrieval"));
        Assert.Contains("image → text", File.ReadAllText(Path.Combine(run, "zeroshot-stage1.md"))); // replaced, unescaped
        Assert.Contains("\"R@1\": 1", File.ReadAllText(Path.Combine(run, "zeroshot-stage1.json")));
        Assert.Equal(["zeroshot-stage1.json", "zeroshot-stage1.md"], Directory.GetFiles(run).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void RefusesNaNAndPathNames()
    {
        var bad = new Dictionary<string, object> { ["auc"] = double.NaN };
        var e = Assert.Throws<ArgumentException>(() => ResultsWriter.Write(_dir, "results", bad, ""));
        Assert.Contains("results.json", e.Message);
        Assert.Empty(Directory.GetFiles(_dir)); // nothing half-written
        Assert.Throws<ArgumentException>(() => ResultsWriter.Write(_dir, "../results", new Dictionary<string, object>(), ""));
    }
}
