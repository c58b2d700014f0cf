using Cleft.Fuzz;
using Cleft.Tests.Data;
using Cleft.Train.Cli;
using Cleft.Train.Data;

namespace Cleft.Tests.Fuzz;

/// <summary>
/// Inputs the fuzzer found that escaped their reader with an undocumented exception (or ran away), kept as the
/// fuzzer produced them; and the determinism the CI run relies on to name a failing case by its index.
/// </summary>
public class FuzzRegressionTests
{
    /// <summary>csv case 279 (seed 1): a stray digit made label 21474838, and listing classes 0..max took 2 GB and minutes.</summary>
    [Fact]
    public void HugeIntegerLabelIsAManifestProblem()
    {
        using var dir = new TempDir();
        string csv = dir.Write("m.csv", "Path,caption,label\nimg/a.png,a che{t x ray,0\nimg/b.png,\"cardiomggaly,!small effusion\",1\n" +
            "\"img/c d.png\",\"muquoted\"\"`caption\",21474838\n");
        var e = Assert.Throws<ManifestException>(() => CsvManifest.Load(csv, new ManifestColumns(Label: "label"), checkFiles: false));
        Assert.Contains("label 21474838 in column 'label' is over the 10000-class limit", e.Message);
        Assert.Contains("m.csv", e.Message);
    }

    /// <summary>Negative integer labels alone made Enumerable.Range(0, max + 1) throw ArgumentOutOfRangeException.</summary>
    [Fact]
    public void NegativeIntegerLabelsAreUnknownLabels()
    {
        using var dir = new TempDir();
        string csv = dir.Write("m.csv", "Path,caption,label\na.png,x,-3\nb.png,y,-2\n");
        var e = Assert.Throws<ManifestException>(() => CsvManifest.Load(csv, new ManifestColumns(Label: "label"), checkFiles: false));
        Assert.Contains("line 2: unknown label '-3'", e.Message);
    }

    /// <summary>csv case 784 (seed 1): a NUL in an image path reached Path.GetFullPath, whose ArgumentException named no file.</summary>
    [Fact]
    public void NulInImagePathNamesTheManifestAndLine()
    {
        using var dir = new TempDir();
        string csv = dir.Write("m.csv", "\uFEFFid,Path,caption,label\r\n1,x/0.png,normal,Normal\r\n2,x/\02/png,enlarged heart,Cardiomegaly\r\n" +
            "3,x/1e400.png,normal study,normal\r\n");
        var e = Assert.Throws<CsvFormatException>(() => CsvManifest.Load(csv, new ManifestColumns(Label: "label"), checkFiles: false));
        Assert.Equal(3, e.Line);
        Assert.Contains("m.csv:3: image path 'x/\\02/png' holds a character that is not allowed in paths", e.Message);
        var table = CsvTable.Parse("Path," + string.Join(",", ChexpertManifest.Findings) + "\nx/\0.jpg\n", "c.csv");
        Assert.Contains("c.csv:2: image path", Assert.Throws<CsvFormatException>(() => ChexpertManifest.FromTable(table, dir.Path)).Message);
    }

    /// <summary>
    /// config.json case 516 (seed 1): an escaped lone surrogate in a name passes the JSON parser and threw
    /// InvalidOperationException out of the console when read; a top-level array threw it from TryGetProperty.
    /// </summary>
    [Theory]
    [InlineData("""{"options": {"steps\ud800": 5}}""", "invalid escape")]
    [InlineData("""{"steps": "\udc00"}""", "invalid escape")]
    [InlineData("""[{"steps": 5}]""", "expected a JSON object of options")]
    public void BadConfigIsExitCode2(string json, string expected)
    {
        using var dir = new TempDir();
        string file = dir.Write("config.json", json);
        var err = new StringWriter();
        Assert.Equal(2, CliApp.Run(["pretrain", "--config", file, "--help"], TextWriter.Null, err));
        Assert.Contains($"--config {file}: ", err.ToString());
        Assert.Contains(expected, err.ToString());
    }

    [Fact]
    public void CasesAreDeterministicMutantsOfTheSeeds()
    {
        using var dir = new TempDir();
        var csv = FuzzFormats.Create("csv", "", dir.Path);
        Assert.Equal(csv.Seeds[1], FuzzRunner.Case(csv, 7, 1).Input); // the first cases are the seeds themselves
        var mutants = Enumerable.Range(csv.Seeds.Count, 50).Select(i => FuzzRunner.Case(csv, 7, i)).ToList();
        Assert.All(mutants, m => Assert.Equal(m.Input, FuzzRunner.Case(csv, 7, csv.Seeds.Count + mutants.IndexOf(m)).Input));
        Assert.All(mutants, m => Assert.NotEqual(csv.Seeds[m.SeedIndex], m.Input));
        Assert.NotEqual(mutants[0].Input, FuzzRunner.Case(csv, 8, csv.Seeds.Count).Input); // another seed, other cases
    }
}
